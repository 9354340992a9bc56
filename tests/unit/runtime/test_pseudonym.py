"""The Land's reference travels only as a keyed pseudonym."""

from __future__ import annotations

import json

import pytest
from ankommen_contracts import InvalidEvent, decode
from ankommen_contracts.examples import example_envelope
from ankommen_runtime.local_issuer import LOCAL_ISSUER
from ankommen_runtime.pseudonym import LOCAL_DEVELOPMENT_KEY, land_reference_pseudonym
from ankommen_runtime.settings import ServiceSettings
from pydantic import ValidationError

KEY = b"k" * 32


def test_the_same_reference_gives_the_same_pseudonym_and_another_key_another() -> None:
    one = land_reference_pseudonym("NI-2016-0001", key=KEY)
    assert one == land_reference_pseudonym("NI-2016-0001", key=KEY)
    assert one != land_reference_pseudonym("NI-2016-0002", key=KEY)
    assert one != land_reference_pseudonym("NI-2016-0001", key=b"j" * 32)
    assert len(one) == 64
    assert "NI" not in one


def test_outside_local_development_the_key_is_required() -> None:
    with pytest.raises(ValidationError, match="ANKOMMEN_PSEUDONYM_KEY is required"):
        ServiceSettings(service="allocation", oidc_issuer="https://login.hannover.de/realms/x")
    given = ServiceSettings(
        service="allocation",
        oidc_issuer="https://login.hannover.de/realms/x",
        pseudonym_key="s" * 40,
    )
    assert given.pseudonym_key is not None
    assert given.pseudonym_key.get_secret_value() == "s" * 40


def test_local_development_falls_back_to_the_published_development_key() -> None:
    settings = ServiceSettings(service="allocation", oidc_issuer=LOCAL_ISSUER)
    assert settings.pseudonym_key is not None
    assert settings.pseudonym_key.get_secret_value() == LOCAL_DEVELOPMENT_KEY


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValidationError):
        ServiceSettings(service="allocation", pseudonym_key="short")


def _example(event_type: str) -> dict:
    return json.loads(example_envelope(event_type).model_dump_json())


def test_a_sequence_beyond_64_bits_makes_one_invalid_event_not_a_failed_batch() -> None:
    body = _example("PlacementFailed")
    body["sequence"] = 2**64
    with pytest.raises(InvalidEvent, match="sequence"):
        decode(json.dumps(body))
    body["sequence"] = 2**63 - 1
    assert decode(json.dumps(body)).sequence == 2**63 - 1
