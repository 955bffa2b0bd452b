"""The Redis writer's pure parts: coalescing, field values and key names (no Redis)."""

from __future__ import annotations

import orjson

from teampulse.gauges.model import InitiativeSnapshot, OrgSnapshot, ScopeSnapshot
from teampulse.settings import Settings
from teampulse.sinks.redis_writer import (
    RedisKeys,
    RedisWriter,
    format_value,
    history_entry,
    initiative_fields,
    redacted,
    scope_fields,
)
from teampulse.sinks.sink import Publication

AS_OF = 1772452800.0


def team(name: str, as_of: float = AS_OF, score: float = 0.42) -> ScopeSnapshot:
    return ScopeSnapshot("team", name, as_of, windowed={"7d": {"engagement_score": score}})


def test_submit_keeps_only_the_latest_state_per_key():
    writer = RedisWriter(Settings())

    for tick in range(100):  # a hot team, exported every tick while Redis is away
        writer.submit(OrgSnapshot(AS_OF + tick, teams={"alpha": team("alpha", AS_OF + tick)}))
    writer.submit(OrgSnapshot(AS_OF, teams={"beta": team("beta")}))

    assert writer.pending_keys == 2
    assert writer._pending[("team", "alpha")].as_of == AS_OF + 99


def test_an_older_state_submitted_later_is_ignored():
    writer = RedisWriter(Settings())
    newer = team("alpha", AS_OF + 60, score=0.5)
    writer.submit(OrgSnapshot(AS_OF + 60, teams={"alpha": newer}))

    writer.submit(OrgSnapshot(AS_OF, teams={"alpha": team("alpha", AS_OF, score=0.1)}))

    assert writer._pending[("team", "alpha")] is newer


def test_a_withdrawal_replaces_the_pending_state_of_its_key():
    writer = RedisWriter(Settings())
    writer.submit(OrgSnapshot(AS_OF, teams={"alpha": team("alpha")}))

    writer.withdraw("team", "alpha", AS_OF + 1)

    assert writer.pending_keys == 1
    assert type(writer._pending[("team", "alpha")]).__name__ == "Withdrawal"


def test_a_publication_withdraws_the_rollups_that_stopped_being_published():
    writer = RedisWriter(Settings())
    department = ScopeSnapshot("department", "dev", AS_OF, plain={"members": 9.0})
    writer.submit(OrgSnapshot(AS_OF, rollups=[department]))

    writer.publish(
        Publication(
            as_of=AS_OF + 1,
            teams={},
            rollups=[],
            changed=OrgSnapshot(AS_OF + 1),
            withdrawn_rollups=(("department", "dev"),),
        )
    )

    assert type(writer._pending[("department", "dev")]).__name__ == "Withdrawal"


def test_scope_fields_are_gauge_window_pairs_plain_gauges_and_the_org_path():
    snapshot = ScopeSnapshot(
        "team",
        "alpha",
        AS_OF,
        windowed={"1d": {"posts": 3.0, "reply_ratio": 0.5}, "7d": {"posts": 12.0}},
        plain={"members": 7.0},
        info={"department": "eng", "division": "tech"},
    )

    assert scope_fields(snapshot) == [
        "posts:1d",
        "3",
        "reply_ratio:1d",
        "0.5",
        "posts:7d",
        "12",
        "members",
        "7",
        "department",
        "eng",
        "division",
        "tech",
    ]


def test_initiative_fields_hold_stage_counts_and_omit_undefined_ratios():
    adoption = InitiativeSnapshot(
        {"none": 5, "awareness": 2, "desire": 0, "knowledge": 0, "ability": 0, "reinforcement": 0},
        members=7,
        ratio=None,
        index=0.125,
    )

    assert initiative_fields(adoption) == [
        "members:none",
        "5",
        "members:awareness",
        "2",
        "members:desire",
        "0",
        "members:knowledge",
        "0",
        "members:ability",
        "0",
        "members:reinforcement",
        "0",
        "members",
        "7",
        "index",
        "0.125",
    ]


def test_values_are_written_rounded_to_six_decimals_without_trailing_zeros():
    values = (12.0, 0.1, 1 / 3, 1772452800.25, -0.0, 0.9999999999999999, 2 / 3, -1e-9)
    assert [format_value(v) for v in values] == [
        "12",
        "0.1",
        "0.333333",
        "1772452800.25",
        "0",
        "1",
        "0.666667",
        "0",
    ]


def test_key_names_follow_the_documented_layout():
    keys = RedisKeys("teampulse:")

    assert keys.scope_hash("team", "alpha") == "teampulse:team:alpha"
    assert keys.scope_hash("org", "org") == "teampulse:org"
    assert (
        keys.initiative_hash("department", "eng", "dw") == "teampulse:department:eng:initiative:dw"
    )
    assert keys.initiatives("team", "alpha") == "teampulse:team:alpha:initiatives"
    assert keys.history("team", "alpha") == "teampulse:team:alpha:history"
    assert keys.tombstone("team", "alpha") == "teampulse:team:alpha:withdrawn"
    assert [keys.index(s) for s in ("team", "department", "division", "org")] == [
        "teampulse:teams",
        "teampulse:departments",
        "teampulse:divisions",
        "",
    ]
    assert keys.updates == "teampulse:updates"


def test_log_lines_never_show_the_redis_password():
    assert redacted("redis://:s3cret@cache.internal:6380/2") == "redis://:***@cache.internal:6380/2"
    assert redacted("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_a_team_hash_carries_its_drop_signal_state():
    snapshot = ScopeSnapshot(
        "team",
        "alpha",
        AS_OF,
        windowed={"7d": {"activity_events": 14.0, "activity_expected_events": 36.25}},
        plain={"members": 9.0},
        drop_signal="drop",
    )

    assert scope_fields(snapshot) == [
        "activity_events:7d",
        "14",
        "activity_expected_events:7d",
        "36.25",
        "members",
        "9",
        "drop_signal",
        "drop",
    ]


def test_the_history_member_carries_each_initiatives_adoption_ratio() -> None:
    snapshot = ScopeSnapshot(
        "team",
        "alpha",
        1772452800.25,
        windowed={"1d": {"engagement_score": 0.42}},
        initiatives={
            "dw": InitiativeSnapshot({}, 8, 0.25, 0.5),
            "new": InitiativeSnapshot({}, 8, None, None),
        },
    )

    entry = history_entry(RedisKeys("tp:"), snapshot, "1d", 90)

    member = orjson.loads(entry["member"])
    assert member["adoption"] == {"dw": 0.25}
    assert member["gauges"] == {"engagement_score:1d": 0.42}
    assert entry["key"] == "tp:team:alpha:history"


def test_a_teams_row_of_the_interaction_matrix_is_one_field_per_partner():
    snapshot = ScopeSnapshot(
        scope="team", key="alpha", as_of=0.0, interactions={"28d": {"gamma": 1, "beta": 3}}
    )

    assert scope_fields(snapshot) == ["interactions:28d:beta", "3", "interactions:28d:gamma", "1"]
