-- Recurring sends (定时任务, postgres dialect): a preset, a recipient rule and a rhythm; each
-- run creates a normal job, at most one per (schedule, run time) whichever process runs it.
CREATE TABLE schedules (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    channel       TEXT    NOT NULL,
    -- The presets (no foreign key: a run after a preset's deletion is refused and reported).
    preset_id     BIGINT,
    mp_preset_id  BIGINT,
    -- JSON: the recipient rule, evaluated afresh at each run.
    source        TEXT    NOT NULL,
    -- JSON: daily or weekly at HH:MM, or a cron expression.
    rhythm        TEXT    NOT NULL,
    rate_limit    BIGINT  NOT NULL,
    paused        BOOLEAN NOT NULL DEFAULT FALSE,
    -- The next run (unix ms); the guard of "run once".
    next_run_ms   BIGINT  NOT NULL,
    last_run_ms   BIGINT,
    last_job_id   BIGINT,
    -- Runs missed while wxpush was down, not replayed, at the last run.
    last_skipped  BIGINT  NOT NULL DEFAULT 0,
    -- JSON refusal: why the last run created no job.
    last_refusal  TEXT,
    created_by    TEXT    NOT NULL,
    created_ms    BIGINT  NOT NULL,
    updated_ms    BIGINT  NOT NULL
);
CREATE INDEX schedules_due ON schedules (next_run_ms) WHERE NOT paused;

ALTER TABLE jobs ADD COLUMN schedule_id BIGINT;
ALTER TABLE jobs ADD COLUMN schedule_run_ms BIGINT;
CREATE UNIQUE INDEX jobs_schedule_run ON jobs (schedule_id, schedule_run_ms);
