-- Followers and their resumable sync, Mini Program users and their API keys, cached counts (SQLite dialect).
CREATE TABLE followers (
    account_id       INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    openid           TEXT    NOT NULL,
    unionid          TEXT,
    subscribed       BOOLEAN NOT NULL DEFAULT TRUE,
    subscribe_time   INTEGER,
    -- Tag ids as ",2,100," so one tag is matched with LIKE '%,100,%'.
    tagid_list       TEXT    NOT NULL DEFAULT '',
    remark           TEXT    NOT NULL DEFAULT '',
    language         TEXT,
    subscribe_scene  TEXT,
    -- The sync run that last listed this openid (user/get), and the one that last detailed it (batchget).
    seen_run         INTEGER,
    detailed_run     INTEGER,
    updated_at_ms    INTEGER NOT NULL,
    PRIMARY KEY (account_id, openid)
);
CREATE INDEX followers_unionid ON followers (account_id, unionid);
CREATE INDEX followers_subscribed ON followers (account_id, subscribed, openid);
CREATE INDEX followers_pending ON followers (account_id, seen_run, detailed_run);

CREATE TABLE sync_runs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id        INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- listing (user/get chain) → detailing (batchget) → done | failed | cancelled
    state             TEXT    NOT NULL CHECK (state IN ('listing', 'detailing', 'done', 'failed', 'cancelled')),
    next_openid       TEXT    NOT NULL DEFAULT '',
    total             INTEGER NOT NULL DEFAULT 0,
    pages_done        INTEGER NOT NULL DEFAULT 0,
    listed            INTEGER NOT NULL DEFAULT 0,
    detailed          INTEGER NOT NULL DEFAULT 0,
    unsubscribed      INTEGER NOT NULL DEFAULT 0,
    error             TEXT,
    cancel_requested  BOOLEAN NOT NULL DEFAULT FALSE,
    started_by        TEXT    NOT NULL DEFAULT '',
    started_at_ms     INTEGER NOT NULL,
    updated_at_ms     INTEGER NOT NULL,
    finished_at_ms    INTEGER,
    lease_owner       TEXT,
    lease_until_ms    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sync_runs_account ON sync_runs (account_id, id);
-- At most one unfinished sync per account, whichever process started it.
CREATE UNIQUE INDEX sync_runs_one_active ON sync_runs (account_id) WHERE state IN ('listing', 'detailing');

CREATE TABLE mp_users (
    account_id     INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    openid         TEXT    NOT NULL,
    unionid        TEXT,
    source         TEXT    NOT NULL CHECK (source IN ('login', 'import')),
    first_seen_ms  INTEGER NOT NULL,
    last_login_ms  INTEGER,
    PRIMARY KEY (account_id, openid)
);
CREATE INDEX mp_users_unionid ON mp_users (account_id, unionid);

CREATE TABLE mp_api_keys (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id     INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    key_hash       TEXT    NOT NULL UNIQUE,
    -- The first characters, shown so admins can tell keys apart.
    prefix         TEXT    NOT NULL,
    created_by     TEXT    NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    revoked_at_ms  INTEGER
);

-- Dashboard counts per OA, recomputed at the end of a sync and adjusted by follow events.
CREATE TABLE follower_stats (
    account_id                INTEGER PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    followers                 INTEGER NOT NULL DEFAULT 0,
    subscribed                INTEGER NOT NULL DEFAULT 0,
    with_unionid              INTEGER NOT NULL DEFAULT 0,
    matched                   INTEGER NOT NULL DEFAULT 0,
    mp_users                  INTEGER NOT NULL DEFAULT 0,
    mp_not_following          INTEGER NOT NULL DEFAULT 0,
    without_unionid_subscribed   INTEGER NOT NULL DEFAULT 0,
    without_unionid_unsubscribed INTEGER NOT NULL DEFAULT 0,
    computed_at_ms            INTEGER NOT NULL
);
