"""An event's ``source`` must be the service that owns the topic it arrived on.

ACLs already stop a service writing another's topic; this check is the consumer's own
guard against a misconfigured or compromised producer (or an operator re-driving to the
wrong topic): an allocation event that claims to come from housing is refused, not applied.
"""

from __future__ import annotations

from .topology import owner_of


class ProvenanceError(ValueError):
    """The event's source does not own its topic: permanent, so it is dead-lettered."""


def check_provenance(topic: str, source: str, prefix: str = "") -> None:
    """Raise ProvenanceError unless ``source`` owns ``topic`` (``<prefix><source>.events``)."""
    owner = owner_of(topic, prefix)
    if owner is None:
        raise ProvenanceError(f"topic {topic!r} is not an event topic (prefix {prefix!r})")
    if owner != source:
        raise ProvenanceError(
            f"event from source {source!r} arrived on {topic!r}, which only {owner!r} may write"
        )
