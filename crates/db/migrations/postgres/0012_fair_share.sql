-- Fair share: the owner a `video` message belongs to, so that the queue hands out the next job
-- of the owner with the fewest jobs in progress (the database queue, when claiming) and the
-- outbox relay publishes to a broker in that order (RabbitMQ). NULL for other messages.

ALTER TABLE queue_messages ADD COLUMN fair_key TEXT NULL;
ALTER TABLE outbox ADD COLUMN fair_key TEXT NULL;
CREATE INDEX queue_messages_fair ON queue_messages (queue, fair_key, available_at);
