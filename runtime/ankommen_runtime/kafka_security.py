"""Kafka client security from the settings, for both client libraries the runtime uses.

aiokafka (producer, admin client) takes keyword arguments:
``ServiceSettings.kafka_client_options()``. faststream's ``KafkaBroker`` (the consumers)
takes a security object: ``broker_security(settings)``. Plaintext gives ``{}`` / ``None``,
so the open local broker needs nothing.
"""

from __future__ import annotations

from faststream.security import BaseSecurity, SASLScram256, SASLScram512

from .settings import ServiceSettings


def broker_security(settings: ServiceSettings) -> BaseSecurity | None:
    """faststream's security object for ``KafkaBroker(..., security=...)``."""
    options = settings.kafka_client_options()
    if not options:
        return None
    scram = SASLScram512 if options["sasl_mechanism"] == "SCRAM-SHA-512" else SASLScram256
    ssl_context = options.get("ssl_context")
    return scram(
        username=options["sasl_plain_username"],
        password=options["sasl_plain_password"],
        ssl_context=ssl_context,
        use_ssl=ssl_context is not None,
    )
