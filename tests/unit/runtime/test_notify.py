"""Business alerts reach the on-duty team: by e-mail through a local SMTP server, by webhook."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import AsyncIterator, Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from ankommen_contracts.examples import example_envelope
from ankommen_runtime.notify import (
    Notifier,
    NotifySettings,
    SmtpChannel,
    WebhookChannel,
    channels_from,
    notification_for,
)


def placement_failed() -> Any:
    return example_envelope("PlacementFailed")


def released(reason: str) -> Any:
    envelope = example_envelope("ReservationReleased")
    return envelope.model_copy(update={"data": envelope.data.model_copy(update={"reason": reason})})


class SmtpSink:
    """A minimal SMTP server on a free local port that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.port = 0

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 sink ESMTP\r\n")
        while line := await reader.readline():
            verb = line.split(b" ", 1)[0].strip().upper()
            if verb in (b"EHLO", b"HELO"):
                writer.write(b"250 sink\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go on\r\n")
                await writer.drain()
                data = await reader.readuntil(b"\r\n.\r\n")
                self.messages.append(data[:-5])
                writer.write(b"250 queued\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:  # MAIL, RCPT, RSET, NOOP
                writer.write(b"250 ok\r\n")
            await writer.drain()
        writer.close()


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpSink]:
    sink = SmtpSink()
    server = await asyncio.start_server(sink._session, "127.0.0.1", 0)
    sink.port = server.sockets[0].getsockname()[1]
    async with server:
        yield sink


class Webhook:
    def __init__(self, status: int) -> None:
        self.status = status
        self.calls: list[tuple[dict[str, str], bytes]] = []


@pytest.fixture
def webhook() -> Iterator[tuple[Webhook, str]]:
    hook = Webhook(204)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            hook.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(hook.status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook, f"http://127.0.0.1:{server.server_address[1]}/alerts"
    finally:
        server.shutdown()


def test_a_failed_placement_is_a_homelessness_alert_without_personal_data() -> None:
    envelope = placement_failed()
    note = notification_for(envelope)
    assert note is not None
    assert note.kind == "homelessness"
    assert str(envelope.data.household_id) in note.body
    assert envelope.data.reason in note.body


def test_only_expired_holds_alert_not_cancelled_or_departed() -> None:
    expired = notification_for(released("expired"))
    assert expired is not None
    assert expired.kind == "expired_hold"
    assert notification_for(released("cancelled")) is None
    assert notification_for(released("departed")) is None
    assert notification_for(example_envelope("ShelterOpened")) is None


async def test_the_alert_reaches_the_team_through_a_local_smtp_server(smtp: SmtpSink) -> None:
    settings = NotifySettings(
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_starttls=False,
        mail_to=["dienst@example.org", "leitung@example.org"],
    )
    envelope = placement_failed()
    await Notifier(channels_from(settings)).handle(envelope)
    (raw,) = smtp.messages
    mail = message_from_bytes(raw)
    assert mail["To"] == "dienst@example.org, leitung@example.org"
    assert mail["Subject"].startswith("[Ankommen] Homelessness alert")
    assert mail["X-Ankommen-Event-Id"] == str(envelope.event_id)
    assert str(envelope.data.household_id) in mail.get_payload()


async def test_the_webhook_gets_the_alert_signed_with_the_shared_secret(
    webhook: tuple[Webhook, str],
) -> None:
    hook, url = webhook
    settings = NotifySettings(webhook_url=url, webhook_secret="s3cret")
    note = await Notifier([WebhookChannel(settings)]).handle(released("expired"))
    assert note is not None
    ((headers, body),) = hook.calls
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers["x-ankommen-signature"] == f"sha256={expected}"
    assert json.loads(body)["kind"] == "expired_hold"


async def test_a_failing_channel_raises_so_the_consumer_retries(
    webhook: tuple[Webhook, str],
) -> None:
    hook, url = webhook
    hook.status = 503
    with pytest.raises(httpx.HTTPStatusError):
        await Notifier([WebhookChannel(NotifySettings(webhook_url=url))]).handle(placement_failed())


def test_channels_need_their_settings_and_none_configured_means_none() -> None:
    assert channels_from(NotifySettings()) == []
    with pytest.raises(ValueError, match="MAIL_TO"):
        SmtpChannel(NotifySettings(smtp_host="mail"))
