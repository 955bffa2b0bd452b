"""Alerts where L&D works, each path against a real receiver on loopback: a real
Alertmanager with the project's configuration and templates sends one alert to
`teampulse notify` (which posts an Adaptive Card to a Teams Workflows endpoint), to Slack
(Alertmanager's own receiver) and by e-mail to an aiosmtpd SMTP server. The loopback HTTP
endpoint checks each body against the shape the vendor documents."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller

from tests.integration.alerting_stack import ALERTMANAGER_CONFIG, Alertmanager, WebhookReceiver
from tests.integration.published_org import free_port, teampulse_server
from tests.integration.worker_harness import wait_for

pytestmark = pytest.mark.integration

TEAM = "product-ember"
WEB_URL = "http://127.0.0.1:6080"  # the template's and notify's default web app address
TEAM_URL = f"{WEB_URL}/teams/{TEAM}"
RUNBOOK_URL = f"{WEB_URL}/runbooks/teamengagementdropped"
SUMMARY = f"Engagement of team {TEAM} is -72% against its normal"
DESCRIPTION = "The engagement score of team product-ember over the last 20 hours is -72%"


class Mailbox:
    """aiosmtpd's handler: keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"

    def received(self) -> list[EmailMessage]:
        with self._lock:
            return list(self.messages)


@pytest.fixture
def smtp_server():
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, mailbox
    finally:
        controller.stop()


def example_receivers(smtp_port: int, vendor_url: str) -> dict[str, Any]:
    """notifications.example.yml with its addresses pointed at the loopback receivers."""
    extras = yaml.safe_load((ALERTMANAGER_CONFIG.parent / "notifications.example.yml").read_text())
    extras["slack_configs"][0]["api_url"] = f"{vendor_url}/slack"
    email = extras["email_configs"][0]
    email.update(smarthost=f"127.0.0.1:{smtp_port}", require_tls=False)
    return extras


def post_alert(alertmanager_url: str) -> None:
    alert = {
        "labels": {
            "alertname": "TeamEngagementDropped",
            "team": TEAM,
            "department": "product",
            "division": "product-and-technology",
            "severity": "warning",
            "audience": "learning-and-development",
        },
        "annotations": {
            "summary": SUMMARY,
            "description": DESCRIPTION,
            "runbook": "docs/operations.md#teamengagementdropped",
        },
    }
    request = urllib.request.Request(
        f"{alertmanager_url}/api/v2/alerts",
        data=json.dumps([alert]).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def assert_adaptive_card_message(body: dict[str, Any]) -> dict[str, Any]:
    """The body a Teams Workflows webhook takes: a message with an Adaptive Card attachment."""
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["version"] in ("1.0", "1.2", "1.3", "1.4", "1.5")
    for element in card["body"]:
        assert element["type"] in ("TextBlock", "FactSet", "ColumnSet", "Container")
    for action in card.get("actions", []):
        assert action["type"] == "Action.OpenUrl" and action["url"].startswith("http")
    return card


def assert_slack_message(body: dict[str, Any]) -> str:
    """Alertmanager's Slack body as Slack's incoming webhooks take it (legacy attachments)."""
    assert body["channel"] == "#learning-and-development"
    (attachment,) = body["attachments"]
    assert {"title", "text", "fallback", "color"} <= set(attachment)
    assert attachment["color"] == "danger"
    return f"{attachment['title']}\n{attachment['text']}"


async def test_an_alert_reaches_teams_slack_and_email_naming_team_change_runbook_and_page(
    smtp_server, tmp_path: Path
) -> None:
    controller, mailbox = smtp_server
    vendor = WebhookReceiver().start()  # the Teams Workflows and Slack endpoints
    notify_port = free_port()
    env = {
        "TEAMPULSE_NOTIFY_PORT": str(notify_port),
        "TEAMPULSE_NOTIFY_TEAMS_WEBHOOK_URL": f"{vendor.url}/teams-workflow",
    }
    # the project's webhook receivers, pointed at `teampulse notify`
    notify_hook = SimpleNamespace(url=f"http://127.0.0.1:{notify_port}")
    alertmanager = None
    try:
        with teampulse_server("notify", env, notify_port, tmp_path / "notify.log"):
            alertmanager = Alertmanager(
                tmp_path / "alertmanager",
                notify_hook,  # type: ignore[arg-type]
                speed=60.0,
                receiver_extras={
                    "learning-and-development": example_receivers(controller.port, vendor.url)
                },
            )
            post_alert(alertmanager.url)

            def delivered() -> bool:
                paths = {path for path, _ in vendor.received()}
                return {"/teams-workflow", "/slack"} <= paths and bool(mailbox.received())

            await asyncio.to_thread(wait_for, delivered, 60, "Teams, Slack and e-mail")
    finally:
        if alertmanager is not None:
            alertmanager.stop()
        vendor.stop()

    received = dict(vendor.received())
    card = assert_adaptive_card_message(received["/teams-workflow"])
    card_text = json.dumps(card)
    for needed in (TEAM, "-72%", RUNBOOK_URL, TEAM_URL):
        assert needed in card_text, needed

    slack_text = assert_slack_message(received["/slack"])
    for needed in (TEAM, "-72%", RUNBOOK_URL, TEAM_URL, "FIRING"):
        assert needed in slack_text, needed

    email = mailbox.received()[0]
    assert email["Subject"] == f"TeamPulse: TeamEngagementDropped for team {TEAM} (firing)"
    html = email.get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = email.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    for needed in (SUMMARY, f'href="{TEAM_URL}"', f'href="{RUNBOOK_URL}"'):
        assert needed in html, needed
    for needed in (SUMMARY, TEAM_URL, RUNBOOK_URL):
        assert needed in text, needed


async def test_notify_refuses_what_is_not_an_alertmanager_payload(tmp_path: Path) -> None:
    port = free_port()
    env = {"TEAMPULSE_NOTIFY_PORT": str(port)}
    with teampulse_server("notify", env, port, tmp_path / "notify.log") as url:
        for body, reason in ((b"{not json", "bad_payload"), (b'{"alerts": 3}', "alerts")):
            request = urllib.request.Request(f"{url}/alerts", data=body, method="POST")
            try:
                urllib.request.urlopen(request, timeout=5)
                raise AssertionError("accepted")
            except urllib.error.HTTPError as exc:
                assert exc.code == 400
                assert reason in exc.read().decode()


async def test_notify_without_a_teams_webhook_asks_alertmanager_to_retry(tmp_path: Path) -> None:
    port = free_port()
    env = {"TEAMPULSE_NOTIFY_PORT": str(port), "TEAMPULSE_NOTIFY_TEAMS_WEBHOOK_URL": ""}
    payload = {"status": "firing", "alerts": [{"status": "firing", "labels": {"team": TEAM}}]}
    with teampulse_server("notify", env, port, tmp_path / "notify.log") as url:
        request = urllib.request.Request(
            f"{url}/alerts", data=json.dumps(payload).encode(), method="POST"
        )
        try:
            urllib.request.urlopen(request, timeout=5)
            raise AssertionError("accepted")
        except urllib.error.HTTPError as exc:
            assert exc.code == 503
            assert "TEAMPULSE_NOTIFY_TEAMS_WEBHOOK_URL" in exc.read().decode()
