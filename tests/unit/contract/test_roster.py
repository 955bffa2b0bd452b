"""Roster records: who is where, pseudonymised on arrival; tombstones remove a person."""

from __future__ import annotations

import orjson

from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Reason, Rejection
from teampulse.contract.roster import RosterEntry, parse_roster_record

JANE = "4175f91e00536a0f4f76d8392d0a9453"  # pseudonym of jane.doe@example.com


def value(**fields: object) -> bytes:
    record = {"team": "payments-platform", "department": "engineering", "division": "technology"}
    record.update(fields)
    return orjson.dumps(record)


def test_a_record_becomes_an_entry_with_the_person_pseudonymised(pseudonymiser):
    assert parse_roster_record(
        b"ignored-key", value(person="Jane.Doe@example.com"), pseudonymiser
    ) == RosterEntry(
        person=JANE,
        team="payments-platform",
        department="engineering",
        division="technology",
        active=True,
    )


def test_the_person_in_the_value_wins_over_the_key(pseudonymiser: Pseudonymiser):
    entry = parse_roster_record(b"E1", value(person="jane.doe@example.com"), pseudonymiser)
    assert entry.person == JANE


def test_without_a_person_in_the_value_the_key_names_the_person(pseudonymiser):
    entry = parse_roster_record(b"jane.doe@example.com", value(), pseudonymiser)
    assert entry.person == JANE


def test_inactive_people_are_kept_as_inactive(pseudonymiser):
    assert parse_roster_record(b"E1", value(active=False), pseudonymiser).active is False


def test_a_tombstone_gives_the_pseudonym_to_remove(pseudonymiser):
    assert parse_roster_record(b"jane.doe@example.com", None, pseudonymiser) == JANE


def test_a_tombstone_without_key_is_refused(pseudonymiser):
    assert parse_roster_record(None, None, pseudonymiser) == Rejection(
        Reason.ROSTER_INVALID, "tombstone without a key: nobody to remove"
    )


def test_a_record_without_person_or_key_is_roster_invalid(pseudonymiser):
    result = parse_roster_record(None, value(), pseudonymiser)
    assert result.reason is Reason.ROSTER_INVALID
    assert result.detail.startswith("person: ")


def test_a_missing_team_is_roster_invalid_and_named(pseudonymiser):
    record = orjson.dumps({"person": "E1", "department": "d", "division": "v"})
    assert parse_roster_record(None, record, pseudonymiser) == Rejection(
        Reason.ROSTER_INVALID, "team: required, a string of 1 to 200 characters"
    )


def test_active_must_be_a_boolean(pseudonymiser):
    assert parse_roster_record(b"E1", value(active="no"), pseudonymiser) == Rejection(
        Reason.ROSTER_INVALID, "active: must be true or false"
    )


def test_garbage_and_non_objects_have_the_generic_reasons(pseudonymiser):
    assert parse_roster_record(b"E1", b"\x00\x01", pseudonymiser).reason is Reason.NOT_JSON
    assert parse_roster_record(b"E1", b"[]", pseudonymiser).reason is Reason.NOT_OBJECT
    assert parse_roster_record(b"\xff", None, pseudonymiser).reason is Reason.ROSTER_INVALID


def test_an_oversized_record_is_too_large(pseudonymiser):
    assert parse_roster_record(b"E1", value(note="x" * 20_000), pseudonymiser).reason is (
        Reason.TOO_LARGE
    )
