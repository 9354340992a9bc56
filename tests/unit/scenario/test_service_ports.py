"""A run starts its own services or none: never drives another run's on a taken port."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from ankommen_local.supervisor import ServiceProcess


def test_a_service_on_a_taken_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as other_run:
        other_run.bind(("127.0.0.1", 0))
        other_run.listen()
        port = other_run.getsockname()[1]
        service = ServiceProcess("housing", port, {}, tmp_path / "housing.log")
        with pytest.raises(RuntimeError, match=f"port {port} for housing is taken"):
            service.start()
    assert service.process is None, "nothing was started"
    assert not (tmp_path / "housing.log").exists()
