"""docker-compose.yml and the Dockerfile, checked without a Docker engine (none runs here).

The compose file must satisfy the Compose Specification's JSON Schema, run the same Kafka
and PostgreSQL versions as deploy/local, and give every service every variable its
settings class reads — so a setting added to the code fails here until compose sets it.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import check_jsonschema
import jsonschema
import pytest
import yaml
from ankommen_local.config import KAFKA_VERSION, REPO_ROOT
from ankommen_local.infra import KAFKA_IMAGE, POSTGRES_IMAGE
from ankommen_local.supervisor import EVENT_LOOP
from ankommen_runtime.topology import SERVICE_NAMES, settings_class

COMPOSE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "deploy" / "docker" / "Dockerfile"
COMPOSE_SCHEMA = (
    Path(check_jsonschema.__file__).parent / "builtin_schemas" / "vendor" / "compose-spec.json"
)
HADOLINT = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "hadolint"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def env_name(field: str) -> str:
    return f"ANKOMMEN_{field.upper()}"


def test_compose_file_satisfies_the_compose_specification_schema(
    compose: dict[str, Any],
) -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(compose)
    ]
    assert errors == []


def test_kafka_and_postgres_are_the_versions_the_local_setup_runs(
    compose: dict[str, Any],
) -> None:
    assert compose["services"]["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"
    assert compose["services"]["kafka"]["image"] == KAFKA_IMAGE  # the testcontainers path too
    assert compose["services"]["postgres"]["image"] == POSTGRES_IMAGE
    env = compose["services"]["kafka"]["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_every_variable_the_service_reads_is_set_in_compose(
    compose: dict[str, Any], service: str
) -> None:
    env = compose["services"][service]["environment"]
    wanted = {env_name(f) for f in settings_class(service).model_fields}
    given = {k for k in env if k.startswith("ANKOMMEN_")}
    assert sorted(wanted - given) == [], "read by the service but not set in compose"
    assert sorted(given - wanted) == [], "set in compose but read by nothing (a typo?)"
    assert env["ANKOMMEN_SERVICE"] == service
    assert f"@postgres:5432/{service}" in env["ANKOMMEN_DATABASE_URL"]
    assert env["ANKOMMEN_LOCAL_DEV"] == "false"


def test_every_variable_of_the_readme_table_is_set_for_every_service(
    compose: dict[str, Any],
) -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    table = set(re.findall(r"^\| `(ANKOMMEN_[A-Z_]+)`", readme, flags=re.M))
    table |= set(re.findall(r"`(ANKOMMEN_[A-Z_]+)`, `ANKOMMEN_", readme))
    assert "ANKOMMEN_KAFKA_BOOTSTRAP" in table
    for service in SERVICE_NAMES:
        missing = table - set(compose["services"][service]["environment"])
        assert sorted(missing) == [], service


def test_every_password_compose_needs_comes_from_the_generated_env_file(
    compose: dict[str, Any],
) -> None:
    generated = subprocess.run(
        ["sh", str(REPO_ROOT / "deploy" / "docker" / "new-env.sh")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    values = dict(line.split("=", 1) for line in generated.splitlines())
    needed = set(re.findall(r"\$\{([A-Z_]+)", COMPOSE.read_text()))
    assert needed == set(values)
    assert len(set(values.values())) == len(values), "every role gets its own password"
    assert all(len(v) >= 24 for v in values.values())


def test_initdb_script_creates_the_database_of_every_service() -> None:
    script = (REPO_ROOT / "deploy" / "docker" / "initdb" / "10-service-databases.sh").read_text()
    listed = re.search(r"for service in ([a-z ]+); do", script)
    assert listed is not None
    assert tuple(listed.group(1).split()) == SERVICE_NAMES


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [str(HADOLINT), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _stages(text: str) -> dict[str, list[str]]:
    """Dockerfile instructions per stage name (continuation lines joined)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, flags=re.I)
        if match:
            current = [f"BASE {match.group(1)}"]
            stages[match.group(2) or match.group(1)] = current
        else:
            current.append(line)
    return stages


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_each_service_has_its_own_non_root_image_target_with_a_health_check(
    compose: dict[str, Any], service: str
) -> None:
    stages = _stages(DOCKERFILE.read_text())
    target = stages[service]
    assert target[0] == "BASE service"
    base = stages["service"]
    assert any(i.startswith("USER 10001") for i in base), "runs as a non-root user"
    health = [i for i in base if i.startswith("HEALTHCHECK")]
    assert len(health) == 1
    assert "/health/live" in health[0]
    assert f"COPY --from=build-{service} " in " ".join(target)
    cmd = next(i for i in target if i.startswith("CMD "))
    argv = json.loads(cmd[4:])
    assert argv[:3] == ["uvicorn", "--factory", f"{service}.app:create_app"]
    assert [*argv[-4:]] == list(EVENT_LOOP), "the same event loop and HTTP parser as locally"
    build = " ".join(stages[f"build-{service}"])
    assert f"uv sync --frozen --no-dev --no-editable --package ankommen-{service}" in build
    assert compose["services"][service]["build"]["target"] == service


def test_the_build_stage_installs_from_the_lock_file() -> None:
    stages = _stages(DOCKERFILE.read_text())
    build = " ".join(stages["build"])
    assert "COPY pyproject.toml uv.lock ./" in build
