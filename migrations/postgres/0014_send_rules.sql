-- Quiet hours and a per-person daily cap per Official Account, the day's sends per person, and skip reasons daily_cap and bad_values (PostgreSQL dialect).

-- An Official Account's send rules; a missing row or NULL columns: off.
CREATE TABLE send_rules (
    account_id      BIGINT  PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    -- Quiet hours as minutes after local midnight (console time zone); the window may cross
    -- midnight (start > end). Both NULL: no quiet hours.
    quiet_start_min INTEGER CHECK (quiet_start_min BETWEEN 0 AND 1439),
    quiet_end_min   INTEGER CHECK (quiet_end_min BETWEEN 0 AND 1439),
    -- Template messages per person per local day; NULL: no cap.
    daily_cap       BIGINT  CHECK (daily_cap > 0),
    updated_by      TEXT    NOT NULL,
    updated_ms      BIGINT  NOT NULL,
    CHECK ((quiet_start_min IS NULL) = (quiet_end_min IS NULL)),
    CHECK (quiet_start_min IS NULL OR quiet_start_min <> quiet_end_min)
);

-- Template messages counted against the daily cap: one row per account, local day and person,
-- raised (never above the cap) when a row is claimed for sending.
CREATE TABLE daily_sends (
    account_id  BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- YYYY-MM-DD in the console time zone.
    day         TEXT    NOT NULL,
    openid      TEXT    NOT NULL,
    sent        BIGINT  NOT NULL CHECK (sent > 0),
    PRIMARY KEY (account_id, day, openid)
);
CREATE INDEX daily_sends_day ON daily_sends (day);

-- The local day a row was counted against the daily cap (counted once, whatever its retries).
ALTER TABLE job_recipients ADD COLUMN cap_day TEXT;

-- daily_cap: the person had reached the account's daily cap; bad_values: a spreadsheet row
-- whose values break the template's rules.
ALTER TABLE job_recipients DROP CONSTRAINT job_recipients_skip_reason_check;
ALTER TABLE job_recipients ADD CONSTRAINT job_recipients_skip_reason_check CHECK (skip_reason IN ('unsubscribed', 'unknown_openid', 'no_oa_openid', 'duplicate', 'no_mp_user', 'no_credit', 'daily_cap', 'bad_values'));
