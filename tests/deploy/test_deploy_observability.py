"""Alert rules, dashboard and runbook: well-formed, and naming only metrics that exist.

promtool checks the rule file where it is installed (Debian's `prometheus` package; or
ANKOMMEN_PROMTOOL=/path). Without it the rules are still parsed here and every metric
name in every expression must be one the runtime exports, one CloudNativePG exports from
our custom queries, or one of the few named external exporters.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from typing import Any

import ankommen_runtime.metrics  # noqa: F401  (registers the runtime's metrics)
import pytest
import yaml
from ankommen_local.config import REPO_ROOT
from ankommen_runtime.topology import SERVICE_NAMES, service_topologies
from prometheus_client import REGISTRY

OBS = REPO_ROOT / "deploy" / "observability"
ALERTS = OBS / "alerts.yaml"
DASHBOARD = OBS / "grafana" / "ankommen-operations.json"
RUNBOOK = REPO_ROOT / "docs" / "runbook.md"
PG_QUERIES = REPO_ROOT / "deploy" / "k8s" / "postgres" / "monitoring-queries.yaml"

# Metrics of exporters outside the project, by source.
EXTERNAL = {
    # Strimzi's Kafka Exporter (Kafka.spec.kafkaExporter in deploy/k8s/kafka/kafka.yaml)
    "kafka_consumergroup_lag",
    "kafka_topic_partition_current_offset",
    "kafka_topic_partition_oldest_offset",
    # kube-state-metrics
    "kube_deployment_status_replicas_ready",
    "kube_deployment_spec_replicas",
    # Prometheus itself
    "up",
}
PROMQL_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "inf",
    "nan",
}


def runtime_metric_names() -> set[str]:
    names: set[str] = set()
    for family in REGISTRY.collect():
        if not family.name.startswith("ankommen_"):
            continue
        suffixes = {
            "counter": ("_total", "_created"),
            "histogram": ("_bucket", "_sum", "_count", "_created"),
            "gauge": ("",),
            "summary": ("_sum", "_count", "_created", ""),
        }[family.type]
        names |= {family.name + s for s in suffixes}
    return names


def cnpg_metric_names() -> set[str]:
    doc = yaml.safe_load(PG_QUERIES.read_text())
    queries = yaml.safe_load(doc["data"]["queries"])
    names = set()
    for query, spec in queries.items():
        for metric in spec["metrics"]:
            ((column, meta),) = metric.items()
            if meta["usage"] != "LABEL":
                names.add(f"cnpg_{query}_{column}")
    return names


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (selectors; not functions, labels, keywords)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    text = re.sub(r"'(?:[^'\\]|\\.)*'", "''", text)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = re.sub(
        r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text
    )  # grouping label lists
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        word = match.group(0)
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or word.lower() in PROMQL_WORDS:
            continue
        names.add(word)
    return names


@pytest.fixture(scope="module")
def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def known_metrics() -> set[str]:
    return runtime_metric_names() | cnpg_metric_names() | EXTERNAL


def test_the_metric_name_parser_finds_selectors_and_skips_the_rest() -> None:
    expr = (
        'sum by (service, le) (rate(a_bucket{x="y(z)"}[5m])) > 1 and on (g) '
        "label_replace(b_total, 'q', '$1', 'r', '(.*)') == 0 or c"
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "c"}


@pytest.mark.skipif(
    not (os.environ.get("ANKOMMEN_PROMTOOL") or shutil.which("promtool")),
    reason="promtool not installed (Debian: prometheus); the Python checks below still run",
)
def test_promtool_accepts_the_rule_file() -> None:
    promtool = os.environ.get("ANKOMMEN_PROMTOOL") or shutil.which("promtool")
    assert promtool is not None
    result = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_complete_and_uses_only_existing_metrics(
    rules: list[dict[str, Any]],
) -> None:
    known = known_metrics()
    assert {"ankommen_outbox_send_failures_total", "ankommen_events_consumed_total"} <= known
    for rule in rules:
        assert re.fullmatch(r"Ankommen[A-Za-z]+", rule["alert"])
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"])
        unknown = metric_names(rule["expr"]) - known
        assert unknown == set(), f"{rule['alert']} uses metrics nobody exports: {unknown}"


def test_the_alerts_cover_what_the_issue_asks_for(rules: list[dict[str, Any]]) -> None:
    used = set().union(*(metric_names(r["expr"]) for r in rules))
    assert "kafka_consumergroup_lag" in used  # consumer lag
    assert "ankommen_events_consumed_total" in used  # dead letters
    assert {
        "cnpg_ankommen_outbox_unpublished",
        "cnpg_ankommen_outbox_oldest_unpublished_seconds",
    } <= used  # outbox rows and age
    assert "ankommen_outbox_send_failures_total" in used  # relay failures
    assert "kube_deployment_status_replicas_ready" in used  # readiness
    dead = [r for r in rules if r["alert"] == "AnkommenDeadLetters"]
    assert 'outcome="dead_lettered"' in dead[0]["expr"]
    consumer = (REPO_ROOT / "runtime" / "ankommen_runtime" / "consumer.py").read_text()
    assert '"dead_lettered"' in consumer  # the label value the alert filters on


def test_the_consumer_group_filter_names_exactly_the_services_groups(
    rules: list[dict[str, Any]],
) -> None:
    groups = {t.group for t in service_topologies() if t.consumes}
    for rule in rules:
        for pattern in re.findall(r'consumergroup=~"([^"]+)"', rule["expr"]):
            assert groups <= set(pattern.split("|")), rule["alert"]
            assert set(pattern.split("|")) <= set(SERVICE_NAMES)


def test_every_alert_has_a_runbook_section_and_every_section_an_alert(
    rules: list[dict[str, Any]],
) -> None:
    sections = set(re.findall(r"^### (Ankommen[A-Za-z]+)$", RUNBOOK.read_text(), flags=re.M))
    alerts = {r["alert"] for r in rules}
    assert sections == alerts
    for rule in rules:
        assert rule["annotations"]["runbook_url"] == f"docs/runbook.md#{rule['alert'].lower()}"


def test_the_outbox_queries_run_in_every_service_database() -> None:
    doc = yaml.safe_load(PG_QUERIES.read_text())
    queries = yaml.safe_load(doc["data"]["queries"])
    assert queries["ankommen_outbox"]["target_databases"] == list(SERVICE_NAMES)
    assert "FROM outbox" in queries["ankommen_outbox"]["query"]


def test_the_dashboard_is_valid_and_every_panel_queries_existing_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "ankommen-operations"
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    known = known_metrics()
    for panel in panels:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            unknown = metric_names(target["expr"]) - known
            assert unknown == set(), f"{panel['title']}: {unknown}"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["service"]["allValue"].split("|") == list(SERVICE_NAMES)
    assert variables["service"]["query"].split(",") == list(SERVICE_NAMES)
