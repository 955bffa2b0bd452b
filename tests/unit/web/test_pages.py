"""The Alerts page says when a pending alert fires, not only that it is pending."""

from __future__ import annotations

from teampulse.web.pages import alerts_page
from teampulse.web.reading import AlertView


def test_a_pending_alert_says_when_it_fires() -> None:
    pending = AlertView(
        "TeamEngagementDropped",
        "pending",
        {"alertname": "TeamEngagementDropped", "team": "sales-nova"},
        {"summary": "Team sales-nova is far less active than usual"},
        since="2026-12-07T15:26:05Z",
        fires_in=95.0,
    )

    page = alerts_page([pending], "")

    assert "pending, fires in about 2 min</span>" in page
    assert 'href="/teams/sales-nova"' in page
