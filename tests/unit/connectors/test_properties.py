"""Whatever a platform (or someone pretending to be one) sends, a mapper answers with a
value, never an exception: a documented payload with any part replaced by any JSON."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teampulse.connectors import caliper, discourse, msteams, slack
from teampulse.connectors.canonical import Mapped
from teampulse.connectors.config import ConnectorConfig
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Rejection
from tests.support.connector_payloads import (
    CLIENT_STATE,
    GRADED,
    MESSAGE_POSTED,
    callback,
    chat_message,
    envelope,
    headers,
    message,
    notification,
    post,
    reaction,
)
from tests.support.json_mutations import mutations
from tests.unit.connectors.connector_constants import NOW, SECRET

CONFIG = ConnectorConfig()
PSEUDONYMISER = Pseudonymiser(SECRET)
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)

SLACK = callback(message(thread_ts="1772450000.000100"))
DISCOURSE = {"post": post(post_number=3, reply_to_post_number=2)}
CALIPER = envelope(MESSAGE_POSTED, GRADED)
TEAMS_MESSAGE = chat_message(
    "1",
    "aad-alice",
    "19:c@thread.tacv2",
    "2026-03-02T10:00:00Z",
    reply_to="0",
    reactions=[reaction("aad-bob", "2026-03-02T10:01:00Z")],
)


def answered(result: object) -> bool:
    return isinstance(result, Mapped | Rejection | slack.Challenge | caliper.UnsupportedDataVersion)


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(mutations(SLACK))
def test_slack_answers_any_delivery(payload: Any):
    assert answered(slack.map_delivery(payload, CONFIG.slack, PSEUDONYMISER))


@FUZZ
@given(mutations(DISCOURSE), st.sampled_from(["post_created", "topic_created", "post_liked"]))
def test_discourse_answers_any_delivery(payload: Any, event: str):
    result = discourse.map_delivery(
        headers(event, "post"), payload, CONFIG.discourse, PSEUDONYMISER, NOW
    )
    assert answered(result)


@FUZZ
@given(mutations(CALIPER))
def test_caliper_answers_any_envelope(payload: Any):
    assert answered(caliper.map_envelope(payload, CONFIG.caliper, PSEUDONYMISER))


@FUZZ
@given(mutations(TEAMS_MESSAGE), st.booleans())
def test_teams_answers_any_chat_message(resource: Any, created: bool):
    if not isinstance(resource, dict):
        return  # decrypt_resource only ever hands over a JSON object
    result = msteams.map_message(resource, created, "tenant", CONFIG.msteams, PSEUDONYMISER)
    assert answered(result)


@FUZZ
@given(mutations({"value": [notification(TEAMS_MESSAGE, KEY.public_key())]}))
def test_teams_answers_any_notification(payload: Any):
    result = msteams.map_notifications(payload, CLIENT_STATE, CONFIG.msteams, PSEUDONYMISER, KEY)
    assert answered(result)


@pytest.mark.parametrize("payload", [SLACK, DISCOURSE, CALIPER])
def test_the_unmutated_examples_map_to_events(payload: Any):
    """The fuzzed documents are valid to start with, so mutations probe the real paths."""
    results = {
        id(SLACK): lambda: slack.map_delivery(SLACK, CONFIG.slack, PSEUDONYMISER),
        id(DISCOURSE): lambda: discourse.map_delivery(
            headers("post_created", "post"), DISCOURSE, CONFIG.discourse, PSEUDONYMISER, NOW
        ),
        id(CALIPER): lambda: caliper.map_envelope(CALIPER, CONFIG.caliper, PSEUDONYMISER),
    }
    result = results[id(payload)]()
    assert isinstance(result, Mapped) and result.events
