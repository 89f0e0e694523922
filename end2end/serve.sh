#!/usr/bin/env bash
# Starts the console for the Playwright suite on a fresh database with two staff accounts: a SQLite
# file, or with E2E_POSTGRES_URL (a server's admin URL) a new PostgreSQL database beside it.
set -euo pipefail
cd "$(dirname "$0")"
: "${WXPUSH_BIN:?set WXPUSH_BIN to the built wxpush binary (make test does)}"
: "${WXPUSH_SITE_ROOT:?set WXPUSH_SITE_ROOT to the built site folder (make test does)}"
rm -rf .state/main && mkdir -p .state/main
if [[ -n "${E2E_POSTGRES_URL:-}" ]]; then
  db=wxpush_e2e
  psql -q -v ON_ERROR_STOP=1 "$E2E_POSTGRES_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
  base="${E2E_POSTGRES_URL%%\?*}"
  export WXPUSH_DATABASE_URL="${base%/*}/$db"
  export WXPUSH_MASTER_KEY_FILE="$PWD/.state/main/master.key"
else
  export WXPUSH_DATABASE_URL="sqlite:$PWD/.state/main/e2e.db"
fi
export WXPUSH_ADDR="127.0.0.1:${E2E_PORT:-3100}"
export WXPUSH_LOG="${WXPUSH_LOG:-info}"
# A standalone WeChat simulator for the settings tests; stopped with this script.
"$WXPUSH_BIN" sim --port "${E2E_SIM_PORT:-3190}" --appid wxe2e0000000000001 --secret e2e0secret0000000000000000000001 \
  --mp-appid wxe2e0000000000002 --mp-secret e2e0secret0000000000000000000002 --followers 200 &
sim_pid=$!
# A second one with more followers for the sync tests.
"$WXPUSH_BIN" sim --port "${E2E_SYNC_SIM_PORT:-3191}" --appid wxe2e0000000000011 --secret e2e0secret0000000000000000000011 \
  --mp-appid wxe2e0000000000012 --mp-secret e2e0secret0000000000000000000012 --followers 2500 --seed 7 &
sync_sim_pid=$!
# A third one for the templates tests.
"$WXPUSH_BIN" sim --port "${E2E_TPL_SIM_PORT:-3192}" --appid wxe2e0000000000021 --secret e2e0secret0000000000000000000021 \
  --mp-appid wxe2e0000000000022 --mp-secret e2e0secret0000000000000000000022 --followers 50 --seed 21 &
tpl_sim_pid=$!
# A fourth one for the send job tests.
"$WXPUSH_BIN" sim --port "${E2E_JOB_SIM_PORT:-3193}" --appid wxe2e0000000000031 --secret e2e0secret0000000000000000000031 \
  --mp-appid wxe2e0000000000032 --mp-secret e2e0secret0000000000000000000032 --followers 120 --seed 31 &
job_sim_pid=$!
# A fifth one for the channel tests (OA template vs MP subscribe message per person).
"$WXPUSH_BIN" sim --port "${E2E_CH_SIM_PORT:-3194}" --appid wxe2e0000000000041 --secret e2e0secret0000000000000000000041 \
  --mp-appid wxe2e0000000000042 --mp-secret e2e0secret0000000000000000000042 --followers 60 --mp-users 30 --seed 41 &
ch_sim_pid=$!
# A sixth one for the approval tests.
"$WXPUSH_BIN" sim --port "${E2E_APPROVAL_SIM_PORT:-3195}" --appid wxe2e0000000000051 --secret e2e0secret0000000000000000000051 \
  --mp-appid wxe2e0000000000052 --mp-secret e2e0secret0000000000000000000052 --followers 12 --seed 51 &
approval_sim_pid=$!
# A seventh one for the send API tests.
"$WXPUSH_BIN" sim --port "${E2E_API_SIM_PORT:-3196}" --appid wxe2e0000000000061 --secret e2e0secret0000000000000000000061 \
  --mp-appid wxe2e0000000000062 --mp-secret e2e0secret0000000000000000000062 --followers 20 --seed 61 &
api_sim_pid=$!
# An eighth one for jobs with each person's values from a spreadsheet.
"$WXPUSH_BIN" sim --port "${E2E_SHEET_SIM_PORT:-3197}" --appid wxe2e0000000000071 --secret e2e0secret0000000000000000000071 \
  --mp-appid wxe2e0000000000072 --mp-secret e2e0secret0000000000000000000072 --followers 30 --seed 71 &
sheet_sim_pid=$!
# A ninth one for scheduled jobs.
"$WXPUSH_BIN" sim --port "${E2E_SCHED_SIM_PORT:-3198}" --appid wxe2e0000000000081 --secret e2e0secret0000000000000000000081 \
  --mp-appid wxe2e0000000000082 --mp-secret e2e0secret0000000000000000000082 --followers 8 --seed 81 &
sched_sim_pid=$!
"$WXPUSH_BIN" sim --port "${E2E_RECUR_SIM_PORT:-3199}" --appid wxe2e0000000000091 --secret e2e0secret0000000000000000000091 \
  --mp-appid wxe2e0000000000092 --mp-secret e2e0secret0000000000000000000092 --followers 6 --seed 91 &
recur_sim_pid=$!
trap 'kill $sim_pid $sync_sim_pid $tpl_sim_pid $job_sim_pid $ch_sim_pid $approval_sim_pid $api_sim_pid $sheet_sim_pid $sched_sim_pid $recur_sim_pid 2>/dev/null' EXIT
echo "admin-password-1" | "$WXPUSH_BIN" user add --username admin --role admin
echo "operator-password-1" | "$WXPUSH_BIN" user add --username operator --role operator
"$WXPUSH_BIN" serve
