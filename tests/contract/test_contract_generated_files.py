"""The checked-in JSON Schemas and AsyncAPI document are what the models generate."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ankommen_contracts import CATALOGUE, PUBLISHERS, decode, topic_for
from ankommen_contracts.generate import (
    ASYNCAPI_FILE,
    SCHEMAS_DIR,
    SNAPSHOTS_DIR,
    check,
    default_root,
    main,
)
from ankommen_contracts.schema import DLQ_SUFFIX, schema_filename

ROOT = default_root()


def test_checked_in_files_are_up_to_date() -> None:
    problems = check(ROOT)
    assert not problems, "run `uv run python -m ankommen_contracts.generate`:\n" + "\n".join(
        problems
    )


def test_check_mode_exits_zero_when_up_to_date(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check"]) == 0
    assert "up to date" in capsys.readouterr().out


@pytest.fixture
def copy_of_contracts(tmp_path: Path) -> Path:
    root = tmp_path / "contracts"
    root.mkdir()
    shutil.copy(ROOT / "pyproject.toml", root)
    shutil.copy(ROOT / ASYNCAPI_FILE, root)
    shutil.copytree(ROOT / SCHEMAS_DIR, root / SCHEMAS_DIR)
    shutil.copytree(ROOT / SNAPSHOTS_DIR, root / SNAPSHOTS_DIR)
    return root


def test_check_mode_fails_on_a_drifted_file_and_generate_repairs_it(
    copy_of_contracts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_of_contracts
    schema = root / SCHEMAS_DIR / schema_filename("ShelterPlanned", 2)
    schema.write_text(schema.read_text().replace('"maximum": 5000', '"maximum": 6000'))
    (root / SCHEMAS_DIR / "ShelterRenamed.v2.json").write_text("{}")
    (root / ASYNCAPI_FILE).unlink()
    snapshot = root / SNAPSHOTS_DIR / schema_filename("ShelterPlanned", 2)
    snapshot.write_text(snapshot.read_text() + " ")  # a released snapshot is never rewritten

    assert main(["--check", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert "schemas/ShelterPlanned.v2.json: out of date" in err
    assert "schemas/ShelterRenamed.v2.json: stale" in err
    assert "asyncapi.json: missing" in err

    assert main(["--root", str(root)]) == 0
    assert check(root) == []
    assert not (root / SCHEMAS_DIR / "ShelterRenamed.v2.json").exists()
    assert snapshot.read_text().endswith(" ")


def test_check_mode_reports_an_unreleased_version(copy_of_contracts: Path) -> None:
    (copy_of_contracts / SNAPSHOTS_DIR / schema_filename("CaseClosed", 2)).unlink()
    assert check(copy_of_contracts) == [
        "snapshots/CaseClosed.v2.json: missing (new type or version not yet snapshotted)"
    ]


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _resolves(document: dict[str, Any], ref: str) -> bool:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _load(rel: str) -> dict[str, Any]:
    return json.loads((ROOT / rel).read_text("utf-8"))


@pytest.mark.parametrize("event_type", sorted(CATALOGUE))
def test_each_schema_file_is_self_contained_with_a_readable_example(event_type: str) -> None:
    model = CATALOGUE[event_type]
    schema = _load(f"{SCHEMAS_DIR}/{schema_filename(event_type, model.VERSION)}")

    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["x-topic"] == topic_for(model.SOURCE)
    assert schema["x-subject-field"] == model.SUBJECT_FIELD
    assert schema["properties"]["data"] == {"$ref": f"#/$defs/{event_type}"}
    assert [r for r in _refs(schema) if not _resolves(schema, r)] == []
    (example,) = schema["examples"]
    assert decode(json.dumps(example)).type == event_type


def test_asyncapi_has_a_channel_per_topic_keyed_by_subject_and_its_dlq() -> None:
    doc = _load(ASYNCAPI_FILE)

    assert doc["asyncapi"] == "3.0.0"
    assert [r for r in _refs(doc) if not _resolves(doc, r)] == []
    addresses = {channel["address"]: channel for channel in doc["channels"].values()}
    topics = {topic_for(s) for s in PUBLISHERS}
    assert set(addresses) == topics | {t + DLQ_SUFFIX for t in topics}
    for name, model in CATALOGUE.items():
        channel = addresses[topic_for(model.SOURCE)]
        assert name in channel["messages"]
        message = doc["components"]["messages"][name]
        assert message["bindings"]["kafka"]["key"]["description"] == (
            f"subject = data.{model.SUBJECT_FIELD}"
        )
        (example,) = message["examples"]
        assert decode(json.dumps(example["payload"])).type == name
        assert example["headers"]["ce_type"] == name
    for topic in topics:
        dlq = addresses[topic + DLQ_SUFFIX]
        assert list(dlq["messages"]) == ["DeadLetter"]
    dead_letter = doc["components"]["messages"]["DeadLetter"]
    assert "dlq_error" in dead_letter["headers"]["required"]
    operations = {op["channel"]["$ref"].split("/")[-1]: op for op in doc["operations"].values()}
    assert set(operations) == set(doc["channels"])
