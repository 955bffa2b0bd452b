"""Faults a real feed has, injected into a clean simulated one: exact duplicates (producers
retry), malformed records (the dead-letter view needs some) and late arrivals.

Malformed records come in four kinds, each with a fresh id so it is never mistaken for a
duplicate of the event it was made from: bytes that are not JSON (a truncated record), an
event without its actor, an event of a type nobody defined, and an unreadable timestamp.
"""

from __future__ import annotations

import datetime as dt
import heapq
import random
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

__all__ = ["MALFORMED_KINDS", "inject_faults", "malformed_record"]

DEFAULT_LATE_BY_S = 3 * 86_400  # beyond the default 48 h lateness: these end up dead-lettered
MALFORMED_KINDS = ("not_json", "missing_actor", "unknown_type", "bad_timestamp")


def inject_faults(
    events: Iterable[dict[str, Any]],
    seed: int,
    duplicate_rate: float = 0.01,
    malformed_rate: float = 0.002,
    late_rate: float = 0.0,
    late_by_s: float = DEFAULT_LATE_BY_S,
) -> Iterator[bytes | dict[str, Any]]:
    """The events in order, plus duplicates and malformed records, with a share held back.

    A duplicate follows its original at once. A late event is held back until the feed
    has moved `late_by_s` past its occurred_at, then sent unchanged (events still held at
    the end are sent last). Malformed records are extra records, never replacements."""
    rng = random.Random(f"{seed}:faults")
    held: list[tuple[float, int, dict[str, Any]]] = []
    for sequence, event in enumerate(events):
        now = _epoch(event["occurred_at"])
        while held and held[0][0] <= now:
            yield heapq.heappop(held)[2]
        if late_rate and rng.random() < late_rate:
            heapq.heappush(held, (now + late_by_s, sequence, event))
            continue
        yield event
        if rng.random() < duplicate_rate:
            yield dict(event)
        if rng.random() < malformed_rate:
            yield malformed_record(rng, event)
    while held:
        yield heapq.heappop(held)[2]


def malformed_record(rng: random.Random, event: dict[str, Any]) -> bytes | dict[str, Any]:
    """A broken record made from a good event, of a randomly chosen MALFORMED_KINDS kind."""
    kind = rng.choice(MALFORMED_KINDS)
    broken = {**event, "id": str(uuid.UUID(int=rng.getrandbits(128), version=4))}
    if kind == "not_json":
        encoded = orjson.dumps(broken)
        return encoded[: len(encoded) // 2]
    if kind == "missing_actor":
        del broken["actor"]
    elif kind == "unknown_type":
        broken["type"] = "learning.teleported"
    else:
        broken["occurred_at"] = "last tuesday"
    return broken


def _epoch(occurred_at: str) -> float:
    return dt.datetime.fromisoformat(occurred_at.replace("Z", "+00:00")).timestamp()
