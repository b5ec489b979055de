-- Single sign-on (OpenID Connect).
-- sso_links: which account a provider's user (issuer + subject, the stable `iss`/`sub` of their
-- ID tokens) logs in to; made at the first login, so later logins find the account even after
-- the email changed at the provider.
-- sso_tickets: the short-lived, single-use server side of a login in progress (the PKCE verifier,
-- state and nonce between the redirect and the callback) and of the token handoff to the page
-- after it. The browser holds a random key in an HttpOnly cookie; only its SHA-256 (hex) is
-- stored. Taking a ticket deletes it; expired ones are removed when new ones are stored.

CREATE TABLE sso_links (
    issuer      TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    user_id     TEXT    NOT NULL REFERENCES users (id),
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX sso_links_user ON sso_links (user_id);

CREATE TABLE sso_tickets (
    key_hash    TEXT    NOT NULL PRIMARY KEY,
    purpose     TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    expires_at  BIGINT  NOT NULL
);
CREATE INDEX sso_tickets_expiry ON sso_tickets (expires_at);
