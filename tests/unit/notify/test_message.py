"""What a Teams notification says: the team, the change against its normal, the runbook and
the team page as absolute links, in the Adaptive Card a Workflows webhook takes."""

from __future__ import annotations

import json

import pytest

from teampulse.notify.message import notices, teams_message

WEB = "https://teampulse.example.com"
PAYLOAD = {
    "version": "4",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "TeamEngagementDropped", "team": "sales nova"},
            "annotations": {
                "summary": "Engagement of team sales nova is -60% against its normal",
                "runbook": "docs/operations.md#teamengagementdropped",
            },
        }
    ],
}


def test_a_notice_carries_the_change_and_absolute_links() -> None:
    (notice,) = notices(PAYLOAD, WEB)

    assert notice.headline == "Engagement of team sales nova is -60% against its normal"
    assert notice.runbook_url == f"{WEB}/runbooks/teamengagementdropped"
    assert notice.team_url == f"{WEB}/teams/sales%20nova"


def test_the_teams_message_is_one_adaptive_card_with_the_links() -> None:
    message = teams_message(notices(PAYLOAD, WEB), WEB)

    (attachment,) = message["attachments"]
    assert message["type"] == "message"
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    urls = [action["url"] for action in card["actions"]]
    assert urls == [
        f"{WEB}/teams/sales%20nova",
        f"{WEB}/runbooks/teamengagementdropped",
        f"{WEB}/alerts",
    ]
    assert "-60%" in json.dumps(card["body"])


@pytest.mark.parametrize("payload", [{}, {"alerts": "x"}, {"alerts": [3]}])
def test_what_is_not_an_alertmanager_payload_is_refused_with_a_reason(payload: dict) -> None:
    with pytest.raises(ValueError, match="alerts"):
        notices(payload, WEB)
