"""Keeps the whole roster in memory on every worker.

The roster topic is compacted and small (one record per person), so each worker reads all
of its partitions with a group-less consumer instead of a Faust GlobalTable, whose recovery
can loop when several workers share it (see its docstring). Roster changes take effect as
they arrive; `ready` is set once the records present at start-up have been read, so that
the first events are not resolved against an empty roster. An erased person's entry is left
out, whenever it arrives (the erasure reader's set, `forget`): an erasure takes the person out
of their team's size too.

With tenants configured, a roster record belongs to the tenant of its `teampulse-tenant`
header (set by `teampulse produce --tenant`), and its team, department and division are
scoped to that tenant (teampulse.contract.tenant_scope): two tenants' teams of the same name
have their own sizes and org paths. A record without a known tenant is rejected and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Rejection
from teampulse.contract.roster import RosterEntry, parse_roster_record
from teampulse.contract.tenant_scope import scoped
from teampulse.engine.compacted_reader import CompactedTopicReader, ConsumerRecord, TopicPartition
from teampulse.enrichment.roster import Roster
from teampulse.tenancy.source import TenantsSource

__all__ = ["RosterReader"]

log = logging.getLogger(__name__)


class RosterReader:
    def __init__(
        self,
        kafka: Mapping[str, Any],
        topic: str,
        pseudonymiser: Pseudonymiser,
        erased: AbstractSet[str] = frozenset(),
        tenants: TenantsSource | None = None,
    ) -> None:
        self.roster = Roster()
        self._tenants = tenants
        self._erased = erased
        self.rejected = 0
        self._pseudonymiser = pseudonymiser
        self._reader = CompactedTopicReader(
            kafka, topic, "roster", self._apply_all, lambda: f"{len(self.roster)} people"
        )
        self.ready = self._reader.ready
        self.run = self._reader.run

    def forget(self, people: set[str]) -> None:
        """Erasure: take these people out of the roster (later records of theirs are left out)."""
        for person in people:
            self.roster.remove(person)

    def _apply_all(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        directory = self._tenants.directory if self._tenants is not None else None
        for record in records:
            tenant: str | None | Rejection = None
            if directory is not None:
                tenant = directory.tenant_of_record(record.headers)
            self._apply(record.key, record.value, tp, record.offset, tenant)

    def _apply(
        self,
        key: bytes | None,
        value: bytes | None,
        tp: TopicPartition,
        offset: int,
        tenant: str | None | Rejection = None,
    ) -> None:
        parsed = (
            tenant
            if isinstance(tenant, Rejection)
            else parse_roster_record(key, value, self._pseudonymiser)
        )
        if isinstance(parsed, Rejection):
            self.rejected += 1
            log.warning(
                "roster record rejected topic=%s partition=%d offset=%d reason=%s",
                tp.topic,
                tp.partition,
                offset,
                parsed.reason,
            )
        elif isinstance(parsed, str):
            self.roster.remove(parsed)
        elif parsed.person not in self._erased:
            if isinstance(tenant, str):
                parsed = RosterEntry(
                    parsed.person,
                    scoped(tenant, parsed.team),
                    scoped(tenant, parsed.department),
                    scoped(tenant, parsed.division),
                    parsed.active,
                )
            self.roster.apply(parsed)
