"""Which interpreter `make` builds the virtualenv on (Makefile, ``DISTRO_PYTHON``)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CANDIDATES = ["/usr/bin/python3.13", "/usr/bin/python3.12", "/usr/bin/python3.11"]
WHOLE = "import asyncio, ctypes, ssl, zoneinfo"


def uv_python_seen_by_recipes(env: dict[str, str]) -> str:
    """``UV_PYTHON`` as every recipe's shell (and so uv) gets it from the Makefile."""
    # as a fresh make, not a sub-make of `make test` (its flags and level)
    env = {k: v for k, v in env.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    probe = 'print-uv-python: ; @echo "[$$UV_PYTHON]"'
    out = subprocess.run(
        ["make", "-s", "--no-print-directory", "--eval", probe, "print-uv-python"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    assert out.startswith("["), out
    assert out.endswith("]"), out
    return out[1:-1]


def first_whole_distribution_python() -> str | None:
    for candidate in CANDIDATES:
        if (
            os.access(candidate, os.X_OK)
            and subprocess.run([candidate, "-c", WHOLE], capture_output=True).returncode == 0
        ):
            return candidate
    return None


def test_make_builds_the_virtualenv_on_the_distribution_python_where_there_is_one() -> None:
    expected = first_whole_distribution_python()
    if expected is None:
        pytest.skip("no distribution CPython under /usr/bin: uv chooses, as before")
    env = {k: v for k, v in os.environ.items() if k != "UV_PYTHON"}
    assert uv_python_seen_by_recipes(env) == expected


def test_a_callers_uv_python_wins_over_the_distribution_python() -> None:
    env = {**os.environ, "UV_PYTHON": "/opt/elsewhere/bin/python3.12"}
    assert uv_python_seen_by_recipes(env) == "/opt/elsewhere/bin/python3.12"
