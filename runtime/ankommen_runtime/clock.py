"""Business time: the one clock every rule and timer reads (DESIGN.md, "Business time").

Domain code never calls ``datetime.now()``: handlers take the time from the runtime's
clock and pass it into the domain. In production the clock is the wall clock; in a
simulation run it is a simulated clock advanced by the scenario (issue 13 builds that on
this protocol). Business dates ("which day", "which quota week") are Hannover's local
calendar; instants are stored in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

CITY_TZ = ZoneInfo("Europe/Berlin")


def local_date(instant: datetime) -> date:
    """The date in Hannover of a UTC instant."""
    return instant.astimezone(CITY_TZ).date()


class Clock(Protocol):
    """The current time of the world, for business rules and timers."""

    def now(self) -> datetime:
        """An aware UTC instant."""
        ...

    def today(self) -> date:
        """Today's date in Hannover."""
        ...


class WallClock:
    """Production: the world's time is the machine's."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        return local_date(self.now())
