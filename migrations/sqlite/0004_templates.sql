-- Templates mirrored from WeChat, presets (saved messages) kept apart from them, and the openid each staff member receives test sends at (SQLite dialect).
CREATE TABLE templates (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id        INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- oa: template message (get_all_private_template); mp: subscribe message (newtmpl/gettemplate)
    kind              TEXT    NOT NULL CHECK (kind IN ('oa', 'mp')),
    template_id       TEXT    NOT NULL,
    title             TEXT    NOT NULL,
    content           TEXT    NOT NULL,
    example           TEXT    NOT NULL DEFAULT '',
    primary_industry  TEXT,
    deputy_industry   TEXT,
    -- MP only: 2 = one-time, 3 = long-term subscription.
    sub_type          INTEGER,
    -- JSON object: keyword → approved values (MP enum keywords).
    enums             TEXT    NOT NULL DEFAULT '{}',
    -- A template gone from WeChat is marked, never deleted: presets may still point at it.
    state             TEXT    NOT NULL CHECK (state IN ('active', 'removed')),
    first_seen_ms     INTEGER NOT NULL,
    changed_ms        INTEGER NOT NULL,
    removed_ms        INTEGER,
    UNIQUE (account_id, template_id)
);

CREATE TABLE template_syncs (
    account_id  INTEGER PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    synced_ms   INTEGER NOT NULL,
    synced_by   TEXT    NOT NULL,
    added       INTEGER NOT NULL,
    changed     INTEGER NOT NULL,
    removed     INTEGER NOT NULL,
    unchanged   INTEGER NOT NULL
);

CREATE TABLE presets (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id     INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    template_ref   INTEGER NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    -- JSON: values (key → value, color), url, miniprogram.
    body           TEXT    NOT NULL,
    created_by     TEXT    NOT NULL,
    updated_by     TEXT    NOT NULL,
    created_ms     INTEGER NOT NULL,
    updated_ms     INTEGER NOT NULL,
    UNIQUE (account_id, name)
);
CREATE INDEX presets_template ON presets (template_ref);

CREATE TABLE staff_openids (
    staff_id    INTEGER NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    account_id  INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    openid      TEXT    NOT NULL,
    updated_ms  INTEGER NOT NULL,
    PRIMARY KEY (staff_id, account_id)
);
