"""deploy/k8s validated offline: schemas of every kind, and agreement with the code.

Built-in kinds go through kubernetes-validate (strict: unknown fields are errors); Strimzi
and CloudNativePG resources through their operators' CRD schemas (vendored in
tests/deploy/crds/ from the shared folder, with unknown fields made errors as
`kubeconform -strict` does). KEDA's CRDs and CNPG's ScheduledBackup are not vendored:
those kinds get a structural check here. What must agree with the code (topics, ACLs,
groups, scaling bounds, settings) is compared with ``ankommen_runtime.topology``, which
reads the services' own specs.
"""

from __future__ import annotations

import copy
import importlib.util
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from ankommen_local.config import KAFKA_VERSION, REPO_ROOT
from ankommen_runtime.settings import ServiceSettings
from ankommen_runtime.topology import (
    REDRIVE_GROUP,
    SERVICE_NAMES,
    ServiceTopology,
    owner_of,
    service_topologies,
    settings_class,
    topics_of,
)

K8S = REPO_ROOT / "deploy" / "k8s"
CRDS = Path(__file__).resolve().parent / "crds"
KUBERNETES_VERSION = "1.33.0"
CRD_FILES = {
    ("kafka.strimzi.io", "Kafka"): "strimzi-040-Crd-kafka.yaml",
    ("kafka.strimzi.io", "KafkaTopic"): "strimzi-043-Crd-kafkatopic.yaml",
    ("kafka.strimzi.io", "KafkaUser"): "strimzi-044-Crd-kafkauser.yaml",
    ("kafka.strimzi.io", "KafkaNodePool"): "strimzi-045-Crd-kafkanodepool.yaml",
    ("postgresql.cnpg.io", "Cluster"): "cnpg-clusters.yaml",
    ("postgresql.cnpg.io", "Database"): "cnpg-databases.yaml",
}


def _load_render() -> Any:
    spec = importlib.util.spec_from_file_location("k8s_render", K8S / "render.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = _load_render()


def kustomization() -> dict[str, Any]:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


@cache
def documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for resource in kustomization()["resources"]:
        for doc in yaml.safe_load_all((K8S / resource).read_text()):
            if doc is not None:
                docs.append((resource, doc))
    return docs


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [d for _, d in documents() if d["kind"] == kind]


def by_name(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in of_kind(kind)}


@cache
def topologies() -> dict[str, ServiceTopology]:
    return {t.service: t for t in service_topologies()}


def _strict(schema: Any) -> Any:
    """Unknown fields become errors wherever the schema lists the known ones."""
    if isinstance(schema, dict):
        schema = {k: _strict(v) for k, v in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def crd_schema(group: str, kind: str, version: str) -> dict[str, Any]:
    crd = yaml.safe_load((CRDS / CRD_FILES[(group, kind)]).read_text())
    for v in crd["spec"]["versions"]:
        if v["name"] == version and v.get("served"):
            schema = copy.deepcopy(v["schema"]["openAPIV3Schema"])
            # metadata is the API server's (ObjectMeta); the CRD leaves it open.
            schema["properties"]["metadata"] = {"type": "object"}
            return _strict(schema)
    raise AssertionError(f"{group}/{version} {kind} is not served by {CRD_FILES[(group, kind)]}")


def test_generated_manifests_are_up_to_date_with_the_services_specs() -> None:
    stale = [
        str(path.relative_to(K8S))
        for path, content in render.rendered().items()
        if not path.exists() or path.read_text() != content
    ]
    assert stale == [], "run .venv/bin/python deploy/k8s/render.py and commit"


def test_kustomization_lists_every_manifest_in_the_folder() -> None:
    on_disk = {
        str(p.relative_to(K8S)) for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml"
    }
    assert set(kustomization()["resources"]) == on_disk


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with kustomize) missing")
def test_kustomize_renders_every_document_into_the_namespace() -> None:
    out = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, check=True
    ).stdout
    rendered = [d for d in yaml.safe_load_all(out) if d]
    assert len(rendered) == len(documents())
    namespaced = [d for d in rendered if d["kind"] != "Namespace"]
    assert {d["metadata"].get("namespace") for d in namespaced} == {"ankommen"}


def _doc_id(item: tuple[str, dict[str, Any]]) -> str:
    return f"{item[0]}:{item[1]['kind']}/{item[1]['metadata']['name']}"


@pytest.mark.parametrize("item", documents(), ids=_doc_id)
def test_every_document_satisfies_its_schema(item: tuple[str, dict[str, Any]]) -> None:
    _, doc = item
    group, _, version = doc["apiVersion"].rpartition("/")
    if (group, doc["kind"]) in CRD_FILES:
        validator = jsonschema.Draft7Validator(crd_schema(group, doc["kind"], version))
        errors = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(doc)
        ]
        assert errors == []
    elif group == "keda.sh":
        _check_keda(doc)
    elif doc["kind"] == "ScheduledBackup":
        _check_scheduled_backup(doc)
    else:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def _check_scheduled_backup(doc: dict[str, Any]) -> None:
    # Its CRD is not among the vendored ones: the fields CNPG documents, checked by hand.
    assert doc["apiVersion"] == "postgresql.cnpg.io/v1"
    spec = doc["spec"]
    assert set(spec) <= {"schedule", "backupOwnerReference", "immediate", "method", "cluster"}
    assert len(spec["schedule"].split()) == 6  # CNPG's cron has a seconds field
    assert spec["backupOwnerReference"] in {"none", "self", "cluster"}
    assert spec["method"] in {"barmanObjectStore", "volumeSnapshot", "plugin"}


def _check_keda(doc: dict[str, Any]) -> None:
    assert doc["apiVersion"] == "keda.sh/v1alpha1"
    spec = doc["spec"]
    if doc["kind"] == "ScaledObject":
        assert set(spec) <= {
            "scaleTargetRef",
            "minReplicaCount",
            "maxReplicaCount",
            "cooldownPeriod",
            "pollingInterval",
            "triggers",
        }
        for trigger in spec["triggers"]:
            assert trigger["type"] == "kafka"
            assert set(trigger["metadata"]) <= {
                "bootstrapServers",
                "consumerGroup",
                "topic",
                "lagThreshold",
                "offsetResetPolicy",
                "sasl",
                "tls",
            }
            assert trigger["authenticationRef"]["name"] in by_name("TriggerAuthentication")
    else:
        assert doc["kind"] == "TriggerAuthentication"
        assert set(spec) <= {"secretTargetRef", "env"}
        params = {p["parameter"] for p in spec.get("secretTargetRef", [])}
        params |= {p["parameter"] for p in spec.get("env", [])}
        assert params == {"username", "password", "ca"}


# --- Kafka -----------------------------------------------------------------------------------
def test_kafka_runs_kraft_node_pools_three_brokers_rf3_min_isr2() -> None:
    pools = by_name("KafkaNodePool")
    assert pools["brokers"]["spec"]["roles"] == ["broker"]
    assert pools["brokers"]["spec"]["replicas"] == 3
    assert pools["controllers"]["spec"]["roles"] == ["controller"]
    assert pools["controllers"]["spec"]["replicas"] == 3
    (kafka,) = of_kind("Kafka")
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3
    assert config["min.insync.replicas"] == 2
    assert kafka["spec"]["kafka"]["version"] == KAFKA_VERSION
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"
    assert {lst["authentication"]["type"] for lst in kafka["spec"]["kafka"]["listeners"]} == {
        "scram-sha-512"
    }


def test_every_topic_the_services_create_is_a_kafka_topic_with_its_configuration() -> None:
    wanted = topics_of(
        topologies().values(), ServiceSettings.model_fields["topic_partitions"].default
    )
    declared = {t["spec"]["topicName"]: t["spec"] for t in of_kind("KafkaTopic")}
    assert sorted(declared) == [t.name for t in wanted]
    assert any(t.dead_letter for t in wanted)
    for topic in wanted:
        spec = declared[topic.name]
        assert spec["partitions"] == topic.partitions
        assert spec["replicas"] == 3
        assert spec["config"]["retention.ms"] == str(topic.retention_ms)
        assert spec["config"]["min.insync.replicas"] == "2"


def _acls(user: dict[str, Any]) -> dict[tuple[str, str], set[str]]:
    return {
        (a["resource"]["type"], a["resource"]["name"]): set(a["operations"])
        for a in user["spec"]["authorization"]["acls"]
    }


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_each_service_user_writes_only_its_topics_reads_only_what_it_consumes(
    service: str,
) -> None:
    t = topologies()[service]
    user = by_name("KafkaUser")[service]
    assert user["spec"]["authentication"]["type"] == "scram-sha-512"
    acls = _acls(user)
    assert all(
        a["resource"]["patternType"] == "literal" for a in user["spec"]["authorization"]["acls"]
    )
    assert all(a.get("type", "allow") == "allow" for a in user["spec"]["authorization"]["acls"])
    writes = {name for (kind, name), ops in acls.items() if kind == "topic" and "Write" in ops}
    reads = {name for (kind, name), ops in acls.items() if kind == "topic" and "Read" in ops}
    groups = {name for (kind, name) in acls if kind == "group"}
    assert writes == set(t.writes)
    assert reads == set(t.consumes)
    assert groups == ({t.group} if t.consumes else set())
    assert not any(ops & {"All", "Alter", "Create", "Delete"} for ops in acls.values())


def test_the_operations_user_purges_only_dead_letters_and_writes_only_event_streams() -> None:
    """`ankommen dlq` (docs/runbook.md) runs as its own KafkaUser, never a service's."""
    acls = _acls(by_name("KafkaUser")["operations"])
    every = topologies().values()
    dead_letters = {d for t in every for d in t.dead_letters}
    streams = {n for t in every for n in (*t.publishes, *t.consumes)}
    deletes = {name for (kind, name), ops in acls.items() if kind == "topic" and "Delete" in ops}
    writes = {name for (kind, name), ops in acls.items() if kind == "topic" and "Write" in ops}
    assert deletes == dead_letters
    assert writes == streams
    assert all(owner_of(name) for name in writes)
    assert {name for (kind, name) in acls if kind == "group"} == {REDRIVE_GROUP}
    assert not any(ops & {"All", "Alter", "Create"} for ops in acls.values())


def test_reporting_writes_no_event_stream() -> None:
    acls = _acls(by_name("KafkaUser")["reporting"])
    written = {name for (kind, name), ops in acls.items() if "Write" in ops}
    assert written, "reporting must be able to write its own dead letters"
    assert all(owner_of(name) is None for name in written), written


# --- PostgreSQL ------------------------------------------------------------------------------
def test_one_postgres_cluster_of_three_with_a_role_and_database_per_service() -> None:
    (cluster,) = of_kind("Cluster")
    spec = cluster["spec"]
    assert spec["instances"] == 3
    roles = {r["name"]: r for r in spec["managed"]["roles"]}
    assert sorted(roles) == sorted(SERVICE_NAMES)
    for name, role in roles.items():
        assert role["login"] is True
        assert role["passwordSecret"]["name"] == f"ankommen-pg-{name}"
    dbs = {d["spec"]["name"]: d["spec"] for d in of_kind("Database")}
    assert sorted(dbs) == sorted(SERVICE_NAMES)
    assert all(spec["owner"] == name for name, spec in dbs.items())


def test_no_secret_is_committed_the_passwords_are_made_at_deploy_time() -> None:
    assert of_kind("Secret") == []
    script = (K8S / "create-secrets.sh").read_text()
    for service in SERVICE_NAMES:
        assert service in script
    assert "openssl rand" in script


def test_continuous_backup_and_point_in_time_recovery_are_configured() -> None:
    (cluster,) = of_kind("Cluster")
    backup = cluster["spec"]["backup"]
    assert backup["barmanObjectStore"]["wal"]  # WAL archived continuously
    assert backup["retentionPolicy"]
    (scheduled,) = [d for _, d in documents() if d["kind"] == "ScheduledBackup"]
    assert scheduled["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    assert scheduled["spec"]["method"] == "barmanObjectStore"


# --- services --------------------------------------------------------------------------------
@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_each_deployment_has_probes_resources_and_a_restrictive_security_context(
    service: str,
) -> None:
    pod = by_name("Deployment")[service]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["resources"]["requests"]
    assert container["resources"]["limits"]["memory"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["automountServiceAccountToken"] is False


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_each_deployment_sets_every_variable_its_settings_read(service: str) -> None:
    (container,) = by_name("Deployment")[service]["spec"]["template"]["spec"]["containers"]
    env = {e["name"] for e in container["env"]}
    (ref,) = [r["configMapRef"]["name"] for r in container["envFrom"]]
    config = by_name("ConfigMap")[ref]
    given = env | set(config["data"])
    wanted = {f"ANKOMMEN_{f.upper()}" for f in settings_class(service).model_fields}
    assert sorted(wanted - given) == []
    assert {"ANKOMMEN_KAFKA_SASL_PASSWORD", "ANKOMMEN_DATABASE_URL"} <= env


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_each_service_has_a_service_and_a_disruption_budget(service: str) -> None:
    selector = by_name("Deployment")[service]["spec"]["selector"]["matchLabels"]
    assert by_name("Service")[service]["spec"]["selector"] == selector
    assert by_name("PodDisruptionBudget")[service]["spec"]["selector"]["matchLabels"] == selector


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_consumers_scale_on_lag_never_beyond_their_topics_partitions(service: str) -> None:
    t = topologies()[service]
    scaled = by_name("ScaledObject").get(service)
    if not t.consumes:
        assert scaled is None
        return
    assert scaled is not None
    partitions = {d["spec"]["topicName"]: d["spec"]["partitions"] for d in of_kind("KafkaTopic")}
    spec = scaled["spec"]
    assert spec["maxReplicaCount"] <= min(partitions[name] for name in t.consumes)
    assert spec["scaleTargetRef"]["name"] == service
    assert sorted(tr["metadata"]["topic"] for tr in spec["triggers"]) == sorted(t.consumes)
    assert {tr["metadata"]["consumerGroup"] for tr in spec["triggers"]} == {t.group}


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_network_policy_lets_in_only_ingress_and_prometheus_and_out_only_the_dependencies(
    service: str,
) -> None:
    policy = by_name("NetworkPolicy")[service]["spec"]
    deployment = by_name("Deployment")[service]
    assert policy["podSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    sources = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for rule in policy["ingress"]
        for peer in rule["from"]
    }
    assert sources == {"ingress-nginx", "monitoring"}
    ports = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
    assert ports == {53, 9093, 5432, 443, 8443, 4317, 4318}
    assert all(rule.get("to") for rule in policy["egress"]), "no egress rule open to anywhere"


def test_the_schema_checks_themselves_reject_an_unknown_or_misplaced_field() -> None:
    (user,) = [u for u in of_kind("KafkaUser") if u["metadata"]["name"] == "housing"]
    bad = copy.deepcopy(user)
    bad["spec"]["authorization"]["acls"][0]["operation"] = "Write"  # v1beta2 spelling
    validator = jsonschema.Draft7Validator(crd_schema("kafka.strimzi.io", "KafkaUser", "v1"))
    assert list(validator.iter_errors(bad)), "an unknown field must be an error"
    deployment = copy.deepcopy(by_name("Deployment")["housing"])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_the_local_locked_down_broker_grants_exactly_the_kubernetes_acls() -> None:
    from ankommen_local.kafka_acls import acl_plan

    local = {
        (g.principal, g.resource_type, name, op)
        for g in acl_plan()
        for name in g.names
        for op in g.operations
    }
    k8s = {
        (user["metadata"]["name"], a["resource"]["type"], a["resource"]["name"], op)
        for user in of_kind("KafkaUser")
        for a in user["spec"]["authorization"]["acls"]
        for op in a["operations"]
    }
    assert local == k8s
