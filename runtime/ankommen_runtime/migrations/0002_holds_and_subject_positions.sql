-- Delivery order per subject, owned by the consumer (issue 14).

-- The inbox is keyed by the consumer's own name (the service), not by the Kafka consumer
-- group: rows written under a group name are adopted at start-up (inbox.adopt_group).

-- Per consumer, source topic and subject: the highest sequence seen, and the highest whose
-- inbox rows were purged. A redelivery at or below `purged_through` is a duplicate
-- whose inbox row is gone; see inbox.py for why purging is safe.
CREATE TABLE consumer_subject_position (
    consumer       text   NOT NULL,
    topic          text   NOT NULL,
    subject        text   NOT NULL,
    last_sequence  bigint NOT NULL,
    purged_through bigint NOT NULL DEFAULT 0,
    gaps           bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (consumer, topic, subject)
);

-- A subject on hold: none of its events is applied until the hold is released, so its
-- order holds. Reasons: `newer_version` (a producer upgraded first: released once this
-- service reads that version), `dead_letter` (an event went to the DLQ: released when it
-- is re-driven, or by an operator), `parked` (an event was parked while a hold was being
-- released: released at once, in order).
CREATE TABLE consumer_hold (
    consumer   text        NOT NULL,
    topic      text        NOT NULL,
    subject    text        NOT NULL,
    reason     text        NOT NULL,
    detail     text        NOT NULL DEFAULT '',
    blocker    uuid,
    held_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, subject)
);

-- Events parked behind a hold, in arrival order, with everything needed to apply them
-- (or dead-letter them) later. Deleted when applied.
CREATE TABLE consumer_parked (
    id              bigserial   PRIMARY KEY,
    consumer        text        NOT NULL,
    topic           text        NOT NULL,
    subject         text        NOT NULL,
    event_id        uuid        NOT NULL,
    type            text        NOT NULL,
    schema_version  integer     NOT NULL,
    sequence        bigint      NOT NULL,
    kafka_partition integer     NOT NULL,
    kafka_offset    bigint      NOT NULL,
    key             bytea,
    value           bytea       NOT NULL,
    headers         jsonb       NOT NULL DEFAULT '[]',
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    parked_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (consumer, event_id)
);
CREATE INDEX consumer_parked_subject ON consumer_parked (consumer, topic, subject, sequence, id);

CREATE INDEX inbox_processed_at ON inbox (processed_at);

-- The order in which this consumer applied events (a batch's rows in batch order), so
-- per-subject order can be checked on what was applied, not only on the broker.
ALTER TABLE inbox ADD COLUMN applied_order bigserial;
