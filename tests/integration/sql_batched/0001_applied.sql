-- Effects of test_consumer_batched: one row per applied event, in application order.
CREATE TABLE applied (
    position bigserial PRIMARY KEY,
    event_id uuid    NOT NULL UNIQUE,
    type     text    NOT NULL,
    call     integer NOT NULL
);
