-- Users, jobs, the transactional outbox, the database queue and the notifier's dedup record.
-- Timestamps are unix milliseconds; booleans are 0/1 integers (same on every engine).

CREATE TABLE users (
    id            TEXT    NOT NULL PRIMARY KEY,
    email         TEXT    NOT NULL,
    email_key     TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email_key);

CREATE TABLE jobs (
    id            TEXT    NOT NULL PRIMARY KEY,
    owner_id      TEXT    NOT NULL REFERENCES users (id),
    owner_email   TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    original_name TEXT    NOT NULL,
    video_key     TEXT    NOT NULL,
    video_size    INTEGER NOT NULL,
    video_sha256  TEXT    NOT NULL,
    audio_key     TEXT,
    audio_size    INTEGER,
    options       TEXT    NOT NULL,
    progress      REAL    NOT NULL DEFAULT 0,
    duration_secs REAL,
    error_code    TEXT,
    error_message TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    notified_at   INTEGER
);
CREATE INDEX jobs_owner_created ON jobs (owner_id, created_at);
CREATE INDEX jobs_created ON jobs (created_at);

CREATE TABLE outbox (
    id         TEXT    NOT NULL PRIMARY KEY,
    queue      TEXT    NOT NULL,
    message_id TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX outbox_created ON outbox (created_at, id);

CREATE TABLE queue_messages (
    id           TEXT    NOT NULL PRIMARY KEY,
    queue        TEXT    NOT NULL,
    message_id   TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    available_at INTEGER NOT NULL,
    lease_owner  TEXT,
    lease_until  INTEGER,
    last_error   TEXT,
    created_at   INTEGER NOT NULL,
    dead         INTEGER NOT NULL DEFAULT 0,
    dead_at      INTEGER
);
CREATE INDEX queue_messages_ready ON queue_messages (queue, dead, available_at);

CREATE TABLE notifications (
    job_id     TEXT    NOT NULL PRIMARY KEY,
    created_at INTEGER NOT NULL
);
