"""One person, one pseudonym, whatever the source; the raw id never comes out."""

from __future__ import annotations

import pytest

from teampulse.contract.pseudonym import Pseudonymiser, email_identity, identity_of

JANE_SHA1 = "90045cddf482e1bd1773fb8bb9cd8a9e75c9c0a4"  # sha1("mailto:jane.doe@example.com")
JANE = "4175f91e00536a0f4f76d8392d0a9453"  # HMAC-SHA256("contract-test-secret", "sha1:" + ^)[:32]


def test_an_email_is_keyed_as_its_xapi_mbox_sha1sum(pseudonymiser: Pseudonymiser):
    assert email_identity("jane.doe@example.com") == f"sha1:{JANE_SHA1}"
    assert pseudonymiser.person("jane.doe@example.com") == JANE


@pytest.mark.parametrize(
    "spelling",
    [
        "jane.doe@example.com",
        "Jane.Doe@Example.COM",
        "  jane.doe@example.com ",
        "mailto:jane.doe@example.com",
        "MAILTO:Jane.Doe@example.com",
        f"sha1:{JANE_SHA1}",
        f"sha1:{JANE_SHA1.upper()}",
    ],
)
def test_every_spelling_of_an_email_gives_the_same_pseudonym(pseudonymiser, spelling):
    assert pseudonymiser.person(spelling) == JANE


def test_xapi_mbox_mbox_sha1sum_and_canonical_email_agree(pseudonymiser: Pseudonymiser):
    assert pseudonymiser.xapi_actor({"mbox": "mailto:Jane.Doe@example.com"}) == JANE
    assert pseudonymiser.xapi_actor({"mbox_sha1sum": JANE_SHA1}) == JANE
    assert pseudonymiser.person("jane.doe@example.com") == JANE


def test_employee_ids_are_identities_as_they_are(pseudonymiser: Pseudonymiser):
    assert identity_of("E10442") == "E10442"
    assert pseudonymiser.person("E10442") == "3e77df4322d72336d49331fe516b002e"
    assert pseudonymiser.person("e10442") != pseudonymiser.person("E10442")


def test_xapi_account_and_openid_have_their_own_identities(pseudonymiser: Pseudonymiser):
    account = {"account": {"homePage": "https://community.example.com", "name": "u-20981"}}
    assert pseudonymiser.xapi_actor(account) == "0cb836c3e3c30474f9c2f8db0c631a76"
    assert pseudonymiser.xapi_actor(account) == pseudonymiser.person(
        "account:https://community.example.com|u-20981"
    )
    assert pseudonymiser.xapi_actor({"openid": "https://id.example.com/jane"}) == (
        pseudonymiser.person("openid:https://id.example.com/jane")
    )


def test_an_account_name_with_an_at_sign_is_not_taken_for_an_email():
    assert identity_of("account:https://lms.example.com|jane@example.com") == (
        "account:https://lms.example.com|jane@example.com"
    )


def test_another_secret_gives_other_pseudonyms(pseudonymiser: Pseudonymiser):
    assert Pseudonymiser("another-secret").person("jane.doe@example.com") != JANE


def test_a_pseudonym_is_32_hex_characters_and_contains_nothing_of_the_email(pseudonymiser):
    pseudonym = pseudonymiser.person("jane.doe@example.com")
    assert len(pseudonym) == 32
    assert set(pseudonym) <= set("0123456789abcdef")
    assert "jane" not in pseudonym


def test_an_actor_without_identifier_cannot_be_pseudonymised(pseudonymiser: Pseudonymiser):
    with pytest.raises(ValueError, match="no inverse functional identifier"):
        pseudonymiser.xapi_actor({"name": "Jane"})


def test_an_empty_secret_is_refused():
    with pytest.raises(ValueError, match="must not be empty"):
        Pseudonymiser("")


def test_the_cache_is_bounded():
    small = Pseudonymiser("s", cache_size=2)
    for person in ("a", "b", "c", "d"):
        small.person(person)
    assert small._cached.cache_info().currsize == 2
    assert small.person("a") == Pseudonymiser("s").person("a")


def test_a_pseudonym_keyed_at_the_door_is_kept_as_is(pseudonymiser: Pseudonymiser):
    assert pseudonymiser.person(f"pseudonym:{JANE}") == JANE


@pytest.mark.parametrize("almost", [f"pseudonym:{JANE[:-1]}", f"pseudonym:{JANE.upper()}"])
def test_a_malformed_pseudonym_is_keyed_like_any_id(pseudonymiser: Pseudonymiser, almost: str):
    assert pseudonymiser.person(almost) not in (JANE, JANE.upper(), JANE[:-1])
