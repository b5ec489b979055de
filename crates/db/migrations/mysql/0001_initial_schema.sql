-- Users, jobs, the transactional outbox, the database queue and the notifier's dedup record.
-- Timestamps are unix milliseconds; booleans are 0/1 integers (same on every engine).
-- Default (case-insensitive) collation: a `_bin` collation makes sqlx see VARBINARY.

CREATE TABLE users (
    id            VARCHAR(36) NOT NULL PRIMARY KEY,
    email         VARCHAR(320) NOT NULL,
    email_key     VARCHAR(320) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    role          VARCHAR(16) NOT NULL,
    disabled      BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
CREATE UNIQUE INDEX users_email_key ON users (email_key);

CREATE TABLE jobs (
    id            VARCHAR(36) NOT NULL PRIMARY KEY,
    owner_id      VARCHAR(36) NOT NULL,
    owner_email   VARCHAR(320) NOT NULL,
    state         VARCHAR(16) NOT NULL,
    original_name TEXT NOT NULL,
    video_key     VARCHAR(1024) NOT NULL,
    video_size    BIGINT NOT NULL,
    video_sha256  VARCHAR(64) NOT NULL,
    audio_key     VARCHAR(1024),
    audio_size    BIGINT,
    options       TEXT NOT NULL,
    progress      DOUBLE NOT NULL DEFAULT 0,
    duration_secs DOUBLE,
    error_code    VARCHAR(64),
    error_message TEXT,
    attempts      BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    finished_at   BIGINT,
    notified_at   BIGINT,
    CONSTRAINT jobs_owner_fk FOREIGN KEY (owner_id) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
CREATE INDEX jobs_owner_created ON jobs (owner_id, created_at);
CREATE INDEX jobs_created ON jobs (created_at);

CREATE TABLE outbox (
    id         VARCHAR(36) NOT NULL PRIMARY KEY,
    queue      VARCHAR(255) NOT NULL,
    message_id VARCHAR(255) NOT NULL,
    payload    MEDIUMTEXT NOT NULL,
    created_at BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
CREATE INDEX outbox_created ON outbox (created_at, id);

CREATE TABLE queue_messages (
    id           VARCHAR(36) NOT NULL PRIMARY KEY,
    queue        VARCHAR(255) NOT NULL,
    message_id   VARCHAR(255) NOT NULL,
    payload      MEDIUMTEXT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    available_at BIGINT NOT NULL,
    lease_owner  VARCHAR(36),
    lease_until  BIGINT,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    dead         BIGINT NOT NULL DEFAULT 0,
    dead_at      BIGINT
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
CREATE INDEX queue_messages_ready ON queue_messages (queue, dead, available_at);

CREATE TABLE notifications (
    job_id     VARCHAR(36) NOT NULL PRIMARY KEY,
    created_at BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
