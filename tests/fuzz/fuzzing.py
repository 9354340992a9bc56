"""Schemathesis against each service's ASGI app, in-process, real PostgreSQL and Kafka behind.

Each operation of a service's OpenAPI is fuzzed twice: with data its schema allows
(positive) and with data it forbids (negative), every request carrying a valid bearer
token with every role (minted by the project's local issuer, exactly as the services
verify it in production). Every response is checked by all of schemathesis's response
checks; failures are counted by operation and kind, not raised one by one, so a long run
reports everything it found.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import schemathesis
from ankommen_local.infra import Endpoints
from ankommen_runtime.auth import Role
from ankommen_runtime.kafka import ensure_topics
from ankommen_runtime.local_issuer import LocalIssuer, audience_of
from ankommen_runtime.settings import ServiceSettings
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi

# Checks that look at one response; the stateful ones (use_after_free, …) need a scenario
# recorder and links between operations, which these APIs do not declare.
STATEFUL = {"use_after_free", "ensure_resource_availability", "object_level_authorization"}

# Data the schema allows may still break a rule JSON Schema cannot state (a rule between
# fields: ``ends_on`` before ``starts_on``, an adult marked as an unaccompanied minor; a
# reference to a quota period that does not exist). The project's standard answer to
# that is a 422 naming the field, so for schema-valid data a 422 is an accepted refusal;
# everything else schemathesis expects stays as it is (and the 422's body must still
# match its documented schema).
POSITIVE_ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
CONFIG = SchemathesisConfig.from_dict(
    {"checks": {"positive_data_acceptance": {"expected-statuses": POSITIVE_ACCEPTED}}}
)


def response_checks() -> list[Any]:
    load_all_checks()
    return [c for c in CHECKS.get_all() if getattr(c, "__name__", "") not in STATEFUL]


@dataclass
class OperationResult:
    cases: int = 0
    by_mode: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # one reproduction per kind

    def as_json(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "by_mode": dict(self.by_mode),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "failures": dict(self.failures),
            "examples": self.examples,
        }


@dataclass
class ServiceResult:
    service: str
    operations: dict[str, OperationResult] = field(default_factory=dict)

    @property
    def cases(self) -> int:
        return sum(o.cases for o in self.operations.values())

    @property
    def failures(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for o in self.operations.values():
            total.update(o.failures)
        return total

    def as_json(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "failures": dict(self.failures),
            "operations": {k: v.as_json() for k, v in sorted(self.operations.items())},
        }


def all_roles_token(service: str) -> str:
    """A valid token for ``service`` that every role's check lets through."""
    return LocalIssuer().mint(
        list(Role), audience=audience_of(service), district=9, subject="fuzzer"
    )


def _kind(failure: Failure) -> str:
    return f"{type(failure).__name__}: {failure.title}"


def fuzz_app(
    service: str,
    app: FastAPI,
    *,
    examples: int,
    seed: int | None = None,
    only: Sequence[str] = (),
) -> ServiceResult:
    """Fuzz every operation of ``app`` with ``examples`` positive and negative cases each.

    The app's lifespan runs in schemathesis's ASGI portal (started on the first request
    and stopped by ``stop_apps``), so the service really talks to PostgreSQL and Kafka.
    """
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)
    if only:  # e.g. ("POST /initiatives",): re-run what a long run found, at full length
        schema = schema.include(name=list(only))
    headers = {"authorization": f"Bearer {all_roles_token(service)}"}
    checks = response_checks()
    result = ServiceResult(service)
    for op_result in schema.get_all_operations():
        operation = op_result.ok()
        label = operation.label
        outcome = result.operations.setdefault(label, OperationResult())
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                strategy = operation.as_strategy(generation_mode=mode)
            except Exception:  # no input to make invalid (e.g. GET /health/live)
                continue

            run = _fuzzer(strategy, mode, outcome, headers, checks, examples, seed)
            with contextlib.suppress(Unsatisfiable):
                run()
    return result


def _fuzzer(
    strategy: Any,
    mode: GenerationMode,
    outcome: OperationResult,
    headers: dict[str, str],
    checks: list[Any],
    examples: int,
    seed: int | None,
) -> Callable[[], None]:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=seed is not None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        outcome.cases += 1
        outcome.by_mode[mode.value] += 1
        response = case.call(headers=headers)
        outcome.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                _record(outcome, failure, case, response)
        except Failure as failure:
            _record(outcome, failure, case, response)

    return run


def _record(outcome: OperationResult, failure: Failure, case: Any, response: Any) -> None:
    kind = _kind(failure)
    outcome.failures[kind] += 1
    if kind not in outcome.examples:
        body = case.body if not isinstance(case.body, bytes) else case.body[:200]
        outcome.examples[kind] = json.dumps(
            {
                "request": {
                    "method": case.method,
                    "path": case.formatted_path,
                    "query": case.query,
                    "body": body,
                },
                "status": response.status_code,
                "response": response.text[:500],
                "message": failure.message[:800],
            },
            default=str,
        )[:3000]


def stop_apps() -> None:
    """Stop the lifespans schemathesis started (pool, producer, consumers)."""
    asgi.shutdown_lifespans()


@contextlib.contextmanager
def fresh_database(infra: Endpoints) -> Iterator[str]:
    """An empty database for one fuzzed service; dropped afterwards."""
    name = f"fuzz_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(infra.pg_admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield infra.dsn_for(name)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def create_topics(infra: Endpoints, *names: str) -> None:
    """The topics with the partitions the services' readiness expects of them."""
    partitions = ServiceSettings.model_fields["topic_partitions"].default
    asyncio.run(ensure_topics(infra.kafka_bootstrap, dict.fromkeys(names, partitions)))


AppFactory = Callable[[str, str], FastAPI]
"""``(database_url, topic_prefix) -> app`` for one service."""
