-- Dedup and quotas. `reused_from`: a job done at once by reusing the audio of an earlier job of
-- the same owner with the same content, name and options (its audio blob is then shared; a blob
-- is deleted only when no job that is not expired refers to it). `user_quotas`: an admin's
-- per-user overrides of the configured limits (NULL: the configured default; 0: no limit).
-- `user_daily_jobs`: jobs created per user and UTC day (deleting a job does not give it back).

ALTER TABLE jobs ADD COLUMN reused_from TEXT NULL;
CREATE INDEX jobs_owner_sha256 ON jobs (owner_id, video_sha256);

CREATE TABLE user_quotas (
    user_id          TEXT    NOT NULL PRIMARY KEY REFERENCES users (id),
    storage_bytes    INTEGER NULL,
    jobs_per_day     INTEGER NULL,
    concurrent_jobs  INTEGER NULL,
    max_upload_bytes INTEGER NULL,
    updated_at       INTEGER NOT NULL
);

CREATE TABLE user_daily_jobs (
    user_id TEXT    NOT NULL,
    day     INTEGER NOT NULL,
    jobs    INTEGER NOT NULL,
    PRIMARY KEY (user_id, day)
);
