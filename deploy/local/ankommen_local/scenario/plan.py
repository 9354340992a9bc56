"""The scenario as a plan: what happens in each simulated week, decided before any call.

Pure and seeded (no I/O): the same data file, scale and seed give the same weeks, the
same households with the same members, the same sites opening and closing on the same
days, the same exits. The runner (``runner.py``) then turns each week into commands to
the running services; what the services make of them (placements, relocations, views)
is theirs. Keeping the plan apart lets its arithmetic be checked in milliseconds and
keeps the runner a thin translation to HTTP.
"""

from __future__ import annotations

import random
import tomllib
import uuid
from bisect import bisect_right
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

SCENARIO_DIR = Path(__file__).parent
# The stock at the window's start was assigned over the year before it (docs/scenario.md,
# Assumptions): its decisions fall on the 52 Fridays before the window's first.
STOCK_WEEKS = 52
NAMESPACE = uuid.UUID("3b0f5a8e-2c61-4f4c-9d0e-5d4e20152016")


def load(name: str = "hannover") -> dict[str, Any]:
    """A scenario's data file (``<name>.toml`` beside this module), with its base merged in."""
    with (SCENARIO_DIR / f"{name}.toml").open("rb") as f:
        data = tomllib.load(f)
    base = data.get("scenario", {}).get("extends")
    if base:
        merged = load(base)
        overrides = {k: v for k, v in data.items() if k != "scenario"}
        for key, value in overrides.items():
            if key in ("sites", "assignments", "residents", "targets") and data["scenario"].get(
                f"append_{key}", False
            ):
                merged[key] = [*merged.get(key, []), *value]
            else:
                merged[key] = value
        merged["scenario"] = {**merged["scenario"], **data["scenario"]}
        return merged
    return data


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def interpolate(anchors: list[tuple[date, float]], on: date) -> float:
    """Linear between anchors, flat before the first and after the last."""
    days = [a[0] for a in anchors]
    i = bisect_right(days, on)
    if i == 0:
        return anchors[0][1]
    if i == len(anchors):
        return anchors[-1][1]
    (d0, v0), (d1, v1) = anchors[i - 1], anchors[i]
    return v0 + (v1 - v0) * (on - d0).days / (d1 - d0).days


def _weighted(rng: random.Random, pairs: list[list[Any]]) -> Any:
    values = [p[0] for p in pairs]
    weights = [float(p[1]) for p in pairs]
    return rng.choices(values, weights)[0]


@dataclass(frozen=True)
class Person:
    person_id: str
    age_band: str
    gender: str
    country_of_origin: str
    unaccompanied_minor: bool = False
    special_needs: tuple[str, ...] = ()

    def as_member(self) -> dict[str, Any]:
        return {
            "person_id": self.person_id,
            "age_band": self.age_band,
            "gender": self.gender,
            "country_of_origin": self.country_of_origin,
            "unaccompanied_minor": self.unaccompanied_minor,
            "special_needs": list(self.special_needs),
        }


@dataclass(frozen=True)
class PlannedHousehold:
    land_reference: str
    members: tuple[Person, ...]
    # The Land's decision for a household of the stock at the window's start, which was
    # assigned before the window (``_date_the_stock``); None: its week's Friday.
    assigned_on: date | None = None

    @property
    def arrives_on(self) -> date | None:
        """The Monday bus after a stock household's decision; None: its week's Monday."""
        return self.assigned_on + timedelta(days=3) if self.assigned_on else None

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def unaccompanied_minor(self) -> bool:
        return any(m.unaccompanied_minor for m in self.members)


@dataclass(frozen=True)
class SiteSpec:
    site_id: str
    name: str
    pillar: str
    district: int
    building: str
    owner: str
    operator: str
    capacity: int
    opens_on: date
    closes_on: date | None
    generated: bool = False
    daily_rate: str | None = None  # euros per occupied place and day (Tagessatz)
    monthly_fixed_cost: str | None = None  # euros a month as a lump sum (rent, operator)

    def open_command(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "site_id": self.site_id,
            "name": self.name,
            "pillar": self.pillar,
            "district": self.district,
            "operator": self.operator,
            "capacity": self.capacity,
            "building": self.building,
            "owner": self.owner,
            "suitability": _suitability(self),
            "occurred_at": self.opens_on.isoformat(),
        }
        if self.closes_on is not None:
            body["closes_on"] = self.closes_on.isoformat()
        if self.daily_rate is not None:
            body["daily_rate"] = self.daily_rate
        if self.monthly_fixed_cost is not None:
            body["monthly_fixed_cost"] = self.monthly_fixed_cost
        return body


def _suitability(site: SiteSpec) -> list[str]:
    # Halls and tents: nothing special (anyone, no step-free access); every other site
    # also takes families and is step-free (new builds, modules, hospitals, hotels), so a
    # wheelchair user is never left over. ``single_adults`` would shut out families.
    if site.pillar == "notunterkunft" and site.building in ("trade_fair_hall", "tent_village"):
        return []
    return ["families", "accessible"]


@dataclass
class Week:
    """One simulated week: the Land decides on Friday, the bus arrives on Monday."""

    monday: date
    households: list[PlannedHousehold] = field(default_factory=list)
    opens: list[SiteSpec] = field(default_factory=list)
    closes: list[SiteSpec] = field(default_factory=list)  # closing starts this week
    exits: list[str] = field(default_factory=list)  # land references moving out
    volunteers: int = 0
    requests: int = 0
    planned_residents: int = 0

    @property
    def decided_on(self) -> date:
        return self.monday - timedelta(days=3)  # the Friday before

    @property
    def persons(self) -> int:
        return sum(h.size for h in self.households if not h.unaccompanied_minor)


@dataclass
class Plan:
    name: str
    seed: int
    scale: float
    weeks: list[Week]
    sites: list[SiteSpec]
    targets: list[dict[str, Any]]
    tolerance: float
    data: dict[str, Any]

    @property
    def households(self) -> int:
        return sum(len(w.households) for w in self.weeks)

    @property
    def persons(self) -> int:
        return sum(w.persons for w in self.weeks)


def _person(rng: random.Random, n: int, ref: str, **attrs: Any) -> Person:
    return Person(person_id=str(uuid.uuid5(NAMESPACE, f"{ref}/{n}")), **attrs)


def _household(
    rng: random.Random, data: dict[str, Any], ref: str, country: str, remaining: int
) -> PlannedHousehold:
    demo = data["demographics"]
    size = min(_weighted(rng, demo["household_sizes"]), remaining)
    members: list[Person] = []
    for n in range(size):
        adult = n < min(2, size)
        if adult:
            band = _weighted(rng, demo["adult_age_bands"])
            male = rng.random() < demo["single_male_share"] if size == 1 else n == 0
            gender = "male" if male else "female"
        else:
            band = _weighted(rng, demo["child_age_bands"])
            gender = rng.choice(["female", "male"])
        needs = ("wheelchair",) if rng.random() < demo["wheelchair_share"] else ()
        if size > 1:
            needs = (*needs, "family")
        members.append(
            _person(
                rng,
                n,
                ref,
                age_band=band,
                gender=gender,
                country_of_origin=country,
                special_needs=needs,
            )
        )
    return PlannedHousehold(ref, tuple(members))


def _minor(rng: random.Random, ref: str, country: str) -> PlannedHousehold:
    gender = "male" if rng.random() < 0.9 else "female"
    return PlannedHousehold(
        ref,
        (
            _person(
                rng,
                0,
                ref,
                age_band="6-17",
                gender=gender,
                country_of_origin=country,
                unaccompanied_minor=True,
            ),
        ),
    )


def _rates(data: dict[str, Any], site: dict[str, Any], scale: float) -> dict[str, str | None]:
    """What the city pays for a site: a lump sum where the record gives one (scaled with
    the places), else the pillar's daily rate per occupied place (``[costs]``, assumed)."""
    monthly = site.get("monthly_fixed_cost")
    if monthly is not None:
        return {"daily_rate": None, "monthly_fixed_cost": f"{float(monthly) * scale:.2f}"}
    return {"daily_rate": _daily_rate(data, site["pillar"]), "monthly_fixed_cost": None}


def _daily_rate(data: dict[str, Any], pillar: str) -> str | None:
    rate = data.get("costs", {}).get("daily_rate", {}).get(pillar)
    return None if rate is None else str(rate)


def _sites(data: dict[str, Any], scale: float) -> list[SiteSpec]:
    return [
        SiteSpec(
            site_id=str(uuid.uuid5(NAMESPACE, f"site/{s['name']}")),
            name=s["name"],
            pillar=s["pillar"],
            district=s["district"],
            building=s["building"],
            owner=s["owner"],
            operator=s["operator"],
            capacity=max(1, round(s["capacity"] * scale)),
            opens_on=_day(s["opens_on"]),
            closes_on=_day(s["closes_on"]) if s.get("closes_on") else None,
            **_rates(data, s, scale),
        )
        for s in data["sites"]
    ]


def _mondays(start: date, end: date) -> list[date]:
    first = start - timedelta(days=start.weekday())
    return [first + timedelta(weeks=i) for i in range((end - first).days // 7 + 1)]


def build(
    data: dict[str, Any],
    *,
    scale: float = 1.0,
    seed: int | None = None,
    start: date | None = None,
    end: date | None = None,
) -> Plan:
    """The whole plan, from the data file; ``scale`` multiplies every volume (1.0 is
    Hannover, 10.0 ten times; 0.1 a light run for tests), ``start``/``end`` cut a window
    (the stock at ``start`` then arrives in the window's first week)."""
    meta = data["scenario"]
    seed = meta["seed"] if seed is None else seed
    rng = random.Random(seed)
    begin, finish = _day(meta["starts_on"]), _day(meta["ends_on"])
    window_start = max(begin, start) if start else begin
    window_end = min(finish, end) if end else finish
    arrivals = [(_day(a["on"]), float(a["per_week"])) for a in data["assignments"]]
    stock = [(_day(r["on"]), float(r["persons"])) for r in data["residents"]]
    minors = [(_day(m["on"]), float(m["persons"])) for m in data.get("minors", [])]
    origins = sorted(((_day(o["from"]), o["countries"]) for o in data["origins"]), key=_first)
    gen = data["generated"]
    regular = {
        pillar: [(_day(r["on"]), float(r[pillar])) for r in data["regular"]]
        for pillar in ("wohnheim", "wohnung", "wohnprojekt")
    }
    sites = _sites(data, scale)
    mondays = _mondays(window_start, window_end)

    weeks: list[Week] = []
    living: list[PlannedHousehold] = []  # oldest first
    residents = 0
    minors_so_far = 0.0
    carry = 0.0
    open_sites: list[SiteSpec] = []
    pending = sorted(sites, key=lambda s: s.opens_on)
    generated = 0
    volunteer_meta = data.get("volunteers", {})
    coordination = _day(volunteer_meta["coordination_from"]) if volunteer_meta else None

    for index, monday in enumerate(mondays):
        week = Week(monday)
        sunday = monday + timedelta(days=6)
        # Named sites open in the first step on or after their recorded day, dated that
        # day (the step's clock is Monday noon: a later day would be in the future).
        while pending and pending[0].opens_on <= monday:
            site = pending.pop(0)
            if site.closes_on is not None and site.closes_on <= monday:
                continue  # gone before the window began
            if index == 0:
                site = _moved(site, opens_on=monday)  # open before the window: from its start
            week.opens.append(site)
            open_sites.append(site)
        # Closings start in the step before the closing day, so its residents have moved
        # by then and the site closes on its day: a site closing on a Monday starts a week
        # ahead (started that Monday, its residents moved after 00:00, and housing refuses
        # a close dated before a site's latest change: the Deutscher Pavillon never closed).
        for site in list(open_sites):
            if site.closes_on is not None and monday < site.closes_on <= monday + timedelta(days=7):
                week.closes.append(site)
                open_sites.remove(site)

        # Arrivals: the weekly rate, or the whole stock in the window's first week.
        if index == 0:
            wanted = interpolate(stock, monday) * scale
        else:
            wanted = interpolate(arrivals, monday) * scale + carry
        persons = int(wanted)
        carry = wanted - persons if index else 0.0
        country_pool = origins[max(0, bisect_right([o[0] for o in origins], monday) - 1)][1]
        n = 0
        while persons > 0:
            ref = f"NI-{monday.isoformat()}-{n:04d}"
            household = _household(rng, data, ref, _weighted(rng, country_pool), persons)
            week.households.append(household)
            living.append(household)
            persons -= household.size
            n += 1
        # Unaccompanied minors, counted apart: following the reported count (cumulative).
        if minors:
            due = interpolate(minors, monday) * scale
            while minors_so_far + 1 <= due:
                ref = f"NI-{monday.isoformat()}-{n:04d}"
                week.households.append(_minor(rng, ref, _weighted(rng, country_pool)))
                minors_so_far += 1
                n += 1
        residents += sum(h.size for h in week.households if not h.unaccompanied_minor)

        # Exits: households move out so that the stock follows the reported path.
        target = interpolate(stock, sunday) * scale
        if index:
            fresh = {h.land_reference for h in week.households}
            candidates = [h for h in living if h.land_reference not in fresh]
            excess = residents - round(target)
            while excess > 0 and candidates:
                # the longest stay first, with a seeded shuffle among the oldest
                pick = candidates.pop(rng.randrange(min(len(candidates), 25)))
                living.remove(pick)
                week.exits.append(pick.land_reference)
                residents -= pick.size
                excess -= pick.size
        week.planned_residents = residents

        # Places: regular pillars grow to their share of the stock; emergency places open
        # when the free places fall below the reserve.
        for pillar in ("wohnheim", "wohnung", "wohnprojekt"):
            size = gen["site_size"][pillar]
            size = max(1, round(size * scale))
            have = sum(s.capacity for s in open_sites if s.pillar == pillar)
            want = interpolate(regular[pillar], sunday) * scale
            while have + size <= want + size / 2:
                generated += 1
                site = _generated(gen, pillar, size, monday, generated, _daily_rate(data, pillar))
                week.opens.append(site)
                open_sites.append(site)
                have += size
        upcoming = interpolate(arrivals, monday + timedelta(weeks=1)) * scale
        total = sum(s.capacity for s in open_sites)
        need = (residents + upcoming) * (1 + gen["reserve"])
        while total < need:
            generated += 1
            size = max(1, round(gen["emergency_capacity"] * scale))
            rate = _daily_rate(data, "notunterkunft")
            site = _generated(gen, "notunterkunft", size, monday, generated, rate)
            week.opens.append(site)
            open_sites.append(site)
            total += size
        if index == 0:
            week.households = _date_the_stock(week)
            living[:] = [h for h in week.households if not h.unaccompanied_minor]
        if coordination and monday >= coordination:
            week.volunteers = round(volunteer_meta["volunteers_per_week"] * min(scale, 1.0))
            week.requests = round(volunteer_meta["requests_per_week"] * min(scale, 1.0))
        weeks.append(week)

    return Plan(
        name=meta["name"],
        seed=seed,
        scale=scale,
        weeks=weeks,
        sites=sites,
        targets=data["targets"],
        tolerance=float(meta["tolerance"]),
        data=data,
    )


def _date_the_stock(week: Week) -> list[PlannedHousehold]:
    """The window's first week brings the stock at its start. Those households were
    assigned before the window, not in its first week: their decisions are spread over
    the ``STOCK_WEEKS`` Fridays before it (the record gives no dates; oldest first, as
    exits take the longest stay first). Their places are held at the sites open from the
    window's start (housing holds a back-dated request from its own clock; reporting
    counts a reservation dated before its site opened there from the opening). Returns
    ``week``'s households, the stock's families first (``living``, oldest first)."""

    def spread(households: list[PlannedHousehold]) -> list[PlannedHousehold]:
        n, friday = len(households), week.decided_on
        return [
            replace(h, assigned_on=friday - timedelta(weeks=STOCK_WEEKS - i * STOCK_WEEKS // n))
            for i, h in enumerate(households)
        ]

    families = spread([h for h in week.households if not h.unaccompanied_minor])
    return families + spread([h for h in week.households if h.unaccompanied_minor])


def _first(pair: tuple[date, Any]) -> date:
    return pair[0]


def _moved(site: SiteSpec, **changes: Any) -> SiteSpec:
    return SiteSpec(**{**site.__dict__, **changes})


BUILDING_FOR = {
    "wohnheim": ("modules", "housing_company", "Stadt Hannover"),
    "wohnung": ("other", "housing_company", "Stadt Hannover"),
    "wohnprojekt": ("other", "housing_company", "Stadt Hannover"),
    "notunterkunft": ("modules", "city", "DRK"),
}
LABEL = {
    "wohnheim": "Wohnheim",
    "wohnung": "Wohnungen",
    "wohnprojekt": "Wohnprojekt",
    "notunterkunft": "Notunterkunft",
}


def _generated(
    gen: dict[str, Any], pillar: str, size: int, monday: date, n: int, daily_rate: str | None
) -> SiteSpec:
    districts = gen["districts"]
    district = districts[n % len(districts)]
    building, owner, operator = BUILDING_FOR[pillar]
    if pillar == "notunterkunft" and monday < date(2014, 1, 1):
        building, owner = "hotel", "private"  # the "Asyl-Hotels" of 2013 [H8]
    return SiteSpec(
        site_id=str(uuid.uuid5(NAMESPACE, f"generated/{n}")),
        name=f"{LABEL[pillar]} {n:03d} (generated, Stadtbezirk {district})",
        pillar=pillar,
        district=district,
        building=building,
        owner=owner,
        operator=operator,
        capacity=size,
        opens_on=monday,
        closes_on=None,
        generated=True,
        daily_rate=daily_rate,
    )
