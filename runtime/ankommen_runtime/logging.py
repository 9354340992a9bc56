"""JSON-lines logging for every service, with ``service``, ``event_id``, ``correlation_id``.

Library loggers (uvicorn, aiokafka, faststream) go through the same renderer, so an
operator's log pipeline sees one format.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

_REQUIRED = ("event_id", "correlation_id")


def _ensure_keys(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    # Every line carries the keys, null when not applicable, so queries never miss a field.
    for key in _REQUIRED:
        event_dict.setdefault(key, None)
    event_dict.pop("color_message", None)  # uvicorn's ANSI duplicate of the message
    return event_dict


class _Service:
    """Stamps the process's service name on every line, library lines included."""

    def __init__(self, service: str) -> None:
        self.service = service

    def __call__(self, _: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        event_dict.setdefault("service", self.service)
        return event_dict


def configure_logging(service: str, level: str = "INFO") -> None:
    """Idempotent: safe to call from every app factory and test."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _Service(service),
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _ensure_keys,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,  # reconfigurable, e.g. several apps in one test run
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    access = logging.getLogger("uvicorn.access")
    # uvicorn --no-access-log (every deployment's command) leaves its access logger with no
    # handler and not propagating, and logs access lines only while it finds a handler:
    # propagating it to the root would switch them back on, a line per request (the
    # barrier's polls included) with no event or correlation id.
    access_off = not access.propagate and not access.handlers
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "faststream", "aiokafka"):
        lib = logging.getLogger(name)
        lib.handlers[:] = []
        lib.propagate = not (name == "uvicorn.access" and access_off)
    # aiokafka is chatty at INFO about every group join; keep its warnings.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
