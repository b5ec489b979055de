-- Token revocation: a per-user generation, written into every token (`gen`) and bumped when the
-- account is disabled or re-enabled or its password changes, so older tokens stop verifying.
-- Server secrets shared by every gateway (the key that signs short-lived audio URLs).

ALTER TABLE users ADD COLUMN token_generation INTEGER NOT NULL DEFAULT 0;
CREATE TABLE server_secrets (
    name       TEXT    NOT NULL PRIMARY KEY,
    value      TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
