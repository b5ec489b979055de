-- Audio extracted on the client: the size of the file the user chose, when only its audio
-- track was sent (the job's video_size is then the audio's size). NULL: the whole file was sent.

ALTER TABLE jobs ADD COLUMN source_size BIGINT NULL;
