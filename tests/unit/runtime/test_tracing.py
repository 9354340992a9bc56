"""One trace from an HTTP command through the event it raised to each consumer's handling."""

from __future__ import annotations

import json

import pytest
from ankommen_runtime import tracing
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def recording_provider() -> None:
    # The global provider can be set once per process: one for this whole module.
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(EXPORTER))
        trace.set_tracer_provider(provider)


@pytest.fixture(autouse=True)
def clear() -> None:
    EXPORTER.clear()


def test_outside_any_span_events_carry_no_trace_headers() -> None:
    assert tracing.event_trace_headers() == []


def test_tracing_is_off_without_an_endpoint() -> None:
    assert tracing.configure_tracing("housing", None) is None
    assert tracing.configure_tracing("housing", "") is None


def test_with_an_endpoint_an_otlp_exporting_provider_is_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    installed = []
    monkeypatch.setattr(trace, "set_tracer_provider", installed.append)
    provider = tracing.configure_tracing("housing", "http://collector:4318/v1/traces")
    assert installed == [provider]
    assert provider.resource.attributes["service.name"] == "ankommen-housing"
    provider.shutdown()


def test_a_consumer_span_continues_the_trace_of_the_span_that_raised_the_event() -> None:
    with tracing.tracer().start_as_current_span("raise") as producer:
        headers = tracing.event_trace_headers()
    assert [k for k, _ in headers] == [tracing.TRACEPARENT_HEADER]
    version, trace_id, span_id, _flags = headers[0][1].decode().split("-")
    assert version == "00"
    assert int(trace_id, 16) == producer.get_span_context().trace_id
    with tracing.consuming("t.housing.events", headers, "ShelterOpened"):
        pass
    (consumed,) = [s for s in EXPORTER.get_finished_spans() if s.kind == SpanKind.CONSUMER]
    assert consumed.context.trace_id == producer.get_span_context().trace_id
    assert consumed.parent is not None
    assert consumed.parent.span_id == int(span_id, 16)
    assert consumed.attributes["messaging.destination.name"] == "t.housing.events"


def test_an_event_without_trace_headers_starts_a_new_trace() -> None:
    with tracing.consuming("t.housing.events", [("ce_type", b"X")], "X") as span:
        assert span.get_span_context().is_valid
    (consumed,) = EXPORTER.get_finished_spans()
    assert consumed.parent is None


def test_http_requests_get_a_server_span_that_follows_the_callers_traceparent() -> None:
    seen: list[list[tuple[str, bytes]]] = []

    async def command(_: Request) -> JSONResponse:
        seen.append(tracing.event_trace_headers())  # what an event raised here would carry
        return JSONResponse({}, status_code=201)

    app = tracing.TracingMiddleware(Starlette(routes=[Route("/sites", command, methods=["POST"])]))
    caller_trace = "0af7651916cd43dd8448eb211c80319c"
    response = TestClient(app).post(
        "/sites", headers={"traceparent": f"00-{caller_trace}-b7ad6b7169203331-01"}
    )
    assert response.status_code == 201
    (server,) = EXPORTER.get_finished_spans()
    assert server.kind == SpanKind.SERVER
    assert format(server.context.trace_id, "032x") == caller_trace
    assert server.attributes["http.response.status_code"] == 201
    assert caller_trace in seen[0][0][1].decode()


def test_the_outbox_row_of_an_event_raised_in_a_span_carries_the_trace() -> None:
    from ankommen_contracts import examples
    from ankommen_runtime.uow import _headers_json

    envelope = examples.example_envelope(next(iter(examples.EXAMPLES)))
    with tracing.tracer().start_as_current_span("command") as span:
        headers = dict(json.loads(_headers_json(envelope)))
    assert format(span.get_span_context().trace_id, "032x") in headers["ce_traceparent"]
    assert "ce_type" in headers
