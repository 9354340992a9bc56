"""Business time: the one clock every rule and timer reads (DESIGN.md, "Business time";
the design in docs/business-time.md).

Domain code never calls ``datetime.now()``: handlers take the time from the runtime's
clock, from the command's date or from the consumed event's ``occurred_at``, and pass it
into the domain. In production the clock is the wall clock; in a simulation run it is a
``SimulatedClock`` that only the scenario moves (``POST /_simulation/clock``). Business
dates ("which day", "which quota week") are Hannover's local calendar; instants are
stored in UTC.

Technical timeouts (the saga's resend after silence, retries, the relay's poll) use the
wall clock in every mode: a simulated week must not look like a week of silence.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Protocol
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

from .errors import Conflict, Unprocessable

CITY_TZ = ZoneInfo("Europe/Berlin")


def local_date(instant: datetime) -> date:
    """The date in Hannover of a UTC instant."""
    return instant.astimezone(CITY_TZ).date()


def start_of_day(day: date) -> datetime:
    """Midnight in Hannover at the start of ``day``, as a UTC instant."""
    return datetime.combine(day, time(), CITY_TZ).astimezone(UTC)


def quota_week(instant: datetime) -> tuple[int, int]:
    """ISO year and week (Kalenderwoche) of an instant in Hannover's calendar."""
    iso = local_date(instant).isocalendar()
    return iso.year, iso.week


def week_start(instant: datetime) -> date:
    """The Monday (Hannover) of the ISO week an instant falls in."""
    day = local_date(instant)
    return day - timedelta(days=day.weekday())


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


class SimulatedClock:
    """A simulation run: the world's time is what the scenario last said; it never goes back."""

    def __init__(self, start: datetime) -> None:
        self._now = _utc(start)

    def now(self) -> datetime:
        return self._now

    def today(self) -> date:
        return local_date(self._now)

    def advance_to(self, instant: datetime) -> datetime:
        """Move to ``instant``; refused (409) if that is before the current time."""
        instant = _utc(instant)
        if instant < self._now:
            raise Conflict(
                f"the simulated clock is at {self._now.isoformat()}; it never goes back "
                f"(asked for {instant.isoformat()})"
            )
        self._now = instant
        return instant


def _utc(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("a business instant must carry its time zone")
    return instant.astimezone(UTC)


def _iso_text(value: Any) -> Any:
    """Dates and instants travel as ISO 8601 text. A number is refused (422): pydantic
    would read it as seconds since 1970, so "0.3" would silently mean 1 January 1970."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("an ISO 8601 date or instant, not a number")
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError("an ISO 8601 date or instant, not a number")
    return value


# Nothing this system records happened before it: a query for the year 1 is a mistake, and
# the weeks a view looks back from it would leave the calendar (an OverflowError, a 500).
EARLIEST_BUSINESS_DAY = date(1900, 1, 1)


def _not_before_1900(value: date) -> date:
    day = value.date() if isinstance(value, datetime) else value
    if day < EARLIEST_BUSINESS_DAY:
        raise ValueError(f"not before {EARLIEST_BUSINESS_DAY.isoformat()}")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_text), AfterValidator(_not_before_1900)]
"""A calendar day as ISO text ("2015-10-12"), e.g. a view's ``as_of``; not before 1900."""
IsoInstant = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(_not_before_1900)]
"""An instant as ISO text, e.g. a view's ``known_at``; not before 1900."""


def _date_means_midnight(value: Any) -> Any:
    """A plain date ("2015-10-12") means the start of that day in Hannover."""
    value = _iso_text(value)
    if isinstance(value, date) and not isinstance(value, datetime):
        return start_of_day(_not_before_1900(value))
    if isinstance(value, str) and len(value) == 10:
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return value
        return start_of_day(_not_before_1900(day))  # day 1 in Hannover is not one in UTC
    return value


BusinessTime = Annotated[
    AwareDatetime, BeforeValidator(_date_means_midnight), AfterValidator(_not_before_1900)
]
"""When something happened in the world: an ISO instant with its offset, or a plain date
(the start of that day in Hannover), not before 1900 (year 1 at +01:00 is before year 1
in UTC, which neither Python nor the answer's schema can write). Commands carry it as
``occurred_at``."""

# How far ahead of the clock an occurrence may be dated: a command records what happened,
# so only clock skew between the caller and the service is tolerated.
OCCURRENCE_TOLERANCE = timedelta(minutes=15)


def occurred(
    given: datetime | None,
    clock: Clock,
    *,
    field: str = "occurred_at",
    tolerance: timedelta = OCCURRENCE_TOLERANCE,
) -> datetime:
    """The business time of a command: ``given`` or the clock's now; 422 if in the future."""
    now = clock.now()
    if given is None:
        return now
    given = given.astimezone(UTC)
    if given > now + tolerance:
        raise Unprocessable(
            ("body", field),
            f"{field} {given.isoformat()} is in the future (now {now.isoformat()}): "
            "a command records what has happened",
        )
    return given


def not_before(at: datetime, recorded: datetime | None, what: str) -> None:
    """409 if a command is dated before what is recorded already for the same stay."""
    if recorded is not None and at < recorded:
        raise Conflict(
            f"occurred_at {at.isoformat()} is before {what} ({recorded.isoformat()}), "
            "recorded already; correct the earlier record first"
        )
