-- Per-person values from a spreadsheet (SQLite dialect): uploads waiting for review, and job rows
-- that carry their own values, file line and, for a row left out, what was wrong with it (the
-- skip reason `bad_values` came with 0014).

CREATE TABLE sheet_uploads (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    file_name   TEXT    NOT NULL,
    -- The column that names each person.
    person      TEXT    NOT NULL CHECK (person IN ('openid', 'unionid', 'mp_openid')),
    -- JSON array: the variable columns, in file order.
    columns     TEXT    NOT NULL,
    row_count   INTEGER NOT NULL,
    -- JSON array of [line, person, [values in column order]].
    rows        TEXT    NOT NULL,
    created_by  TEXT    NOT NULL,
    created_ms  INTEGER NOT NULL
);
CREATE INDEX sheet_uploads_created ON sheet_uploads (created_ms);

-- JSON array: the job's variable columns (NULL: one message for everyone); the file's name.
ALTER TABLE jobs ADD COLUMN columns TEXT;
ALTER TABLE jobs ADD COLUMN sheet_name TEXT;

-- JSON array: the row's values in the job's column order.
ALTER TABLE job_recipients ADD COLUMN vars TEXT;
-- The row's line in the uploaded file.
ALTER TABLE job_recipients ADD COLUMN line INTEGER;
-- JSON array of {field, problem}: why a bad_values row was left out.
ALTER TABLE job_recipients ADD COLUMN issues TEXT;
