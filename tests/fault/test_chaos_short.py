"""The short fault run of `make test`: a few service kills, a broker and a PostgreSQL restart.

`make chaos` runs the long one (100 service kills, 10 broker restarts, 3 PostgreSQL restarts).
"""

from __future__ import annotations

import pytest
from chaos import Chaos, Config


@pytest.mark.timeout(900)
async def test_nothing_is_lost_or_doubled_when_services_and_servers_die() -> None:
    chaos = Chaos(
        Config(
            seed=11,
            service_kills=4,
            broker_restarts=1,
            postgres_restarts=1,
            min_batches=6,
            households_per_batch=10,
        )
    )
    try:
        summary = await chaos.run()
    finally:
        chaos.cluster.down()
    assert summary.failures == []
    assert (summary.service_kills, summary.broker_restarts, summary.postgres_restarts) == (4, 1, 1)
    assert summary.households == len(chaos.references) > 0
    assert summary.check_ins > 0, "households reached a checked-in bed under faults"
