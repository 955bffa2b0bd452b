"""The Alerts page says when a pending alert fires; the Network page shows published pairs."""

from __future__ import annotations

from teampulse.web.model import ScopeView, interaction_matrix
from teampulse.web.pages import alerts_page, content_page, network_page, organisation_page
from teampulse.web.reading import AlertView, Published


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


def network_team(name: str, **fields: str) -> ScopeView:
    return ScopeView("team", name, {"as_of": "0", **fields})


def test_the_network_page_draws_each_published_pair_and_no_other() -> None:
    teams = [
        network_team(
            "atlas",
            **{
                "interactions:28d:borealis": "3",
                "cross_team_breadth:28d": "1",
                "bridging_share:28d": "0.5",
            },
        ),
        network_team("borealis", **{"interactions:28d:atlas": "3", "interactions:28d:gone": "9"}),
        network_team("comet"),
    ]
    matrix = interaction_matrix(teams)

    assert matrix.teams == ("atlas", "borealis")  # comet talked to no one; gone is unpublished
    assert dict(matrix.cells) == {("atlas", "borealis"): 3, ("borealis", "atlas"): 3}
    assert (matrix.window, dict(matrix.breadth)) == ("28d", {"atlas": 1.0})
    page = network_page(Published(teams, [], [], None))
    assert 'aria-label="Replies and reactions between teams, 28d"' in page
    assert "gone" not in page
    assert '<td class="num">50%</td></tr>' in page  # atlas's bridging share


def test_a_team_that_bridges_threads_without_a_published_pair_has_its_row() -> None:
    teams = [network_team("comet", **{"bridging_share:28d": "0.25", "bridging_share:7d": "1"})]

    page = network_page(Published(teams, [], [], None))

    assert "No replies between two published teams yet." in page
    assert 'href="/teams/comet"' in page and '<td class="num">25%</td></tr>' in page


def test_the_network_page_says_when_no_team_talks_to_another() -> None:
    page = network_page(Published([network_team("atlas")], [], [], None))

    assert "No replies between published teams yet." in page


def test_the_content_page_lists_most_learners_first_and_dashes_what_is_withheld() -> None:
    body = {
        "as_of": 0.0,
        "content": [
            {"key": "course-small", "initiative": "", "windowed": {"28d": {"learners": 5}}},
            {
                "key": "agile-course-cloud",
                "initiative": "agile-ways-of-working",
                "windowed": {
                    "28d": {
                        "learners": 8, "completers": 8, "conversation_posts": 2,
                        "conversation_replies": 3, "conversation_contributors": 5,
                        "practice_ratio_within_14d": 0.375,
                        "others_practice_ratio_within_14d": 0.166667,
                        "practice_uplift_within_14d": 0.208333, "needs_attention": 1,
                    }
                },
            },
        ],
    }  # fmt: skip

    page = content_page(body, "28d", None)

    assert page.index("agile-course-cloud") < page.index("course-small")
    assert '<td class="num">38%</td>' in page and '<td class="num">+21%</td>' in page
    assert '<td class="num down">yes</td>' in page  # needs attention
    small = page[page.index("course-small") :].split("</tr>")[0]
    # completers, posts, replies, voices withheld; no initiative: its practice not measured
    assert small.count('title="withheld (too few people) or not measured">-</td>') == 7
    assert "No content of data-literacy" in content_page({"content": []}, "28d", "data-literacy")


def test_unmeasured_practice_is_said_when_content_without_initiative_needs_attention() -> None:
    quiet = {"learners": 12, "completers": 12, "needs_attention": 1}
    body = {"content": [{"key": "compliance-101", "initiative": "", "windowed": {"28d": quiet}}]}

    row = content_page(body, "28d", None).split("compliance-101")[1].split("</tr>")[0]

    assert "yes: no talk</td>" in row and "practice after it is not measured" in row
    assert '<td class="num down">yes</td>' not in row


def test_the_organisation_page_is_titled_with_the_tenants_display_name() -> None:
    named = organisation_page(Published([], [], [], None), [], "", "Acme <Corp>")
    assert "<h1>Acme &lt;Corp&gt;</h1>" in named
    assert "<title>Acme &lt;Corp&gt; — TeamPulse</title>" in named
    assert "<h1>Organisation</h1>" in organisation_page(Published([], [], [], None), [], "")
