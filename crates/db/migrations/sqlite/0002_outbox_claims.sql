-- The outbox relay claims a row before publishing it, so relays in several processes do not
-- publish the same message twice; a claim that runs out (its relay died) can be taken again.
-- Job events across processes are read by polling jobs changed since a time.
ALTER TABLE outbox ADD COLUMN claim_token TEXT;
ALTER TABLE outbox ADD COLUMN claimed_until INTEGER;
CREATE INDEX jobs_updated ON jobs (updated_at);
