"""The hot assignor: the same partition numbers of every hot topic go to one member, and
every member learns which web server owns each by-team partition."""

from __future__ import annotations

from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata

from teampulse.engine.assignor import OwnerAssignor

TOPICS = ["t.events", "t.by-team", "t.thread-facts", "t.by-thread"]


class Cluster:
    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0, 1, 2, 3}


def members(*urls: str) -> dict[str, ConsumerProtocolMemberMetadata]:
    return {
        f"member-{n}": OwnerAssignor(url, "t.by-team").metadata(TOPICS)
        for n, url in enumerate(urls)
    }


def test_each_member_gets_the_same_partition_numbers_of_every_topic():
    assigned = OwnerAssignor("http://a:1", "t.by-team").assign(
        Cluster(), members("http://a:1", "http://b:2")
    )  # type: ignore[arg-type]
    for assignment in assigned.values():
        numbers = {topic: set(partitions) for topic, partitions in assignment.assignment}
        assert set(numbers) == set(TOPICS)
        assert len({frozenset(p) for p in numbers.values()}) == 1
    first, second = (dict(a.assignment)["t.by-team"] for a in assigned.values())
    assert sorted(first + second) == [0, 1, 2, 3]


def test_every_member_learns_the_owner_url_of_each_by_team_partition():
    assignor = OwnerAssignor("http://b:2", "t.by-team")
    assigned = assignor.assign(Cluster(), members("http://a:1", "http://b:2"))  # type: ignore[arg-type]
    assignor.on_assignment(assigned["member-1"])
    assert assignor.owners == {0: "http://a:1", 1: "http://a:1", 2: "http://b:2", 3: "http://b:2"}
