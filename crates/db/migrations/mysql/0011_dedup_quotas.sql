-- Dedup and quotas. `reused_from`: a job done at once by reusing the audio of an earlier job of
-- the same owner with the same content, name and options (its audio blob is then shared; a blob
-- is deleted only when no job that is not expired refers to it). `user_quotas`: an admin's
-- per-user overrides of the configured limits (NULL: the configured default; 0: no limit).
-- `user_daily_jobs`: jobs created per user and UTC day (deleting a job does not give it back).

ALTER TABLE jobs ADD COLUMN reused_from VARCHAR(36) NULL;
CREATE INDEX jobs_owner_sha256 ON jobs (owner_id, video_sha256);

CREATE TABLE user_quotas (
    user_id          VARCHAR(36) NOT NULL PRIMARY KEY,
    storage_bytes    BIGINT NULL,
    jobs_per_day     BIGINT NULL,
    concurrent_jobs  BIGINT NULL,
    max_upload_bytes BIGINT NULL,
    updated_at       BIGINT NOT NULL,
    CONSTRAINT user_quotas_user_fk FOREIGN KEY (user_id) REFERENCES users (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE user_daily_jobs (
    user_id VARCHAR(36) NOT NULL,
    day     BIGINT NOT NULL,
    jobs    BIGINT NOT NULL,
    PRIMARY KEY (user_id, day)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
