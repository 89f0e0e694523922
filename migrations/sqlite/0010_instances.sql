-- The `wxpush serve` processes of a deployment (SQLite dialect): each registers at start under
-- the id it writes into leases (its dispatcher's owners are `<id>-<n>`), heartbeats seen_ms
-- every few seconds and sets stopped_ms on a clean stop. Rows not seen for a day are deleted.
CREATE TABLE instances (
    id           TEXT    PRIMARY KEY,
    hostname     TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    version      TEXT    NOT NULL,
    listen_addr  TEXT    NOT NULL,
    started_ms   INTEGER NOT NULL,
    seen_ms      INTEGER NOT NULL,
    stopped_ms   INTEGER
);
