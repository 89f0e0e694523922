-- The send rate every process of a deployment shares, per account (PostgreSQL dialect): the
-- theoretical arrival time of the next send, in microseconds since the epoch. Processes reserve
-- short windows of sends from it with one upsert each.
CREATE TABLE send_rate (
    account_id  BIGINT  PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    tat_us      BIGINT  NOT NULL
);
