-- Mini Program subscribe messages: credits per MP user and template with their ledger, and jobs that send as OA template, MP subscribe message or the best of both per person (PostgreSQL dialect).
CREATE TABLE subscription_credits (
    -- The Mini Program.
    account_id   BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- The MP user's openid.
    openid       TEXT    NOT NULL,
    template_id  TEXT    NOT NULL,
    -- One-time subscriptions not used yet (a send spends one).
    one_time     BIGINT  NOT NULL DEFAULT 0 CHECK (one_time >= 0),
    -- A long-term subscription is on.
    long_term    BOOLEAN NOT NULL DEFAULT FALSE,
    -- The last answer was reject/ban, a switch-off, or WeChat's 43101.
    refused      BOOLEAN NOT NULL DEFAULT FALSE,
    updated_ms   BIGINT  NOT NULL,
    PRIMARY KEY (account_id, openid, template_id)
);
CREATE INDEX subscription_credits_template ON subscription_credits (account_id, template_id);

-- Every change to a credit and why (append-only).
CREATE TABLE subscription_ledger (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id   BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    openid       TEXT    NOT NULL,
    template_id  TEXT    NOT NULL,
    -- popup / change / sent: WeChat's events; report: the MP backend's API call; send: a job
    -- spent a credit; refused: WeChat answered 43101.
    source       TEXT    NOT NULL CHECK (source IN ('popup', 'change', 'sent', 'report', 'send', 'refused')),
    -- accept, reject, ban, filter, sent, failed, 43101 …
    status       TEXT    NOT NULL,
    one_time_delta BIGINT NOT NULL DEFAULT 0,
    -- The long-term switch after this entry, when it changed it.
    long_term    BOOLEAN,
    -- An accept already counted through the other channel (popup event ↔ MP backend report).
    paired       BOOLEAN NOT NULL DEFAULT FALSE,
    -- When it happened: the event's CreateTime, or when wxpush learned it.
    event_ms     BIGINT  NOT NULL,
    recorded_ms  BIGINT  NOT NULL,
    job_id       BIGINT,
    seq          BIGINT,
    -- WeChat repeats a push it got no answer to: the same event is entered once.
    dedup_key    TEXT,
    UNIQUE (account_id, openid, template_id, dedup_key)
);
CREATE INDEX subscription_ledger_user ON subscription_ledger (account_id, openid, template_id, id);

-- template: OA template message to the OA openid; subscribe: MP subscribe message to the MP
-- openid; best: per person, the OA template when they follow, else a subscribe message when
-- they hold a credit. The OA columns hold empty strings for a subscribe-only job.
ALTER TABLE jobs DROP CONSTRAINT jobs_channel_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_channel_check CHECK (channel IN ('template', 'subscribe', 'best'));
ALTER TABLE jobs ADD COLUMN mp_account_id BIGINT REFERENCES accounts (id) ON DELETE SET NULL;
ALTER TABLE jobs ADD COLUMN mp_preset_id BIGINT REFERENCES presets (id) ON DELETE SET NULL;
ALTER TABLE jobs ADD COLUMN mp_preset_name TEXT;
ALTER TABLE jobs ADD COLUMN mp_template_id TEXT;
ALTER TABLE jobs ADD COLUMN mp_template_title TEXT;
-- JSON: the subscribe/send body without touser.
ALTER TABLE jobs ADD COLUMN mp_payload TEXT;

-- The row's openid is the address on its channel: the OA openid (template) or the MP openid
-- (subscribe). no_mp_user: no Mini Program user for this person; no_credit: an MP user without
-- a subscription to the template.
ALTER TABLE job_recipients ADD COLUMN channel TEXT NOT NULL DEFAULT 'template' CHECK (channel IN ('template', 'subscribe'));
ALTER TABLE job_recipients DROP CONSTRAINT job_recipients_skip_reason_check;
ALTER TABLE job_recipients ADD CONSTRAINT job_recipients_skip_reason_check CHECK (skip_reason IN ('unsubscribed', 'unknown_openid', 'no_oa_openid', 'duplicate', 'no_mp_user', 'no_credit'));
