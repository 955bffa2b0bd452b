"""Keeps the whole roster in memory on every worker.

The roster topic is compacted and small (one record per person), so each worker reads all
of its partitions with a group-less consumer instead of a Faust GlobalTable, whose recovery
can loop when several workers share it (see its docstring). Roster changes take effect as
they arrive; `ready` is set once the records present at start-up have been read, so that
the first events are not resolved against an empty roster. An erased person's entry is left
out, whenever it arrives (the erasure reader's set, `forget`): an erasure takes the person out
of their team's size too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Rejection
from teampulse.contract.roster import RosterEntry, parse_roster_record
from teampulse.engine.compacted_reader import CompactedTopicReader, ConsumerRecord, TopicPartition
from teampulse.enrichment.roster import Roster

__all__ = ["RosterReader"]

log = logging.getLogger(__name__)


class RosterReader:
    def __init__(
        self,
        kafka: Mapping[str, Any],
        topic: str,
        pseudonymiser: Pseudonymiser,
        erased: AbstractSet[str] = frozenset(),
    ) -> None:
        self.roster = Roster()
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
        for record in records:
            self._apply(record.key, record.value, tp, record.offset)

    def _apply(
        self, key: bytes | None, value: bytes | None, tp: TopicPartition, offset: int
    ) -> None:
        parsed = parse_roster_record(key, value, self._pseudonymiser)
        if isinstance(parsed, RosterEntry):
            if parsed.person not in self._erased:
                self.roster.apply(parsed)
        elif isinstance(parsed, Rejection):
            self.rejected += 1
            log.warning(
                "roster record rejected topic=%s partition=%d offset=%d reason=%s",
                tp.topic,
                tp.partition,
                offset,
                parsed.reason,
            )
        else:
            self.roster.remove(parsed)
