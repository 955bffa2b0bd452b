"""`teampulse digest` as the scheduled job runs it: the demo organisation published in a real
Redis, the digest received by an aiosmtpd SMTP server on loopback, its HTML rendered by
Debian's headless Chromium (a screenshot in test-artifacts/), and posted to Teams and Slack
endpoints that check the vendors' body shapes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from teampulse.settings import Settings
from tests.integration.alerting_stack import WebhookReceiver
from tests.integration.published_org import free_port, publish_demo_org
from tests.integration.test_notifications import Mailbox, assert_adaptive_card_message
from tests.integration.test_pipeline_end_to_end import headless
from tests.integration.worker_harness import wait_for

pytestmark = pytest.mark.integration

ACME_KEYS = "tenant:acme:"


@pytest.fixture(scope="module")
def published(redis_url: str):
    # The prefix is also tenant acme's own under `digest-N:` (test_a_tenants_digest_...).
    prefix = f"digest-{free_port()}:{ACME_KEYS}"
    return publish_demo_org(Settings(redis_url=redis_url, redis_prefix=prefix))


def digest(published, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    settings = published.settings
    return subprocess.run(
        [sys.executable, "-m", "teampulse.cli", "digest", *args],
        env={
            **os.environ,
            "TEAMPULSE_REDIS_URL": settings.redis_url,
            "TEAMPULSE_REDIS_PREFIX": settings.redis_prefix,
            "TEAMPULSE_WEBAPP_PUBLIC_URL": "https://teampulse.example.com",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_digest_arrives_by_email_with_its_charts_inline(published) -> None:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        done = digest(
            published,
            "--scope",
            "department:product",
            "--to",
            "email",
            TEAMPULSE_SMTP_HOST="127.0.0.1",
            TEAMPULSE_SMTP_PORT=str(controller.port),
            TEAMPULSE_DIGEST_TO="leaders@example.com, l-and-d@example.com",
        )
        assert done.returncode == 0, done.stderr
        wait_for(mailbox.received, 10, "the digest e-mail")
    finally:
        controller.stop()

    (email,) = mailbox.received()
    assert email["Subject"] == "TeamPulse weekly digest: department product"
    assert email["To"] == "leaders@example.com, l-and-d@example.com"
    html = email.get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = email.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    # the charts are inline tables: nothing to fetch, nothing attached
    assert "<img" not in html and "<svg" not in html and "bgcolor=" in html
    assert len(re.findall(r"\d{4}-W\d{2}", html)) >= 5  # the quarter, week by week
    assert f"https://teampulse.example.com/teams/{published.dropping}" in html
    assert published.dropping in text
    assert "Moved most this week" in html and "Needs attention" in html
    assert all(f"{team}" not in html for team in published.small_teams)


def test_the_digest_html_renders_in_chromium(
    published, chromium: str, artifacts_dir: Path, tmp_path: Path
) -> None:
    page = tmp_path / "digest.html"
    done = digest(published, "--scope", "org", "--to", "html", "--out", str(page))
    assert done.returncode == 0, done.stderr

    screenshot = artifacts_dir / "digest-organisation.png"
    shot = headless(
        chromium, tmp_path / "profile-shot", "--hide-scrollbars", f"--screenshot={screenshot}",
        "--window-size=900,2400", page.as_uri(),
    )  # fmt: skip
    dom = headless(chromium, tmp_path / "profile-dom", "--dump-dom", page.as_uri())
    assert shot.returncode == 0 and dom.returncode == 0, shot.stderr[-2000:]
    assert screenshot.stat().st_size > 20_000
    assert "TeamPulse weekly digest: the organisation" in dom.stdout
    for initiative in ("agile-ways-of-working", "data-literacy", "digital-workplace"):
        assert f"Initiative {initiative}" in dom.stdout


def test_the_digest_posts_to_teams_and_slack_in_their_shapes(published) -> None:
    vendor = WebhookReceiver().start()
    try:
        for to in ("teams", "slack"):
            done = digest(
                published,
                "--to",
                to,
                TEAMPULSE_DIGEST_TEAMS_WEBHOOK_URL=f"{vendor.url}/teams",
                TEAMPULSE_DIGEST_SLACK_WEBHOOK_URL=f"{vendor.url}/slack",
            )
            assert done.returncode == 0, done.stderr
    finally:
        vendor.stop()
    received = dict(vendor.received())
    card = assert_adaptive_card_message(received["/teams"])
    assert "TeamPulse weekly digest: the organisation" in str(card)
    slack = received["/slack"]
    assert slack["text"] == "TeamPulse weekly digest: the organisation"
    for block in slack["blocks"]:
        assert block["type"] == "section" and block["text"]["type"] == "mrkdwn"
        assert len(block["text"]["text"]) <= 3000  # Slack's limit for a section's text


def test_a_withheld_or_unknown_scope_gets_no_digest_and_a_reason(published) -> None:
    done = digest(published, "--scope", "department:no-such-department", "--to", "html")
    assert done.returncode == 2
    assert "not published" in done.stderr and "minimum group size" in done.stderr
    done = digest(published, "--scope", "team:x", "--to", "html")
    assert done.returncode == 2 and "org, division:NAME or department:NAME" in done.stderr


def test_a_tenants_digest_reads_its_own_keys_only(published, tmp_path: Path) -> None:
    """The demo organisation is published under tenant acme's prefix; the digest of acme
    finds it, globex's (nothing published) does not. Two CLI runs on the module's figures."""
    base = published.settings.redis_prefix.removesuffix(ACME_KEYS)
    tenants_file = tmp_path / "tenants.yaml"
    tenants_file.write_text(
        "tenants:\n"
        "  acme: {pseudonym_secret: acme-pseudonym-key-0001}\n"
        "  globex: {pseudonym_secret: globex-pseudonym-key-02}\n"
    )
    env = {"TEAMPULSE_TENANTS_FILE": str(tenants_file), "TEAMPULSE_REDIS_PREFIX": base}
    out = tmp_path / "acme.html"
    args = ("--scope", "department:product", "--to", "html", "--out", str(out))

    acme = digest(published, *args, "--tenant", "acme", **env)
    assert acme.returncode == 0, acme.stderr
    assert "product" in out.read_text()
    globex = digest(published, *args, "--tenant", "globex", **env)
    assert globex.returncode == 2 and "not published" in globex.stderr
