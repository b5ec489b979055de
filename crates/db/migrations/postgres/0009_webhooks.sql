-- Signed webhooks (Standard Webhooks). `webhook_endpoints`: a user's callback URLs with the
-- events they subscribe to (comma-separated), their signing secret (`whsec_…`) and, for a day
-- after a rotation, the previous one. `webhook_deliveries`: one row per (endpoint, job, event),
-- written in the transaction that finishes the job; its id is the `webhook-id` of every attempt,
-- its body is fixed at the first attempt; `next_attempt_at` doubles as the lease of the
-- deliverer that claimed it. `webhook_attempts`: every attempt (status code, latency, error).

CREATE TABLE webhook_endpoints (
    id                    TEXT    NOT NULL PRIMARY KEY,
    owner_id              TEXT    NOT NULL REFERENCES users (id),
    url                   TEXT    NOT NULL,
    description           TEXT    NOT NULL,
    events                TEXT    NOT NULL,
    secret                TEXT    NOT NULL,
    previous_secret       TEXT,
    previous_secret_until BIGINT,
    enabled               BIGINT  NOT NULL,
    created_at            BIGINT  NOT NULL,
    updated_at            BIGINT  NOT NULL
);
CREATE INDEX webhook_endpoints_owner ON webhook_endpoints (owner_id);

CREATE TABLE webhook_deliveries (
    id               TEXT    NOT NULL PRIMARY KEY,
    endpoint_id      TEXT    NOT NULL,
    job_id           TEXT    NOT NULL,
    event            TEXT    NOT NULL,
    payload          TEXT,
    status           TEXT    NOT NULL,
    attempts         BIGINT  NOT NULL,
    retries          BIGINT  NOT NULL,
    next_attempt_at  BIGINT,
    lease_owner      TEXT,
    last_status_code BIGINT,
    last_latency_ms  BIGINT,
    last_error       TEXT,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    CONSTRAINT webhook_deliveries_once UNIQUE (endpoint_id, job_id, event)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at);

CREATE TABLE webhook_attempts (
    id           TEXT    NOT NULL PRIMARY KEY,
    delivery_id  TEXT    NOT NULL,
    attempted_at BIGINT  NOT NULL,
    status_code  BIGINT,
    latency_ms   BIGINT  NOT NULL,
    error        TEXT
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempted_at);
