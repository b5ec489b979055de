-- Users, jobs, the transactional outbox, the database queue and the notifier's dedup record.
-- Timestamps are unix milliseconds; booleans are 0/1 integers (same on every engine).

CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    email         TEXT    NOT NULL,
    email_key     TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    disabled      BIGINT  NOT NULL DEFAULT 0,
    created_at    BIGINT  NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email_key);

CREATE TABLE jobs (
    id            TEXT    NOT NULL PRIMARY KEY,
    owner_id      TEXT    NOT NULL REFERENCES users (id),
    owner_email   TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    original_name TEXT    NOT NULL,
    video_key     TEXT    NOT NULL,
    video_size    BIGINT  NOT NULL,
    video_sha256  TEXT    NOT NULL,
    audio_key     TEXT,
    audio_size    BIGINT,
    options       TEXT    NOT NULL,
    progress      DOUBLE PRECISION NOT NULL DEFAULT 0,
    duration_secs DOUBLE PRECISION,
    error_code    TEXT,
    error_message TEXT,
    attempts      BIGINT  NOT NULL DEFAULT 0,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    finished_at   BIGINT,
    notified_at   BIGINT
);
CREATE INDEX jobs_owner_created ON jobs (owner_id, created_at);
CREATE INDEX jobs_created ON jobs (created_at);

CREATE TABLE outbox (
    id         TEXT    NOT NULL PRIMARY KEY,
    queue      TEXT    NOT NULL,
    message_id TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    created_at BIGINT  NOT NULL
);
CREATE INDEX outbox_created ON outbox (created_at, id);

CREATE TABLE queue_messages (
    id           TEXT    NOT NULL PRIMARY KEY,
    queue        TEXT    NOT NULL,
    message_id   TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    attempts     BIGINT  NOT NULL DEFAULT 0,
    max_attempts BIGINT  NOT NULL,
    available_at BIGINT  NOT NULL,
    lease_owner  TEXT,
    lease_until  BIGINT,
    last_error   TEXT,
    created_at   BIGINT  NOT NULL,
    dead         BIGINT  NOT NULL DEFAULT 0,
    dead_at      BIGINT
);
CREATE INDEX queue_messages_ready ON queue_messages (queue, dead, available_at);

CREATE TABLE notifications (
    job_id     TEXT    NOT NULL PRIMARY KEY,
    created_at BIGINT  NOT NULL
);
