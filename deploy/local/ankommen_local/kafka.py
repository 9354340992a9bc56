"""A single-node KRaft Kafka broker from Maven Central jars, run as a detached JVM."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import signal
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from . import kafka_acls
from .config import KAFKA_POM, Settings, TopicSpec
from .util import (
    Echo,
    InfraError,
    cmdline,
    pid_alive,
    port_open,
    quiet,
    read_pid,
    run,
    run_sync,
    tail,
    write_if_changed,
)

MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
JVM_OPTS = ("-Xms64m", "-Xmx512m", "-XX:+UseSerialGC", "-Djava.awt.headless=true")
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
TOPIC_ALREADY_EXISTS = 36  # Kafka protocol error code


# --- jars -------------------------------------------------------------------------------
def _pom_digest() -> str:
    return hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest()


def _marker(s: Settings) -> Path:
    # Written only after a complete fetch, so an interrupted mvn run is retried.
    return s.kafka_lib / ".fetched"


def jars_present(s: Settings) -> bool:
    try:
        return _marker(s).read_text().strip() == _pom_digest()
    except OSError:
        return False


def fetch_jars(s: Settings, echo: Echo = quiet) -> bool:
    """Copy the broker's runtime jars into the state dir; False if they were already there."""
    if not KAFKA_POM.is_file():
        raise InfraError(f"{KAFKA_POM} is missing (ankommen-local must run from the repository)")
    if jars_present(s):
        return False
    mvn = shutil.which("mvn")
    if mvn is None:
        raise InfraError("Maven (mvn) is needed to fetch Kafka: apt-get install -y maven")
    echo(f"fetching Kafka jars with Maven into {s.kafka_lib} …")
    # Start clean: a changed pom must not leave jars of another version on the classpath.
    shutil.rmtree(s.kafka_lib, ignore_errors=True)
    s.kafka_lib.mkdir(parents=True)
    run(
        [
            mvn,
            "-B",
            "-q",
            "--no-transfer-progress",
            "-f",
            KAFKA_POM,
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={s.kafka_lib}",
        ],
        what="mvn dependency:copy-dependencies",
        timeout=900,
    )
    _marker(s).write_text(_pom_digest() + "\n")
    return True


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return str(Path(home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise InfraError("Java 17+ is needed for Kafka: apt-get install -y openjdk-17-jre-headless")
    return java


def _java_cmd(s: Settings, main: str, *args: str) -> list[str]:
    return [
        _java(),
        *JVM_OPTS,
        f"-Dlog4j2.configurationFile={s.kafka_log4j}",
        "-cp",
        f"{s.kafka_lib}/*",
        main,
        *args,
    ]


# --- configuration ----------------------------------------------------------------------
def _plaintext_listeners(s: Settings) -> str:
    h = s.host
    return f"""\
listeners=PLAINTEXT://{h}:{s.kafka_port},CONTROLLER://{h}:{s.kafka_controller_port}
advertised.listeners=PLAINTEXT://{h}:{s.kafka_port}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
"""


def server_properties(s: Settings) -> str:
    h = s.host
    listeners = (
        kafka_acls.listener_properties(s) if s.kafka_sasl else _plaintext_listeners(s)
    ).rstrip("\n")
    return f"""\
# Written by ankommen-local on every `up`; edit deploy/local/ankommen_local/kafka.py instead.
# Single-node KRaft: this process is both broker and controller.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers={h}:{s.kafka_controller_port}
{listeners}
log.dirs={s.kafka_data}

# One node: every internal topic has a single replica.
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
# Few partitions for __consumer_offsets so the first consumer group is ready quickly.
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Without this every new consumer group waits 3 s before its first assignment.
group.initial.rebalance.delay.ms=0
# Topics are created explicitly (partitions matter for ordering), never by a typo.
auto.create.topics.enable=false
num.partitions=1
"""


def log4j_properties(s: Settings) -> str:
    logs = s.kafka_logs
    return f"""\
# Written by ankommen-local. Broker log at INFO in server.log (rolled at 50 MB);
# the console (kafka.out) gets WARN and above, next to any JVM crash output.
status = warn
name = ankommen-kafka

appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
appender.console.filter.threshold.type = ThresholdFilter
appender.console.filter.threshold.level = warn

appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = {logs}/server.log
appender.file.filePattern = {logs}/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3

rootLogger.level = info
rootLogger.appenderRef.console.ref = STDOUT
rootLogger.appenderRef.file.ref = FILE

# Per-request logging is far too chatty at INFO.
logger.request.name = kafka.request.logger
logger.request.level = warn
"""


def write_config(s: Settings) -> None:
    s.kafka_logs.mkdir(parents=True, exist_ok=True)
    if s.kafka_sasl:  # the properties hold the admin's password
        s.kafka_dir.chmod(0o700)
        write_if_changed(s.kafka_properties, server_properties(s))
        s.kafka_properties.chmod(0o600)
        return
    write_if_changed(s.kafka_properties, server_properties(s))
    write_if_changed(s.kafka_log4j, log4j_properties(s))


def _format_record(s: Settings) -> Path:
    return s.kafka_dir / "formatted-controller-port"


def _security_record(s: Settings) -> Path:
    return s.kafka_dir / "formatted-security"


def _security_mode(s: Settings) -> str:
    return "sasl" if s.kafka_sasl else "plaintext"


def format_storage(s: Settings, echo: Echo = quiet) -> bool:
    """Format the log dir once (KRaft needs a cluster id); False if already formatted."""
    record = _format_record(s)
    if (s.kafka_data / "meta.properties").is_file():
        # The standalone format stores the controller endpoint in the log: a changed
        # controller port cannot join the old quorum, so say so instead of hanging.
        formatted = record.read_text().strip() if record.is_file() else ""
        if formatted and formatted != str(s.kafka_controller_port):
            raise InfraError(
                f"Kafka storage in {s.kafka_data} was formatted for controller port {formatted}, "
                f"not {s.kafka_controller_port}: delete {s.kafka_dir / 'data'} to start afresh"
            )
        security = _security_record(s)
        mode = security.read_text().strip() if security.is_file() else "plaintext"
        if mode != _security_mode(s):
            # SCRAM users are written at format time: a plaintext log has none.
            raise InfraError(
                f"Kafka storage in {s.kafka_data} was formatted {mode}, but ANKOMMEN_KAFKA_SASL "
                f"asks for {_security_mode(s)}: use another ANKOMMEN_STATE_DIR or delete "
                f"{s.kafka_dir / 'data'}"
            )
        return False
    echo("formatting Kafka storage (KRaft, standalone) …")
    cluster_id = run(
        _java_cmd(s, STORAGE_TOOL, "random-uuid"), what="kafka-storage random-uuid", timeout=120
    ).stdout.strip()
    run(
        _java_cmd(
            s,
            STORAGE_TOOL,
            "format",
            "--standalone",
            "-t",
            cluster_id,
            "-c",
            str(s.kafka_properties),
            *(kafka_acls.format_arguments(s) if s.kafka_sasl else []),
        ),
        what="kafka-storage format",
        timeout=120,
    )
    record.write_text(f"{s.kafka_controller_port}\n")
    _security_record(s).write_text(_security_mode(s) + "\n")
    return True


# --- process ------------------------------------------------------------------------------
def running_pid(s: Settings) -> int | None:
    """The broker's pid if our pidfile names a live Kafka JVM (guards against pid reuse)."""
    pid = read_pid(s.kafka_pidfile)
    if pid is None or not pid_alive(pid):
        return None
    line = cmdline(pid)
    if line and MAIN_CLASS not in line:
        return None
    return pid


def start(s: Settings, echo: Echo = quiet) -> tuple[int, bool]:
    """Start the broker detached unless it runs; (pid, started_now)."""
    pid = running_pid(s)
    if pid is not None:
        return pid, False
    for port in (s.kafka_port, s.kafka_controller_port):
        if port_open(s.host, port):
            raise InfraError(
                f"port {s.host}:{port} is taken by another process (another state dir's "
                "broker?): stop it or set ANKOMMEN_KAFKA_PORT"
            )
    s.kafka_logs.mkdir(parents=True, exist_ok=True)
    out_path = s.kafka_logs / "kafka.out"
    cmd = _java_cmd(s, MAIN_CLASS, str(s.kafka_properties))
    echo(f"starting Kafka on {s.kafka_bootstrap} …")
    out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        # posix_spawn with setsid: the JVM gets its own session (no SIGINT/SIGHUP from our
        # terminal, outlives this process) and no Popen object warns about it later.
        pid = os.posix_spawn(
            cmd[0],
            cmd,
            dict(os.environ),
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, out, 1),
                (os.POSIX_SPAWN_DUP2, out, 2),
            ],
            setsid=True,
        )
    finally:
        os.close(out)
    s.kafka_pidfile.write_text(f"{pid}\n")
    return pid, True


def failure_report(s: Settings) -> str:
    return (
        f"--- {s.kafka_logs / 'server.log'} (tail) ---\n{tail(s.kafka_logs / 'server.log')}\n"
        f"--- {s.kafka_logs / 'kafka.out'} (tail) ---\n{tail(s.kafka_logs / 'kafka.out', 20)}"
    )


@contextlib.contextmanager
def _quiet_aiokafka() -> Iterator[None]:
    # While polling a starting broker aiokafka logs every refused connection as an error.
    logger = logging.getLogger("aiokafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


async def list_topics(bootstrap: str, timeout: float = 5.0, **security: Any) -> list[str]:
    """One metadata round trip through an admin client: the readiness probe."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000), **security
    )
    try:
        async with asyncio.timeout(timeout):
            await admin.start()
            return await admin.list_topics()
    finally:
        await admin.close()


async def delete_topics(
    bootstrap: str, *, names: Iterable[str] = (), prefixes: Iterable[str] = (), **security: Any
) -> list[str]:
    """Delete those of ``names`` that exist and every topic whose name starts with one of
    ``prefixes`` (a run's, a test's); the names deleted. The broker deletes asynchronously:
    a topic of the same name created at once afterwards may still meet the old one."""
    named, under = set(names), tuple(prefixes)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **security)
    await admin.start()
    try:
        doomed = sorted(
            t for t in await admin.list_topics() if t in named or (under and t.startswith(under))
        )
        if doomed:
            await admin.delete_topics(doomed)
        return doomed
    finally:
        await admin.close()


async def is_ready(bootstrap: str, timeout: float = 3.0, **security: Any) -> bool:
    with _quiet_aiokafka():
        try:
            await list_topics(bootstrap, timeout, **security)
        except Exception:
            return False
    return True


async def wait_ready(s: Settings, pid: int | None, timeout: float = READY_TIMEOUT) -> None:
    """Poll metadata until the broker answers; fail fast if the JVM died."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Exception | None = None
    with _quiet_aiokafka():
        while loop.time() < deadline:
            if pid is not None and not pid_alive(pid):
                raise InfraError(f"Kafka (pid {pid}) exited during startup\n{failure_report(s)}")
            try:
                await list_topics(s.kafka_bootstrap, 5.0, **kafka_acls.client_options(s))
                return
            except Exception as exc:  # connection refused, timeouts, not-yet-ready errors
                last = exc
            await asyncio.sleep(0.5)
    raise InfraError(
        f"Kafka did not answer on {s.kafka_bootstrap} within {timeout:.0f}s "
        f"(last error: {last!r})\n{failure_report(s)}"
    )


async def ensure_topics(
    bootstrap: str,
    topics: Iterable[TopicSpec],
    echo: Echo = quiet,
    timeout: float = 30.0,
    **security: Any,
) -> list[str]:
    """Create the missing topics; names of those created. Existing ones are left alone."""
    wanted = list(topics)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000, **security)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    created: list[str] = []
    try:
        await admin.start()
        while True:
            existing = set(await admin.list_topics())
            missing = [t for t in wanted if t.name not in existing]
            if not missing:
                break
            response = await admin.create_topics(
                [
                    NewTopic(t.name, t.partitions, t.replication_factor, topic_configs=t.configs)
                    for t in missing
                ],
                timeout_ms=15000,
            )
            # Tuples (name, error_code, [message]); "already exists" means another
            # process won a race, which is fine. Anything else is retried until timeout
            # (a freshly started controller may still refuse).
            codes = {e[0]: e[1] for e in response.topic_errors}
            for t in missing:
                if codes.get(t.name, 0) == 0:
                    created.append(t.name)
                    echo(f"created topic {t.name} ({t.partitions} partitions)")
            failed = [e for e in response.topic_errors if e[1] not in (0, TOPIC_ALREADY_EXISTS)]
            if not failed:
                break
            if loop.time() > deadline:
                raise InfraError(f"could not create topics: {failed}")
            await asyncio.sleep(0.5)
        await _warn_partition_mismatch(admin, wanted, echo)
    finally:
        await admin.close()
    return created


async def _warn_partition_mismatch(
    admin: AIOKafkaAdminClient, wanted: list[TopicSpec], echo: Echo
) -> None:
    # Partition counts are never changed automatically: that would reshuffle keys.
    described = await admin.describe_topics([t.name for t in wanted])
    counts = {d["topic"]: len(d["partitions"]) for d in described}
    for t in wanted:
        have = counts.get(t.name)
        if have is not None and have != t.partitions:
            echo(f"warning: topic {t.name} has {have} partitions, expected {t.partitions}")


def stop(s: Settings, echo: Echo = quiet, timeout: float = STOP_TIMEOUT) -> bool:
    """SIGTERM the broker, SIGKILL after ``timeout``; False if it was not running."""
    pid = running_pid(s)
    if pid is None:
        s.kafka_pidfile.unlink(missing_ok=True)
        return False
    echo(f"stopping Kafka (pid {pid}) …")
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if pid_alive(pid):
        echo(f"Kafka did not stop within {timeout:.0f}s: SIGKILL")
        _signal(pid, signal.SIGKILL)
        while pid_alive(pid):
            time.sleep(0.1)
    s.kafka_pidfile.unlink(missing_ok=True)
    return True


def _signal(pid: int, sig: signal.Signals) -> None:
    # The JVM leads its own session and process group: signal the whole group.
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def ready_now(s: Settings, timeout: float = 3.0) -> bool:
    return run_sync(is_ready(s.kafka_bootstrap, timeout, **kafka_acls.client_options(s)))


def secured_topics() -> list[TopicSpec]:
    """The topics the services' topology needs: on a locked-down broker no service may
    create topics, so ``up`` creates them all as admin."""
    return [
        TopicSpec(
            t.name,
            t.partitions,
            configs={"retention.ms": str(t.retention_ms)},
        )
        for t in kafka_acls.topic_plan()
    ]


def apply_acls(s: Settings, echo: Echo = quiet) -> int:
    """Grant every service user its ACLs (idempotent: Kafka ignores an existing grant)."""
    config = kafka_acls.admin_properties(s)
    grants = kafka_acls.acl_plan()
    for grant in grants:
        run(
            _java_cmd(s, kafka_acls.ACL_TOOL, *kafka_acls.acl_command(s, grant, config)),
            what=f"kafka-acls for {grant.principal}",
            timeout=120,
        )
    echo(f"granted {len(grants)} ACLs to the service users")
    return len(grants)
