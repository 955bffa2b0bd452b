"""Graph change notifications for Teams channel messages to canonical events."""

from __future__ import annotations

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from teampulse.connectors import msteams
from teampulse.connectors.canonical import Mapped
from tests.support.connector_payloads import (
    CLIENT_STATE,
    TENANT,
    chat_message,
    encrypt_resource,
    lifecycle,
    notification,
    reaction,
)
from tests.support.vendor_samples import vendor_sample
from tests.unit.connectors.connector_constants import keyed

CHANNEL = "19:4a95f7d8db4c4e7fae857bcebe0623e6@thread.tacv2"
AGILE = "19:agile@thread.tacv2"
ALICE, BOB = "8ea0e38b-efb3-4757-924a-5f94061cf8c2", "1b2d36d0-a61e-4a2a-86b5-2d1a2b9c0f11"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def mapped(config, pseudonymiser, key, *items) -> Mapped:
    result = msteams.map_notifications(
        {"value": list(items)}, CLIENT_STATE, config.msteams, pseudonymiser, key
    )
    assert isinstance(result, Mapped), result
    return result


def test_a_new_channel_message_is_a_post(config, pseudonymiser, key):
    message = chat_message("1616990032035", ALICE, CHANNEL, "2026-03-02T10:00:00.123Z")
    [event] = mapped(config, pseudonymiser, key, notification(message, key.public_key())).events
    post = f"msteams:{CHANNEL}:1616990032035"
    assert event == {
        "id": post,
        "type": "discussion.posted",
        "occurred_at": "2026-03-02T10:00:00.123Z",
        "actor": keyed(f"account:msteams:{TENANT}|{ALICE}"),
        "source": "msteams",
        "thread": post,
        "post": post,
        "channel": CHANNEL,
        "length": 28,
    }


def test_a_reply_answers_the_root_of_its_thread(config, pseudonymiser, key):
    reply = chat_message(
        "1616990100000", BOB, CHANNEL, "2026-03-02T10:05:00Z", reply_to="1616990032035"
    )
    [event] = mapped(config, pseudonymiser, key, notification(reply, key.public_key())).events
    root = f"msteams:{CHANNEL}:1616990032035"
    assert (event["type"], event["thread"], event["parent"]) == ("discussion.replied", root, root)


def test_reactions_in_an_updated_message_are_reactions_each_counted_once(
    config, pseudonymiser, key
):
    message = chat_message(
        "1616990032035",
        ALICE,
        CHANNEL,
        "2026-03-02T10:00:00Z",
        reactions=[
            reaction(BOB, "2026-03-02T10:07:00Z"),
            reaction(ALICE, "2026-03-02T10:08:00Z", "heart"),
        ],
    )
    update = notification(message, key.public_key(), change="updated")
    first = mapped(config, pseudonymiser, key, update).events
    again = mapped(config, pseudonymiser, key, update).events
    assert [e["type"] for e in first] == ["discussion.reacted", "discussion.reacted"]
    assert [e["id"] for e in first] == [e["id"] for e in again]
    assert first[0]["parent"] == f"msteams:{CHANNEL}:1616990032035"
    assert first[0]["actor"] == keyed(f"account:msteams:{TENANT}|{BOB}")


def test_no_platform_user_id_appears_in_any_field_of_a_reaction(config, pseudonymiser, key):
    liked = chat_message(
        "1616990032035",
        ALICE,
        CHANNEL,
        "2026-03-02T10:00:00Z",
        reactions=[reaction(BOB, "2026-03-02T10:07:00Z")],
    )
    [event] = mapped(
        config, pseudonymiser, key, notification(liked, key.public_key(), "updated")
    ).events
    assert BOB not in orjson.dumps(event).decode()


def test_an_edit_without_reactions_is_ignored(config, pseudonymiser, key):
    message = chat_message("1616990032035", ALICE, CHANNEL, "2026-03-02T10:00:00Z")
    update = notification(message, key.public_key(), change="updated")
    assert dict(mapped(config, pseudonymiser, key, update).ignored) == {"edited": 1}


def test_an_initiative_channel_sets_the_initiative(config, pseudonymiser, key):
    message = chat_message("1", ALICE, AGILE, "2026-03-02T10:00:00Z")
    [event] = mapped(config, pseudonymiser, key, notification(message, key.public_key())).events
    assert event["initiative"] == "digital-workplace"


def test_a_bot_message_is_ignored(config, pseudonymiser, key):
    message = chat_message("1", ALICE, CHANNEL, "2026-03-02T10:00:00Z")
    message["from"]["application"] = {"id": "bot-1", "displayName": "Build bot"}
    result = mapped(config, pseudonymiser, key, notification(message, key.public_key()))
    assert dict(result.ignored) == {"bot_message": 1}


@pytest.mark.parametrize("event", ["reauthorizationRequired", "subscriptionRemoved", "missed"])
def test_lifecycle_notifications_are_counted_by_name(config, pseudonymiser, key, event):
    result = mapped(config, pseudonymiser, key, lifecycle(event))
    assert (result.events, dict(result.ignored)) == ([], {f"lifecycle_{event}": 1})


def test_a_basic_notification_without_resource_data_is_ignored(config, pseudonymiser, key):
    message = chat_message("1", ALICE, CHANNEL, "2026-03-02T10:00:00Z")
    basic = notification(message, key.public_key())
    del basic["encryptedContent"]
    assert dict(mapped(config, pseudonymiser, key, basic).ignored) == {"without_resource_data": 1}


# --- Graph's rules, on the samples of Graph's own documentation --------------------------------
# "Processing the change notification" (learn.microsoft.com/graph/change-notifications-delivery-
# webhooks): answer 2xx, then validate clientState, and a notification whose clientState does
# not match is not valid. Graph retries any other answer for up to 4 hours and throttles
# endpoints that fail, so a notification that is not genuine is acknowledged, discarded and
# counted; the answer says nothing a forger could learn from.

DOCUMENTED = "msgraph/change-notification.json"
WITH_RESOURCE_DATA = "msgraph/chatmessage-with-resource-data.json"


def documented_rich_notification(public_key, message=None) -> dict:
    """Graph's example rich notification, its encryptedContent placeholders replaced by a
    chatMessage encrypted as Graph documents, and the subscription's clientState."""
    payload = vendor_sample(WITH_RESOURCE_DATA)
    [item] = payload["value"]
    message = message or chat_message("1565293727947", ALICE, CHANNEL, "2026-03-02T10:00:00Z")
    item["encryptedContent"].update(encrypt_resource(message, public_key))
    item["clientState"] = CLIENT_STATE
    return payload


def notified(config, pseudonymiser, key, payload) -> Mapped:
    result = msteams.map_notifications(payload, CLIENT_STATE, config.msteams, pseudonymiser, key)
    assert isinstance(result, Mapped), result
    return result


def test_the_documented_notification_with_our_client_state_is_taken(config, pseudonymiser, key):
    """The documented example carries clientState "secretClientValue", ours in these tests;
    it is a basic notification (no resource data), so it is ignored, not discarded."""
    result = notified(config, pseudonymiser, key, vendor_sample(DOCUMENTED))
    assert (dict(result.ignored), dict(result.discarded)) == ({"without_resource_data": 1}, {})


def test_the_documented_notification_with_another_client_state_is_discarded(
    config, pseudonymiser, key
):
    payload = vendor_sample(DOCUMENTED)
    payload["value"][0]["clientState"] = "a guess"
    result = notified(config, pseudonymiser, key, payload)
    assert (result.events, dict(result.discarded)) == ([], {"bad_client_state": 1})


def test_a_notification_without_a_client_state_is_discarded(config, pseudonymiser, key):
    payload = vendor_sample(DOCUMENTED)
    del payload["value"][0]["clientState"]
    result = notified(config, pseudonymiser, key, payload)
    assert dict(result.discarded) == {"bad_client_state": 1}


def test_the_documented_rich_notification_is_a_post(config, pseudonymiser, key):
    result = notified(config, pseudonymiser, key, documented_rich_notification(key.public_key()))
    [event] = result.events
    assert (event["type"], event["post"]) == (
        "discussion.posted",
        f"msteams:{CHANNEL}:1565293727947",
    )


def test_a_tampered_data_signature_is_discarded_without_decrypting(config, pseudonymiser, key):
    """ "Compare it to the value in dataSignature. If they don't match, assume the payload has
    been tampered with and don't decrypt it." (learn.microsoft.com/graph/change-notifications-
    with-resource-data, "Decrypting resource data", step 4)."""
    payload = documented_rich_notification(key.public_key())
    content = payload["value"][0]["encryptedContent"]
    content["dataSignature"] = "AAAA" + content["dataSignature"][4:]
    result = notified(config, pseudonymiser, key, payload)
    assert (result.events, dict(result.discarded)) == ([], {"bad_data_signature": 1})


def test_content_encrypted_for_another_key_is_discarded(config, pseudonymiser, key):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    payload = documented_rich_notification(other.public_key())
    result = notified(config, pseudonymiser, key, payload)
    assert (result.events, dict(result.discarded)) == ([], {"undecryptable": 1})


def test_a_forged_item_is_discarded_and_the_genuine_one_beside_it_is_taken(
    config, pseudonymiser, key
):
    """A request may batch the notifications of several subscriptions: each is judged alone."""
    payload = documented_rich_notification(key.public_key())
    forged = dict(payload["value"][0], clientState="a guess")
    payload["value"].append(forged)
    result = notified(config, pseudonymiser, key, payload)
    assert (len(result.events), dict(result.discarded)) == (1, {"bad_client_state": 1})


def test_a_lifecycle_notification_with_another_client_state_is_discarded(
    config, pseudonymiser, key
):
    result = notified(config, pseudonymiser, key, {"value": [lifecycle("missed", "a guess")]})
    assert (dict(result.ignored), dict(result.discarded)) == ({}, {"bad_client_state": 1})


def test_a_genuine_chat_message_outside_a_channel_is_ignored(config, pseudonymiser, key):
    """A message of a one-to-one or group chat (`chatId`, no `channelIdentity`), as a
    subscription to chats sends: genuine, so answered 2xx like any, and not measured."""
    message = chat_message("1565293727947", ALICE, CHANNEL, "2026-03-02T10:00:00Z")
    message["channelIdentity"] = None
    message["chatId"] = "19:2da4c29f6d7041eca70b638b43d45437@thread.v2"
    result = notified(
        config, pseudonymiser, key, documented_rich_notification(key.public_key(), message)
    )
    assert (result.events, dict(result.ignored)) == ([], {"not_channel_message": 1})
