"""The simulated organisation and feed behave as their archetypes promise."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
from collections import Counter
from typing import Any

import orjson
import pytest

from teampulse.contract.event import EVENT_TYPES, Event
from teampulse.contract.events import EventValidator
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Rejection
from teampulse.gauges.adoption import evidence_ranks
from teampulse.gauges.config import load_gauge_config
from teampulse.settings import load_settings
from teampulse.simulation import (
    ARCHETYPES,
    INITIATIVE_PLANS,
    InitiativePlan,
    Organisation,
    build_organisation,
    generate_events,
    inject_faults,
    live_events,
)

SEED = 7
START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC).timestamp()  # a Monday
DAY = 86_400.0
HISTORY_DAYS = 28


def epoch(event: dict[str, Any]) -> float:
    return dt.datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00")).timestamp()


@pytest.fixture(scope="module")
def org() -> Organisation:
    return build_organisation(SEED)


@pytest.fixture(scope="module")
def history(org: Organisation) -> list[dict[str, Any]]:
    return list(generate_events(org, START, START + HISTORY_DAYS * DAY, SEED))


@pytest.fixture(scope="module")
def team_of(org: Organisation) -> dict[str, str]:
    return {person.person: person.team for person in org.people}


# --- the organisation ---------------------------------------------------------------------


def test_organisation_has_the_requested_shape(org: Organisation) -> None:
    assert len(org.people) == 240
    assert len(org.teams) == 24
    assert len({team.department for team in org.teams}) == 6
    assert len({team.division for team in org.teams}) == 2
    assert sum(len(team.members) for team in org.teams) == 240


def test_every_department_sits_in_exactly_one_division(org: Organisation) -> None:
    divisions_of: dict[str, set[str]] = {team.department: set() for team in org.teams}
    for team in org.teams:
        divisions_of[team.department].add(team.division)
    assert all(len(divisions) == 1 for divisions in divisions_of.values())


def test_same_seed_same_organisation_other_seed_other_people() -> None:
    assert build_organisation(SEED) == build_organisation(SEED)
    assert build_organisation(SEED).people != build_organisation(SEED + 1).people


def test_person_ids_are_unique_email_addresses(org: Organisation) -> None:
    ids = [person.person for person in org.people]
    assert len(set(ids)) == 240
    assert all(re.fullmatch(r"[a-z]+\.[a-z]+\.\d+@example\.com", pid) for pid in ids)


def test_every_archetype_has_a_team_big_enough_to_publish(org: Organisation) -> None:
    for archetype in ARCHETYPES:
        assert any(org.active_size(team.name) >= 5 for team in org.teams_of(archetype))


def test_three_teams_are_below_the_minimum_group_size(org: Organisation) -> None:
    small = [team for team in org.teams if len(team.members) < 5]
    assert len(small) == 3
    assert all(len(team.members) in (3, 4) for team in small)


def test_a_few_people_are_inactive_without_shrinking_a_full_team_below_five(
    org: Organisation,
) -> None:
    inactive = [person for person in org.people if not person.active]
    assert len(inactive) == 5  # 2 % of 240
    for person in inactive:
        assert org.active_size(person.team) >= 5


def test_roster_records_carry_the_org_path_of_each_person(org: Organisation) -> None:
    records = org.roster_records()
    assert len(records) == 240
    first = records[0]
    team = org.team(first["team"])
    assert first == {
        "person": org.people[0].person,
        "team": team.name,
        "department": team.department,
        "division": team.division,
        "active": True,
    }
    assert sum(1 for record in records if not record["active"]) == 5


def test_too_few_people_for_the_teams_is_refused() -> None:
    with pytest.raises(ValueError, match="too few"):
        build_organisation(SEED, people=50, teams=24)


# --- the history --------------------------------------------------------------------------


def test_same_seed_gives_the_same_history(org: Organisation) -> None:
    week = START + 7 * DAY
    assert list(generate_events(org, START, week, SEED)) == list(
        generate_events(org, START, week, SEED)
    )
    assert list(generate_events(org, START, week, SEED)) != list(
        generate_events(org, START, week, SEED + 1)
    )


def test_history_is_in_occurred_at_order_within_its_range(history: list[dict[str, Any]]) -> None:
    times = [epoch(event) for event in history]
    assert times == sorted(times)
    assert times[0] >= START and times[-1] < START + HISTORY_DAYS * DAY


def test_occurred_at_is_rfc3339_utc_with_milliseconds(history: list[dict[str, Any]]) -> None:
    pattern = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
    assert all(pattern.fullmatch(event["occurred_at"]) for event in history)


def test_event_ids_are_unique(history: list[dict[str, Any]]) -> None:
    assert len({event["id"] for event in history}) == len(history)


def test_every_event_type_and_source_occurs(history: list[dict[str, Any]]) -> None:
    assert {event["type"] for event in history} == set(EVENT_TYPES)
    assert {event["source"] for event in history} == {"lms", "lxp", "forum", "chat", "xapi"}


def test_events_carry_their_type_specific_fields(history: list[dict[str, Any]]) -> None:
    required = {
        "learning.started": {"content"},
        "learning.progressed": {"content", "duration_s"},
        "learning.completed": {"content", "duration_s"},
        "learning.assessed": {"content", "duration_s", "score", "success"},
        "discussion.posted": {"thread", "post", "channel", "length"},
        "discussion.replied": {"thread", "post", "parent", "channel", "length"},
        "discussion.reacted": {"thread", "post", "parent", "channel"},
        "adoption.practiced": {"practice", "initiative"},
    }
    for event in history:
        assert required[event["type"]] <= event.keys(), event
        if event["type"] == "learning.assessed":
            assert 0.0 <= event["score"] <= 1.0
            assert event["success"] == (event["score"] >= 0.7)


def test_every_event_passes_the_canonical_validator(history: list[dict[str, Any]]) -> None:
    validator = EventValidator(load_settings(), Pseudonymiser("test-secret"))
    now = START + HISTORY_DAYS * DAY
    results = [validator.parse(orjson.dumps(event), now) for event in history]
    assert [r for r in results if not isinstance(r, Event)] == []


def test_every_live_event_passes_the_canonical_validator(org: Organisation) -> None:
    validator = EventValidator(load_settings(), Pseudonymiser("test-secret"))
    events = live_events(org, START, seconds=60, events_per_second=50, seed=SEED)
    results = [validator.parse(orjson.dumps(event), START + 60) for event in events]
    assert [r for r in results if not isinstance(r, Event)] == []


def test_events_are_known_people_of_active_roster_entries(
    org: Organisation, history: list[dict[str, Any]]
) -> None:
    active = {person.person for person in org.people if person.active}
    assert {event["actor"] for event in history} <= active


def test_producers_send_the_team_about_seventy_percent_of_the_time(
    history: list[dict[str, Any]], team_of: dict[str, str]
) -> None:
    with_team = [event for event in history if "team" in event]
    assert 0.67 < len(with_team) / len(history) < 0.73
    assert all(event["team"] == team_of[event["actor"]] for event in with_team)


def test_weekends_are_much_quieter_than_weekdays(history: list[dict[str, Any]]) -> None:
    per_weekday = Counter(
        dt.datetime.fromtimestamp(epoch(event), dt.UTC).weekday() for event in history
    )
    weekday_mean = sum(per_weekday[d] for d in range(5)) / 5
    weekend_mean = (per_weekday[5] + per_weekday[6]) / 2
    assert weekend_mean < 0.1 * weekday_mean


def test_nights_are_much_quieter_than_office_hours(history: list[dict[str, Any]]) -> None:
    per_hour = Counter(dt.datetime.fromtimestamp(epoch(e), dt.UTC).hour for e in history)
    assert per_hour[3] < 0.05 * per_hour[10]


def test_rate_scale_scales_the_volume(org: Organisation) -> None:
    week = START + 7 * DAY
    normal = sum(1 for _ in generate_events(org, START, week, SEED))
    doubled = sum(1 for _ in generate_events(org, START, week, SEED, rate_scale=2.0))
    assert 1.8 < doubled / normal < 2.2


# --- archetypes ---------------------------------------------------------------------------


def events_per_member_per_day(
    org: Organisation,
    history: list[dict[str, Any]],
    team_of: dict[str, str],
    archetype: str,
    days: tuple[float, float],
) -> float:
    teams = {team.name for team in org.teams_of(archetype)}  # type: ignore[arg-type]
    members = sum(org.active_size(team) for team in teams)
    low, high = START + days[0] * DAY, START + days[1] * DAY
    count = sum(1 for e in history if team_of[e["actor"]] in teams and low <= epoch(e) < high)
    return count / members / (days[1] - days[0])


def test_declining_teams_lose_about_seventy_percent_after_their_decline_day(
    org: Organisation, history: list[dict[str, Any]], team_of: dict[str, str]
) -> None:
    assert org.decline_day == 21
    before = events_per_member_per_day(org, history, team_of, "declining", (0, 21))
    after = events_per_member_per_day(org, history, team_of, "declining", (21, 28))
    assert 0.2 < after / before < 0.4


def test_steady_teams_do_not_decline(
    org: Organisation, history: list[dict[str, Any]], team_of: dict[str, str]
) -> None:
    before = events_per_member_per_day(org, history, team_of, "steady", (0, 21))
    after = events_per_member_per_day(org, history, team_of, "steady", (21, 28))
    assert 0.8 < after / before < 1.25


def test_engaged_members_are_far_more_active_than_quiet_ones(
    org: Organisation, history: list[dict[str, Any]], team_of: dict[str, str]
) -> None:
    engaged = events_per_member_per_day(org, history, team_of, "engaged", (0, 28))
    quiet = events_per_member_per_day(org, history, team_of, "quiet", (0, 28))
    assert quiet < 0.15 * engaged


def share_seen(org: Organisation, history: list[dict[str, Any]], archetype: str) -> float:
    """Share of the active members of an archetype's teams who appear in the history."""
    seen = {event["actor"] for event in history}
    teams = {team.name for team in org.teams_of(archetype)}  # type: ignore[arg-type]
    active = [p.person for p in org.people if p.team in teams and p.active]
    return sum(person in seen for person in active) / len(active)


def test_many_members_of_quiet_teams_never_show_up(
    org: Organisation, history: list[dict[str, Any]]
) -> None:
    assert share_seen(org, history, "quiet") < 0.55
    assert share_seen(org, history, "steady") > 0.7


def test_replies_answer_an_earlier_post_of_the_same_thread_by_someone_else(
    history: list[dict[str, Any]],
) -> None:
    posts: dict[str, tuple[str, str, float]] = {}  # post -> thread, author, time
    answers = 0
    for event in history:
        if event["type"] in ("discussion.replied", "discussion.reacted"):
            thread, author, posted_at = posts[event["parent"]]
            assert thread == event["thread"]
            assert author != event["actor"]
            assert posted_at < epoch(event)
            answers += 1
        if event["type"] in ("discussion.posted", "discussion.replied"):
            assert event["post"] not in posts
            posts[event["post"]] = (event["thread"], event["actor"], epoch(event))
    assert answers > 5_000


def reply_pairs(history: list[dict[str, Any]], team_of: dict[str, str]) -> list[tuple[str, str]]:
    """(replier's team, parent author's team) of every reply."""
    author = {e["post"]: e["actor"] for e in history if "post" in e}
    return [
        (team_of[e["actor"]], team_of[author[e["parent"]]])
        for e in history
        if e["type"] == "discussion.replied"
    ]


def test_silo_teams_never_reply_to_or_get_replies_from_another_team(
    org: Organisation, history: list[dict[str, Any]], team_of: dict[str, str]
) -> None:
    silos = {team.name for team in org.teams_of("silo")}
    pairs = reply_pairs(history, team_of)
    silo_pairs = [pair for pair in pairs if pair[0] in silos or pair[1] in silos]
    assert len(silo_pairs) > 1_000
    assert all(replier == parent for replier, parent in silo_pairs)


def test_engaged_teams_mostly_reply_across_teams(
    org: Organisation, history: list[dict[str, Any]], team_of: dict[str, str]
) -> None:
    engaged = {team.name for team in org.teams_of("engaged")}
    pairs = [pair for pair in reply_pairs(history, team_of) if pair[0] in engaged]
    across = sum(1 for replier, parent in pairs if replier != parent)
    assert across / len(pairs) > 0.35


def test_team_channels_are_used_only_by_their_team(
    history: list[dict[str, Any]], team_of: dict[str, str]
) -> None:
    for event in history:
        channel = event.get("channel", "")
        if channel.startswith("team-"):
            assert channel == f"team-{team_of[event['actor']]}"


# --- initiatives --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def highest_evidence(history: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """(raw actor, initiative) -> highest stage rank (awareness 1 .. reinforcement 5) any
    single event proves, by the product's own evidence rules and teampulse/config."""
    config = load_gauge_config(load_settings())
    validator = EventValidator(load_settings(), Pseudonymiser("test-secret"))
    highest: dict[tuple[str, str], int] = {}
    for raw in history:
        event = validator.validate(raw, START + HISTORY_DAYS * DAY)
        assert isinstance(event, Event)
        for initiative in config.initiatives:
            for rank in evidence_ranks(event, initiative):
                key = (raw["actor"], initiative.id)
                highest[key] = max(highest.get(key, 0), rank)
    return highest


def test_the_plans_are_the_configured_initiatives() -> None:
    configured = [initiative.id for initiative in load_gauge_config(load_settings()).initiatives]
    assert [plan.initiative for plan in INITIATIVE_PLANS] == configured


def test_every_stage_of_every_initiative_has_evidence_in_the_history(
    highest_evidence: dict[tuple[str, str], int],
) -> None:
    for plan in INITIATIVE_PLANS:
        reached = {rank for (_, initiative), rank in highest_evidence.items()
                   if initiative == plan.initiative}  # fmt: skip
        assert reached == {1, 2, 3, 4, 5}, plan.initiative


def adopted_share(
    org: Organisation, highest: dict[tuple[str, str], int], archetype: str, initiative: str
) -> float:
    """Share of the active members of an archetype's teams at ability (4) or beyond."""
    teams = {team.name for team in org.teams_of(archetype)}  # type: ignore[arg-type]
    members = [p.person for p in org.people if p.team in teams and p.active]
    return sum(highest.get((person, initiative), 0) >= 4 for person in members) / len(members)


@pytest.mark.parametrize("initiative", [plan.initiative for plan in INITIATIVE_PLANS])
def test_engaged_teams_adopt_and_quiet_teams_stall(
    org: Organisation, highest_evidence: dict[tuple[str, str], int], initiative: str
) -> None:
    assert adopted_share(org, highest_evidence, "engaged", initiative) > 0.4
    assert adopted_share(org, highest_evidence, "quiet", initiative) < 0.1


def test_initiative_content_is_tagged_with_its_initiative(history: list[dict[str, Any]]) -> None:
    owner = {
        content: plan.initiative
        for plan in INITIATIVE_PLANS
        for content in (plan.kickoff, *plan.core_path, plan.assessment)
    }
    contents = {(e["content"], e.get("initiative")) for e in history if "content" in e}
    assert {content for content, _ in contents} >= set(owner)
    for content, initiative in contents:
        assert initiative == owner.get(content), content


@pytest.mark.parametrize("plan", INITIATIVE_PLANS, ids=lambda plan: plan.initiative)
def test_initiative_channels_carry_their_initiative(
    history: list[dict[str, Any]], plan: InitiativePlan
) -> None:
    in_channel = [e for e in history if e.get("channel") == plan.channel]
    assert len(in_channel) > 20
    assert all(e["initiative"] == plan.initiative for e in in_channel)
    assert any(e["type"] == "discussion.replied" for e in in_channel)


# --- live feed ----------------------------------------------------------------------------


def test_live_feed_hits_its_rate_exactly_in_order_and_range(org: Organisation) -> None:
    events = list(live_events(org, START, seconds=10, events_per_second=250, seed=SEED))
    assert len(events) == 2_500
    times = [epoch(event) for event in events]
    assert times == sorted(times)
    assert times[0] >= START and times[-1] < START + 10


def test_live_feed_is_deterministic_and_distinct_from_the_history(org: Organisation) -> None:
    first = list(live_events(org, START, 5, 100, SEED))
    assert first == list(live_events(org, START, 5, 100, SEED))
    history_ids = {e["id"] for e in generate_events(org, START, START + DAY, SEED)}
    assert not history_ids & {e["id"] for e in first}


def test_an_endless_live_feed_keeps_its_rate(org: Organisation) -> None:
    events = list(itertools.islice(live_events(org, START, math.inf, 100, SEED), 1_000))
    times = [epoch(event) for event in events]
    assert times == sorted(times)
    assert START + 9.9 < times[-1] < START + 10


def test_live_feed_of_nothing_is_empty(org: Organisation) -> None:
    assert list(live_events(org, START, 0, 100, SEED)) == []


# --- faults -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clean_week(org: Organisation) -> list[dict[str, Any]]:
    return list(generate_events(org, START, START + 7 * DAY, SEED))


def only_events(records: list[bytes | dict[str, Any]]) -> list[dict[str, Any]]:
    """The records, which must all be event dicts (no malformed bytes were asked for)."""
    events = [record for record in records if isinstance(record, dict)]
    assert len(events) == len(records)
    return events


def test_duplicates_are_exact_copies_following_their_original(
    clean_week: list[dict[str, Any]],
) -> None:
    faulty = only_events(list(inject_faults(clean_week, SEED, 0.05, malformed_rate=0.0)))
    extra = len(faulty) - len(clean_week)
    assert 0.04 * len(clean_week) < extra < 0.06 * len(clean_week)
    for before, after in itertools.pairwise(faulty):
        if before["id"] == after["id"]:
            assert before == after
    assert sum(1 for a, b in itertools.pairwise(faulty) if a == b) == extra


def test_malformed_records_are_extra_and_each_kind_is_broken(
    clean_week: list[dict[str, Any]],
) -> None:
    faulty = list(inject_faults(clean_week, SEED, duplicate_rate=0.0, malformed_rate=0.02))
    good_ids = {e["id"] for e in clean_week}
    kept = [r for r in faulty if isinstance(r, dict) and r["id"] in good_ids]
    broken = [r for r in faulty if not (isinstance(r, dict) and r["id"] in good_ids)]
    assert kept == clean_week
    assert len(broken) > 50
    kinds: Counter[str] = Counter()
    for record in broken:
        if isinstance(record, bytes):
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(record)
            kinds["not_json"] += 1
        elif "actor" not in record:
            kinds["missing_actor"] += 1
        elif record["type"] not in EVENT_TYPES:
            kinds["unknown_type"] += 1
        else:
            assert record["occurred_at"] == "last tuesday"
            kinds["bad_timestamp"] += 1
    assert set(kinds) == {"not_json", "missing_actor", "unknown_type", "bad_timestamp"}


def test_late_events_arrive_once_the_feed_has_moved_on_by_the_delay(
    clean_week: list[dict[str, Any]],
) -> None:
    delay = 3 * DAY
    # A last event far ahead makes the feed move past every held event's due time, so none
    # is left for the final flush (which sends what is still held, whenever it is due).
    sentinel = {**clean_week[-1], "id": "sentinel", "occurred_at": "2026-03-01T00:00:00.000Z"}
    faulty = only_events(list(
        inject_faults([*clean_week, sentinel], SEED, duplicate_rate=0.0, malformed_rate=0.0,
                      late_rate=0.05, late_by_s=delay)
    ))  # fmt: skip
    assert sorted(e["id"] for e in faulty) == sorted(e["id"] for e in [*clean_week, sentinel])
    assert faulty[-1]["id"] == "sentinel"
    times = [epoch(event) for event in faulty]
    newest_before = list(itertools.accumulate([0.0, *times[:-1]], max))
    late = 0
    for index, (at, before) in enumerate(zip(times, newest_before, strict=True)):
        if at >= before:
            continue
        late += 1  # overtaken: it was held back
        assert before < at + delay  # not held longer than needed
        # Nor sent too early: up to the first record at or past its due time, everything
        # sent after it was due as well (other held-back events, released together).
        due_index = next(i for i in range(index + 1, len(times)) if times[i] >= at + delay)
        assert all(t + delay <= times[due_index] for t in times[index + 1 : due_index])
    assert 0.04 * len(clean_week) < late < 0.06 * len(clean_week)


def test_faults_are_deterministic(clean_week: list[dict[str, Any]]) -> None:
    assert list(inject_faults(clean_week, SEED, 0.02, 0.02, 0.02)) == list(
        inject_faults(clean_week, SEED, 0.02, 0.02, 0.02)
    )


def test_the_validator_rejects_every_malformed_record_with_its_reason(
    clean_week: list[dict[str, Any]],
) -> None:
    validator = EventValidator(load_settings(), Pseudonymiser("test-secret"))
    good_ids = {e["id"] for e in clean_week}
    faulty = inject_faults(clean_week, SEED, duplicate_rate=0.0, malformed_rate=0.02)
    broken = [r for r in faulty if not (isinstance(r, dict) and r["id"] in good_ids)]
    reasons: Counter[str] = Counter()
    for record in broken:
        raw = record if isinstance(record, bytes) else orjson.dumps(record)
        result = validator.parse(raw, START + 7 * DAY)
        assert isinstance(result, Rejection)
        reasons[str(result.reason)] += 1
    assert set(reasons) == {"not_json", "schema", "unknown_type", "bad_timestamp"}
