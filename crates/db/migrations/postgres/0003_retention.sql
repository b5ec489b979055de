-- Retention: a per-job `keep` flag (the janitor leaves such jobs alone), when the janitor
-- removed a done job's source video, and indexes for the janitor's queries and blob sweeps.

ALTER TABLE jobs ADD COLUMN keep BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN video_deleted_at BIGINT;
CREATE INDEX jobs_state_finished ON jobs (state, finished_at);
CREATE INDEX jobs_video_key ON jobs (video_key);
CREATE INDEX jobs_audio_key ON jobs (audio_key);
