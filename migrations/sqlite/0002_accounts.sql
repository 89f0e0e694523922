-- WeChat accounts (Official Accounts and Mini Programs) and the shared access token per account (SQLite dialect).
CREATE TABLE accounts (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    kind               TEXT    NOT NULL CHECK (kind IN ('oa', 'mp')),
    name               TEXT    NOT NULL,
    appid              TEXT    NOT NULL UNIQUE,
    secret             TEXT    NOT NULL,
    callback_token     TEXT    NOT NULL DEFAULT '',
    encoding_aes_key   TEXT    NOT NULL DEFAULT '',
    api_base           TEXT    NOT NULL,
    linked_account_id  INTEGER REFERENCES accounts (id) ON DELETE SET NULL,
    sandbox            BOOLEAN NOT NULL DEFAULT FALSE,
    created_at_ms      INTEGER NOT NULL,
    updated_at_ms      INTEGER NOT NULL
);

CREATE TABLE wechat_tokens (
    account_id        INTEGER PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    access_token      TEXT,
    expires_at_ms     INTEGER NOT NULL DEFAULT 0,
    obtained_at_ms    INTEGER,
    refresh_count     INTEGER NOT NULL DEFAULT 0,
    last_error        TEXT,
    last_error_at_ms  INTEGER,
    lease_owner       TEXT,
    lease_until_ms    INTEGER NOT NULL DEFAULT 0
);
