-- Recurring sends (定时任务, sqlite dialect): a preset, a recipient rule and a rhythm; each
-- run creates a normal job, at most one per (schedule, run time) whichever process runs it.
CREATE TABLE schedules (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id    INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    channel       TEXT    NOT NULL,
    -- The presets (no foreign key: a run after a preset's deletion is refused and reported).
    preset_id     INTEGER,
    mp_preset_id  INTEGER,
    -- JSON: the recipient rule, evaluated afresh at each run.
    source        TEXT    NOT NULL,
    -- JSON: daily or weekly at HH:MM, or a cron expression.
    rhythm        TEXT    NOT NULL,
    rate_limit    INTEGER NOT NULL,
    paused        BOOLEAN NOT NULL DEFAULT FALSE,
    -- The next run (unix ms); the guard of "run once".
    next_run_ms   INTEGER NOT NULL,
    last_run_ms   INTEGER,
    last_job_id   INTEGER,
    -- Runs missed while wxpush was down, not replayed, at the last run.
    last_skipped  INTEGER NOT NULL DEFAULT 0,
    -- JSON refusal: why the last run created no job.
    last_refusal  TEXT,
    created_by    TEXT    NOT NULL,
    created_ms    INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL
);
CREATE INDEX schedules_due ON schedules (next_run_ms) WHERE NOT paused;

ALTER TABLE jobs ADD COLUMN schedule_id INTEGER;
ALTER TABLE jobs ADD COLUMN schedule_run_ms INTEGER;
CREATE UNIQUE INDEX jobs_schedule_run ON jobs (schedule_id, schedule_run_ms);
