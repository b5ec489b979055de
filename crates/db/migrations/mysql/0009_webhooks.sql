-- Signed webhooks (Standard Webhooks). `webhook_endpoints`: a user's callback URLs with the
-- events they subscribe to (comma-separated), their signing secret (`whsec_…`) and, for a day
-- after a rotation, the previous one. `webhook_deliveries`: one row per (endpoint, job, event),
-- written in the transaction that finishes the job; its id is the `webhook-id` of every attempt,
-- its body is fixed at the first attempt; `next_attempt_at` doubles as the lease of the
-- deliverer that claimed it. `webhook_attempts`: every attempt (status code, latency, error).

CREATE TABLE webhook_endpoints (
    id                    VARCHAR(36) NOT NULL PRIMARY KEY,
    owner_id              VARCHAR(36) NOT NULL,
    url                   TEXT NOT NULL,
    description           TEXT NOT NULL,
    events                VARCHAR(255) NOT NULL,
    secret                VARCHAR(255) NOT NULL,
    previous_secret       VARCHAR(255) NULL,
    previous_secret_until BIGINT NULL,
    enabled               BIGINT NOT NULL,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    CONSTRAINT webhook_endpoints_owner_fk FOREIGN KEY (owner_id) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
CREATE INDEX webhook_endpoints_owner ON webhook_endpoints (owner_id);

CREATE TABLE webhook_deliveries (
    id               VARCHAR(64) NOT NULL PRIMARY KEY,
    endpoint_id      VARCHAR(36) NOT NULL,
    job_id           VARCHAR(36) NOT NULL,
    event            VARCHAR(64) NOT NULL,
    payload          MEDIUMTEXT NULL,
    status           VARCHAR(16) NOT NULL,
    attempts         BIGINT NOT NULL,
    retries          BIGINT NOT NULL,
    next_attempt_at  BIGINT NULL,
    lease_owner      VARCHAR(36) NULL,
    last_status_code BIGINT NULL,
    last_latency_ms  BIGINT NULL,
    last_error       TEXT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    CONSTRAINT webhook_deliveries_once UNIQUE (endpoint_id, job_id, event)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at);

CREATE TABLE webhook_attempts (
    id           VARCHAR(36) NOT NULL PRIMARY KEY,
    delivery_id  VARCHAR(64) NOT NULL,
    attempted_at BIGINT NOT NULL,
    status_code  BIGINT NULL,
    latency_ms   BIGINT NOT NULL,
    error        TEXT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempted_at);
