"""``ankommen``: operations commands for the shared mechanisms (dead letters, tokens)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from . import dlq
from .auth import Role
from .local_issuer import DEFAULT_TTL_SECONDS, LocalIssuer, audience_of
from .settings import KafkaSettings
from .topology import OPERATIONS_USER

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
dlq_app = typer.Typer(
    no_args_is_help=True,
    help="Dead letters in the consumers' <prefix><consumer>.dlq.<source topic> topics.",
)
app.add_typer(dlq_app, name="dlq")
console = Console()
DEFAULT_BOOTSTRAP = "127.0.0.1:19092"  # the local broker; ANKOMMEN_KAFKA_BOOTSTRAP overrides

Bootstrap = Annotated[
    str,
    typer.Option(
        envvar="ANKOMMEN_KAFKA_BOOTSTRAP", help="Kafka bootstrap servers", show_default=True
    ),
]
TopicArg = Annotated[
    str | None,
    typer.Argument(
        help="A dead-letter topic, a source topic (every consumer's letters from it) or a "
        "consumer (all its letters); all dead-letter topics if omitted"
    ),
]


def _security() -> dict[str, Any]:
    """The operator's Kafka credentials from ``ANKOMMEN_KAFKA_*`` (none on an open broker):
    ``SECURITY_PROTOCOL``, ``SASL_USERNAME`` (default ``operations``), ``SASL_PASSWORD`` (or
    ``ANKOMMEN_OPERATIONS_KAFKA_SASL_PASSWORD``), ``SSL_CAFILE``; docs/runbook.md."""
    try:
        settings = KafkaSettings()
        settings.default_kafka_user(OPERATIONS_USER)
        return settings.kafka_client_options()
    except ValueError as exc:  # pydantic's ValidationError is one too
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc


def _letters(bootstrap: str, topic: str | None) -> list[dlq.DeadLetter]:
    security = _security()

    async def read() -> list[dlq.DeadLetter]:
        names = await dlq.dlq_topics(bootstrap, topic, **security)
        return await dlq.read_letters(bootstrap, names, **security)

    try:
        return asyncio.run(read())
    except LookupError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc


@dlq_app.command("list")
def list_letters(
    topic: TopicArg = None,
    bootstrap: Bootstrap = DEFAULT_BOOTSTRAP,
    pending: Annotated[bool, typer.Option(help="Only letters not re-driven yet")] = False,
) -> None:
    """List dead letters with their error."""
    letters = [x for x in _letters(bootstrap, topic) if not (pending and x.redriven)]
    table = Table(title=f"{len(letters)} dead letters")
    for column in (
        "topic",
        "consumer",
        "part",
        "offset",
        "type",
        "subject",
        "group",
        "tries",
        "error",
        "state",
    ):
        table.add_column(column, overflow="fold")
    for x in letters:
        table.add_row(
            x.topic,
            x.consumer,
            str(x.partition),
            str(x.offset),
            x.header("ce_type") or "?",
            (x.key or b"").decode(errors="replace"),
            x.header("dlq_consumer_group"),
            x.header("dlq_attempts"),
            x.header("dlq_error")[:120],
            "re-driven" if x.redriven else "pending",
        )
    console.print(table)


@dlq_app.command()
def show(
    topic: Annotated[
        str, typer.Argument(help="The dead-letter topic (or its source topic, or consumer)")
    ],
    offset: Annotated[int, typer.Argument(help="Offset of the letter")],
    partition: Annotated[int, typer.Option(help="Partition of the letter")] = 0,
    bootstrap: Bootstrap = DEFAULT_BOOTSTRAP,
) -> None:
    """Show one dead letter: headers, the full error and the event."""
    letter = _find(_letters(bootstrap, topic), partition, offset)
    console.print_json(json.dumps({k: v.decode(errors="replace") for k, v in letter.headers}))
    try:
        console.print_json((letter.value or b"").decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        console.print(repr(letter.value))


def _find(letters: list[dlq.DeadLetter], partition: int, offset: int) -> dlq.DeadLetter:
    found = [x for x in letters if (x.partition, x.offset) == (partition, offset)]
    if len(found) == 1:
        return found[0]
    if found:
        names = ", ".join(sorted(x.topic for x in found))
        console.print(
            f"[red]several letters at partition {partition} offset {offset} "
            f"({names}): name the dead-letter topic[/]"
        )
    else:
        console.print(f"[red]no dead letter at partition {partition} offset {offset}[/]")
    raise typer.Exit(2)


@dlq_app.command("redrive")
def redrive(
    topic: Annotated[
        str, typer.Argument(help="The dead-letter topic (or its source topic, or consumer)")
    ],
    offset: Annotated[int | None, typer.Option(help="Re-drive only this letter")] = None,
    partition: Annotated[int, typer.Option(help="Partition of --offset")] = 0,
    all_pending: Annotated[bool, typer.Option("--all", help="Every pending letter")] = False,
    bootstrap: Bootstrap = DEFAULT_BOOTSTRAP,
) -> None:
    """Publish dead letters back to their original topic, after the fix is deployed."""
    letters = _letters(bootstrap, topic)
    if offset is not None:
        chosen = [_find(letters, partition, offset)]
    elif all_pending:
        chosen = [x for x in letters if not x.redriven]
    else:
        console.print("[red]say which: --offset N or --all[/]")
        raise typer.Exit(2)
    count = asyncio.run(dlq.redrive(bootstrap, chosen, **_security()))
    console.print(f"re-driven: {count} (the consumers' inbox applies each event once)")


@dlq_app.command()
def purge(
    topic: TopicArg = None,
    bootstrap: Bootstrap = DEFAULT_BOOTSTRAP,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask")] = False,
) -> None:
    """Delete the dead letters listed in a topic (or all), after confirmation.

    Exactly the letters counted in the question are deleted; one arriving meanwhile stays.
    """
    letters = _letters(bootstrap, topic)
    topics = sorted({x.topic for x in letters})
    if not letters:
        console.print("nothing to purge")
        return
    pending = sum(not x.redriven for x in letters)
    if not yes:
        typer.confirm(
            f"Delete {len(letters)} dead letters ({pending} never re-driven) in "
            f"{', '.join(topics)}?",
            abort=True,
        )
    deleted = asyncio.run(dlq.purge(bootstrap, letters, **_security()))
    console.print(f"purged: {deleted}")


@app.command("token")
def token(
    role: Annotated[
        list[str], typer.Option("--role", "-r", help="A role (repeatable): " + ", ".join(Role))
    ],
    service: Annotated[
        list[str],
        typer.Option("--service", "-s", help="Audience: the service(s) the token is for"),
    ] = ["allocation", "housing", "integration", "volunteers", "reporting"],  # noqa: B006
    district: Annotated[
        int | None, typer.Option(min=1, max=13, help="Stadtbezirk of a social worker")
    ] = None,
    site: Annotated[
        list[str] | None, typer.Option(help="A site id a site operator runs (repeatable)")
    ] = None,
    subject: Annotated[
        str | None, typer.Option(help="Pseudonymous staff id (`sub`); random if omitted")
    ] = None,
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds")] = DEFAULT_TTL_SECONDS,
) -> None:
    """Mint an access token from the local issuer (development, tests, `make demo`).

    Services verify it like any OIDC token: ``curl -H "authorization: Bearer $(ankommen
    token -r housing-staff)" …``. Keys live in ``$ANKOMMEN_STATE_DIR/oidc`` (default
    ``.state/oidc``); production uses the city's identity provider instead.
    """
    try:
        roles = [Role(r) for r in role]
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]; roles: {', '.join(Role)}")
        raise typer.Exit(2) from exc
    issuer = LocalIssuer().ensure()
    typer.echo(
        issuer.mint(
            roles,
            audience=[audience_of(s) for s in service],
            subject=subject,
            district=district,
            sites=site or (),
            ttl_seconds=ttl,
        )
    )


if __name__ == "__main__":
    app()
