"""Deliver the digest: as an HTML e-mail (with its plain-text part) through SMTP, or as a
Microsoft Teams Workflows message (an Adaptive Card) or a Slack incoming-webhook message.

Each delivery raises DeliveryError with the cause and the setting to fix; nothing is retried
here: the scheduled job runs again next week, and a failed run is visible as a failed job.
"""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from typing import Any

import aiohttp

from teampulse.digest.compose import Digest, render_email_html, render_text
from teampulse.notify.message import ADAPTIVE_CARD_VERSION
from teampulse.settings import Settings

__all__ = ["DeliveryError", "email_message", "send_email", "send_slack", "send_teams"]

TIMEOUT_S = 15.0


class DeliveryError(RuntimeError):
    """The digest could not be delivered; the message names the cause and the fix."""


def email_message(digest: Digest, settings: Settings) -> EmailMessage:
    recipients = [r.strip() for r in settings.digest_to.split(",") if r.strip()]
    if not recipients:
        raise DeliveryError("no recipients: set TEAMPULSE_DIGEST_TO (comma-separated addresses)")
    message = EmailMessage()
    message["Subject"] = f"TeamPulse weekly digest: {digest.title}"
    message["From"] = settings.digest_from
    message["To"] = ", ".join(recipients)
    message.set_content(render_text(digest, settings.webapp_url))
    message.add_alternative(render_email_html(digest, settings.webapp_url), subtype="html")
    return message


def _smtp_send(message: EmailMessage, settings: Settings) -> None:
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_S) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
        smtp.send_message(message)


async def send_email(digest: Digest, settings: Settings) -> None:
    message = email_message(digest, settings)
    try:
        await asyncio.to_thread(_smtp_send, message, settings)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(
            f"the SMTP server {settings.smtp_host}:{settings.smtp_port} did not take the digest "
            f"({exc}); check TEAMPULSE_SMTP_HOST, TEAMPULSE_SMTP_PORT and the SMTP login"
        ) from exc


async def _post(url: str, body: dict[str, Any], setting: str) -> None:
    if not url:
        raise DeliveryError(f"no webhook: set {setting}")
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as session,
            session.post(url, json=body) as answer,
        ):
            if answer.status >= 300:
                raise DeliveryError(
                    f"the webhook answered {answer.status}: {(await answer.text())[:200]}; "
                    f"check {setting}"
                )
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DeliveryError(f"the webhook did not answer ({exc}); check {setting}") from exc


def teams_body(digest: Digest, web_url: str) -> dict[str, Any]:
    blocks = [
        {
            "type": "TextBlock",
            "size": "Large",
            "weight": "Bolder",
            "wrap": True,
            "text": f"TeamPulse weekly digest: {digest.title}",
        },
    ]
    for paragraph in render_text(digest, web_url).split("\n\n")[1:]:
        blocks.append({"type": "TextBlock", "wrap": True, "text": paragraph.replace("\n", "\n\n")})
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": ADAPTIVE_CARD_VERSION,
                    "body": blocks,
                    "actions": [
                        {"type": "Action.OpenUrl", "title": "Open TeamPulse", "url": f"{web_url}/"}
                    ],
                },
            }
        ],
    }


def slack_body(digest: Digest, web_url: str) -> dict[str, Any]:
    text = render_text(digest, web_url)
    return {
        "text": f"TeamPulse weekly digest: {digest.title}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": paragraph}}
            for paragraph in text.split("\n\n")
        ],
    }


async def send_teams(digest: Digest, settings: Settings) -> None:
    await _post(
        settings.digest_teams_webhook_url,
        teams_body(digest, settings.webapp_url),
        "TEAMPULSE_DIGEST_TEAMS_WEBHOOK_URL",
    )


async def send_slack(digest: Digest, settings: Settings) -> None:
    await _post(
        settings.digest_slack_webhook_url,
        slack_body(digest, settings.webapp_url),
        "TEAMPULSE_DIGEST_SLACK_WEBHOOK_URL",
    )
