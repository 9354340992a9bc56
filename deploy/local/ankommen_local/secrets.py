"""Generated local credentials: one password per Kafka user and per database role.

Kept in the state folder (mode 0700) in files of mode 0600, created once and then reused,
so `ankommen-local env` can print them and tests can read them. Never committed: `.state/`
is git-ignored.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from pathlib import Path


def secure_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)


def load_or_create(path: Path, names: Iterable[str]) -> dict[str, str]:
    """``{name: password}`` from ``path``; names not yet there get a new random password."""
    secure_dir(path.parent)
    stored: dict[str, str] = json.loads(path.read_text()) if path.is_file() else {}
    wanted = list(names)
    missing = [n for n in wanted if n not in stored]
    if missing or not path.is_file():
        # hex: safe inside a URL, a JAAS string and a properties file without quoting.
        stored.update({n: secrets.token_hex(24) for n in missing})
        write_private(path, json.dumps(stored, indent=2, sort_keys=True) + "\n")
    path.chmod(0o600)
    return {n: stored[n] for n in wanted}


def read(path: Path) -> dict[str, str]:
    """The stored passwords, or {} where none were generated (an older state folder)."""
    return json.loads(path.read_text()) if path.is_file() else {}


def write_private(path: Path, content: str) -> None:
    """Write a file only its owner can read, never briefly readable by others."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, content.encode())
    finally:
        os.close(fd)
    path.chmod(0o600)
