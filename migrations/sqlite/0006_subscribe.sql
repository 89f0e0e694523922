-- Mini Program subscribe messages: credits per MP user and template with their ledger, and jobs that send as OA template, MP subscribe message or the best of both per person (SQLite dialect).
-- SQLite cannot change a CHECK in place: jobs and job_recipients are rebuilt. sqlx runs this in
-- a transaction, where foreign keys cannot be switched off, so the order matters: the new
-- recipients table first references jobs_new, the old tables are dropped child first (nothing
-- references the old jobs any more, so nothing cascades), and renaming jobs_new to jobs
-- rewrites the new recipients' reference.

CREATE TABLE subscription_credits (
    -- The Mini Program.
    account_id   INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- The MP user's openid.
    openid       TEXT    NOT NULL,
    template_id  TEXT    NOT NULL,
    -- One-time subscriptions not used yet (a send spends one).
    one_time     INTEGER NOT NULL DEFAULT 0 CHECK (one_time >= 0),
    -- A long-term subscription is on.
    long_term    BOOLEAN NOT NULL DEFAULT FALSE,
    -- The last answer was reject/ban, a switch-off, or WeChat's 43101.
    refused      BOOLEAN NOT NULL DEFAULT FALSE,
    updated_ms   INTEGER NOT NULL,
    PRIMARY KEY (account_id, openid, template_id)
);
CREATE INDEX subscription_credits_template ON subscription_credits (account_id, template_id);

-- Every change to a credit and why (append-only).
CREATE TABLE subscription_ledger (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id   INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    openid       TEXT    NOT NULL,
    template_id  TEXT    NOT NULL,
    -- popup / change / sent: WeChat's events; report: the MP backend's API call; send: a job
    -- spent a credit; refused: WeChat answered 43101.
    source       TEXT    NOT NULL CHECK (source IN ('popup', 'change', 'sent', 'report', 'send', 'refused')),
    -- accept, reject, ban, filter, sent, failed, 43101 …
    status       TEXT    NOT NULL,
    one_time_delta INTEGER NOT NULL DEFAULT 0,
    -- The long-term switch after this entry, when it changed it.
    long_term    BOOLEAN,
    -- An accept already counted through the other channel (popup event ↔ MP backend report).
    paired       BOOLEAN NOT NULL DEFAULT FALSE,
    -- When it happened: the event's CreateTime, or when wxpush learned it.
    event_ms     INTEGER NOT NULL,
    recorded_ms  INTEGER NOT NULL,
    job_id       INTEGER,
    seq          INTEGER,
    -- WeChat repeats a push it got no answer to: the same event is entered once.
    dedup_key    TEXT,
    UNIQUE (account_id, openid, template_id, dedup_key)
);
CREATE INDEX subscription_ledger_user ON subscription_ledger (account_id, openid, template_id, id);

CREATE TABLE jobs_new (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id      INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- template: OA template message to the OA openid; subscribe: MP subscribe message to the MP
    -- openid; best: per person, the OA template when they follow, else a subscribe message
    -- when they hold a credit.
    channel         TEXT    NOT NULL DEFAULT 'template' CHECK (channel IN ('template', 'subscribe', 'best')),
    name            TEXT    NOT NULL,
    -- The OA preset (empty strings when the job sends subscribe messages only).
    preset_id       INTEGER REFERENCES presets (id) ON DELETE SET NULL,
    preset_name     TEXT    NOT NULL,
    template_id     TEXT    NOT NULL,
    template_title  TEXT    NOT NULL,
    -- JSON: the template/send body without touser and client_msg_id, frozen at creation.
    payload         TEXT    NOT NULL,
    -- The linked Mini Program and its subscribe message (channels subscribe and best).
    mp_account_id   INTEGER REFERENCES accounts (id) ON DELETE SET NULL,
    mp_preset_id    INTEGER REFERENCES presets (id) ON DELETE SET NULL,
    mp_preset_name  TEXT,
    mp_template_id  TEXT,
    mp_template_title TEXT,
    -- JSON: the subscribe/send body without touser.
    mp_payload      TEXT,
    source          TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('running', 'paused', 'cancelled', 'done')),
    pause_reason    TEXT,
    total           INTEGER NOT NULL,
    will_receive    INTEGER NOT NULL,
    rate_limit      INTEGER NOT NULL,
    created_by      TEXT    NOT NULL,
    approved_by     TEXT,
    created_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL,
    finished_ms     INTEGER
);
INSERT INTO jobs_new (id, account_id, channel, name, preset_id, preset_name, template_id,
    template_title, payload, source, state, pause_reason, total, will_receive, rate_limit,
    created_by, approved_by, created_ms, updated_ms, finished_ms)
SELECT id, account_id, channel, name, preset_id, preset_name, template_id, template_title,
    payload, source, state, pause_reason, total, will_receive, rate_limit, created_by,
    approved_by, created_ms, updated_ms, finished_ms FROM jobs;

CREATE TABLE job_recipients_new (
    job_id          INTEGER NOT NULL REFERENCES jobs_new (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    -- The address on the row's channel: the OA openid (template) or the MP openid (subscribe).
    openid          TEXT    NOT NULL,
    unionid         TEXT,
    channel         TEXT    NOT NULL DEFAULT 'template' CHECK (channel IN ('template', 'subscribe')),
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'skipped', 'unknown', 'cancelled')),
    -- no_mp_user: no Mini Program user for this person; no_credit: an MP user without a
    -- subscription to the template.
    skip_reason     TEXT    CHECK (skip_reason IN ('unsubscribed', 'unknown_openid', 'no_oa_openid', 'duplicate', 'no_mp_user', 'no_credit')),
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
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;
INSERT INTO job_recipients_new (job_id, seq, openid, unionid, channel, state, skip_reason,
    attempts, next_try_ms, lease_owner, lease_until_ms, first_try_ms, claimed_ms, uncertain_ms,
    sent_ms, completed_ms, msgid, errcode, errmsg, delivery, delivery_ms, updated_ms)
SELECT job_id, seq, openid, unionid, 'template', state, skip_reason, attempts, next_try_ms,
    lease_owner, lease_until_ms, first_try_ms, claimed_ms, uncertain_ms, sent_ms, completed_ms,
    msgid, errcode, errmsg, delivery, delivery_ms, updated_ms FROM job_recipients;
DROP TABLE job_recipients;
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
CREATE INDEX jobs_account ON jobs (account_id, id);
CREATE INDEX jobs_state ON jobs (state);
ALTER TABLE job_recipients_new RENAME TO job_recipients;
CREATE INDEX job_recipients_pending ON job_recipients (job_id, seq, next_try_ms) WHERE state = 'pending';
CREATE INDEX job_recipients_sending ON job_recipients (job_id, lease_until_ms) WHERE state = 'sending';
CREATE INDEX job_recipients_msgid ON job_recipients (msgid) WHERE msgid IS NOT NULL;
