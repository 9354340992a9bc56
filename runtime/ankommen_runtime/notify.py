"""Business alerts that must reach people: the on-duty team by e-mail and/or a webhook.

Events that need a person at once (a household without a place — a homelessness alert;
reserved places that expired without a check-in) become a ``Notification`` and go to every
configured channel: an SMTP server (``ANKOMMEN_NOTIFY_SMTP_*``) and/or a webhook
(``ANKOMMEN_NOTIFY_WEBHOOK_URL``, body signed with HMAC-SHA256 when a secret is set).
The text carries the same pseudonymous ids as the events, never personal data.

A consumer calls ``Notifier.handle(envelope)`` in its handler (reporting does, for the
events it folds); a failed send raises, so the consumer retries and finally dead-letters
it: an alert is delivered at least once (a retry after a lost acknowledgement may send it
twice).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from typing import Any, Protocol

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


@dataclass(frozen=True)
class Notification:
    kind: str  # homelessness | expired_hold
    subject: str
    body: str
    event_id: str
    event_type: str
    correlation_id: str
    occurred_at: str


def _meta(envelope: Any) -> dict[str, str]:
    return {
        "event_id": str(envelope.event_id),
        "event_type": envelope.type,
        "correlation_id": str(envelope.correlation_id),
        "occurred_at": envelope.occurred_at.isoformat(),
    }


def notification_for(envelope: Any) -> Notification | None:
    """The alert an event calls for, or None for events that need nobody at once."""
    data = envelope.data
    if envelope.type == "PlacementFailed":
        waitlist = "on the waitlist" if data.waitlisted else "NOT on the waitlist"
        return Notification(
            kind="homelessness",
            subject=f"Homelessness alert: {data.persons} person(s) without a place",
            body=(
                f"No suitable place was free for household {data.household_id} "
                f"({data.persons} person(s)); the household is {waitlist}.\n"
                f"Reason: {data.reason}\n"
                "Find a place (allocation's waitlist view) or open emergency capacity."
            ),
            **_meta(envelope),
        )
    if envelope.type == "ReservationReleased" and str(data.reason) == "expired":
        return Notification(
            kind="expired_hold",
            subject=f"Reserved places expired: {data.places} at site {data.site_id}",
            body=(
                f"Reservation {data.reservation_id} for household {data.household_id} at "
                f"site {data.site_id} expired without a check-in; {data.places} place(s) "
                "went back to the pool. Check whether the household arrived elsewhere."
            ),
            **_meta(envelope),
        )
    return None


class NotifySettings(BaseSettings):
    """Where alerts go; every channel is optional, none configured means none sent."""

    model_config = SettingsConfigDict(env_prefix="ANKOMMEN_NOTIFY_", extra="ignore")

    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    mail_from: str = "ankommen-alerts@localhost"
    mail_to: list[str] = Field(default_factory=list, description="The on-duty team's addresses")
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    timeout_seconds: float = 10.0


class Channel(Protocol):
    async def send(self, notification: Notification) -> None: ...


class SmtpChannel:
    def __init__(self, settings: NotifySettings) -> None:
        if not settings.smtp_host or not settings.mail_to:
            raise ValueError("SMTP alerts need ANKOMMEN_NOTIFY_SMTP_HOST and _MAIL_TO")
        self.settings = settings

    def _send(self, notification: Notification) -> None:
        s = self.settings
        message = EmailMessage()
        message["From"] = s.mail_from
        message["To"] = ", ".join(s.mail_to)
        message["Subject"] = f"[Ankommen] {notification.subject}"
        message["X-Ankommen-Event-Id"] = notification.event_id
        message.set_content(
            f"{notification.body}\n\nevent {notification.event_type} {notification.event_id}, "
            f"correlation {notification.correlation_id}, at {notification.occurred_at}\n"
        )
        assert s.smtp_host is not None
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.timeout_seconds) as smtp:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username and s.smtp_password:
                smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
            smtp.send_message(message)

    async def send(self, notification: Notification) -> None:
        await asyncio.to_thread(self._send, notification)


class WebhookChannel:
    def __init__(self, settings: NotifySettings) -> None:
        if not settings.webhook_url:
            raise ValueError("webhook alerts need ANKOMMEN_NOTIFY_WEBHOOK_URL")
        self.settings = settings

    async def send(self, notification: Notification) -> None:
        s = self.settings
        assert s.webhook_url is not None
        body = json.dumps(asdict(notification), sort_keys=True).encode()
        headers = {"content-type": "application/json"}
        if s.webhook_secret is not None:
            key = s.webhook_secret.get_secret_value().encode()
            headers["x-ankommen-signature"] = (
                "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
            )
        async with httpx.AsyncClient(timeout=s.timeout_seconds) as client:
            response = await client.post(s.webhook_url, content=body, headers=headers)
            response.raise_for_status()


def channels_from(settings: NotifySettings) -> list[Channel]:
    found: list[Channel] = []
    if settings.smtp_host:
        found.append(SmtpChannel(settings))
    if settings.webhook_url:
        found.append(WebhookChannel(settings))
    return found


class Notifier:
    def __init__(self, channels: Sequence[Channel]) -> None:
        self.channels = list(channels)

    async def handle(self, envelope: Any) -> Notification | None:
        """Send the event's alert to every channel; raise if any channel failed."""
        notification = notification_for(envelope)
        if notification is None or not self.channels:
            return None
        results = await asyncio.gather(
            *(c.send(notification) for c in self.channels), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]
        return notification
