"""The demo's organisation makes the point: every roll-up publishes, the small teams do not,
and its largest team has dropped far below its normal when the live feed starts."""

from __future__ import annotations

import datetime as dt

from teampulse.ops.demo_history import latest_snapshot
from teampulse.settings import load_settings
from teampulse.simulation.demo import demo_organisation
from teampulse.simulation.organisation import MIN_TEAM_SIZE

DAY_S = 86_400
# A working day: on a weekend the normal of the last 20 hours rests on too few events for a
# change ratio, and the demo shows "not enough activity yet to judge" until Monday.
TUESDAY_AFTERNOON = dt.datetime(2026, 12, 8, 14, tzinfo=dt.UTC).timestamp()


def test_the_dropping_team_is_the_largest_and_the_only_declining_one() -> None:
    org, dropping = demo_organisation(7, 35)

    sizes = {t.name: org.active_size(t.name) for t in org.teams}
    assert sizes[dropping] == max(sizes.values())
    assert [t.name for t in org.teams_of("declining")] == [dropping]


def test_the_small_teams_share_one_department_and_add_up_to_a_publishable_group() -> None:
    org, _ = demo_organisation(7, 35)

    small = [t for t in org.teams if org.active_size(t.name) < MIN_TEAM_SIZE]
    assert len({t.department for t in small}) == 1
    assert sum(org.active_size(t.name) for t in small) >= MIN_TEAM_SIZE
    assert all(t.name.startswith(f"{t.department}-") for t in org.teams)


def test_every_roll_up_publishes_and_the_drop_is_beyond_the_alert_threshold() -> None:
    settings = load_settings()
    org, dropping = demo_organisation(7, 35)
    now = TUESDAY_AFTERNOON

    snapshot = latest_snapshot(settings, org, now - 35 * DAY_S, now, 7)

    departments = {t.department for t in org.teams}
    divisions = {t.division for t in org.teams}
    published = {(s.scope, s.key) for s in snapshot.rollups}
    assert published == {("department", d) for d in departments} | {
        ("division", d) for d in divisions
    } | {("org", "org")}
    assert all(t.name not in snapshot.teams for t in org.teams if org.active_size(t.name) < 5)
    assert snapshot.teams[dropping].plain["engagement_change_ratio"] < -0.5
