"""Fault injection: drive allocation, housing and reporting while killing them and their servers.

    python tests/fault/chaos.py --seed 7 --service-kills 100 --broker-restarts 10 \
        --postgres-restarts 3 --partitions 6 --broker-down 60 --postgres-down 60

A stream of assignments (weekly batches) and site changes runs through the real services
as separate processes, two replicas of each (so rebalances happen in the middle of
batches), and site staff check in whoever holds a reservation. Meanwhile a controller,
reproducible from its seed, SIGKILLs replicas at random moments, takes the Kafka broker
and PostgreSQL down (for longer than the clients' timeouts in the long run), cuts the
second replicas off from Kafka or their database through a loopback proxy and heals the
partition, and injects records that are not events. Then, with no faults, it waits until
every consumer lag is 0 and proves:
- every assignment was placed or waitlisted exactly once;
- no site is over capacity, and housing's occupancy equals its checked-in occupants and
  allocation's housed households;
- every outbox event id is on its topic and every event id on a topic came from an outbox
  (set equality);
- every event delivered to a consumer is in its inbox exactly once, and per subject the
  inbox's applied order follows the sequence (order on effects, not only on the broker);
- records that are not events are counted, and each consumer's dead-letter topic holds
  exactly those (nothing else was dead-lettered under faults);
- no ERROR log line that the faults run do not explain;
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
from datetime import timedelta
from pathlib import Path
from typing import Any

import allocation.handlers as allocation_handlers
import asyncpg
import housing.handlers as housing_handlers
import httpx
from aiokafka import AIOKafkaProducer
from ankommen_local.supervisor import ServiceProcess, start_all
from ankommen_local.util import free_port, free_ports
from ankommen_runtime.local_issuer import local_tool_headers
from ankommen_runtime.topics import dead_letter_topic, event_topic
from harness import (
    REPO,
    Cluster,
    applied_once,
    applied_out_of_order,
    consumer_lag,
    event_types,
    order_violations,
    read_all,
    set_differences,
    topic_event_ids,
    unexpected_errors,
    until,
)
from reporting.domain.facts import REPORTED

# The event types each consuming service handles (its subscription), from its own code.
HANDLED = {
    "allocation": set(allocation_handlers.housing_handlers()),
    "housing": set(housing_handlers.allocation_handlers(timedelta(seconds=1))),
    "reporting": set(REPORTED["allocation"]) | set(REPORTED["housing"]),
}

SERVICES = ("allocation", "housing", "reporting")
REPLICAS = 2
# Who consumes whose topic (groups are "<prefix><service>").
CONSUMES = {
    "allocation": ["housing"],
    "housing": ["allocation"],
    "reporting": ["allocation", "housing"],
}
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
    partitions: int = 1  # cuts of the second replicas' path to Kafka or PostgreSQL
    broker_down: tuple[float, float] = (1.0, 3.0)  # seconds the broker stays down
    postgres_down: tuple[float, float] = (0.0, 0.0)
    partition_length: tuple[float, float] = (2.0, 5.0)
    poison_records: int = 2  # records that are not events, injected into housing.events


@dataclass
class Summary:
    seed: int
    service_kills: int = 0
    crash_restarts: int = 0
    broker_restarts: int = 0
    postgres_restarts: int = 0
    partitions: int = 0
    fault_seconds: dict[str, float] = field(default_factory=dict)
    poison_records: int = 0
    undecodable_on_topics: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)
    inbox_checked: dict[str, int] = field(default_factory=dict)
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
        self.replicas: dict[str, list[ServiceProcess]] = {}
        self.fault_kinds: set[str] = set()
        self.poison: list[bytes] = []
        self.references: dict[str, int] = {}  # land reference -> persons
        self.site_ids: list[str] = []
        self.faults_done = asyncio.Event()

    # --- processes ------------------------------------------------------------------------
    def _service(
        self,
        name: str,
        port: int,
        *,
        database: str | None = None,
        group: str | None = None,
        replica: int = 1,
    ) -> ServiceProcess:
        proc = self.cluster.service(
            name,
            port,
            self.log_dir,
            replica=replica,
            topic_prefix=self.prefix,
            consumer_group=f"{self.prefix}{group or name}",
            relay_poll_seconds="0.5",
        )
        if database:
            proc.env["ANKOMMEN_DATABASE_URL"] = (
                self.cluster.dsn(name).rsplit("/", 1)[0] + "/" + database
            )
        return proc

    @property
    def procs(self) -> dict[str, ServiceProcess]:
        """The first replica of each service (what the proof reads from)."""
        return {name: replicas[0] for name, replicas in self.replicas.items()}

    def all_procs(self) -> list[ServiceProcess]:
        return [p for replicas in self.replicas.values() for p in replicas]

    async def start_services(self) -> None:
        for name in SERVICES:
            self.replicas[name] = [
                self._service(name, port, replica=n)
                for n, port in enumerate(free_ports(REPLICAS), start=1)
            ]
        # All or none: replicas of a failed start would outlive the test, holding ports.
        await asyncio.to_thread(start_all, self.all_procs(), 120)

    def stop_services(self) -> None:
        for proc in self.all_procs():
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
        deadline = time.monotonic() + patience
        async with httpx.AsyncClient(timeout=10, headers=local_tool_headers()) as client:
            while True:
                # Any live replica will do; the cut-off one answers 503 and we try another.
                alive = [p for p in self.replicas[service] if p.alive()] or self.replicas[service]
                url = f"{self.random.choice(alive).url}{path}"
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
            held = response.json()["items"] if response.status_code == 200 else []
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
        c = self.config
        plan = (
            ["service"] * c.service_kills
            + ["broker"] * c.broker_restarts
            + ["postgres"] * c.postgres_restarts
            + ["partition"] * c.partitions
            + ["poison"] * (1 if c.poison_records else 0)
        )
        self.random.shuffle(plan)
        try:
            for fault in plan:
                await asyncio.sleep(self.random.uniform(*c.fault_gap))
                began = time.monotonic()
                self.fault_kinds.add(fault)
                if fault == "service":
                    proc = self.random.choice(self.all_procs())
                    proc.kill()
                    self.summary.service_kills += 1
                    await asyncio.sleep(self.random.uniform(0.0, 1.0))
                    proc.start()
                elif fault == "broker":
                    await asyncio.to_thread(self.cluster.kill_broker)
                    await asyncio.sleep(self.random.uniform(*c.broker_down))
                    await asyncio.to_thread(self.cluster.start_broker)
                    self.summary.broker_restarts += 1
                elif fault == "postgres":
                    await asyncio.to_thread(self.cluster.crash_postgres)
                    await asyncio.sleep(self.random.uniform(*c.postgres_down))
                    await asyncio.to_thread(self.cluster.start_postgres)
                    self.summary.postgres_restarts += 1
                elif fault == "partition":
                    proxy = self.random.choice([self.cluster.kafka_proxy, self.cluster.pg_proxy])
                    assert proxy is not None
                    proxy.cut()
                    await asyncio.sleep(self.random.uniform(*c.partition_length))
                    proxy.heal()
                    self.summary.partitions += 1
                else:
                    await self.inject_poison()
                took = time.monotonic() - began
                self.summary.fault_seconds[fault] = round(
                    self.summary.fault_seconds.get(fault, 0.0) + took, 1
                )
                self.revive()
                self.progress(fault)
        finally:
            self.faults_done.set()

    async def inject_poison(self) -> None:
        """Records that are not events (bad bytes, a header that is not UTF-8)."""
        producer = AIOKafkaProducer(bootstrap_servers=self.cluster.bootstrap, acks="all")
        await producer.start()
        try:
            for n in range(self.config.poison_records):
                value = b"\x00not an event " + str(n).encode()
                headers = [("trace", b"\xff\xfe")] if n % 2 else []
                await producer.send_and_wait(
                    f"{self.prefix}housing.events", value=value, key=b"poison", headers=headers
                )
                self.poison.append(value)
        finally:
            await producer.stop()
        self.summary.poison_records = len(self.poison)

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
        for proc in self.all_procs():
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
        await self.prove_delivery(records, fail)
        await self.compare_rebuild(fail)

    async def prove_delivery(
        self, records: dict[str, list[tuple[bytes, bytes]]], fail: Any
    ) -> None:
        """Set equalities between outboxes, topics, inboxes and dead letters; order; logs."""
        on_topic: dict[str, set[uuid.UUID]] = {}
        types: dict[str, dict[uuid.UUID, str]] = {}
        for service in ("allocation", "housing"):
            topic = f"{self.prefix}{service}.events"
            ids, undecodable = topic_event_ids(records.get(topic, []))
            on_topic[topic] = ids
            types[topic] = event_types(records.get(topic, []))
            self.summary.undecodable_on_topics += undecodable
            conn = await asyncpg.connect(self.cluster.dsn(service))
            try:
                outbox = [r["event_id"] for r in await conn.fetch("SELECT event_id FROM outbox")]
            finally:
                await conn.close()
            for problem in set_differences(f"{service} outbox vs {topic}", outbox, ids):
                fail(problem)
        if self.summary.undecodable_on_topics != len(self.poison):
            fail(
                f"{self.summary.undecodable_on_topics} records on the topics are not events, "
                f"{len(self.poison)} were injected"
            )
        for consumer, sources in CONSUMES.items():
            conn = await asyncpg.connect(self.cluster.dsn(consumer))
            try:
                inbox = await conn.fetch(
                    "SELECT event_id, topic, subject, sequence, applied_order FROM inbox"
                )
                left = await conn.fetchval("SELECT count(*) FROM consumer_parked")
            finally:
                await conn.close()
            if left:
                fail(f"{consumer}: {left} events still parked")
            self.summary.inbox_checked[consumer] = len(inbox)
            for source in sources:
                topic = f"{self.prefix}{source}.events"
                mine = [r for r in inbox if r["topic"] == topic]
                # Every event of a type the consumer handles, exactly once in its inbox.
                delivered = {e for e, t in types.get(topic, {}).items() if t in HANDLED[consumer]}
                for problem in applied_once(delivered, [r["event_id"] for r in mine], consumer):
                    fail(problem)
                for problem in applied_out_of_order(
                    (r["subject"], r["sequence"], r["applied_order"]) for r in mine
                ):
                    fail(f"{consumer} applied out of order: {problem}")
                dead = dead_letter_topic(consumer, topic, self.prefix)
                letters = (await read_all(self.cluster.bootstrap, [dead])).get(dead, [])
                self.summary.dead_letters[dead] = len(letters)
                expected = self.poison if source == "housing" else []
                for problem in set_differences(
                    f"{dead} (dead letters vs injected)", expected, [v for _, v in letters]
                ):
                    fail(problem)
        lines: list[str] = []
        for path in self.log_dir.glob("*.log"):
            lines.extend(path.read_text(errors="replace").splitlines())
        for problem in unexpected_errors(lines, self.fault_kinds)[:10]:
            fail(f"unexpected ERROR log line: {problem}")

    async def compare_rebuild(self, fail: Any) -> None:
        """A second reporting, from an empty database, replays the topic: same view."""
        admin = await asyncpg.connect(self.cluster.admin_dsn)
        try:
            await admin.execute('DROP DATABASE IF EXISTS "reporting_rebuild" WITH (FORCE)')
            await admin.execute('CREATE DATABASE "reporting_rebuild" OWNER "reporting"')
        finally:
            await admin.close()
        rebuild = self._service(
            "reporting", free_port(), database="reporting_rebuild", group="reporting-rebuild"
        )
        rebuild.start()
        try:
            await asyncio.to_thread(rebuild.wait_ready, 120)
            group = f"{self.prefix}reporting-rebuild"
            topic = [event_topic(s, self.prefix) for s in CONSUMES["reporting"]]
            if not await until(
                lambda: _zero(consumer_lag(self.cluster.bootstrap, group, topic)), timeout=120
            ):
                fail("the rebuild did not catch up")
            async with httpx.AsyncClient(timeout=10, headers=local_tool_headers()) as client:
                live = (await client.get(f"{self.procs['reporting'].url}/views/capacity")).json()
                again = (await client.get(f"{rebuild.url}/views/capacity")).json()
                occupancy = (await client.get(f"{self.procs['housing'].url}/occupancy")).json()
                replica = (
                    await client.get(f"{self.procs['allocation'].url}/sites?limit=1000")
                ).json()["items"]
                sites = (await client.get(f"{self.procs['housing'].url}/sites?limit=1000")).json()[
                    "items"
                ]
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
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--broker-down", type=float, default=60.0, help="seconds per outage")
    parser.add_argument("--postgres-down", type=float, default=60.0, help="seconds per outage")
    parser.add_argument("--summary", type=Path, help="write the summary JSON here too")
    parser.add_argument("--keep-cluster", action="store_true", help="leave Kafka/Postgres up")
    args = parser.parse_args()
    config = Config(
        seed=args.seed,
        service_kills=args.service_kills,
        broker_restarts=args.broker_restarts,
        postgres_restarts=args.postgres_restarts,
        partitions=args.partitions,
        broker_down=(args.broker_down, args.broker_down * 1.2),
        postgres_down=(args.postgres_down, args.postgres_down * 1.2),
        partition_length=(10.0, 40.0),
        fault_gap=(2.0, 8.0),
        settle_timeout=900.0,
    )
    chaos = Chaos(config)
    try:
        summary = asyncio.run(chaos.run())
    finally:
        if not args.keep_cluster:
            chaos.cluster.down()
    text = json.dumps({**summary.__dict__, "ok": summary.ok}, indent=2)
    print(text)
    if args.summary:
        args.summary.write_text(text + "\n")
    sys.exit(0 if summary.ok else 1)


if __name__ == "__main__":
    main()
