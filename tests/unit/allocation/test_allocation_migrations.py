"""The allocation schema accepts every status the domain can save."""

from __future__ import annotations

import re
from pathlib import Path

import allocation
from allocation.domain.household import HouseholdStatus

MIGRATIONS = Path(allocation.__file__).parent / "migrations"


def test_the_last_status_check_of_the_migrations_lists_every_household_status() -> None:
    checks = [
        match.group(1)
        for path in sorted(MIGRATIONS.glob("*.sql"))
        for match in re.finditer(
            r"ADD CONSTRAINT households_status_check\s+CHECK \(status IN \(([^)]*)\)\)",
            path.read_text(),
        )
    ]
    assert checks, "no households_status_check in the migrations"
    listed = set(re.findall(r"'([a-z_]+)'", checks[-1]))
    assert listed == {s.value for s in HouseholdStatus}
