-- API keys: long-lived bearer secrets (`mp3c_…`) a user creates for scripts. Only the SHA-256 of
-- the secret is stored (`secret_hash`, lowercase hex, unique: the lookup key); `prefix` and
-- `last4` are shown so the owner can recognise a key. `scopes` is a space-separated list.
-- Revoking deletes the row. `last_used_at` is written at most once a minute per key.

CREATE TABLE api_keys (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL REFERENCES users (id),
    name         TEXT    NOT NULL,
    scopes       TEXT    NOT NULL,
    prefix       TEXT    NOT NULL,
    last4        TEXT    NOT NULL,
    secret_hash  TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT
);
CREATE UNIQUE INDEX api_keys_secret_hash ON api_keys (secret_hash);
CREATE INDEX api_keys_user ON api_keys (user_id, created_at);
