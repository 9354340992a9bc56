"""Fault injection: drive allocation, housing and reporting while killing them and their servers.

    python tests/fault/chaos.py --seed 7 --service-kills 100 --broker-restarts 10 \
        --postgres-restarts 3

A stream of assignments (weekly batches) and site changes runs through the real services
as separate processes, and site staff check in whoever holds a reservation. Meanwhile a
controller, reproducible from its seed, SIGKILLs services at random moments, kills and
restarts the Kafka broker and crash-restarts PostgreSQL. Then, with no faults, it waits
until every consumer lag is 0 and proves:
- every assignment was placed or waitlisted exactly once;
- no site is over capacity, and housing's occupancy equals its checked-in occupants and
  allocation's housed households;
- every event in every outbox was published, and none went to a dead-letter topic;
- reporting's views equal a rebuild from the topics (and housing's own figures);
- per-subject order held on every topic.
It prints a summary and exits non-zero on any difference.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
from ankommen_local.supervisor import ServiceProcess
from ankommen_local.util import free_port
from ankommen_runtime.local_issuer import local_tool_headers
from ankommen_runtime.topics import dlq_topic, event_topic
from harness import REPO, Cluster, consumer_lag, order_violations, read_all, until

SERVICES = ("allocation", "housing", "reporting")
# Who consumes whose topic (groups are "<prefix><service>").
CONSUMES = {"allocation": ["housing"], "housing": ["allocation"], "reporting": ["housing"]}
COUNTRIES = ["SYR", "IRQ", "AFG", "ERI", "IRN", "ALB", "XXX"]
SITES = [
    ("Wohnheim A", "wohnheim", 1, 40),
    ("Wohnheim B", "wohnheim", 9, 40),
    ("Wohnheim C", "wohnheim", 12, 30),
    ("Wohnprojekt D", "wohnprojekt", 11, 20),
    ("Wohnungen E", "wohnung", 10, 10),
    ("Notunterkunft F", "notunterkunft", 4, 80),
    ("Notunterkunft G", "notunterkunft", 6, 60),
]


@dataclass
class Config:
    seed: int = 7
    service_kills: int = 4
    broker_restarts: int = 1
    postgres_restarts: int = 1
    min_batches: int = 8
    households_per_batch: int = 12
    fault_gap: tuple[float, float] = (1.0, 3.0)
    settle_timeout: float = 240.0


@dataclass
class Summary:
    seed: int
    service_kills: int = 0
    crash_restarts: int = 0
    broker_restarts: int = 0
    postgres_restarts: int = 0
    batches: int = 0
    households: int = 0
    persons: int = 0
    check_ins: int = 0
    events: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    seconds_to_lag_zero: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


class Chaos:
    def __init__(self, config: Config, cluster: Cluster | None = None) -> None:
        self.config = config
        self.random = random.Random(config.seed)
        self.cluster = cluster or Cluster()
        self.prefix = f"c{uuid.uuid4().hex[:8]}."
        self.log_dir = REPO / ".state" / "chaos" / "logs" / self.prefix.rstrip(".")
        self.summary = Summary(seed=config.seed)
        self.procs: dict[str, ServiceProcess] = {}
        # Free ports chosen once: a killed service comes back on its own port.
        self.ports = {name: free_port() for name in (*SERVICES, "rebuild")}
        self.references: dict[str, int] = {}  # land reference -> persons
        self.site_ids: list[str] = []
        self.faults_done = asyncio.Event()

    # --- processes ------------------------------------------------------------------------
    def _service(
        self, name: str, port: int, *, database: str | None = None, group: str | None = None
    ) -> ServiceProcess:
        proc = self.cluster.service(
            name,
            port,
            self.log_dir,
            topic_prefix=self.prefix,
            consumer_group=f"{self.prefix}{group or name}",
            relay_poll_seconds="0.5",
        )
        if database:
            proc.env["ANKOMMEN_DATABASE_URL"] = (
                self.cluster.dsn(name).rsplit("/", 1)[0] + "/" + database
            )
        return proc

    async def start_services(self) -> None:
        for name in SERVICES:
            self.procs[name] = self._service(name, self.ports[name])
            self.procs[name].start()
        for proc in self.procs.values():
            await asyncio.to_thread(proc.wait_ready, 120)

    def stop_services(self) -> None:
        for proc in self.procs.values():
            proc.stop()

    # --- HTTP with patience: the services die under us ----------------------------------
    async def call(
        self,
        method: str,
        service: str,
        path: str,
        body: Any = None,
        ok: tuple[int, ...] = (200, 201),
        patience: float = 180,
    ) -> httpx.Response:
        url = f"{self.procs[service].url}{path}"
        deadline = time.monotonic() + patience
        async with httpx.AsyncClient(timeout=10, headers=local_tool_headers()) as client:
            while True:
                try:
                    response = await client.request(method, url, json=body)
                    if response.status_code in ok or response.status_code < 500:
                        return response
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{method} {service}{path} kept failing")
                await asyncio.sleep(0.3)

    # --- the workload ---------------------------------------------------------------------
    def _household(self) -> dict[str, Any]:
        size = self.random.choice([1, 1, 1, 2, 3, 4, 5])
        country = self.random.choice(COUNTRIES)
        members = []
        for i in range(size):
            adult = i < min(2, size)
            members.append(
                {
                    "person_id": str(uuid.uuid4()),
                    "age_band": self.random.choice(["18-26", "27-49", "50-64"])
                    if adult
                    else self.random.choice(["0-5", "6-17"]),
                    "gender": self.random.choice(["female", "male"]),
                    "country_of_origin": country,
                    "unaccompanied_minor": False,
                    "special_needs": [],
                }
            )
        reference = f"NI-{self.prefix}{len(self.references):05d}"
        self.references[reference] = size
        return {"land_reference": reference, "members": members}

    async def open_sites(self) -> None:
        for name, pillar, district, capacity in SITES:
            body = {
                "name": name,
                "pillar": pillar,
                "district": district,
                "operator": "DRK",
                "capacity": capacity,
            }
            response = await self.call("POST", "housing", "/sites", body)
            assert response.status_code == 201, response.text
            self.site_ids.append(response.json()["site_id"])

    async def workload(self) -> None:
        batch_no = 0
        while batch_no < self.config.min_batches or not self.faults_done.is_set():
            batch = [self._household() for _ in range(self.config.households_per_batch)]
            response = await self.call(
                "POST", "allocation", "/assignments/batch", {"assignments": batch}
            )
            assert response.status_code in (200, 201), response.text
            # The Land's feed re-sends now and then: a repeat must create nothing new.
            if self.random.random() < 0.3:
                await self.call("POST", "allocation", "/assignments/batch", {"assignments": batch})
            batch_no += 1
            if batch_no % 3 == 0:
                await self.site_change()
            await asyncio.sleep(self.random.uniform(0.3, 1.0))
        self.summary.batches = batch_no

    async def site_change(self) -> None:
        site_id = self.random.choice(self.site_ids)
        site = (await self.call("GET", "housing", f"/sites/{site_id}")).json()
        action = self.random.choice(["grow", "block", "unblock"])
        if action == "grow":
            await self.call(
                "POST",
                "housing",
                f"/sites/{site_id}/capacity",
                {"capacity": site["capacity"] + 5},
                ok=(200, 201, 409),
            )
        elif action == "block":
            await self.call(
                "POST", "housing", f"/sites/{site_id}/block", {"places": 2}, ok=(200, 201, 409)
            )
        elif site["blocked"] >= 2:
            await self.call(
                "POST", "housing", f"/sites/{site_id}/unblock", {"places": 2}, ok=(200, 201, 409)
            )

    async def check_ins(self) -> None:
        """Site staff: check in every household that holds a reservation (until cancelled)."""
        while True:
            response = await self.call("GET", "housing", "/reservations?status=held&limit=500")
            held = response.json() if response.status_code == 200 else []
            for reservation in held:
                done = await self.call(
                    "POST",
                    "housing",
                    f"/reservations/{reservation['reservation_id']}/check-in",
                    ok=(200, 201, 409),
                )
                if done.status_code == 201:
                    self.summary.check_ins += 1
            await asyncio.sleep(0.5)

    # --- the faults -----------------------------------------------------------------------
    async def faults(self) -> None:
        plan = (
            ["service"] * self.config.service_kills
            + ["broker"] * self.config.broker_restarts
            + ["postgres"] * self.config.postgres_restarts
        )
        self.random.shuffle(plan)
        try:
            for fault in plan:
                await asyncio.sleep(self.random.uniform(*self.config.fault_gap))
                if fault == "service":
                    name = self.random.choice(list(self.procs))
                    self.procs[name].kill()
                    self.summary.service_kills += 1
                    await asyncio.sleep(self.random.uniform(0.0, 1.0))
                    self.procs[name].start()
                elif fault == "broker":
                    await asyncio.to_thread(self.cluster.kill_broker)
                    await asyncio.sleep(self.random.uniform(1.0, 3.0))
                    await asyncio.to_thread(self.cluster.start_broker)
                    self.summary.broker_restarts += 1
                else:
                    await asyncio.to_thread(self.cluster.restart_postgres)
                    self.summary.postgres_restarts += 1
                self.revive()
                self.progress(fault)
        finally:
            self.faults_done.set()

    def progress(self, fault: str) -> None:
        s = self.summary
        print(
            f"[chaos] {fault:<8} kills {s.service_kills} broker {s.broker_restarts} "
            f"postgres {s.postgres_restarts} households {len(self.references)} "
            f"check-ins {s.check_ins}",
            file=sys.stderr,
            flush=True,
        )

    def revive(self) -> None:
        """A service that died on its own (e.g. started while the broker was down) restarts."""
        for proc in self.procs.values():
            if not proc.alive():
                proc.start()
                self.summary.crash_restarts += 1

    # --- settling and the proof -----------------------------------------------------------
    async def lag(self) -> int:
        total = 0
        for service, sources in CONSUMES.items():
            topics = [event_topic(s, self.prefix) for s in sources]
            total += await consumer_lag(self.cluster.bootstrap, f"{self.prefix}{service}", topics)
        return total

    async def unpublished(self) -> int:
        total = 0
        for service in ("allocation", "housing"):
            conn = await asyncpg.connect(self.cluster.dsn(service))
            try:
                total += await conn.fetchval(
                    "SELECT count(*) FROM outbox WHERE published_at IS NULL"
                )
            finally:
                await conn.close()
        return total

    async def in_flight(self) -> int:
        conn = await asyncpg.connect(self.cluster.dsn("allocation"))
        try:
            return await conn.fetchval(
                "SELECT count(*) FROM households WHERE status IN ('placing', 'reserved')"
            )
        finally:
            await conn.close()

    async def settled(self) -> bool:
        self.revive()
        try:
            return (
                await self.unpublished() == 0
                and await self.lag() == 0
                and await self.in_flight() == 0
            )
        except (OSError, asyncpg.PostgresError):
            return False

    async def prove(self) -> None:
        fail = self.summary.failures.append
        alloc = await asyncpg.connect(self.cluster.dsn("allocation"))
        housing = await asyncpg.connect(self.cluster.dsn("housing"))
        try:
            rows = await alloc.fetch(
                "SELECT land_reference, status, persons, site_id FROM households"
                " WHERE land_reference LIKE $1",
                f"NI-{self.prefix}%",
            )
            by_ref = {r["land_reference"]: r for r in rows}
            self.summary.households = len(by_ref)
            self.summary.persons = sum(self.references.values())
            self.summary.statuses = {}
            for r in rows:
                self.summary.statuses[r["status"]] = self.summary.statuses.get(r["status"], 0) + 1
            missing = set(self.references) - set(by_ref)
            if missing:
                fail(f"{len(missing)} assignments lost, e.g. {sorted(missing)[:3]}")
            if len(rows) != len(by_ref):
                fail("an assignment was registered twice")
            unsettled = [
                r["land_reference"]
                for r in rows
                if r["status"] not in ("housed", "waitlisted", "youth_welfare")
            ]
            if unsettled:
                fail(f"{len(unsettled)} households neither placed nor waitlisted")

            over = await housing.fetch(
                "SELECT name FROM sites WHERE occupied + reserved + blocked > capacity"
            )
            if over:
                fail(f"sites over capacity: {[r['name'] for r in over]}")
            mismatched = await housing.fetch(
                """SELECT s.name, s.occupied, COALESCE(sum(o.persons), 0) AS living
                   FROM sites s LEFT JOIN occupants o USING (site_id)
                   GROUP BY s.site_id HAVING s.occupied <> COALESCE(sum(o.persons), 0)"""
            )
            if mismatched:
                fail(f"occupancy differs from occupants: {[dict(r) for r in mismatched]}")
            occupants = {
                r["household_id"]: r
                for r in await housing.fetch("SELECT household_id, site_id, persons FROM occupants")
            }
            housed = await alloc.fetch(
                "SELECT household_id, site_id, persons FROM households WHERE status = 'housed'"
            )
            if {(r["household_id"], r["site_id"]) for r in housed} != {
                (k, v["site_id"]) for k, v in occupants.items()
            }:
                fail("allocation's housed households differ from housing's occupants")
        finally:
            await alloc.close()
            await housing.close()

        if await self.unpublished():
            fail("outbox rows left unpublished")
        topics = [event_topic(s, self.prefix) for s in ("allocation", "housing")]
        records = await read_all(self.cluster.bootstrap, topics)
        for topic, recs in records.items():
            self.summary.events[topic] = len(recs)
            problems = order_violations(recs)
            if problems:
                fail(f"order broken on {topic}: {problems[:3]}")
        dead = await read_all(self.cluster.bootstrap, [dlq_topic(t) for t in topics])
        letters = sum(len(v) for v in dead.values())
        if letters:
            fail(f"{letters} events were dead-lettered under faults")
        await self.compare_rebuild(fail)

    async def compare_rebuild(self, fail: Any) -> None:
        """A second reporting, from an empty database, replays the topic: same view."""
        admin = await asyncpg.connect(self.cluster.admin_dsn)
        try:
            await admin.execute('DROP DATABASE IF EXISTS "reporting_rebuild" WITH (FORCE)')
            await admin.execute('CREATE DATABASE "reporting_rebuild" OWNER "reporting"')
        finally:
            await admin.close()
        rebuild = self._service(
            "reporting",
            self.ports["rebuild"],
            database="reporting_rebuild",
            group="reporting-rebuild",
        )
        rebuild.start()
        try:
            await asyncio.to_thread(rebuild.wait_ready, 120)
            group = f"{self.prefix}reporting-rebuild"
            topic = [event_topic("housing", self.prefix)]
            if not await until(
                lambda: _zero(consumer_lag(self.cluster.bootstrap, group, topic)), timeout=120
            ):
                fail("the rebuild did not catch up")
            async with httpx.AsyncClient(timeout=10, headers=local_tool_headers()) as client:
                live = (await client.get(f"{self.procs['reporting'].url}/views/capacity")).json()
                again = (await client.get(f"{rebuild.url}/views/capacity")).json()
                occupancy = (await client.get(f"{self.procs['housing'].url}/occupancy")).json()
                replica = (await client.get(f"{self.procs['allocation'].url}/sites")).json()
                sites = (await client.get(f"{self.procs['housing'].url}/sites")).json()
            if live != again:
                fail("reporting's live view differs from its rebuild from the topic")
            figures = ("capacity", "blocked", "reserved", "occupied", "status")
            truth = {s["site_id"]: tuple(s[k] for k in figures) for s in sites}
            seen = {s["site_id"]: tuple(s[k] for k in figures) for s in replica}
            if seen != truth:
                fail(f"allocation's replica of the sites differs from housing: {seen} != {truth}")
            totals = occupancy["total"]
            for key in ("capacity", "occupied", "reserved", "blocked"):
                if live["total"][key] != totals[key]:
                    fail(f"reporting's total {key} {live['total'][key]} != housing's {totals[key]}")
        finally:
            rebuild.stop()

    # --- the run --------------------------------------------------------------------------
    async def run(self) -> Summary:
        await asyncio.to_thread(self.cluster.up)
        await self.cluster.reset_databases()
        await self.start_services()
        try:
            await self.open_sites()
            checkins = asyncio.create_task(self.check_ins())
            await asyncio.gather(self.workload(), self.faults())
            began = time.monotonic()
            if not await until(self.settled, timeout=self.config.settle_timeout, interval=1.0):
                self.summary.failures.append("did not settle: lag, outbox or placements left")
            checkins.cancel()
            self.summary.seconds_to_lag_zero = round(time.monotonic() - began, 1)
            await self.prove()
        finally:
            self.stop_services()
        return self.summary


async def _zero(lag: Any) -> bool:
    return await lag == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--service-kills", type=int, default=100)
    parser.add_argument("--broker-restarts", type=int, default=10)
    parser.add_argument("--postgres-restarts", type=int, default=3)
    parser.add_argument("--keep-cluster", action="store_true", help="leave Kafka/Postgres up")
    args = parser.parse_args()
    config = Config(
        seed=args.seed,
        service_kills=args.service_kills,
        broker_restarts=args.broker_restarts,
        postgres_restarts=args.postgres_restarts,
    )
    chaos = Chaos(config)
    try:
        summary = asyncio.run(chaos.run())
    finally:
        if not args.keep_cluster:
            chaos.cluster.down()
    print(json.dumps({**summary.__dict__, "ok": summary.ok}, indent=2))
    sys.exit(0 if summary.ok else 1)


if __name__ == "__main__":
    main()
