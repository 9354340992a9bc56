"""Bad input, refused cleanly: the HTTP guards every service gets from ``create_service_app``.

- A body over ``max_body_bytes`` is answered 413 before anything parses it, whether the
  client sent a ``content-length`` or streamed it chunked.
- A string PostgreSQL cannot store (a NUL character; a lone UTF-16 surrogate, which has
  no UTF-8 form) is answered 422 naming the field, in FastAPI's own error shape, before a
  route runs. Should one still reach the database (a path the guard cannot see), the
  database's "invalid byte sequence / character not supported / out of range" errors are
  answered 422 as well, never 500.
- Every route documents every status the runtime can answer for it (401/403 if it
  declares roles, 400/404/409 for domain errors, 413, 422, 503), so the OpenAPI is a
  complete contract a client (and a fuzzer) can hold the service to.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import random
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .context import request_context
from .logging import get_logger

log = get_logger(__name__)

# 16 MiB: the largest body a route accepts is the Land's batch at its bounds (1,000
# households of 30 members: 7.5 MB compact JSON, 12 MB indented); a real weekly batch is
# well under 1 MB, so an operator may lower it (ANKOMMEN_MAX_BODY_BYTES).
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024


class Problem(BaseModel):
    """An error answer: what went wrong, in words for the caller."""

    detail: str


class FieldProblem(BaseModel):
    """One refused field, as FastAPI names it (``loc`` = where, e.g. ``["body", "name"]``)."""

    loc: list[str | int]
    msg: str
    type: str


class InvalidInput(BaseModel):
    """A 422: the fields that were refused and why."""

    detail: list[FieldProblem]


def unstorable_reason(text: str) -> str | None:
    """Why PostgreSQL could not store ``text`` as text or jsonb; None if it can."""
    if "\x00" in text:
        return "contains a NUL character (U+0000), which text cannot hold"
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        return "contains a lone UTF-16 surrogate, which has no UTF-8 form"
    return None


def unstorable_strings(value: Any, loc: tuple[str | int, ...]) -> Iterator[FieldProblem]:
    """Every string in a decoded JSON value (keys included) that PostgreSQL cannot store."""
    if isinstance(value, str):
        if (reason := unstorable_reason(value)) is not None:
            yield FieldProblem(loc=list(loc), msg=f"Value {reason}", type="string_unstorable")
    elif isinstance(value, dict):
        for key, item in value.items():
            if (reason := unstorable_reason(key)) is not None:
                yield FieldProblem(loc=[*loc, key], msg=f"Key {reason}", type="string_unstorable")
            yield from unstorable_strings(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from unstorable_strings(item, (*loc, index))


def _may_hold_unstorable(raw: bytes) -> bool:
    # A cheap pre-check, so ordinary bodies are not decoded twice: JSON spells NUL and
    # surrogates as escapes (a raw NUL is invalid JSON and FastAPI refuses it itself).
    lowered = raw.lower()
    return b"\\u0000" in lowered or any(b"\\ud" + c in lowered for c in _SURROGATE_HIGH_NIBBLES)


class HttpMiddleware:
    """Base of the runtime's ASGI middlewares: ``handle`` sees HTTP requests only;
    lifespan and other scopes pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class Correlation(HttpMiddleware):
    """ASGI middleware: every request runs in its own ``request_context``, under the
    ``x-correlation-id`` the caller sent (a UUID) or a new one, and answers with it.

    A plain ASGI middleware, not ``@app.middleware("http")``: Starlette's
    ``BaseHTTPMiddleware`` streams every response through a memory channel between two
    tasks in an anyio task group, which cost every request of a busy scenario week more
    than its route's SQL. The one thing of it kept: the route runs in a context of its own.
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        header = Headers(scope=scope).get("x-correlation-id")
        try:
            given = uuid.UUID(header) if header else None
        except ValueError:
            given = None
        if given is None and scope["method"] in ("GET", "HEAD", "OPTIONS"):
            # A read raises no event: its correlation id is random even in a simulation, so
            # polling (health, backlog, views) never shifts a seeded run's ids.
            given = uuid.uuid4()
        with request_context(given) as cid:

            async def answer(message: Message) -> None:
                if message["type"] == "http.response.start":
                    MutableHeaders(scope=message)["x-correlation-id"] = str(cid)
                await send(message)

            # The route runs as a task of its own in a copy of the context (as it did under
            # BaseHTTPMiddleware): what it sets for "the rest of this request" (the acting
            # staff member, ``audit.enter``) ends with it, also where the caller runs the
            # app in its own task (an in-process test client). Without it the same seed
            # gave other events in test_a_simulated_month_runs_in_seconds_and_twice_...
            task = asyncio.get_running_loop().create_task(
                self.app(scope, receive, answer), context=contextvars.copy_context()
            )
            try:
                await task
            finally:
                task.cancel()  # the caller went away: so does the request (a no-op if done)


_SURROGATE_HIGH_NIBBLES = (b"8", b"9", b"a", b"b", b"c", b"d", b"e", b"f")


class InputGuard(HttpMiddleware):
    """ASGI middleware: the body size limit and the storable-strings check.

    The body is read here (at most ``max_body_bytes`` + 1 bytes, never more) and replayed
    to the app, so the route sees it unchanged and nothing downstream buffers an
    oversized body.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        super().__init__(app)
        self.max_body_bytes = max_body_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        problems = self._query_problems(scope)
        if problems:
            await _refuse_fields(problems, scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE") and not _declares_body(scope):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in _body_chunks(receive):
                size += len(chunk)
                if size > self.max_body_bytes:
                    await self._too_large(scope, receive, send)
                    return
                chunks.append(chunk)
        except _ClientGone:
            return  # nothing to answer
        body = b"".join(chunks)
        if _may_hold_unstorable(body):
            try:
                decoded = json.loads(body)
            except ValueError:
                decoded = None  # FastAPI answers malformed JSON with its own 422
            problems = list(unstorable_strings(decoded, ("body",)))
            if problems:
                await _refuse_fields(problems, scope, receive, send)
                return
        await self.app(scope, _replay(body, receive), send)

    @staticmethod
    def _query_problems(scope: Scope) -> list[FieldProblem]:
        raw = scope.get("query_string", b"").decode("latin-1")
        found: list[FieldProblem] = []
        for name, value in parse_qsl(raw, keep_blank_values=True):
            for text, what in ((name, "Name"), (value, "Value")):
                if (reason := unstorable_reason(text)) is not None:
                    found.append(
                        FieldProblem(
                            loc=["query", name], msg=f"{what} {reason}", type="string_unstorable"
                        )
                    )
        path = scope.get("path", "")
        if (reason := unstorable_reason(path)) is not None:
            found.append(FieldProblem(loc=["path"], msg=f"Path {reason}", type="string_unstorable"))
        return found

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        log.warning("request body over the limit; answered 413", limit=self.max_body_bytes)
        response = JSONResponse(
            Problem(detail=f"request body larger than {self.max_body_bytes} bytes").model_dump(),
            status_code=413,
            headers={"connection": "close"},
        )
        await response(scope, receive, send)


def _declares_body(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-length" and value.strip() not in (b"", b"0"):
            return True
        if name == b"transfer-encoding":
            return True
    return False


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


# A transaction PostgreSQL chose as a deadlock's victim, or one that lost a serialization
# conflict, was rolled back whole: nothing was changed, and the same command may succeed.
RETRYABLE_CONFLICTS: tuple[type[BaseException], ...] = (
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
)
_RETRY_FLAG = "ankommen_conflict"  # in the request's state: the answer is a lost conflict


def mark_conflict(request: Request, exc: BaseException) -> bool:
    """Note on the request that its 503 is a lost conflict (``RetryConflicts`` runs it
    again, and logs it); called by the runtime's 503 handler. Whether it was one."""
    if isinstance(exc, RETRYABLE_CONFLICTS):
        setattr(request.state, _RETRY_FLAG, True)
        return True
    return False


class RetryConflicts(HttpMiddleware):
    """ASGI middleware: a request whose transaction lost a deadlock or a serialization
    conflict is run again, up to ``attempts`` times after a short random pause, before
    the client hears 503 "nothing was changed; retry".

    Such conflicts are normal under concurrency, not faults: site staff checking in a bus
    lock the sites of their reservations while housing's consumer reserves places for
    the next placements, each in its own order, and PostgreSQL aborts one of them. The
    rolled-back transaction changed nothing (its events were in its outbox rows), so
    running the request again is safe; the client sees one answer. The body is read
    once and replayed to every attempt.
    """

    def __init__(self, app: ASGIApp, *, attempts: int = 3, pause_seconds: float = 0.05) -> None:
        super().__init__(app)
        self.attempts = attempts
        self.pause_seconds = pause_seconds

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = b"".join([chunk async for chunk in _body_chunks(receive)])
        except _ClientGone:
            return  # nothing to answer
        for attempt in range(1, self.attempts + 1):
            if not await self._attempt(scope, receive, send, body, last=attempt == self.attempts):
                return
            log.info("lost a database conflict; running the request again", attempt=attempt)
            await asyncio.sleep(random.uniform(0, self.pause_seconds * attempt))

    async def _attempt(
        self, scope: Scope, receive: Receive, send: Send, body: bytes, *, last: bool
    ) -> bool:
        """Run the request once; True if it lost a conflict and its answer was held back
        (never on the ``last`` attempt: that answer goes out whatever it is)."""
        state = scope.setdefault("state", {})
        state.pop(_RETRY_FLAG, None)
        lost = False

        async def answer(message: Message) -> None:
            nonlocal lost
            if message["type"] == "http.response.start":
                lost = not last and bool(state.get(_RETRY_FLAG))
            if not lost:
                await send(message)

        await self.app(scope, _replay(body, receive), answer)
        if last and state.get(_RETRY_FLAG):
            log.warning("lost a database conflict every time; answered 503")
        return lost


class _ClientGone(Exception):
    """The client went away before its request body was read."""


async def _body_chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The request body, chunk by chunk as the server hands it on."""
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        yield message.get("body", b"")
        more = message.get("more_body", False)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the disconnect as usual

    return replay


async def _refuse_fields(
    problems: list[FieldProblem], scope: Scope, receive: Receive, send: Send
) -> None:
    response = JSONResponse(InvalidInput(detail=problems).model_dump(), status_code=422)
    await response(scope, receive, send)


async def unstorable_value(_: Request, exc: Exception) -> JSONResponse:
    """The database refused a value as data (SQLSTATE class 22): the caller's input, a 422.

    The guard above catches what it can name; this is the net under it, so such input
    is never a 500. The field is named where the database says which column it was.
    """
    column = getattr(exc, "column_name", None)
    loc: list[str | int] = ["body", column] if column else ["body"]
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    log.info("database refused a value; answered 422", error=type(exc).__name__)
    return JSONResponse(
        InvalidInput(
            detail=[
                FieldProblem(loc=loc, msg=f"Value cannot be stored: {message}", type="value_error")
            ]
        ).model_dump(),
        status_code=422,
    )


# Errors a database driver raises for input it cannot store or compare (asyncpg's
# client-side DataError: e.g. an integer beyond bigint; the server's class 22 errors).
UNSTORABLE_ERRORS: tuple[type[Exception], ...] = (asyncpg.DataError, UnicodeEncodeError)


_RUNTIME_FREE_PATHS = frozenset({"/health/live", "/metrics"})
_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})


def _ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}


def _runtime_statuses(path: str, operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What the runtime may answer for one operation, besides what the route declares."""
    parameters = operation.get("parameters", [])
    has_body = "requestBody" in operation
    has_path_params = any(p.get("in") == "path" for p in parameters)
    added: dict[str, dict[str, Any]] = {}
    if operation.get("security"):  # declared roles: allow() puts the bearer scheme here
        added["401"] = {"description": "No or invalid bearer token", "content": _ref(Problem)}
        added["403"] = {
            "description": "The token's roles do not allow this",
            "content": _ref(Problem),
        }
    if has_body or has_path_params:
        added["400"] = {
            "description": "The command breaks a business rule",
            "content": _ref(Problem),
        }
        added["404"] = {
            "description": "Something the request names is unknown",
            "content": _ref(Problem),
        }
        added["409"] = {"description": "Clashes with the current state", "content": _ref(Problem)}
    if has_body:
        added["413"] = {"description": "Request body over the size limit", "content": _ref(Problem)}
    if has_body or parameters:
        added["422"] = {
            "description": "A field was refused, named in `loc`",
            "content": _ref(InvalidInput),
        }
    if path == "/health/ready":
        added["503"] = {"description": "Not ready: which check failed (status and reason)"}
    elif path not in _RUNTIME_FREE_PATHS:
        added["503"] = {
            "description": "Database or broker unavailable; retry",
            "content": _ref(Problem),
        }
    return added


# Statuses a DomainError raised anywhere below a route answers with a Problem body.
_DOMAIN_STATUSES = frozenset({"400", "404", "409"})


def _or_problem(response: dict[str, Any]) -> None:
    """A route's own model for a domain status may also arrive as a plain Problem.

    E.g. housing documents its 409 rejection with its own model, yet a Conflict raised in
    the same route is a ``{"detail": …}``: the schema must allow both.
    """
    content = response.get("content", {}).get("application/json")
    if content is None or "schema" not in content:
        return
    problem = {"$ref": "#/components/schemas/Problem"}
    own = content["schema"]
    if own == problem or problem in own.get("anyOf", []):
        return
    content["schema"] = {"anyOf": [own, problem]}


def document_statuses(app: FastAPI) -> None:
    """Add every status the runtime may answer to each operation of the app's OpenAPI.

    A route's own entries (with its own descriptions and models) win; FastAPI's own 422
    model stays where it put one (it names the field the same way).
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (Problem, FieldProblem, InvalidInput):
            if model.__name__ not in components:
                model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                model_schema.pop("$defs", None)  # each is a component of its own
                components[model.__name__] = model_schema
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if method not in _METHODS:
                    continue
                responses = operation.setdefault("responses", {})
                for status, response in _runtime_statuses(path, operation).items():
                    own = responses.get(status)
                    if own is None:
                        responses[status] = response
                    elif status in _DOMAIN_STATUSES:
                        _or_problem(own)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
