"""``store.ReadAhead``: what a store read ahead for a batch's handlers, handed out once."""

from __future__ import annotations

from ankommen_runtime.store import ReadAhead


def test_a_row_read_ahead_is_handed_out_once_then_read_from_the_database() -> None:
    ahead: ReadAhead[str, int] = ReadAhead()
    ahead.fill({"a": 1, "b": None})
    assert ahead.take("a") == (True, 1)
    assert ahead.take("a") == (False, None)
    assert ahead.take("b") == (True, None), "read ahead and not there is an answer too"
    assert ahead.take("c") == (False, None)


def test_a_written_row_is_forgotten_and_a_new_fill_replaces_the_last() -> None:
    ahead: ReadAhead[str, int] = ReadAhead()
    ahead.fill({"a": 1, "b": 2})
    ahead.forget(["a", "z"])
    assert ahead.take("a") == (False, None)
    ahead.fill({"c": 3})
    assert ahead.take("b") == (False, None), "an earlier batch's rows are gone"
    assert ahead.take("c") == (True, 3)


def test_rows_only_read_are_handed_out_until_forgotten() -> None:
    ahead: ReadAhead[str, int] = ReadAhead(once=False)
    ahead.fill({"site": 9})
    assert ahead.take("site") == ahead.take("site") == (True, 9)
    ahead.forget(["site"])
    assert ahead.take("site") == (False, None)
