"""The batch loop's assignor: Kafka's range assignment, plus who serves each partition.

Every member gets the same partition numbers of every topic (range assignment over equal
partition counts), so a member owns partition p of each stage's topic together and can hand
records between its stages in memory. Each member sends its web URL as user data, and the
leader tells every member which URL owns each partition of one routed topic (the read API
sends a request for a team to the worker that holds it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import orjson
from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.coordinator.protocol import (
    ConsumerProtocolMemberAssignment,
    ConsumerProtocolMemberMetadata,
)

__all__ = ["OwnerAssignor"]


class OwnerAssignor(RangePartitionAssignor):
    """Range assignment, plus the web URL of the owner of every partition of the routed topic."""

    name = "teampulse-range"

    def __init__(self, url: str, routed_topic: str) -> None:
        self._url = url
        self._routed = routed_topic
        self.owners: dict[int, str] = {}

    def metadata(self, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:  # type: ignore[override]
        return ConsumerProtocolMemberMetadata(self.version, list(topics), self._url.encode())

    def assign(  # type: ignore[override]
        self, cluster: ClusterMetadata, members: Mapping[str, ConsumerProtocolMemberMetadata]
    ) -> dict[str, ConsumerProtocolMemberAssignment]:
        assigned = RangePartitionAssignor.assign(cluster, members)
        owners: dict[int, str] = {}
        for member, assignment in assigned.items():
            url = members[member].user_data.decode()
            for topic, partitions in assignment.assignment:
                if topic == self._routed:
                    owners.update(dict.fromkeys(partitions, url))
        shared = orjson.dumps({str(p): url for p, url in owners.items()})
        return {
            member: ConsumerProtocolMemberAssignment(self.version, a.assignment, shared)
            for member, a in assigned.items()
        }

    def on_assignment(self, assignment: ConsumerProtocolMemberAssignment) -> None:  # type: ignore[override]
        shared = orjson.loads(assignment.user_data or b"{}")
        self.owners = {int(p): url for p, url in shared.items()}
