"""Two tenants sending the same ids, teams and threads through the hot stages stay apart."""

from __future__ import annotations

from pathlib import Path

import yaml
from aiokafka.structs import ConsumerRecord

from teampulse.contract.tenant_scope import scoped
from teampulse.settings import Settings
from teampulse.streams.hot_stages import HotStages
from teampulse.tenancy.source import TenantsSource

from .test_hot_stages import (
    PARTITIONS,
    TOPICS,
    conversation,
    gauges,
    run,
    stages,
    through_kafka,
)

TENANTS = {
    "tenants": {
        "acme": {"pseudonym_secret": "acme-pseudonym-key-0001"},
        "globex": {"pseudonym_secret": "globex-pseudonym-key-02"},
    }
}


def tenanted_stages(tmp_path: Path) -> HotStages:
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(TENANTS))
    hot = stages()
    hot.tenants = TenantsSource(Settings(tenants_file=path))
    return hot


def from_tenant(tenant: str | None, offset: int, value: bytes) -> ConsumerRecord:
    headers = () if tenant is None else (("teampulse-tenant", tenant.encode()),)
    return ConsumerRecord(TOPICS.events, 0, offset, 0, 0, None, value, None, 0, len(value), headers)


def test_the_same_conversation_in_two_tenants_makes_two_sets_of_teams(tmp_path: Path) -> None:
    records = [
        from_tenant(tenant, offset, value)
        for tenant in ("acme", "globex")
        for offset, value in enumerate(conversation())
    ]
    hot = tenanted_stages(tmp_path)
    for routes in (hot.direct.teams, hot.direct.threads, hot.direct.facts):
        routes.update(range(PARTITIONS))

    through_kafka(hot, {(TOPICS.events, 0): records})

    counted = gauges(hot)
    assert set(counted) == {
        scoped(tenant, team)
        for tenant in ("acme", "globex")
        for team in ("atlas", "comet", "borealis")
    }
    for tenant in ("acme", "globex"):
        atlas = counted[scoped(tenant, "atlas")].windows["7d"]
        # each tenant's first c1 counts (ids are per tenant), its thread is joined once
        assert (atlas.completions, atlas.threads_replied, atlas.cross_team_interactions) == (
            1,
            1,
            1,
        )


def test_a_record_without_a_known_tenant_is_dead_lettered(tmp_path: Path) -> None:
    hot = tenanted_stages(tmp_path)
    value = conversation()[0]
    outbox, reasons = run(
        hot,
        {(TOPICS.events, 0): [from_tenant(None, 0, value), from_tenant("initech", 1, value)]},
    )
    assert reasons == {"unknown_tenant": 2}
    assert outbox.to(TOPICS.by_team) == []
