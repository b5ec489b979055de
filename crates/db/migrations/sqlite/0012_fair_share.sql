-- Fair share: the owner a `video` message belongs to, so that the queue hands out the next job
-- of the owner with the fewest jobs in progress (the database queue, when claiming) and the
-- outbox relay publishes to a broker in that order (RabbitMQ). NULL for other messages.

ALTER TABLE queue_messages ADD COLUMN fair_key TEXT NULL;
ALTER TABLE outbox ADD COLUMN fair_key TEXT NULL;
CREATE INDEX queue_messages_fair ON queue_messages (queue, fair_key, available_at);
-- When the owner of a waiting message last had a message claimed: among owners with as many in
-- progress, the one served longest ago goes first (round-robin), also when slots free at once.
ALTER TABLE queue_messages ADD COLUMN fair_turn INTEGER NULL;
