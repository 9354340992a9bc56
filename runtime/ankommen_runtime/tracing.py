"""Traces across HTTP and Kafka with OpenTelemetry: W3C trace context in the event headers.

The trace context travels with each event as the CloudEvents distributed-tracing
extension does in the Kafka binding: headers ``ce_traceparent`` (and ``ce_tracestate``),
values in W3C Trace Context format. So a command's HTTP span, the event it raised, and
each consumer's handling of that event are one trace, even though the outbox relay sends
the event later from another task.

Export is over OTLP/HTTP when ``ANKOMMEN_OTLP_ENDPOINT`` is set, and off otherwise (the
API's no-op tracer: no spans are recorded, no headers are written).

Wiring (one call each):
- producer side: ``uow`` adds ``event_trace_headers()`` to every outbox row's headers;
- HTTP: ``app.add_middleware(TracingMiddleware)`` in the composition root;
- consumer side: ``with consuming(record.topic, record.headers, event_type):`` around a
  record's handling, so its span continues the producer's trace.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import Receive, Scope, Send

from .http import HttpMiddleware

TRACEPARENT_HEADER = "ce_traceparent"
TRACESTATE_HEADER = "ce_tracestate"
_W3C = TraceContextTextMapPropagator()
_TRACER_NAME = "ankommen_runtime"


def configure_tracing(service: str, endpoint: str | None) -> Any | None:
    """Install an OTLP-exporting tracer provider if ``endpoint`` is set; else nothing.

    Returns the provider (to shut down on stop), or None when tracing is off.
    """
    if not endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": f"ankommen-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    return provider


def tracer() -> trace.Tracer:
    return trace.get_tracer(_TRACER_NAME)


def event_trace_headers() -> list[tuple[str, bytes]]:
    """The current trace context as event headers; [] when no span is recording."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    headers = []
    if "traceparent" in carrier:
        headers.append((TRACEPARENT_HEADER, carrier["traceparent"].encode()))
    if carrier.get("tracestate"):
        headers.append((TRACESTATE_HEADER, carrier["tracestate"].encode()))
    return headers


def context_from_headers(headers: Iterable[tuple[str, bytes]]) -> otel_context.Context:
    """The producer's trace context from an event's headers (empty context if absent)."""
    carrier = {}
    for key, value in headers:
        if key == TRACEPARENT_HEADER:
            carrier["traceparent"] = value.decode(errors="replace")
        elif key == TRACESTATE_HEADER:
            carrier["tracestate"] = value.decode(errors="replace")
    return _W3C.extract(carrier)


@contextmanager
def consuming(topic: str, headers: Iterable[tuple[str, bytes]], event_type: str) -> Iterator[Span]:
    """A CONSUMER span for handling one event, child of the span that raised it."""
    parent = context_from_headers(headers)
    with tracer().start_as_current_span(
        f"{topic} process",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "kafka",
            "messaging.destination.name": topic,
            "messaging.operation.type": "process",
            "cloudevents.event_type": event_type,
        },
    ) as span:
        yield span


class TracingMiddleware(HttpMiddleware):
    """ASGI middleware: a SERVER span per HTTP request, continuing a caller's W3C
    ``traceparent`` header if it sent one."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        parent = _W3C.extract(carrier)
        method, path = scope["method"], scope["path"]
        with tracer().start_as_current_span(
            f"{method} {path}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path},
        ) as span:

            async def send_with_status(message: Any) -> None:
                if message["type"] == "http.response.start":
                    span.set_attribute("http.response.status_code", message["status"])
                await send(message)

            await self.app(scope, receive, send_with_status)
