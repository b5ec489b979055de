-- Distributed chunks: a long job is planned as chunk tasks any converter may take. The plan is
-- the engine's (JSON, handed back to it unchanged); `done` counts finished chunks, so the
-- converter finishing the last one (and only that one) writes the join task. Each chunk's
-- frames are a blob (`chunks/<job>/<index>.mp3`) with its SHA-256, checked at the join; `frames`,
-- `samples` and `ends_audio` (0/1: the audio ends in this chunk) are what the join needs.

CREATE TABLE job_chunk_plans (
    job_id     VARCHAR(36) NOT NULL PRIMARY KEY,
    plan       TEXT NOT NULL,
    chunks     BIGINT NOT NULL,
    done       BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE job_chunks (
    job_id     VARCHAR(36) NOT NULL,
    idx        BIGINT NOT NULL,
    state      VARCHAR(16) NOT NULL,
    progress   DOUBLE NOT NULL DEFAULT 0,
    blob_key   VARCHAR(1024) NULL,
    sha256     VARCHAR(64) NULL,
    bytes      BIGINT NULL,
    frames     BIGINT NULL,
    samples    BIGINT NULL,
    ends_audio BIGINT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (job_id, idx)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
