"""An event is accepted only from the service that owns the topic it came from."""

from __future__ import annotations

import pytest
from ankommen_runtime.provenance import ProvenanceError, check_provenance
from ankommen_runtime.topology import dead_letter_topic, event_topic, owner_of


def test_an_event_from_the_topics_owner_passes() -> None:
    check_provenance("allocation.events", "allocation")
    check_provenance("t1.housing.events", "housing", prefix="t1.")


def test_an_event_claiming_another_source_is_refused_naming_both() -> None:
    with pytest.raises(ProvenanceError, match=r"'housing'.*allocation\.events.*'allocation'"):
        check_provenance("allocation.events", "housing")


def test_a_topic_outside_the_prefix_or_not_an_event_stream_is_refused() -> None:
    with pytest.raises(ProvenanceError, match="not an event topic"):
        check_provenance("allocation.events", "allocation", prefix="t1.")
    with pytest.raises(ProvenanceError, match="not an event topic"):
        check_provenance(dead_letter_topic("allocation.events", "housing"), "allocation")


def test_a_provenance_error_is_a_value_error_so_the_consumer_dead_letters_it() -> None:
    assert issubclass(ProvenanceError, ValueError)


def test_owner_of_inverts_event_topic() -> None:
    for service in ("allocation", "housing", "integration", "volunteers"):
        assert owner_of(event_topic(service, "x."), "x.") == service
    assert owner_of(".events") is None
