-- Staff, login throttling, one-time setup tokens and the audit log (PostgreSQL dialect).
CREATE TABLE staff (
    id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username        TEXT    NOT NULL UNIQUE,
    password_hash   TEXT    NOT NULL,
    role            TEXT    NOT NULL CHECK (role IN ('admin', 'operator')),
    disabled        BOOLEAN NOT NULL DEFAULT FALSE,
    lang            TEXT    NOT NULL DEFAULT 'zh' CHECK (lang IN ('zh', 'en')),
    created_at_ms   BIGINT  NOT NULL,
    updated_at_ms   BIGINT  NOT NULL,
    last_login_ms   BIGINT
);

CREATE TABLE login_failures (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms     BIGINT NOT NULL,
    username  TEXT   NOT NULL,
    ip        TEXT   NOT NULL
);
CREATE INDEX login_failures_username ON login_failures (username, at_ms);
CREATE INDEX login_failures_ip ON login_failures (ip, at_ms);
CREATE INDEX login_failures_at ON login_failures (at_ms);

CREATE TABLE setup_tokens (
    token_hash     TEXT   PRIMARY KEY,
    created_at_ms  BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms     BIGINT NOT NULL,
    actor_id  BIGINT,
    actor     TEXT   NOT NULL,
    action    TEXT   NOT NULL,
    target    TEXT   NOT NULL DEFAULT '',
    detail    TEXT   NOT NULL DEFAULT '{}',
    ip        TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at_ms);
CREATE INDEX audit_log_action ON audit_log (action, at_ms);
