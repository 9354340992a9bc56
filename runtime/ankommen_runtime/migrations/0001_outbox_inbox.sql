-- The runtime's tables, in every service database.

-- Transactional outbox (eShop's integration-event log): written in the same transaction
-- as the state change, published by the relay in id order, marked after the broker acked.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    event_id     uuid        NOT NULL UNIQUE,
    topic        text        NOT NULL,
    subject      text        NOT NULL,
    type         text        NOT NULL,
    sequence     bigint      NOT NULL,
    payload      bytea       NOT NULL,
    headers      jsonb       NOT NULL DEFAULT '[]',
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    UNIQUE (subject, sequence)
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;

-- Per-subject sequence, allocated in the raising transaction: the row lock orders
-- concurrent writers of one subject, so sequence order equals outbox id order.
CREATE TABLE subject_sequence (
    subject       text   PRIMARY KEY,
    last_sequence bigint NOT NULL
);

-- Inbox: one row per consumed event, written in the same transaction as its effect.
CREATE TABLE inbox (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    type         text        NOT NULL,
    subject      text        NOT NULL,
    sequence     bigint      NOT NULL,
    topic        text        NOT NULL,
    kafka_partition integer  NOT NULL,
    kafka_offset bigint      NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
