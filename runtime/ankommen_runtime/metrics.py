"""Prometheus metrics of the shared mechanisms, labelled by service.

Defined once per process (prometheus-client's registry is global), so several services'
apps can live in one test process.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

OUTBOX_PUBLISHED = Counter(
    "ankommen_outbox_published_total", "Outbox rows published and acknowledged", ["service"]
)
OUTBOX_SEND_FAILURES = Counter(
    "ankommen_outbox_send_failures_total",
    "Outbox sends the broker did not acknowledge",
    ["service"],
)
OUTBOX_LAG = Histogram(
    "ankommen_outbox_lag_seconds",
    "Time from commit of an event to its acknowledgement by Kafka",
    ["service"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
EVENTS_CONSUMED = Counter(
    "ankommen_events_consumed_total",
    "Consumed events by outcome: applied, duplicate, ignored, dead_lettered",
    ["service", "topic", "outcome"],
)
CONSUMER_RETRIES = Counter(
    "ankommen_consumer_retries_total", "Retries of a failing event", ["service", "topic"]
)
BATCH_SIZE = Histogram(
    "ankommen_consumer_batch_size",
    "Events per consumed batch",
    ["service"],
    buckets=(1, 5, 10, 50, 100, 250, 500, 1000),
)
SEQUENCE_GAPS = Counter(
    "ankommen_consumer_sequence_gaps_total",
    "Events of a subject that never arrived: a sequence jumped past last seen + 1",
    ["service", "topic"],
)
EVENTS_PARKED = Gauge(
    "ankommen_consumer_parked_events",
    "Events parked behind a held subject (newer schema version, dead letter)",
    ["service"],
)
SUBJECTS_HELD = Gauge(
    "ankommen_consumer_held_subjects", "Subjects on hold, by reason", ["service", "reason"]
)
RELAY_ROUND_FAILURES = Counter(
    "ankommen_outbox_relay_round_failures_total",
    "Relay rounds that failed or ran out of time",
    ["service", "kind"],
)
OUTBOX_PARKED = Gauge(
    "ankommen_outbox_parked_rows",
    "Outbox rows the broker refused, parked with an alert",
    ["service"],
)
INBOX_PURGED = Counter(
    "ankommen_inbox_purged_total", "Inbox rows purged (no longer redeliverable)", ["service"]
)
PERIODIC_ROUNDS = Counter(
    "ankommen_periodic_rounds_total",
    "Rounds of a service's periodic work (sweeps), by outcome: done, more, failed",
    ["service", "name", "outcome"],
)
