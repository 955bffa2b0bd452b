"""The demo's stand-in Teams channel reads back what `teampulse notify` posts."""

from __future__ import annotations

import pytest

from teampulse.notify.message import AlertNotice, teams_message
from teampulse.ops.demo_inbox import card_lines

WEB = "http://127.0.0.1:6080"
NOTICE = AlertNotice(
    alert="TeamEngagementDropped",
    status="firing",
    team="sales-nova",
    headline="Team sales-nova is far less active than usual",
    detail="Team sales-nova had 14 events in the last 7 days; it usually has about 36.",
    runbook_url=f"{WEB}/runbooks/teamengagementdropped",
    team_url=f"{WEB}/teams/sales-nova",
    severity="warning",
)


def test_a_card_reads_as_its_headline_detail_facts_and_links() -> None:
    lines = card_lines(teams_message([NOTICE], WEB))

    assert lines == [
        "TeamPulse: 1 alert(s) firing, 0 resolved",
        "FIRING TeamEngagementDropped: Team sales-nova is far less active than usual",
        "Team sales-nova had 14 events in the last 7 days; it usually has about 36.",
        "Team: sales-nova",
        f"What to do: [runbook]({WEB}/runbooks/teamengagementdropped)",
        f"Team page: [sales-nova]({WEB}/teams/sales-nova)",
        f"Open the team page: {WEB}/teams/sales-nova",
        f"Open the runbook: {WEB}/runbooks/teamengagementdropped",
        f"All alerts: {WEB}/alerts",
    ]


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"text": "hello"}, "not a Workflows message"),
        ({"type": "message", "attachments": [{"content": {"type": "HeroCard"}}]}, "Adaptive Card"),
    ],
)
def test_what_is_not_a_workflows_card_is_refused_with_the_reason(
    message: dict, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        card_lines(message)
