"""Keyed pseudonyms for direct identifiers that must be linkable but never readable.

The Land's file reference (Aktenzeichen of the Zuweisung) identifies a person directly:
anyone with a list of references could name the household behind an event. Events carry
its keyed pseudonym instead (construction: ``ankommen_contracts.pseudonym``). The key is
``ANKOMMEN_PSEUDONYM_KEY``, held only by the services' settings (a secret store in
production); ``create_service_app`` calls ``configure`` with it before anything runs.
"""

from __future__ import annotations

from ankommen_contracts.pseudonym import (
    LAND_REFERENCE,
    LOCAL_DEVELOPMENT_KEY,
    MIN_KEY_LENGTH,
    PseudonymKeyMissing,
    land_reference_pseudonym,
    pseudonym,
    set_process_key,
)
from pydantic import SecretStr


def configure(key: SecretStr | str) -> None:
    """Give this process its pseudonym key."""
    set_process_key(key.get_secret_value() if isinstance(key, SecretStr) else key)


__all__ = [
    "LAND_REFERENCE",
    "LOCAL_DEVELOPMENT_KEY",
    "MIN_KEY_LENGTH",
    "PseudonymKeyMissing",
    "configure",
    "land_reference_pseudonym",
    "pseudonym",
]
