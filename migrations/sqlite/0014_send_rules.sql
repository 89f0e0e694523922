-- Quiet hours and a per-person daily cap per Official Account, the day's sends per person, and skip reasons daily_cap and bad_values (SQLite dialect).
-- SQLite cannot change a CHECK in place: job_recipients is rebuilt, and with it the tables that
-- reference it (api_messages, and webhook_deliveries which references api_messages). sqlx runs
-- this in a transaction with foreign keys on, where dropping a parent would cascade to its
-- children: the new children first reference the new parents, the old tables are dropped child
-- first (so nothing cascades), and the renames rewrite the new children's references.

-- An Official Account's send rules; a missing row or NULL columns: off.
CREATE TABLE send_rules (
    account_id      INTEGER PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    -- Quiet hours as minutes after local midnight (console time zone); the window may cross
    -- midnight (start > end). Both NULL: no quiet hours.
    quiet_start_min INTEGER CHECK (quiet_start_min BETWEEN 0 AND 1439),
    quiet_end_min   INTEGER CHECK (quiet_end_min BETWEEN 0 AND 1439),
    -- Template messages per person per local day; NULL: no cap.
    daily_cap       INTEGER CHECK (daily_cap > 0),
    updated_by      TEXT    NOT NULL,
    updated_ms      INTEGER NOT NULL,
    CHECK ((quiet_start_min IS NULL) = (quiet_end_min IS NULL)),
    CHECK (quiet_start_min IS NULL OR quiet_start_min <> quiet_end_min)
);

-- Template messages counted against the daily cap: one row per account, local day and person,
-- raised (never above the cap) when a row is claimed for sending.
CREATE TABLE daily_sends (
    account_id  INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- YYYY-MM-DD in the console time zone.
    day         TEXT    NOT NULL,
    openid      TEXT    NOT NULL,
    sent        INTEGER NOT NULL CHECK (sent > 0),
    PRIMARY KEY (account_id, day, openid)
) WITHOUT ROWID;
CREATE INDEX daily_sends_day ON daily_sends (day);

CREATE TABLE job_recipients_new (
    job_id          INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    -- The address on the row's channel: the OA openid (template) or the MP openid (subscribe).
    openid          TEXT    NOT NULL,
    unionid         TEXT,
    channel         TEXT    NOT NULL DEFAULT 'template' CHECK (channel IN ('template', 'subscribe')),
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'skipped', 'unknown', 'cancelled')),
    -- no_mp_user: no Mini Program user for this person; no_credit: an MP user without a
    -- subscription to the template; daily_cap: the person had reached the account's daily cap;
    -- bad_values: a spreadsheet row whose values break the template's rules.
    skip_reason     TEXT    CHECK (skip_reason IN ('unsubscribed', 'unknown_openid', 'no_oa_openid', 'duplicate', 'no_mp_user', 'no_credit', 'daily_cap', 'bad_values')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_try_ms     INTEGER NOT NULL DEFAULT 0,
    lease_owner     TEXT,
    lease_until_ms  INTEGER NOT NULL DEFAULT 0,
    first_try_ms    INTEGER,
    claimed_ms      INTEGER,
    uncertain_ms    INTEGER,
    sent_ms         INTEGER,
    completed_ms    INTEGER,
    msgid           INTEGER,
    errcode         INTEGER,
    errmsg          TEXT,
    -- TEMPLATESENDJOBFINISH / subscribe_msg_sent_event
    delivery        TEXT    CHECK (delivery IN ('delivered', 'user_block', 'system_failed')),
    delivery_ms     INTEGER,
    updated_ms      INTEGER NOT NULL,
    -- When this attempt was about to leave the process for WeChat (subscribe rows).
    departed_ms     INTEGER,
    -- The row's own send body (JSON, touser left empty); NULL: the job's.
    payload         TEXT,
    -- The local day the row was counted against the daily cap (counted once, whatever its
    -- retries).
    cap_day         TEXT,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
INSERT INTO job_recipients_new (job_id, seq, openid, unionid, channel, state, skip_reason,
    attempts, next_try_ms, lease_owner, lease_until_ms, first_try_ms, claimed_ms, uncertain_ms,
    sent_ms, completed_ms, msgid, errcode, errmsg, delivery, delivery_ms, updated_ms,
    departed_ms, payload)
SELECT job_id, seq, openid, unionid, channel, state, skip_reason, attempts, next_try_ms,
    lease_owner, lease_until_ms, first_try_ms, claimed_ms, uncertain_ms, sent_ms, completed_ms,
    msgid, errcode, errmsg, delivery, delivery_ms, updated_ms, departed_ms, payload
FROM job_recipients;

CREATE TABLE api_messages_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    key_id           INTEGER  NOT NULL REFERENCES send_keys (id) ON DELETE CASCADE,
    account_id       INTEGER  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- NULL: the request gave none (it is not de-duplicated).
    idempotency_key  TEXT,
    -- SHA-256 hex of the request body: a replay must repeat it exactly.
    body_hash        TEXT    NOT NULL,
    job_id           INTEGER  NOT NULL,
    seq              INTEGER  NOT NULL,
    preset_id        INTEGER,
    -- The person as the request named them: unionid | mp_openid | oa_openid, and the id.
    to_kind          TEXT    NOT NULL CHECK (to_kind IN ('unionid', 'mp_openid', 'oa_openid')),
    to_id            TEXT    NOT NULL,
    created_ms       INTEGER  NOT NULL,
    -- What the message's webhook is still owed: 'state' its final state, 'receipt' WeChat's
    -- receipt of a sent template message; NULL: nothing (or its key had no webhook).
    hook             TEXT    CHECK (hook IN ('state', 'receipt')),
    UNIQUE (key_id, idempotency_key),
    FOREIGN KEY (job_id, seq) REFERENCES job_recipients_new (job_id, seq) ON DELETE CASCADE
);
INSERT INTO api_messages_new (id, key_id, account_id, idempotency_key, body_hash, job_id, seq,
    preset_id, to_kind, to_id, created_ms, hook)
SELECT id, key_id, account_id, idempotency_key, body_hash, job_id, seq, preset_id, to_kind,
    to_id, created_ms, hook FROM api_messages;

CREATE TABLE webhook_deliveries_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    key_id          INTEGER  NOT NULL REFERENCES send_keys (id) ON DELETE CASCADE,
    message_id      INTEGER  NOT NULL REFERENCES api_messages_new (id) ON DELETE CASCADE,
    -- message.sent | message.failed | message.unknown | message.cancelled | message.receipt
    event           TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER  NOT NULL DEFAULT 0,
    next_try_ms     INTEGER  NOT NULL,
    -- A process posting it holds it until then.
    lease_until_ms  INTEGER  NOT NULL DEFAULT 0,
    -- The receiver's last HTTP status, or why there was none.
    last_status     INTEGER,
    last_error      TEXT,
    created_ms      INTEGER  NOT NULL,
    done_ms         INTEGER,
    UNIQUE (message_id, event)
);
INSERT INTO webhook_deliveries_new (id, key_id, message_id, event, body, state, attempts,
    next_try_ms, lease_until_ms, last_status, last_error, created_ms, done_ms)
SELECT id, key_id, message_id, event, body, state, attempts, next_try_ms, lease_until_ms,
    last_status, last_error, created_ms, done_ms FROM webhook_deliveries;

-- Ids handed out before stay used (a deleted message's id is never given again).
DELETE FROM sqlite_sequence WHERE name IN ('api_messages_new', 'webhook_deliveries_new');
INSERT INTO sqlite_sequence (name, seq)
SELECT name || '_new', seq FROM sqlite_sequence WHERE name IN ('api_messages', 'webhook_deliveries');

DROP TABLE webhook_deliveries;
DROP TABLE api_messages;
DROP TABLE job_recipients;
ALTER TABLE job_recipients_new RENAME TO job_recipients;
ALTER TABLE api_messages_new RENAME TO api_messages;
ALTER TABLE webhook_deliveries_new RENAME TO webhook_deliveries;

CREATE INDEX job_recipients_pending ON job_recipients (job_id, seq, next_try_ms) WHERE state = 'pending';
CREATE INDEX job_recipients_sending ON job_recipients (job_id, lease_until_ms) WHERE state = 'sending';
CREATE INDEX job_recipients_msgid ON job_recipients (msgid) WHERE msgid IS NOT NULL;
CREATE INDEX api_messages_account ON api_messages (account_id, id);
CREATE INDEX api_messages_hook ON api_messages (hook, id) WHERE hook IS NOT NULL;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_try_ms) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_key ON webhook_deliveries (key_id, state);
