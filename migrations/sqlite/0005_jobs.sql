-- Send jobs: the job with its frozen message, one row per recipient (leased by dispatch workers), and receipts that arrived before their send was recorded (SQLite dialect).
CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- template: OA template message (cgi-bin/message/template/send).
    channel         TEXT    NOT NULL DEFAULT 'template' CHECK (channel IN ('template')),
    name            TEXT    NOT NULL,
    -- The preset it was made from (the message itself is the snapshot in payload).
    preset_id       INTEGER REFERENCES presets (id) ON DELETE SET NULL,
    preset_name     TEXT    NOT NULL,
    template_id     TEXT    NOT NULL,
    template_title  TEXT    NOT NULL,
    -- JSON: the template/send body without touser and client_msg_id, frozen at creation.
    payload         TEXT    NOT NULL,
    -- JSON: the recipient source as chosen (long lists summarised).
    source          TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('running', 'paused', 'cancelled', 'done')),
    -- staff | 45009 (daily quota) | an errcode of the account's credentials
    pause_reason    TEXT,
    -- Recipient rows, skipped ones included.
    total           INTEGER NOT NULL,
    will_receive    INTEGER NOT NULL,
    -- Messages per second for the account.
    rate_limit      INTEGER NOT NULL,
    created_by      TEXT    NOT NULL,
    approved_by     TEXT,
    created_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL,
    finished_ms     INTEGER
);
CREATE INDEX jobs_account ON jobs (account_id, id);
CREATE INDEX jobs_state ON jobs (state);

CREATE TABLE job_recipients (
    job_id          INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    openid          TEXT    NOT NULL,
    -- Set for recipients given by unionid.
    unionid         TEXT,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'skipped', 'unknown', 'cancelled')),
    skip_reason     TEXT    CHECK (skip_reason IN ('unsubscribed', 'unknown_openid', 'no_oa_openid', 'duplicate')),
    -- Claims by a worker (a send attempt each).
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- A pending row is not claimed before this time (retry backoff).
    next_try_ms     INTEGER NOT NULL DEFAULT 0,
    -- The worker that holds a sending row, until when.
    lease_owner     TEXT,
    lease_until_ms  INTEGER NOT NULL DEFAULT 0,
    first_try_ms    INTEGER,
    -- Start of the current (or last) attempt.
    claimed_ms      INTEGER,
    -- Start of the earliest attempt that may have been delivered (timeout, lost response, a
    -- worker gone mid-send): past WeChat's 10-minute de-dup window the row is not resent.
    uncertain_ms    INTEGER,
    sent_ms         INTEGER,
    completed_ms    INTEGER,
    msgid           INTEGER,
    errcode         INTEGER,
    errmsg          TEXT,
    -- TEMPLATESENDJOBFINISH
    delivery        TEXT    CHECK (delivery IN ('delivered', 'user_block', 'system_failed')),
    delivery_ms     INTEGER,
    updated_ms      INTEGER NOT NULL,
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
-- Small partial indexes: only the rows a worker looks for.
CREATE INDEX job_recipients_pending ON job_recipients (job_id, seq, next_try_ms) WHERE state = 'pending';
CREATE INDEX job_recipients_sending ON job_recipients (job_id, lease_until_ms) WHERE state = 'sending';
CREATE INDEX job_recipients_msgid ON job_recipients (msgid) WHERE msgid IS NOT NULL;

-- Receipts whose msgid was not stored yet (WeChat can be faster than the worker's write).
CREATE TABLE receipt_backlog (
    account_id   INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    msgid        INTEGER NOT NULL,
    delivery     TEXT    NOT NULL CHECK (delivery IN ('delivered', 'user_block', 'system_failed')),
    received_ms  INTEGER NOT NULL,
    PRIMARY KEY (account_id, msgid)
);
