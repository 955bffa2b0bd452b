"""A roll-up's Redis hashes read back in the shape of GET /teams/{team}."""

from __future__ import annotations

from teampulse.sinks.rollup_reader import rollup_body


def test_a_department_hash_becomes_the_team_route_shape() -> None:
    fields = {
        "as_of": "1772452800.25",
        "updated_at": "1772452805.5",
        "division": "product",
        "members": "11",
        "engagement_change_ratio": "-0.125",
        "posts:7d": "2",
        "participation_ratio:7d": "0.727273",
        "posts:1d": "0",
    }
    adoption = {
        "members:none": "9",
        "members:awareness": "1",
        "members:ability": "1",
        "members": "11",
        "index": "0.1",
    }

    body = rollup_body("department", "engineering", fields, {"digital-workplace": adoption})

    assert body == {
        "scope": "department",
        "key": "engineering",
        "as_of": 1772452800.25,
        "windowed": {"7d": {"posts": 2, "participation_ratio": 0.727273}, "1d": {"posts": 0}},
        "plain": {"members": 11, "engagement_change_ratio": -0.125},
        "initiatives": {
            "digital-workplace": {
                "stage_members": {
                    "none": 9,
                    "awareness": 1,
                    "desire": 0,
                    "knowledge": 0,
                    "ability": 1,
                    "reinforcement": 0,
                },
                "members": 11,
                "ratio": None,  # no field: undefined
                "index": 0.1,
            }
        },
        "info": {"division": "product"},
    }
