"""The scripted scenarios generate events with the properties their scripts promise, and
say which alerts must fire and which must stay silent."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from teampulse.contract.event import Event
from teampulse.contract.events import EventValidator
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.gauges.adoption import ABILITY, evidence_ranks
from teampulse.gauges.config import load_gauge_config
from teampulse.settings import load_settings
from teampulse.simulation import INITIATIVE_PLANS, Organisation
from teampulse.simulation.scenarios import (
    SCENARIOS,
    AlertExpectation,
    Scenario,
    TeamDrop,
    event_time,
    scenario_events,
    scenario_organisation,
)

SEED = 7
START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC).timestamp()  # a Monday
DAY = 86_400.0
RULE_FILES = sorted((Path(__file__).resolve().parents[3] / "deploy/prometheus/rules").glob("*.yml"))

Events = list[dict[str, Any]]


@pytest.fixture(scope="module")
def generated() -> Callable[[str], tuple[Organisation, Events]]:
    cache: dict[str, tuple[Organisation, Events]] = {}

    def generate(name: str) -> tuple[Organisation, Events]:
        if name not in cache:
            scenario = SCENARIOS[name]
            org = scenario_organisation(scenario, SEED)
            cache[name] = (org, list(scenario_events(scenario, org, START, SEED)))
        return cache[name]

    return generate


def between(events: Events, first_day: float, last_day: float) -> Events:
    """Events of days [first_day, last_day) of the scenario."""
    low, high = START + first_day * DAY, START + last_day * DAY
    return [e for e in events if low <= event_time(e) < high]


def team_members(org: Organisation) -> dict[str, str]:
    return {person.person: person.team for person in org.people}


def alert_names_in_the_rule_files() -> set[str]:
    return {
        rule["alert"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


# --- the definitions ---------------------------------------------------------------------


def test_the_four_scenarios_are_defined() -> None:
    assert sorted(SCENARIOS) == ["adoption-stalls", "source-silent", "steady", "team-drops"]


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=lambda s: s.name)
def test_every_alert_a_scenario_names_is_an_alert_of_the_rule_files(scenario: Scenario) -> None:
    named = {e.alert for e in (*scenario.fires, *scenario.may_fire)} | set(scenario.silent)
    assert named - alert_names_in_the_rule_files() == set()


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=lambda s: s.name)
def test_every_scenario_keeps_the_pipeline_fault_alerts_silent(scenario: Scenario) -> None:
    assert {"DeadLetterRateHigh", "WorkerDown", "RedisWritesFailing"} <= set(scenario.silent)


def test_steady_expects_no_alert_and_silence_from_every_team_alert() -> None:
    steady = SCENARIOS["steady"]
    assert steady.fires == ()
    assert {"TeamEngagementDropped", "TeamParticipationLow", "AdoptionStalled"} <= set(
        steady.silent
    )


@pytest.mark.parametrize(
    ("name", "day"),
    [("team-drops", lambda s: s.team_drop.day), ("source-silent", lambda s: s.source_silence.day)],
)
def test_the_scripted_change_happens_in_the_live_part(
    name: str, day: Callable[[Scenario], float]
) -> None:
    scenario = SCENARIOS[name]
    assert scenario.history_days <= day(scenario) < scenario.days


# --- checking firing alerts against a scenario ------------------------------------------------


def test_check_accepts_the_expected_alert_for_the_dropping_team_only() -> None:
    firing = [{"alertname": "TeamEngagementDropped", "team": "sales-nova", "severity": "warning"}]
    assert SCENARIOS["team-drops"].check(firing) == []


def test_check_reports_an_expected_alert_that_did_not_fire() -> None:
    assert SCENARIOS["team-drops"].check([]) == [
        'TeamEngagementDropped{team="sales-nova"} did not fire'
    ]


def test_check_reports_the_same_alert_for_another_team() -> None:
    firing = [
        {"alertname": "TeamEngagementDropped", "team": "sales-nova"},
        {"alertname": "TeamEngagementDropped", "team": "finance-vertex"},
    ]
    assert SCENARIOS["team-drops"].check(firing) == [
        'unexpected alert {alertname="TeamEngagementDropped", team="finance-vertex"}'
    ]


def test_check_tolerates_what_may_fire_and_alerts_it_says_nothing_about() -> None:
    firing = [
        {"alertname": "TeamEngagementDropped", "team": "sales-nova"},
        {"alertname": "TeamParticipationLow", "team": "sales-nova"},
        {"alertname": "ConsumerLagHigh", "topic": "teampulse.events"},  # a backfill's lag
    ]
    assert SCENARIOS["team-drops"].check(firing) == []


def test_check_reports_any_alert_in_the_steady_scenario_that_must_be_silent() -> None:
    firing = [{"alertname": "AdoptionStalled", "team": "sales-nova", "initiative": "x"}]
    assert len(SCENARIOS["steady"].check(firing)) == 1


def test_an_expectation_matches_on_its_labels_and_ignores_the_others() -> None:
    expected = AlertExpectation("SourceSilent", {"source": "lxp"})
    assert expected.matches({"alertname": "SourceSilent", "source": "lxp", "severity": "warning"})
    assert not expected.matches({"alertname": "SourceSilent", "source": "lms"})
    assert not expected.matches({"alertname": "WorkerDown", "source": "lxp"})


# --- the organisations ------------------------------------------------------------------------


def test_every_team_but_the_dropping_one_has_the_scenario_archetype(
    generated: Callable[[str], tuple[Organisation, Events]],
) -> None:
    org, _ = generated("team-drops")
    archetypes = {team.name: team.archetype for team in org.teams}
    assert archetypes.pop("sales-nova") == "declining"
    assert set(archetypes.values()) == {"engaged"}
    assert org.decline_day == 36


def test_a_dropping_team_too_small_to_publish_is_refused_with_the_reason() -> None:
    teams = scenario_organisation(SCENARIOS["steady"], SEED).teams
    small = next(team for team in teams if len(team.members) < 5)
    scenario = replace(SCENARIOS["team-drops"], team_drop=TeamDrop(team=small.name, day=36))
    with pytest.raises(ValueError, match="too few to publish gauges"):
        scenario_organisation(scenario, SEED)


def test_the_same_seed_gives_the_same_events() -> None:
    scenario = SCENARIOS["adoption-stalls"]
    org = scenario_organisation(scenario, SEED)
    first = list(scenario_events(scenario, org, START, SEED))
    again = list(scenario_events(scenario, scenario_organisation(scenario, SEED), START, SEED))
    assert first == again


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_events_cover_the_scenario_in_order(
    name: str, generated: Callable[[str], tuple[Organisation, Events]]
) -> None:
    _, events = generated(name)
    times = [event_time(e) for e in events]
    assert times == sorted(times)
    assert times[0] >= START and times[-1] < START + SCENARIOS[name].days * DAY


# --- team-drops -------------------------------------------------------------------------------


def test_the_dropping_team_sends_at_least_half_fewer_events_from_its_drop_day(
    generated: Callable[[str], tuple[Organisation, Events]],
) -> None:
    org, events = generated("team-drops")
    team = team_members(org)
    # Tuesday to Sunday before and after the drop: the same weekdays on both sides.
    before = Counter(team[e["actor"]] for e in between(events, 29, 35))
    after = Counter(team[e["actor"]] for e in between(events, 36, 42))
    assert after["sales-nova"] <= 0.5 * before["sales-nova"]


def test_the_dropping_team_has_at_least_half_fewer_active_members_from_its_drop_day(
    generated: Callable[[str], tuple[Organisation, Events]],
) -> None:
    org, events = generated("team-drops")
    team = team_members(org)

    def active(period: Events) -> int:
        return len({e["actor"] for e in period if team[e["actor"]] == "sales-nova"})

    assert active(between(events, 36, 42)) <= 0.5 * active(between(events, 29, 35))


def test_no_other_team_drops_by_half(
    generated: Callable[[str], tuple[Organisation, Events]],
) -> None:
    org, events = generated("team-drops")
    team = team_members(org)
    before = Counter(team[e["actor"]] for e in between(events, 29, 35))
    after = Counter(team[e["actor"]] for e in between(events, 36, 42))
    dropped = {t for t in before if t != "sales-nova" and after[t] <= 0.5 * before[t]}
    assert dropped == set()


def test_before_its_drop_day_the_dropping_team_is_as_busy_as_the_week_before(
    generated: Callable[[str], tuple[Organisation, Events]],
) -> None:
    org, events = generated("team-drops")
    team = team_members(org)
    earlier = Counter(team[e["actor"]] for e in between(events, 22, 28))
    later = Counter(team[e["actor"]] for e in between(events, 29, 35))
    assert later["sales-nova"] >= 0.7 * earlier["sales-nova"]


# --- adoption-stalls --------------------------------------------------------------------------


def highest_ranks(events: Events, initiative_id: str) -> Counter[int]:
    """How many events prove each adoption stage of the initiative, by the product's rules."""
    config = load_gauge_config(load_settings())
    (initiative,) = [i for i in config.initiatives if i.id == initiative_id]
    validator = EventValidator(load_settings(), Pseudonymiser("test-secret"))
    ranks: Counter[int] = Counter()
    for raw in events:
        event = validator.validate(raw, START + 60 * DAY)
        assert isinstance(event, Event)
        ranks.update(evidence_ranks(event, initiative))
    return ranks


def test_the_stalled_initiative_has_completions_and_no_practice(
    generated: Callable[[str], tuple[Organisation, Events]],
) -> None:
    _, events = generated("adoption-stalls")
    of_initiative = [e for e in events if e.get("initiative") == "data-literacy"]
    kinds = Counter(e["type"] for e in of_initiative)
    assert kinds["learning.completed"] > 0
    assert sum(1 for e in of_initiative if e["type"] == "learning.assessed" and e["success"]) > 0
    assert kinds["adoption.practiced"] == 0


def test_no_event_is_evidence_of_ability_or_beyond_for_the_stalled_initiative(
    generated: Callable[[str], tuple[Organisation, Events]],
) -> None:
    _, events = generated("adoption-stalls")
    ranks = highest_ranks(events, "data-literacy")
    assert ranks[ABILITY - 1] > 0  # knowledge: the training is completed
    assert [rank for rank in ranks if rank >= ABILITY] == []


def test_the_other_initiatives_are_practised(
    generated: Callable[[str], tuple[Organisation, Events]],
) -> None:
    _, events = generated("adoption-stalls")
    practised = Counter(e["initiative"] for e in events if e["type"] == "adoption.practiced")
    others = {plan.initiative for plan in INITIATIVE_PLANS} - {"data-literacy"}
    assert all(practised[initiative] > 100 for initiative in others), practised


# --- source-silent ----------------------------------------------------------------------------


def test_the_silent_source_sends_until_its_day_and_nothing_after(
    generated: Callable[[str], tuple[Organisation, Events]],
) -> None:
    _, events = generated("source-silent")
    assert any(e["source"] == "lxp" for e in between(events, 35, 36))
    assert [e for e in between(events, 36, 42) if e["source"] == "lxp"] == []


def test_the_other_sources_keep_sending_every_working_day_after_the_silence(
    generated: Callable[[str], tuple[Organisation, Events]],
) -> None:
    _, events = generated("source-silent")
    for day in (36, 37, 38, 39):  # Tuesday to Friday
        sources = {e["source"] for e in between(events, day, day + 1)}
        assert sources == {"lms", "xapi", "chat", "forum"}, day


def test_only_the_silent_source_loses_events_against_steady(
    generated: Callable[[str], tuple[Organisation, Events]],
) -> None:
    _, silent = generated("source-silent")
    _, steady = generated("steady")
    lost = Counter(e["source"] for e in steady) - Counter(e["source"] for e in silent)
    assert set(lost) == {"lxp"}


# --- steady -----------------------------------------------------------------------------------


def test_in_steady_no_team_halves_from_one_week_to_the_next(
    generated: Callable[[str], tuple[Organisation, Events]],
) -> None:
    org, events = generated("steady")
    team = team_members(org)
    weeks = [Counter(team[e["actor"]] for e in between(events, 7 * w, 7 * w + 7)) for w in range(6)]
    halved = {
        (name, w)
        for w in range(1, 6)
        for name in weeks[w - 1]
        if weeks[w][name] <= 0.5 * weeks[w - 1][name] and weeks[w - 1][name] >= 20
    }
    assert halved == set()
