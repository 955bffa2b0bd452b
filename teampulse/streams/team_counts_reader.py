"""Keeps every team's latest counts on every worker, as the roster reader keeps the roster.

A team's drop signal is set against the whole organisation, and a worker owns only some of
the teams: each worker reads all of the compacted `team-counts` topic (one record per team,
published by the team's owner) with a group-less consumer, so every worker judges against
the same organisation whatever the partition layout. `ready` is set once the records
present at start-up have been read.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from teampulse.engine.compacted_reader import CompactedTopicReader, ConsumerRecord, TopicPartition
from teampulse.streams.partitions import RollupInputs

__all__ = ["TeamCountsReader"]

log = logging.getLogger(__name__)


class TeamCountsReader:
    def __init__(self, kafka: Mapping[str, Any], topic: str) -> None:
        self.latest = RollupInputs()
        self.refused = 0  # records that are not a team's counts
        self._reader = CompactedTopicReader(
            kafka, topic, "team counts", self._apply_all, lambda: f"{len(self.latest.counts)} teams"
        )
        self.ready = self._reader.ready
        self.run = self._reader.run

    def take_change(self) -> bool:
        changed, self.latest.changed = self.latest.changed, False
        return changed

    def _apply_all(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        for record in records:
            try:
                self.latest.apply(record.value or b"")
            except (ValueError, KeyError, TypeError) as exc:
                # Written by the workers only; a record they cannot read is skipped, not fatal.
                self.refused += 1
                log.warning(
                    "team counts record refused topic=%s partition=%d offset=%d reason=%r",
                    tp.topic, tp.partition, record.offset, exc,
                )  # fmt: skip
