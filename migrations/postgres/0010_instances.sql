-- The `wxpush serve` processes of a deployment (PostgreSQL dialect): each registers at start
-- under the id it writes into leases (its dispatcher's owners are `<id>-<n>`), heartbeats
-- seen_ms every few seconds and sets stopped_ms on a clean stop. Rows not seen for a day are
-- deleted.
CREATE TABLE instances (
    id           TEXT    PRIMARY KEY,
    hostname     TEXT    NOT NULL,
    pid          BIGINT  NOT NULL,
    version      TEXT    NOT NULL,
    listen_addr  TEXT    NOT NULL,
    started_ms   BIGINT  NOT NULL,
    seen_ms      BIGINT  NOT NULL,
    stopped_ms   BIGINT
);
