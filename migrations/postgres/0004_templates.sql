-- Templates mirrored from WeChat, presets (saved messages) kept apart from them, and the openid each staff member receives test sends at (PostgreSQL dialect).
CREATE TABLE templates (
    id                BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id        BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- oa: template message (get_all_private_template); mp: subscribe message (newtmpl/gettemplate)
    kind              TEXT    NOT NULL CHECK (kind IN ('oa', 'mp')),
    template_id       TEXT    NOT NULL,
    title             TEXT    NOT NULL,
    content           TEXT    NOT NULL,
    example           TEXT    NOT NULL DEFAULT '',
    primary_industry  TEXT,
    deputy_industry   TEXT,
    -- MP only: 2 = one-time, 3 = long-term subscription.
    sub_type          BIGINT,
    -- JSON object: keyword → approved values (MP enum keywords).
    enums             TEXT    NOT NULL DEFAULT '{}',
    -- A template gone from WeChat is marked, never deleted: presets may still point at it.
    state             TEXT    NOT NULL CHECK (state IN ('active', 'removed')),
    first_seen_ms     BIGINT  NOT NULL,
    changed_ms        BIGINT  NOT NULL,
    removed_ms        BIGINT,
    UNIQUE (account_id, template_id)
);

CREATE TABLE template_syncs (
    account_id  BIGINT  PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    synced_ms   BIGINT  NOT NULL,
    synced_by   TEXT    NOT NULL,
    added       BIGINT  NOT NULL,
    changed     BIGINT  NOT NULL,
    removed     BIGINT  NOT NULL,
    unchanged   BIGINT  NOT NULL
);

CREATE TABLE presets (
    id             BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id     BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    template_ref   BIGINT  NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    -- JSON: values (key → value, color), url, miniprogram.
    body           TEXT    NOT NULL,
    created_by     TEXT    NOT NULL,
    updated_by     TEXT    NOT NULL,
    created_ms     BIGINT  NOT NULL,
    updated_ms     BIGINT  NOT NULL,
    UNIQUE (account_id, name)
);
CREATE INDEX presets_template ON presets (template_ref);

CREATE TABLE staff_openids (
    staff_id    BIGINT  NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
    account_id  BIGINT  NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    openid      TEXT    NOT NULL,
    updated_ms  BIGINT  NOT NULL,
    PRIMARY KEY (staff_id, account_id)
);
