"""The erasure reader: which records it takes, and whom it tells."""

from __future__ import annotations

import orjson
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from teampulse.contract.erasure import erasure_of, key_check
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.streams.erasure_reader import ErasureReader
from teampulse.streams.roster_reader import RosterReader

SECRET = "reader-secret"
TP = TopicPartition("t.erasures", 0)
ROSTER_TP = TopicPartition("t.roster", 0)
KAFKA = {"bootstrap_servers": "unused:9092"}


def record(offset: int, value: bytes) -> ConsumerRecord:
    return ConsumerRecord(TP.topic, 0, offset, 0, 0, None, value, None, 0, len(value), ())


def test_new_erasures_are_kept_and_told_to_the_listeners_once() -> None:
    reader = ErasureReader(KAFKA, TP.topic, key_check(SECRET))
    told: list[set[str]] = []
    reader.on_erased(told.append)
    ann = erasure_of("ann@example.com", SECRET, 0.0)

    reader._apply_all(TP, [record(0, ann.to_wire())])
    reader._apply_all(TP, [record(1, ann.to_wire())])  # recorded twice: nothing new

    assert reader.erased == {ann.pseudonym}
    assert told == [{ann.pseudonym}]


def test_an_erasure_made_with_another_key_is_refused() -> None:
    reader = ErasureReader(KAFKA, TP.topic, key_check(SECRET))

    reader._apply_all(TP, [record(0, erasure_of("ann", "other", 0.0).to_wire()), record(1, b"x")])

    assert (reader.erased, reader.refused) == (set(), 2)


def test_the_roster_drops_an_erased_person_and_ignores_their_later_records() -> None:
    pseudonymiser = Pseudonymiser(SECRET)
    ann, bob = pseudonymiser.person("ann@example.com"), pseudonymiser.person("bob@example.com")
    erased: set[str] = set()
    roster = RosterReader(KAFKA, "t.roster", pseudonymiser, erased)
    for name in ("ann", "bob"):
        value = orjson.dumps(
            {"person": f"{name}@example.com", "team": "alpha", "department": "d", "division": "v"}
        )
        roster._apply(None, value, ROSTER_TP, 0)
    assert {roster.roster.team_of(ann), roster.roster.team_of(bob)} == {"alpha"}

    erased.add(ann)
    roster.forget({ann})
    again = b'{"person": "ann@example.com", "team": "beta", "department": "d", "division": "v"}'
    roster._apply(None, again, ROSTER_TP, 3)

    assert (roster.roster.team_size("alpha"), roster.roster.team_size("beta")) == (1, 0)
    assert roster.roster.team_of(ann) is None
