"""`teampulse web` in a real browser: the demo organisation published in a real Redis, an
alert held by a real Alertmanager, pages read by Debian's headless Chromium, a screenshot of
each page in test-artifacts/."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path

import pytest
import yaml
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from teampulse.settings import Settings
from teampulse.web.server import make_app
from tests.integration.alerting_stack import RULES, Alertmanager, WebhookReceiver
from tests.integration.published_org import free_port, publish_demo_org, teampulse_server
from tests.integration.test_pipeline_end_to_end import headless
from tests.integration.worker_harness import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def web_app(redis_url: str, prometheus_url: str, tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("web-app")
    prefix = f"web-{free_port()}:"
    published = publish_demo_org(Settings(redis_url=redis_url, redis_prefix=prefix))
    receiver = WebhookReceiver().start()
    alertmanager = Alertmanager(workdir / "alertmanager", receiver)
    team = published.dropping
    post_alert(
        alertmanager.url,
        {
            "alertname": "TeamEngagementDropped",
            "team": team,
            "department": team.split("-")[0],
            "severity": "warning",
            "audience": "learning-and-development",
        },
        {
            "summary": f"Engagement of team {team} is -72% against its normal",
            "runbook": "docs/operations.md#teamengagementdropped",
        },
    )
    port = free_port()
    env = {
        "TEAMPULSE_REDIS_URL": redis_url,
        "TEAMPULSE_REDIS_PREFIX": prefix,
        "TEAMPULSE_WEBAPP_PORT": str(port),
        "TEAMPULSE_PROMETHEUS_URL": prometheus_url,
        "TEAMPULSE_ALERTMANAGER_URL": alertmanager.url,
    }
    try:
        with teampulse_server("web", env, port, workdir / "web.log") as url:
            yield url, published
    finally:
        alertmanager.stop()
        receiver.stop()


def post_alert(alertmanager_url: str, labels: dict[str, str], annotations: dict[str, str]) -> None:
    request = urllib.request.Request(
        f"{alertmanager_url}/api/v2/alerts",
        data=json.dumps([{"labels": labels, "annotations": annotations}]).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def page_in_chromium(
    chromium: str, url: str, tmp_path: Path, screenshot: Path, height: int = 1800
) -> str:
    dom = headless(chromium, tmp_path / "profile-dom", "--dump-dom", url)
    shot = headless(
        chromium, tmp_path / "profile-shot", "--hide-scrollbars", f"--screenshot={screenshot}",
        f"--window-size=1200,{height}", url,
    )  # fmt: skip
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.stat().st_size > 20_000
    return dom.stdout


def assert_self_contained(dom: str) -> None:
    """Nothing is fetched from anywhere: no script, style sheet, image or frame by URL."""
    assert re.search(r"<(script|link|img|iframe)\b", dom) is None
    assert "src=" not in dom


def test_the_organisation_page_leads_with_the_dropping_team_and_why(
    web_app, chromium: str, artifacts_dir: Path, tmp_path: Path
) -> None:
    url, published = web_app
    dom = page_in_chromium(chromium, url + "/", tmp_path, artifacts_dir / "web-organisation.png")

    first = re.search(r'<div class="attention level-(\d)" data-team="([^"]+)">(.*?)</div>', dom)
    assert first is not None
    assert first.group(2) == published.dropping
    assert re.search(r"engagement −\d+% against its usual \w+day", first.group(3))
    assert "TeamEngagementDropped firing" in first.group(3)
    for small in published.small_teams:
        assert f'data-team="{small}"' not in dom  # below the minimum group size
    assert "withheld" not in dom  # every roll-up of the demo organisation publishes
    assert "The organisation: engagement" in dom
    assert_self_contained(dom)


def test_the_team_page_charts_90_days_against_its_baseline_and_links_its_runbook(
    web_app, chromium: str, artifacts_dir: Path, tmp_path: Path
) -> None:
    url, published = web_app
    dom = page_in_chromium(
        chromium, f"{url}/teams/{published.dropping}", tmp_path, artifacts_dir / "web-team.png"
    )

    lines = re.findall(r'<polyline points="([^"]+)"', dom)
    assert len(lines) == 2  # engagement and its baseline
    assert len(lines[0].split()) >= 30  # a point per day of the five weeks of history
    assert "engagement (day)" in dom and "its usual (baseline)" in dom
    assert "time to first reply" in dom and "replies across teams" in dom
    assert dom.count("awareness") >= 3  # a funnel per initiative
    assert 'href="/runbooks/teamengagementdropped"' in dom
    assert "Needs attention" in dom
    assert_self_contained(dom)


def test_the_team_page_prints(web_app, chromium: str, artifacts_dir: Path, tmp_path: Path) -> None:
    url, published = web_app
    pdf = artifacts_dir / "web-team.pdf"
    done = headless(
        chromium, tmp_path / "profile-pdf", "--no-pdf-header-footer", f"--print-to-pdf={pdf}",
        f"{url}/teams/{published.dropping}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert pdf.read_bytes().startswith(b"%PDF")


def test_the_initiatives_page_shows_each_funnel_by_department_and_week(
    web_app, chromium: str, artifacts_dir: Path, tmp_path: Path
) -> None:
    url, _ = web_app
    dom = page_in_chromium(
        chromium, url + "/initiatives", tmp_path, artifacts_dir / "web-initiatives.png", 2600
    )

    sections = re.findall(r'<section data-initiative="([^"]+)">', dom)
    assert sections == sorted(sections) and len(sections) >= 2
    assert dom.count('aria-label="whole organisation"') == len(sections)
    assert dom.count('aria-label="practising (ability or beyond), week by week"') == len(sections)
    assert len(re.findall(r"\d{4}-W\d{2}", dom)) >= 5 * len(sections)  # five weeks each
    assert "<td>engineering</td>" in dom  # by department
    # ... and week by week, a chart per department in each section, its latest value on it
    for section in re.split(r"<section data-initiative=", dom)[1:]:
        weekly = section.split("by department</h3>")[-1]
        assert 'aria-label="engineering"' in weekly
        assert re.search(r'aria-label="engineering".*?>\d+%</text>', weekly)
    assert_self_contained(dom)


def test_the_alerts_page_lists_the_firing_alert_with_its_team_and_runbook(
    web_app, chromium: str, artifacts_dir: Path, tmp_path: Path
) -> None:
    url, published = web_app
    dom = page_in_chromium(chromium, url + "/alerts", tmp_path, artifacts_dir / "web-alerts.png")

    row = re.search(r'<tr data-alert="TeamEngagementDropped">(.*?)</tr>', dom)
    assert row is not None
    assert "firing" in row.group(1)
    assert f'href="/teams/{published.dropping}"' in row.group(1)
    assert 'href="/runbooks/teamengagementdropped"' in row.group(1)


def test_every_runbook_an_alert_rule_names_resolves(web_app) -> None:
    url, _ = web_app
    runbooks = [
        rule["annotations"]["runbook"]
        for path in sorted(RULES.glob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]
    assert runbooks
    for runbook in runbooks:
        anchor = runbook.split("#", 1)[1]
        status, text = get(f"{url}/runbooks/{anchor}")
        assert status == 200, runbook
        assert "What it means" in text, runbook


def test_unpublished_teams_and_unknown_runbooks_are_not_found(web_app) -> None:
    url, published = web_app
    assert get(f"{url}/teams/{published.small_teams[0]}")[0] == 404
    assert get(f"{url}/teams/no-such-team")[0] == 404
    status, text = get(f"{url}/runbooks/no-such-alert")
    assert status == 404 and "teamengagementdropped" in text


def test_without_redis_the_page_says_where_it_reads_from(tmp_path: Path) -> None:
    port, dead = free_port(), free_port()
    env = {"TEAMPULSE_REDIS_URL": f"redis://127.0.0.1:{dead}/0", "TEAMPULSE_WEBAPP_PORT": str(port)}
    with teampulse_server("web", env, port, tmp_path / "web.log") as url:
        status, text = wait_for(lambda: get(url + "/"), 10, "an answer")
    assert status == 503
    assert f"127.0.0.1:{dead}" in text and "TEAMPULSE_REDIS_URL" in text


def test_the_alerts_page_shows_a_tenant_its_own_alerts_only(
    redis_url: str, prometheus_url: str, tmp_path: Path
) -> None:
    """Two tenants' alerts for a team of the same name in a real Alertmanager: each tenant's
    read token shows its own, and a page without a token is refused (docs/tenancy.md)."""
    receiver = WebhookReceiver().start()
    alertmanager = Alertmanager(tmp_path / "alertmanager", receiver)
    tenants_file = tmp_path / "tenants.yaml"
    tokens = {"acme": "acme-read-token-000001", "globex": "globex-read-token-0002"}
    tenants_file.write_text(
        yaml.safe_dump(
            {
                "tenants": {
                    tenant: {"pseudonym_secret": f"{tenant}-pseudonym-key-0001", "read_tokens": [t]}
                    for tenant, t in tokens.items()
                }
            }
        )
    )
    try:
        for tenant in tokens:
            post_alert(
                alertmanager.url,
                {
                    "alertname": "TeamEngagementDropped",
                    "tenant": tenant,
                    "team": "red",
                    "department": "sales",
                    "severity": "warning",
                    "audience": "learning-and-development",
                },
                {"summary": f"Engagement of team red of {tenant} dropped", "runbook": ""},
            )
        settings = Settings(
            redis_url=redis_url,
            redis_prefix=f"web-tenants-{free_port()}:",
            prometheus_url=prometheus_url,
            alertmanager_url=alertmanager.url,
            tenants_file=tenants_file,
        )
        pages = asyncio.run(alerts_pages(settings, tokens))
    finally:
        alertmanager.stop()
        receiver.stop()
    assert pages["anonymous"][0] == 401
    for tenant, other in (("acme", "globex"), ("globex", "acme")):
        status, html = pages[tenant]
        assert status == 200
        assert f"red of {tenant} dropped" in html and f"of {other}" not in html


async def alerts_pages(settings: Settings, tokens: dict[str, str]) -> dict[str, tuple[int, str]]:
    server = TestServer(make_app(settings), host="127.0.0.1")
    await server.start_server()
    pages: dict[str, tuple[int, str]] = {}
    try:
        async with ClientSession() as http:
            readers = {"anonymous": {}} | {
                tenant: {"Authorization": "Basic " + b64encode(f"{tenant}:{t}".encode()).decode()}
                for tenant, t in tokens.items()
            }
            for reader, headers in readers.items():
                async with http.get(str(server.make_url("/alerts")), headers=headers) as r:
                    pages[reader] = (r.status, await r.text())
    finally:
        await server.close()
    return pages
