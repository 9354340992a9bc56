"""SASL/SCRAM users and ACLs for the locked-down local broker (`ANKOMMEN_KAFKA_SASL=true`).

The same rules as the KafkaUsers in deploy/k8s, from the same source: each service's
topology (``ankommen_runtime.topology``), i.e. what its ServiceSpec publishes and consumes.
Recipe and what was seen on these machines: the shared notes' kafka-sasl-acls.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import SERVICES, Settings
from .secrets import load_or_create, write_private

ADMIN = "admin"
MECHANISM = "SCRAM-SHA-512"
ACL_TOOL = "org.apache.kafka.tools.AclCommand"


@dataclass(frozen=True)
class AclGrant:
    """``principal`` may do ``operations`` on every ``resource_type`` named in ``names``."""

    principal: str
    resource_type: str  # topic | group
    names: tuple[str, ...]
    operations: tuple[str, ...]


def acl_plan(prefix: str = "") -> list[AclGrant]:
    """Every grant of every service user and of ``operations`` (the dead-letter commands);
    imported lazily: it loads the services' specs."""
    from ankommen_runtime.topology import operations_access, service_topologies

    grants: list[AclGrant] = []
    topologies = service_topologies(prefix)
    for t in topologies:
        if t.writes:
            grants.append(AclGrant(t.service, "topic", t.writes, ("Write", "Describe")))
        if t.consumes:
            grants.append(AclGrant(t.service, "topic", t.consumes, ("Read", "Describe")))
            grants.append(AclGrant(t.service, "group", (t.group,), ("Read",)))
    ops = operations_access(topologies)
    grants += [
        AclGrant(ops.user, "topic", ops.dead_letters, ("Read", "Describe", "Delete")),
        AclGrant(ops.user, "topic", ops.event_streams, ("Write", "Read", "Describe")),
        AclGrant(ops.user, "group", (ops.group,), ("Read",)),
    ]
    return grants


def topic_plan(prefix: str = "") -> list[Any]:
    from ankommen_runtime.settings import ServiceSettings
    from ankommen_runtime.topology import service_topologies, topics_of

    partitions = ServiceSettings.model_fields["topic_partitions"].default
    return topics_of(service_topologies(prefix), partitions)


def credentials(s: Settings) -> dict[str, str]:
    """The admin's, every service's and the operator's (``ankommen dlq``) SCRAM password
    (generated once, 0600; a state folder formatted before the operator's user has none)."""
    from ankommen_runtime.topology import OPERATIONS_USER

    return load_or_create(s.kafka_credentials_file, (ADMIN, *SERVICES, OPERATIONS_USER))


def client_options(s: Settings, user: str = ADMIN) -> dict[str, Any]:
    """aiokafka keyword arguments to connect as ``user`` (nothing on the open broker)."""
    if not s.kafka_sasl:
        return {}
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": MECHANISM,
        "sasl_plain_username": user,
        "sasl_plain_password": credentials(s)[user],
    }


def jaas(user: str, password: str) -> str:
    return (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{user}" password="{password}";'
    )


def listener_properties(s: Settings) -> str:
    """The server.properties lines that differ from the open broker."""
    h = s.host
    admin = credentials(s)[ADMIN]
    return f"""\
listeners=SASL_PLAINTEXT://{h}:{s.kafka_port},CONTROLLER://{h}:{s.kafka_controller_port}
advertised.listeners=SASL_PLAINTEXT://{h}:{s.kafka_port}
inter.broker.listener.name=SASL_PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms={MECHANISM}
sasl.mechanism.inter.broker.protocol={MECHANISM}
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={jaas(ADMIN, admin)}
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
# ANONYMOUS is the plaintext controller listener the combined node talks to itself on; it
# listens on loopback only and is never advertised.
super.users=User:{ADMIN};User:ANONYMOUS
allow.everyone.if.no.acl.found=false
"""


def format_arguments(s: Settings) -> list[str]:
    """`--add-scram` per user: in KRaft the first SCRAM users exist from the format on."""
    args: list[str] = []
    for user, password in credentials(s).items():
        args += ["--add-scram", f"{MECHANISM}=[name={user},password={password}]"]
    return args


def admin_properties(s: Settings) -> str:
    """Write the admin client's properties (0600) for the Java tools; returns the path."""
    path = s.kafka_dir / "admin.properties"
    write_private(
        path,
        "security.protocol=SASL_PLAINTEXT\n"
        f"sasl.mechanism={MECHANISM}\n"
        f"sasl.jaas.config={jaas(ADMIN, credentials(s)[ADMIN])}\n",
    )
    return str(path)


def acl_command(s: Settings, grant: AclGrant, config: str) -> list[str]:
    """AclCommand's arguments for one grant (run on the broker's own classpath)."""
    args = [
        "--bootstrap-server",
        s.kafka_bootstrap,
        "--command-config",
        config,
        "--add",
        "--allow-principal",
        f"User:{grant.principal}",
    ]
    for op in grant.operations:
        args += ["--operation", op]
    for name in grant.names:
        args += [f"--{grant.resource_type}", name]
    return [*args, "--resource-pattern-type", "literal"]
