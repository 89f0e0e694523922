-- The send API (sqlite dialect): keys business systems send with, and their messages.

-- A job of kind `api` holds one Official Account's API messages: it never finishes, and each
-- of its rows carries its own message (`payload`). Batch jobs keep one message for all rows.
ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'batch' CHECK (kind IN ('batch', 'api'));
CREATE UNIQUE INDEX jobs_api ON jobs (account_id) WHERE kind = 'api';
-- The row's own send body (JSON, touser left empty); NULL: the job's.
ALTER TABLE job_recipients ADD COLUMN payload TEXT;

CREATE TABLE send_keys (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id     INTEGER  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    key_hash       TEXT    NOT NULL UNIQUE,
    -- The first characters, shown so admins can tell keys apart.
    prefix         TEXT    NOT NULL,
    -- JSON array of the preset ids the key may use; NULL: every preset of the account.
    presets        TEXT,
    -- Messages per second this key may submit.
    rate           INTEGER  NOT NULL,
    created_by     TEXT    NOT NULL,
    created_at_ms  INTEGER  NOT NULL,
    revoked_at_ms  INTEGER,
    last_used_ms   INTEGER
);
CREATE INDEX send_keys_account ON send_keys (account_id, id);

-- One accepted message: its key, the request's idempotency key and body hash, and its row.
CREATE TABLE api_messages (
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
    UNIQUE (key_id, idempotency_key),
    FOREIGN KEY (job_id, seq) REFERENCES job_recipients (job_id, seq) ON DELETE CASCADE
);
CREATE INDEX api_messages_account ON api_messages (account_id, id);
