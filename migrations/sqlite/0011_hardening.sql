-- Hardening (sqlite dialect).

-- Login failures are counted per source: a trusted device (its hashed cookie), or else the
-- username and client IP. A trusted device is a browser a staff member logged in from before.
ALTER TABLE login_failures ADD COLUMN device TEXT;
CREATE INDEX login_failures_user_ip ON login_failures (username, ip, at_ms);
CREATE INDEX login_failures_device ON login_failures (device, at_ms);
CREATE TABLE trusted_devices (
    token_hash     TEXT    NOT NULL,
    staff_id       INTEGER  NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    created_at_ms  INTEGER  NOT NULL,
    last_used_ms   INTEGER  NOT NULL,
    PRIMARY KEY (token_hash, staff_id)
);
CREATE INDEX trusted_devices_used ON trusted_devices (last_used_ms);

-- Callback pushes already taken: a request's timestamp and nonce (a replayed signature), and
-- an event's sender and CreateTime (WeChat's retries). Kept for the timestamp window and a bit.
CREATE TABLE callback_seen (
    account_id  INTEGER  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    seen_ms     INTEGER  NOT NULL,
    PRIMARY KEY (account_id, kind, key)
);
CREATE INDEX callback_seen_at ON callback_seen (seen_ms);

-- The CreateTime (seconds) of the newest follow event applied to a follower: an older event,
-- late or replayed, never overrides it.
ALTER TABLE followers ADD COLUMN event_time INTEGER;

-- When this attempt was about to leave the process for WeChat (set just before the HTTP
-- call). After a crash, a claimed subscribe row that never departed is simply sent.
ALTER TABLE job_recipients ADD COLUMN departed_ms INTEGER;

-- A failed recipient's attempt, kept when "retry failed" sends it again: the job page keeps
-- showing that it failed before, and why.
CREATE TABLE recipient_failures (
    job_id      INTEGER  NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq         INTEGER  NOT NULL,
    retried_ms  INTEGER  NOT NULL,
    failed_ms   INTEGER,
    attempts    INTEGER  NOT NULL,
    errcode     INTEGER,
    errmsg      TEXT,
    PRIMARY KEY (job_id, seq, retried_ms)
);

-- Follow events applied to the cached counts: the counts at the end of a sync are computed
-- outside the write lock and stored only if no event changed them meanwhile.
ALTER TABLE follower_stats ADD COLUMN event_seq INTEGER NOT NULL DEFAULT 0;
