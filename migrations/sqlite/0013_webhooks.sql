-- Status webhooks of the send API (sqlite dialect): a key's URL and signing secret, what each
-- message still owes its webhook, and the deliveries with their retries.

-- The URL a key's messages report their outcome to; NULL: none.
ALTER TABLE send_keys ADD COLUMN webhook_url TEXT;
-- The HMAC-SHA256 signing secret, encrypted under the master key like account secrets.
ALTER TABLE send_keys ADD COLUMN webhook_secret TEXT;
-- What the message's webhook is still owed: 'state' its final state, 'receipt' WeChat's
-- receipt of a sent template message; NULL: nothing (or its key had no webhook).
ALTER TABLE api_messages ADD COLUMN hook TEXT CHECK (hook IN ('state', 'receipt'));
CREATE INDEX api_messages_hook ON api_messages (hook, id) WHERE hook IS NOT NULL;

-- One event to POST to a key's webhook, retried with backoff for 24 hours.
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    key_id          INTEGER  NOT NULL REFERENCES send_keys (id) ON DELETE CASCADE,
    message_id      INTEGER  NOT NULL REFERENCES api_messages (id) ON DELETE CASCADE,
    -- message.sent | message.failed | message.unknown | message.cancelled | message.receipt
    event           TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER  NOT NULL DEFAULT 0,
    next_try_ms     INTEGER  NOT NULL,
    -- A process posting it holds it until then.
    lease_until_ms  INTEGER  NOT NULL DEFAULT 0,
    -- The receiver's last HTTP status, or why there was none.
    last_status     INTEGER,
    last_error      TEXT,
    created_ms      INTEGER  NOT NULL,
    done_ms         INTEGER,
    UNIQUE (message_id, event)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_try_ms) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_key ON webhook_deliveries (key_id, state);
