"""The team overview page: every published team's gauges, escaped, with its sparkline."""

from __future__ import annotations

from teampulse.sinks.overview import SPARK_HEIGHT, TeamRow, render_overview, sparkline

AS_OF = 1_772_452_800.0  # 2026-03-02T12:00:00Z
ATLAS = TeamRow(
    team="atlas",
    gauges={
        "engagement_score:7d": "0.62",
        "engagement_change_ratio": "-0.45",
        "participation_ratio:7d": "1",
        "posts:7d": "2",
        "replies:7d": "3",
        "drop_signal": "drop",
        "activity_events:7d": "14",
        "activity_expected_events:7d": "36.2",
    },  # fmt: skip
    adoption={"digital-workplace": "0.4"},
    history=[0.5, None, 0.75],
)


def test_a_team_row_shows_its_gauges_as_people_read_them() -> None:
    page = render_overview([ATLAS], AS_OF)

    assert '<tr data-team="atlas">' in page
    assert "<td>62%</td>" in page  # engagement 7d
    assert '<td class="down">-45%</td>' in page  # against its own baseline
    assert "<td>100%</td>" in page  # participation
    assert '<td class="drop">drop</td><td>14</td><td>36</td>' in page  # events vs usual
    assert "digital-workplace 40%" in page
    assert "1 teams published, as of 2026-03-02T12:00:00Z" in page


def test_an_undefined_gauge_shows_a_dash_not_zero() -> None:
    page = render_overview([ATLAS], AS_OF)

    reply_ratio_cell = page.split('<tr data-team="atlas">')[1].split("</td>")[9]
    assert reply_ratio_cell.endswith("–")


def test_a_team_too_quiet_to_judge_says_so_instead_of_a_blank() -> None:
    quiet = TeamRow(team="small", gauges={"drop_signal": "insufficient_activity"})

    assert "<td>not enough activity yet</td>" in render_overview([quiet], AS_OF)


def test_team_names_are_escaped() -> None:
    page = render_overview([TeamRow(team='<script>"x"</script>', gauges={})], AS_OF)

    assert "<script>" not in page
    assert "&lt;script&gt;&quot;x&quot;&lt;/script&gt;" in page


def test_no_published_team_says_so() -> None:
    assert "No team is published yet." in render_overview([], AS_OF)


def test_the_sparkline_skips_gaps_and_scales_zero_to_one_upwards() -> None:
    svg = sparkline([0.0, None, 1.0])

    assert f'points="0.0,{SPARK_HEIGHT:.1f} 140.0,0.0"' in svg


def test_no_history_draws_no_sparkline() -> None:
    assert sparkline([None, None]) == ""
