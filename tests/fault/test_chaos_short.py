"""The short fault run of `make test`: two replicas per service, a few kills, a broker and a
PostgreSQL outage, a network partition through the proxy, and injected non-events.

`make chaos` runs the long one (100 replica kills, 10 broker and 3 PostgreSQL outages of
60 s and more, 6 partitions of 10-40 s).
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
            partitions=1,
            poison_records=2,
            postgres_down=(1.0, 2.0),
        )
    )
    try:
        summary = await chaos.run()
    finally:
        chaos.cluster.down()
    assert summary.failures == []
    assert (summary.service_kills, summary.broker_restarts, summary.postgres_restarts) == (4, 1, 1)
    assert summary.partitions == 1
    assert summary.undecodable_on_topics == summary.poison_records == 2, "counted, not skipped"
    assert all(n > 0 for n in summary.inbox_checked.values()), summary.inbox_checked
    assert summary.households == len(chaos.references) > 0
    assert summary.check_ins > 0, "households reached a checked-in bed under faults"
