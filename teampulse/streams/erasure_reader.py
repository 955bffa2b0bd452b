"""Keeps every erasure on every worker, as the roster reader keeps the roster.

The erasures topic is compacted and small (one record per erased person), and an erasure
must reach the worker that holds the person's state whatever the partition assignment, so
each worker reads all of it with a group-less consumer. `ready` is set once the records
present at start-up have been read: the hot stages and the team-state restores wait for it,
so no replay or re-read input brings an erased person back.

New erasures are handed to the listeners (the roster and the hot stages) as they arrive.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from teampulse.contract.erasure import decode_erasure
from teampulse.engine.compacted_reader import CompactedTopicReader, ConsumerRecord, TopicPartition

__all__ = ["ErasureReader"]

log = logging.getLogger(__name__)

Listener = Callable[[set[str]], None]


class ErasureReader:
    def __init__(self, kafka: Mapping[str, Any], topic: str, key_check: str) -> None:
        self.erased: set[str] = set()
        self.refused = 0  # records that are not erasures, or made with another key
        self._key_check = key_check
        self._listeners: list[Listener] = []
        self._reader = CompactedTopicReader(
            kafka, topic, "erasures", self._apply_all, lambda: f"{len(self.erased)} people"
        )
        self.ready = self._reader.ready
        self.run = self._reader.run

    def on_erased(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _apply_all(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        new: set[str] = set()
        for record in records:
            erasure = decode_erasure(record.value)
            if erasure is None or erasure.key_check != self._key_check:
                self.refused += 1
                log.warning(
                    "erasure record refused topic=%s partition=%d offset=%d reason=%s",
                    tp.topic,
                    tp.partition,
                    record.offset,
                    "not_an_erasure"
                    if erasure is None
                    else "another_pseudonym_key: run teampulse forget again with the "
                    "workers' TEAMPULSE_PSEUDONYM_SECRET",
                )
                continue
            if erasure.pseudonym not in self.erased:
                new.add(erasure.pseudonym)
        if new:
            self.erased |= new
            log.info("erasures received: %d people (%d in all)", len(new), len(self.erased))
            for listener in self._listeners:
                listener(new)
