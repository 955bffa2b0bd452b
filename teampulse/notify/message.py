"""What every notification says about an alert, decided once: the team, what changed against
what normal, the runbook and the team page, as absolute links into the web app.

Pure: an Alertmanager webhook payload (version 4) in, `AlertNotice`s out; `teams_message`
wraps them in the body a Microsoft Teams Workflows webhook takes: a message with one Adaptive
Card attachment ("Post to a channel when a webhook request is received").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from teampulse.web.runbooks import runbook_path

__all__ = ["AlertNotice", "ADAPTIVE_CARD_VERSION", "notices", "teams_message"]

ADAPTIVE_CARD_VERSION = "1.4"  # what Teams renders in channels and chats
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"


@dataclass(frozen=True)
class AlertNotice:
    alert: str
    status: str  # firing | resolved
    team: str | None
    headline: str  # e.g. "Engagement of team X is -53% against its normal"
    detail: str
    runbook_url: str | None
    team_url: str | None
    severity: str


def _absolute(web_url: str, path: str | None) -> str | None:
    if path is None:
        return None
    return path if path.startswith(("http://", "https://")) else f"{web_url}{path}"


def notices(payload: Mapping[str, Any], web_url: str) -> list[AlertNotice]:
    """One notice per alert of an Alertmanager webhook payload; raises ValueError naming what
    is missing when the payload is not one."""
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        raise ValueError("not an Alertmanager webhook payload: no 'alerts' list")
    found = []
    for alert in alerts:
        if not isinstance(alert, Mapping):
            raise ValueError("an entry of 'alerts' is not an object")
        labels = alert.get("labels") or {}
        annotations = alert.get("annotations") or {}
        team = labels.get("team")
        name = labels.get("alertname", "alert")
        where = ", ".join(labels[k] for k in ("department", "division") if labels.get(k))
        found.append(
            AlertNotice(
                alert=name,
                status=str(alert.get("status", payload.get("status", "firing"))),
                team=team,
                headline=annotations.get("summary") or name + (f" for team {team}" if team else ""),
                detail=annotations.get("description") or where,
                runbook_url=_absolute(web_url, runbook_path(annotations.get("runbook"))),
                team_url=f"{web_url}/teams/{quote(team, safe='')}" if team else None,
                severity=labels.get("severity", ""),
            )
        )
    return found


def teams_message(items: Sequence[AlertNotice], web_url: str) -> dict[str, Any]:
    """The Workflows webhook body: a message whose one attachment is an Adaptive Card listing
    every alert of the group with its links (buttons for the first alert's pages)."""
    body: list[dict[str, Any]] = []
    firing = sum(1 for n in items if n.status == "firing")
    body.append(
        {
            "type": "TextBlock",
            "size": "Large",
            "weight": "Bolder",
            "wrap": True,
            "text": f"TeamPulse: {firing} alert(s) firing, {len(items) - firing} resolved",
        }
    )
    for notice in items:
        state = "RESOLVED" if notice.status == "resolved" else "FIRING"
        body.append(
            {
                "type": "TextBlock",
                "wrap": True,
                "weight": "Bolder",
                "separator": True,
                "color": "Good" if notice.status == "resolved" else "Attention",
                "text": f"{state} {notice.alert}: {notice.headline}",
            }
        )
        facts = []
        if notice.team:
            facts.append({"title": "Team", "value": notice.team})
        if notice.runbook_url:
            facts.append({"title": "What to do", "value": f"[runbook]({notice.runbook_url})"})
        if notice.team_url:
            facts.append({"title": "Team page", "value": f"[{notice.team}]({notice.team_url})"})
        if notice.detail:
            body.append({"type": "TextBlock", "wrap": True, "text": notice.detail})
        if facts:
            body.append({"type": "FactSet", "facts": facts})
    actions = []
    first = items[0] if items else None
    if first is not None and first.team_url:
        actions.append(
            {"type": "Action.OpenUrl", "title": "Open the team page", "url": first.team_url}
        )
    if first is not None and first.runbook_url:
        actions.append(
            {"type": "Action.OpenUrl", "title": "Open the runbook", "url": first.runbook_url}
        )
    actions.append({"type": "Action.OpenUrl", "title": "All alerts", "url": f"{web_url}/alerts"})
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": CARD_CONTENT_TYPE,
                "contentUrl": None,
                "content": {
                    "$schema": CARD_SCHEMA,
                    "type": "AdaptiveCard",
                    "version": ADAPTIVE_CARD_VERSION,
                    "body": body,
                    "actions": actions,
                },
            }
        ],
    }
