-- Resumable uploads (tus): one row per upload in progress. `received_bytes` is how much of
-- `total_bytes` is stored (its segments are blobs under `uploads/<id>/`); `job_id` is set in the
-- transaction that creates the job from the completed upload.

CREATE TABLE uploads (
    id             TEXT    NOT NULL PRIMARY KEY,
    owner_id       TEXT    NOT NULL REFERENCES users (id),
    total_bytes    BIGINT  NOT NULL,
    received_bytes BIGINT  NOT NULL,
    metadata       TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL,
    expires_at     BIGINT  NOT NULL,
    job_id         TEXT
);
CREATE INDEX uploads_owner ON uploads (owner_id, job_id);
CREATE INDEX uploads_expires ON uploads (expires_at);
