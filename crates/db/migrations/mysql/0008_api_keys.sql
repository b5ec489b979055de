-- API keys: long-lived bearer secrets (`mp3c_…`) a user creates for scripts. Only the SHA-256 of
-- the secret is stored (`secret_hash`, lowercase hex, unique: the lookup key); `prefix` and
-- `last4` are shown so the owner can recognise a key. `scopes` is a space-separated list.
-- Revoking deletes the row. `last_used_at` is written at most once a minute per key.

CREATE TABLE api_keys (
    id           VARCHAR(36) NOT NULL PRIMARY KEY,
    user_id      VARCHAR(36) NOT NULL,
    name         VARCHAR(200) NOT NULL,
    scopes       VARCHAR(255) NOT NULL,
    prefix       VARCHAR(32) NOT NULL,
    last4        VARCHAR(8) NOT NULL,
    secret_hash  VARBINARY(64) NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NULL,
    last_used_at BIGINT NULL,
    CONSTRAINT api_keys_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
CREATE UNIQUE INDEX api_keys_secret_hash ON api_keys (secret_hash);
CREATE INDEX api_keys_user ON api_keys (user_id, created_at);
