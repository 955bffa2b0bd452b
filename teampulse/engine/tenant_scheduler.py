"""Scheduling by tenant: one tenant's backlog must not starve another tenant's live feed.

Tenants share the input and internal partitions, so a year-long backfill of tenant A sits in
the same partitions as tenant B's live events, ahead of them. Read in partition order, B's
event waits for all of A's backlog before it. Pausing A's partitions cannot help, since B's
records are in them too.

The batch loop reads ahead of what it applies (up to `TEAMPULSE_TENANT_READ_AHEAD` records
held in memory) and this scheduler picks each batch's records by tenant: every tenant with
records waiting gets a max-min fair share of the batch (a tenant with fewer records than its
share takes them all, the rest is split among the others), then each tenant's share is split
the same way over its partitions. What a tenant does not get is held back, in its order, for
the next batches. So B's few live records go into the next batch whatever A has waiting, and A
takes the rest of every batch: a backfill alone runs as fast as before.

What stays correct:

* **order**: within a partition each tenant's records are applied in their order. Records of
  two tenants never share a key or a state (their names are scoped, contract/tenant_scope.py,
  and a team's lateness watermark is per team and input stream), so only their relative order
  changes, which nothing depends on.
* **offsets**: a partition's commit never passes its first record held back, so a crash or a
  rebalance reads every held record again. Records of other tenants applied ahead of it are
  read and applied again too: the stages' updates are idempotent (event ids, absolute facts),
  as for any batch read again after a failed send.

Records of a topic without a tenant reader (the roll-up inputs: absolute counts) are never held.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Generic, Protocol, TypeVar

__all__ = ["TenantOf", "TenantScheduler", "fair_shares"]


class _Record(Protocol):
    @property
    def offset(self) -> int: ...


R = TypeVar("R", bound=_Record)
K = TypeVar("K")
# A partition as the loop names it (aiokafka's TopicPartition: topic, partition).
P = TypeVar("P", bound=tuple[str, int])
# A record's tenant ("" when it names none); per topic, as the handler knows how.
TenantOf = Callable[[R], str]


def fair_shares(counts: Mapping[K, int], budget: int) -> dict[K, int]:
    """Max-min fair split of `budget` over `counts` (what each key has waiting): the smallest
    demands are met in full, what is left is split evenly among the larger ones. Sums to
    min(budget, total); every key gets something while budget remains."""
    shares: dict[K, int] = {}
    remaining = budget
    ordered = sorted(counts.items(), key=lambda item: item[1])
    for index, (key, count) in enumerate(ordered):
        if remaining <= 0:
            break
        left = len(ordered) - index
        share = min(count, -(-remaining // left))  # ceil: no key starves on a small budget
        shares[key] = share
        remaining -= share
    return shares


class TenantScheduler(Generic[P, R]):
    """Records read and not yet applied, per partition and tenant, in offset order."""

    def __init__(self, read_ahead: int) -> None:
        self.read_ahead = read_ahead
        self._waiting: dict[P, dict[str, deque[R]]] = {}
        self.held = 0  # records waiting, all partitions

    def add(
        self,
        fetched: Mapping[P, list[R]],
        tenant_of: Mapping[str, TenantOf[R]],
    ) -> dict[P, list[R]]:
        """Takes what one fetch returned; returns what goes into the next batch without
        scheduling (topics without a tenant)."""
        unscheduled: dict[P, list[R]] = {}
        for tp, records in fetched.items():
            reader = tenant_of.get(tp[0])
            if reader is None:
                unscheduled[tp] = records
                continue
            lanes = self._waiting.setdefault(tp, {})
            for record in records:
                tenant = reader(record)
                lane = lanes.get(tenant)
                if lane is None:
                    lane = lanes[tenant] = deque()
                lane.append(record)
            self.held += len(records)
        return unscheduled

    def take(self, budget: int) -> dict[P, list[R]]:
        """The next batch's records (at most `budget`), a fair share per tenant, each
        partition's in offset order; the rest stays held."""
        if not self.held:
            return {}
        if self.held <= budget:  # everything fits: no tenant waits for another
            return self._take_all()
        per_tenant: dict[str, dict[P, int]] = {}
        for tp, lanes in self._waiting.items():
            for tenant, lane in lanes.items():
                if lane:
                    per_tenant.setdefault(tenant, {})[tp] = len(lane)
        totals = {tenant: sum(parts.values()) for tenant, parts in per_tenant.items()}
        taken: dict[P, list[R]] = {}
        for tenant, share in fair_shares(totals, budget).items():
            for tp, count in fair_shares(per_tenant[tenant], share).items():
                lane = self._waiting[tp][tenant]
                taken.setdefault(tp, []).extend(lane.popleft() for _ in range(count))
                self.held -= count
        for tp, records in taken.items():
            if len(self._waiting[tp]) > 1:  # several tenants: back in offset order
                records.sort(key=_offset)
        self._prune()
        return taken

    def _take_all(self) -> dict[P, list[R]]:
        taken: dict[P, list[R]] = {}
        for tp, lanes in self._waiting.items():
            records = [record for lane in lanes.values() for record in lane]
            if len(lanes) > 1:
                records.sort(key=_offset)
            if records:
                taken[tp] = records
        self._waiting.clear()
        self.held = 0
        return taken

    def _prune(self) -> None:
        for tp in list(self._waiting):
            lanes = self._waiting[tp]
            for tenant in [t for t, lane in lanes.items() if not lane]:
                del lanes[tenant]
            if not lanes:
                del self._waiting[tp]

    def first_held(self, tp: P) -> int | None:
        """The offset of the partition's first record held back: its commit may not pass it."""
        lanes = self._waiting.get(tp)
        if not lanes:
            return None
        return min(lane[0].offset for lane in lanes.values() if lane)

    def held_in(self, tp: P) -> int:
        return sum(len(lane) for lane in self._waiting.get(tp, {}).values())

    def partitions(self) -> set[P]:
        """Partitions with records held back."""
        return set(self._waiting)

    def drop(self, partitions: Iterable[P] | None = None) -> dict[P, int]:
        """Forgets what is held of `partitions` (all: None), to be read again from Kafka;
        returns each one's first offset held."""
        chosen = list(self._waiting) if partitions is None else list(partitions)
        firsts: dict[P, int] = {}
        for tp in chosen:
            first = self.first_held(tp)
            if first is not None:
                firsts[tp] = first
            self.held -= self.held_in(tp)
            self._waiting.pop(tp, None)
        return firsts


def _offset(record: _Record) -> int:
    return record.offset
