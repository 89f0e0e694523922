-- Console settings admins change (the approval threshold first), and who approved a job that waited for a second admin (SQLite dialect).
CREATE TABLE app_settings (
    key         TEXT    PRIMARY KEY,
    value       TEXT    NOT NULL,
    updated_by  TEXT    NOT NULL,
    updated_ms  INTEGER NOT NULL
);

-- A job above the threshold is created paused with pause_reason 'approval'; approved_by
-- (a column since 0005) and approved_ms name the second admin who let it start.
ALTER TABLE jobs ADD COLUMN approved_ms INTEGER;
