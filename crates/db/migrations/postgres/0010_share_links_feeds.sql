-- Share links: a public, expiring, revocable link to one job's audio. The link's token is never
-- stored, only its SHA-256 (hex); revoking deletes the row. A share works only while its job is
-- done with audio and its owner is not disabled (checked on every request).
-- Podcast feeds: one private feed per user. The URL's secret is an HMAC of the user id and
-- `nonce` under a server secret (so the URL can be shown again); only its SHA-256 is indexed.
-- Rotating changes the nonce, and with it the secret.

CREATE TABLE shares (
    id          TEXT    NOT NULL PRIMARY KEY,
    job_id      TEXT    NOT NULL,
    owner_id    TEXT    NOT NULL REFERENCES users (id),
    token_hash  TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL
);
CREATE UNIQUE INDEX shares_token ON shares (token_hash);
CREATE INDEX shares_job ON shares (job_id, created_at);

CREATE TABLE feeds (
    user_id     TEXT    NOT NULL PRIMARY KEY REFERENCES users (id),
    nonce       TEXT    NOT NULL,
    token_hash  TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);
CREATE UNIQUE INDEX feeds_token ON feeds (token_hash);
