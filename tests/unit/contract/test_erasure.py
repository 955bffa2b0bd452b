"""Erasure records: the pseudonym the ingest stage would compute, and a check of the key."""

from __future__ import annotations

import pytest

from teampulse.contract.erasure import (
    Erasure,
    decode_erasure,
    erasure_of,
    identifier_doubt,
    key_check,
)
from teampulse.contract.pseudonym import Pseudonymiser

SECRET = "erasure-secret"
NOW = 1_772_409_600.0


def test_an_email_is_erased_under_the_pseudonym_of_every_form_of_the_address() -> None:
    pseudonymiser = Pseudonymiser(SECRET)
    erasure = erasure_of(" Jane@Example.com ", SECRET, NOW)

    assert erasure.pseudonym == pseudonymiser.person("mailto:jane@example.com")
    assert erasure.pseudonym == pseudonymiser.xapi_actor({"mbox": "mailto:jane@example.com"})
    sha1 = "sha1:" + "c3b7ed2d6f9b1a1b4a09e2e9d0a9c5c2e3c6c4b1"  # any mbox_sha1sum works alike
    assert erasure_of(sha1, SECRET, NOW).pseudonym == pseudonymiser.person(sha1)


def test_an_account_is_erased_under_its_xapi_pseudonym() -> None:
    actor = {"account": {"homePage": "https://lms.example.com", "name": "jane"}}

    erasure = erasure_of("account:https://lms.example.com|jane", SECRET, NOW)

    assert erasure.pseudonym == Pseudonymiser(SECRET).xapi_actor(actor)


def test_a_record_round_trips_and_carries_the_keys_check() -> None:
    erasure = erasure_of("jane@example.com", SECRET, NOW)

    assert decode_erasure(erasure.to_wire()) == erasure
    assert erasure.key() == erasure.pseudonym.encode()
    assert erasure.key_check == key_check(SECRET) != key_check("another-secret")
    assert SECRET not in erasure.to_wire().decode()


def test_what_is_not_an_erasure_decodes_to_none() -> None:
    assert decode_erasure(None) is None
    assert decode_erasure(b"{nope") is None
    assert decode_erasure(b'{"pseudonym": "x"}') is None
    assert decode_erasure(Erasure("x", NOW, "k").to_wire()) == Erasure("x", NOW, "k")


def test_an_account_without_its_name_is_doubted_with_the_quoting_fix() -> None:
    assert identifier_doubt("account:https://lms.example.com") == (
        "'account:https://lms.example.com' has no '|<name>' part, so it names an account "
        "nobody has; an unquoted | is a shell pipe: quote the identifier, "
        "'account:<homePage>|<name>', and run forget again"
    )


@pytest.mark.parametrize(
    "identifier", ["account:https://lms.example.com|jdoe", "jane.doe@example.com", "E10442"]
)
def test_a_whole_identifier_raises_no_doubt(identifier: str) -> None:
    assert identifier_doubt(identifier) is None
