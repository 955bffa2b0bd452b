"""The digest of one scope from published figures: withheld scopes get none, movers are read
from the published history, e-mail charts are tables that every mail client shows."""

from __future__ import annotations

import pytest

from teampulse.digest.compose import (
    DigestError,
    compose,
    parse_scope,
    render_email_html,
    render_text,
)
from teampulse.web.model import scope_view
from teampulse.web.reading import Published

WEB = "https://teampulse.example.com"


def history(values: list[float]) -> list[dict[str, object]]:
    return [
        {"day": f"2026-11-{day:02d}", "gauges": {"engagement_score:1d": value}}
        for day, value in enumerate(values, start=16)
    ]


def team(name: str, department: str, values: list[float], change: float) -> object:
    fields = {"department": department, "division": "d", "as_of": "0", "members": "8"}
    fields["engagement_change_ratio"] = str(change)
    return scope_view("team", name, fields, {}, history(values))


def published() -> Published:
    rising = team("rising", "sales", [0.2] * 7 + [0.6] * 7, 0.4)
    falling = team("falling", "sales", [0.8] * 7 + [0.2] * 7, -0.7)
    other = team("other", "care", [0.5] * 14, 0.0)
    sales = scope_view(
        "department", "sales", {"engagement_score:7d": "0.4"}, {}, history([0.5] * 14)
    )
    org = scope_view("org", "org", {"engagement_score:7d": "0.5"}, {}, history([0.5] * 14))
    return Published([rising, falling, other], [sales], [], org)  # type: ignore[list-item]


def test_a_departments_digest_holds_its_teams_only_and_their_movers() -> None:
    digest = compose(published(), "department", "sales")

    assert digest.teams == 2
    assert [(m.team, round(m.change, 2)) for m in digest.up] == [("rising", 0.4)]
    assert [(m.team, round(m.change, 2)) for m in digest.down] == [("falling", -0.6)]
    assert [team for team, _ in digest.attention] == ["falling"]
    assert [week for week, _ in digest.weeks] == ["2026-W47", "2026-W48"]  # Nov 16-29


def test_a_withheld_scope_gets_no_digest() -> None:
    with pytest.raises(DigestError, match="not published"):
        compose(published(), "department", "care")  # its teams publish, it does not


@pytest.mark.parametrize("text", ["team:x", "division:", "everything"])
def test_a_scope_is_org_a_division_or_a_department(text: str) -> None:
    with pytest.raises(DigestError, match="org, division:NAME or department:NAME"):
        parse_scope(text)


def test_the_email_charts_are_tables_with_links_to_the_web_app() -> None:
    digest = compose(published(), "org", "org")
    html = render_email_html(digest, WEB)
    text = render_text(digest, WEB)

    assert "<svg" not in html and "<img" not in html and 'bgcolor="#2f5d8c"' in html
    assert f'href="{WEB}/teams/falling"' in html
    assert f"{WEB}/teams/falling" in text
