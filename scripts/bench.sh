#!/usr/bin/env bash
# `make bench`: prints one figure per line as `bench NAME VALUE UNIT`.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wxpush-target}"

# The browser bundle as users get it: a release build (profile wasm-release: opt-level z, LTO,
# then wasm-opt -Oz), laid out by scripts/pack-site.mjs with its brotli and gzip copies. The
# release server built here serves it to the dashboard benchmark below.
scripts/build.sh --release >&2
bundle=$(node -p "require('./target/site/pkg/site.json').bundle")
wasm="target/site/pkg/$bundle.wasm"
raw=$(stat -c %s "$wasm")
gz=$(stat -c %s "$wasm.gz")
br=$(stat -c %s "$wasm.br")
awk -v r="$raw" -v g="$gz" -v b="$br" 'BEGIN {
  printf "bench wasm_raw_kb %.1f KB\nbench wasm_gz_kb %.1f KB\nbench wasm_br_kb %.1f KB\n", r / 1024, g / 1024, b / 1024
}'

# The sync benchmark writes the database the pages benchmark serves: one master key for both.
WXPUSH_MASTER_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export WXPUSH_MASTER_KEY

# Follower sync: 1,000,000 followers from the in-process simulator (no latency) into SQLite.
db_dir=$(mktemp -d)
trap 'rm -rf "$db_dir"; [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null' EXIT
WXPUSH_BENCH_DB="$db_dir/bench.db" cargo run --release -q -p engine --example bench_sync

# Pages under 50 concurrent clients, on a release server over that million-follower database.
cargo build --release -q -p wxpush --bin wxpush --example bench_pages >&2
bin="$CARGO_TARGET_DIR/release/wxpush"
export WXPUSH_DATABASE_URL="sqlite:$db_dir/bench.db" WXPUSH_ADDR=127.0.0.1:3977 WXPUSH_LOG=warn
echo "bench-password-1" | "$bin" user add --username bench --role admin >&2
"$bin" serve 2>"$db_dir/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://$WXPUSH_ADDR/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
"$CARGO_TARGET_DIR/release/examples/bench_pages" "http://$WXPUSH_ADDR" bench bench-password-1

# The dashboard in Chromium on the same server: bytes transferred cold and warm, and navigation
# to interactive over an emulated Fast 3G line (end2end/bench/dashboard.mjs).
node end2end/bench/dashboard.mjs "http://$WXPUSH_ADDR" bench bench-password-1

# Send jobs: the dispatcher against the in-process simulator (SQLite in a temporary folder) —
# its throughput relative to the simulator's raw capacity at the same concurrency (2 ms latency),
# then 100,000 followers at 20 ms latency and the duplicates WeChat would have delivered.
# The pages server is stopped first so that it takes no CPU from the measurement.
{ kill "$server_pid" && wait "$server_pid"; } 2>/dev/null || true
server_pid=
cargo run --release -q -p engine --example bench_dispatch

# Each person's own values: a 100,000-row .xlsx with 5 variables uploaded and made into a job
# (parse, render and check every row, freeze it), with the process's peak memory meanwhile.
cargo run --release -q -p engine --example bench_personalize

# The send API: 50,000 distinct messages from 64 concurrent clients to a release `wxpush serve`
# on SQLite (a temporary folder), accepted while the dispatcher sends them to the in-process
# simulator at 20 ms per call; then every request again with its idempotency key, and the
# simulator's ledger must count one message per follower (examples/bench_api.rs; context on
# stderr).
cargo build --release -q -p wxpush --bin wxpush --example bench_api >&2
WXPUSH_BENCH_API_DB="$db_dir/api.db" "$CARGO_TARGET_DIR/release/examples/bench_api" "$bin"

# Several processes on one PostgreSQL database: one send job's throughput with 1, 2 and 4
# release `wxpush serve` processes against the in-process simulator at 50 ms per call, and the
# duplicates WeChat would have delivered (examples/bench_cluster.rs; context on stderr).
pg_url="${WXPUSH_TEST_POSTGRES_URL:-postgres://root@127.0.0.1:5432/test}"
if command -v pg_isready >/dev/null && ! pg_isready -q -d "$pg_url"; then
  echo "bench: PostgreSQL is not reachable at $pg_url (set WXPUSH_TEST_POSTGRES_URL):" \
    "skipping dispatch_msgs_per_s_{1,2,4}proc and dispatch_2proc_duplicates" >&2
else
  cargo build --release -q -p wxpush --bin wxpush --example bench_cluster >&2
  WXPUSH_TEST_POSTGRES_URL="$pg_url" "$CARGO_TARGET_DIR/release/examples/bench_cluster" "$bin"
fi
