"""The ports a test, bench or run hands to the servers it starts: free, never handed out
twice, and out of the way of the OS's outgoing connections until the server binds them."""

from __future__ import annotations

import socket

import pytest
from ankommen_local import util


def test_ports_are_chosen_below_the_range_the_os_gives_outgoing_connections() -> None:
    ephemeral = util._ephemeral_start()
    ports = util.free_ports(50)
    assert all(util._BELOW_EPHEMERAL_FROM <= p < ephemeral for p in ports), ports


def test_a_port_is_never_handed_out_twice_by_one_process() -> None:
    ports = util.free_ports(200) + [util.free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports) == 400


def test_a_port_something_listens_on_is_not_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    taken, free = util.free_ports(2, in_a_row=True)
    monkeypatch.setattr(util, "_slice", lambda low, high: range(taken, free + 1))
    monkeypatch.setattr(util, "_handed_out", set())
    with socket.socket() as other:
        other.bind(("127.0.0.1", taken))
        other.listen()
        assert util.free_port() == free
        with pytest.raises(util.InfraError, match="found no 1 free ports"):
            util.free_port()  # one taken, the other handed out already


def test_ports_in_a_row_are_consecutive() -> None:
    first, *rest = util.free_ports(5, in_a_row=True)
    assert rest == [first + 1, first + 2, first + 3, first + 4]


def test_each_pytest_worker_chooses_from_a_slice_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    slices = []
    for worker in ("gw0", "gw1"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        slices.append(set(util._slice(20000, 30000)))
    assert len(slices[0]) == len(slices[1]) == 5000
    assert not slices[0] & slices[1]
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert util._slice(20000, 30000) == range(20000, 30000), "alone: the whole range"


def test_no_room_is_an_error_not_a_port_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(util, "_slice", lambda low, high: range(low, low + 1))
    with pytest.raises(util.InfraError, match="no room for 2 ports"):
        util.free_ports(2)
