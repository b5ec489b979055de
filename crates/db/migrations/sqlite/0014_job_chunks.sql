-- Distributed chunks: a long job is planned as chunk tasks any converter may take. The plan is
-- the engine's (JSON, handed back to it unchanged); `done` counts finished chunks, so the
-- converter finishing the last one (and only that one) writes the join task. Each chunk's
-- frames are a blob (`chunks/<job>/<index>.mp3`) with its SHA-256, checked at the join; `frames`,
-- `samples` and `ends_audio` (0/1: the audio ends in this chunk) are what the join needs.

CREATE TABLE job_chunk_plans (
    job_id     TEXT NOT NULL PRIMARY KEY,
    plan       TEXT NOT NULL,
    chunks     INTEGER NOT NULL,
    done       INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE job_chunks (
    job_id     TEXT NOT NULL,
    idx        INTEGER NOT NULL,
    state      TEXT NOT NULL,
    progress   REAL    NOT NULL DEFAULT 0,
    blob_key   TEXT NULL,
    sha256     TEXT NULL,
    bytes      INTEGER NULL,
    frames     INTEGER NULL,
    samples    INTEGER NULL,
    ends_audio INTEGER NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (job_id, idx)
);
