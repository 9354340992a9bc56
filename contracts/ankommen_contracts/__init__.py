"""Ankommen's public event contract.

Importing this package registers every event model in ``CATALOGUE``.
"""

from .common import DISTRICT_NAMES, District, Pillar
from .envelope import SERVICES, Envelope, EventData, RawEnvelope, new_envelope
from .events import *  # noqa: F403  (registers the catalogue)
from .registry import CATALOGUE, UPCASTERS, InvalidEvent, UnknownEventType, decode, encode

__all__ = [
    "CATALOGUE",
    "DISTRICT_NAMES",
    "SERVICES",
    "UPCASTERS",
    "District",
    "Envelope",
    "EventData",
    "InvalidEvent",
    "Pillar",
    "RawEnvelope",
    "UnknownEventType",
    "decode",
    "encode",
    "new_envelope",
]


def topic_for(source: str) -> str:
    """The topic a service publishes its events on."""
    return f"{source}.events"
