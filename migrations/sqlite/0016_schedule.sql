-- Scheduled jobs (sqlite dialect): a job created with a start time waits, paused for
-- `scheduled`, until a dispatcher's pass starts it.
ALTER TABLE jobs ADD COLUMN start_at_ms INTEGER;
CREATE INDEX jobs_scheduled ON jobs (start_at_ms) WHERE pause_reason = 'scheduled';
