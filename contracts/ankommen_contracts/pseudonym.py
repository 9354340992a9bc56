"""The keyed pseudonym construction events use in place of direct identifiers.

``HMAC-SHA256(key, purpose ␟ value)`` as 64 lowercase hex characters: the same value
always gives the same pseudonym (consumers can join and de-duplicate on it), but without
the key nobody can go back to the value, nor test a guessed value against it. The purpose
is part of the input, so pseudonyms of different kinds of identifier never collide.

The process key is set once by the runtime (``ankommen_runtime.pseudonym.configure`` from
``ANKOMMEN_PSEUDONYM_KEY``); it lives here because the upcaster of ``RefugeeAssigned`` v1
(which still carried the reference) needs it as well.
"""

from __future__ import annotations

import hashlib
import hmac

LAND_REFERENCE = "land-reference"
# Allowed only with the local token issuer (tests, the demo, a developer's machine): the
# runtime's settings refuse to start anywhere else without ANKOMMEN_PSEUDONYM_KEY.
LOCAL_DEVELOPMENT_KEY = "ankommen-local-development-pseudonym-key-not-secret"
MIN_KEY_LENGTH = 32  # characters: 256 bits as hex, or a long passphrase

_process_key: bytes | None = None


class PseudonymKeyMissing(RuntimeError):
    """A pseudonym was asked for before the process was given its key."""


def set_process_key(secret: str) -> None:
    global _process_key
    if len(secret) < MIN_KEY_LENGTH:
        raise ValueError(f"a pseudonym key needs at least {MIN_KEY_LENGTH} characters")
    _process_key = secret.encode()


def pseudonym(purpose: str, value: str, *, key: bytes | None = None) -> str:
    """The keyed pseudonym of ``value`` (the process key unless ``key`` is given)."""
    secret = key if key is not None else _process_key
    if secret is None:
        raise PseudonymKeyMissing(
            "no pseudonym key configured: set ANKOMMEN_PSEUDONYM_KEY (create_service_app "
            "configures it from the settings)"
        )
    return hmac.new(secret, f"{purpose}\x1f{value}".encode(), hashlib.sha256).hexdigest()


def land_reference_pseudonym(reference: str, *, key: bytes | None = None) -> str:
    """The pseudonym events carry in place of the Land's reference."""
    return pseudonym(LAND_REFERENCE, reference, key=key)
