"""A scripted week of three teams whose gauges are worked out by hand in the tests.

- atlas (6 people, engineering): highly engaged; everyone completes a course, two threads,
  replies from its own members and one from borealis.
- borealis (5 people, engineering): quiet; one reply to atlas, one course started.
- comet (5 people, sales): talks only to itself; one thread with two replies, one practice.
- dune (3 people, sales): below the minimum group size; one completion, never published.
- the course (agile-course-cloud): completed by atlas, borealis's person2 and dune's person1;
  threads T1 and T2 are tagged with it; atlas's person1-3 and borealis's person1 practise
  retrospectives (agile-ways-of-working) afterwards (docs/gauges.md, worked example).
  sales (comet + dune), go-to-market and the organisation are withheld too: each minus its
  published parts would give dune's figures (complementary suppression, docs/gauges.md).

Actors are raw e-mail addresses, so the tests can check that none leaks past ingestion.
About half the events carry their team; the roster resolves the rest.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

AS_OF = "2026-03-09T12:00:00Z"
AS_OF_EPOCH = dt.datetime(2026, 3, 9, 12, tzinfo=dt.UTC).timestamp()
HOUR = 3600
DAY = 86400
# An agile-course- content: the initiative agile-ways-of-working names that prefix, so the
# course has an initiative and a group (agile-course-*) in the content gauges.
COURSE = "agile-course-cloud"

TEAMS = {
    "atlas": ("engineering", "product", 6),
    "borealis": ("engineering", "product", 5),
    "comet": ("sales", "go-to-market", 5),
    "dune": ("sales", "go-to-market", 3),
}


def person(team: str, n: int) -> str:
    return f"{team}.person{n}@example.com"


def roster_records() -> list[dict[str, Any]]:
    return [
        {
            "person": person(team, n),
            "team": team,
            "department": dept,
            "division": div,
            "active": True,
        }
        for team, (dept, div, size) in TEAMS.items()
        for n in range(1, size + 1)
    ]


def _at(offset_s: float) -> str:
    instant = dt.datetime.fromtimestamp(AS_OF_EPOCH + offset_s, tz=dt.UTC)
    return instant.isoformat().replace("+00:00", "Z")


class _Script:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(
        self, type_: str, actor: str, offset_s: float, send_team: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        event = {
            "id": f"evt-{len(self.events) + 1:03d}",
            "type": type_,
            "occurred_at": _at(offset_s),
            "actor": actor,
            "source": "lms" if type_.startswith("learning") else "forum",
            **fields,
        }
        if send_team is not None:
            event["team"] = send_team
        self.events.append(event)
        return event


def scripted_events() -> list[dict[str, Any]]:
    s = _Script()
    # atlas: everyone completes a 30-minute course during the week
    for n in range(1, 7):
        s.add(
            "learning.completed",
            person("atlas", n),
            -5 * DAY + n * HOUR,
            send_team="atlas" if n % 2 else None,
            content=COURSE,
            duration_s=1800,
            success=True,
        )
    # atlas threads: T1 by person1 (3 days ago), T2 by person2 (2 days ago)
    t1 = -3 * DAY
    s.add(
        "discussion.posted",
        person("atlas", 1),
        t1,
        "atlas",
        thread="T1",
        post="T1",
        content=COURSE,  # the forum sends the course the thread is about
        channel="eng",
        length=420,
    )
    s.add(
        "discussion.replied",
        person("atlas", 3),
        t1 + 600,
        None,
        thread="T1",
        post="T1-r1",
        content=COURSE,  # the forum sends the course the thread is about
        parent="T1",
        channel="eng",
        length=120,
    )
    s.add(
        "discussion.replied",
        person("atlas", 4),
        t1 + 1200,
        "atlas",
        thread="T1",
        post="T1-r2",
        content=COURSE,  # the forum sends the course the thread is about
        parent="T1",
        channel="eng",
        length=80,
    )
    s.add(
        "discussion.reacted",
        person("atlas", 5),
        t1 + 1300,
        None,
        thread="T1",
        post="T1-x1",
        parent="T1",
        channel="eng",
    )
    t2 = -2 * DAY
    s.add(
        "discussion.posted",
        person("atlas", 2),
        t2,
        "atlas",
        thread="T2",
        post="T2",
        content=COURSE,  # the forum sends the course the thread is about
        channel="eng",
        length=300,
    )
    # borealis answers atlas: the one conversation that crosses teams
    s.add(
        "discussion.replied",
        person("borealis", 1),
        t2 + 3600,
        None,
        thread="T2",
        post="T2-r1",
        content=COURSE,  # the forum sends the course the thread is about
        parent="T2",
        channel="eng",
        length=200,
    )
    # ... and atlas's starter reacts to the answer: atlas -> borealis, so the pair talks both
    # ways (a reaction counts in the network, not as a reply)
    s.add(
        "discussion.reacted",
        person("atlas", 2),
        t2 + 4000,
        None,
        thread="T2",
        post="T2-x1",
        parent="T2-r1",
        channel="eng",
    )
    s.add("learning.started", person("borealis", 2), -1 * DAY, "borealis", content=COURSE)
    # comet: a thread among themselves, the starter answers back, one practice
    t3 = -4 * DAY
    s.add(
        "discussion.posted",
        person("comet", 1),
        t3,
        "comet",
        thread="T3",
        post="T3",
        channel="sales",
        length=500,
    )
    s.add(
        "discussion.replied",
        person("comet", 2),
        t3 + 300,
        None,
        thread="T3",
        post="T3-r1",
        parent="T3",
        channel="sales",
        length=90,
    )
    s.add(
        "discussion.replied",
        person("comet", 1),
        t3 + 900,
        "comet",
        thread="T3",
        post="T3-r2",
        parent="T3-r1",
        channel="sales",
        length=60,
    )
    s.add(
        "adoption.practiced",
        person("comet", 3),
        -1 * DAY,
        None,
        practice="co-authored-document",
        initiative="digital-workplace",
    )
    # dune (too small to publish)
    s.add(
        "learning.completed",
        person("dune", 1),
        -2 * DAY,
        None,
        content=COURSE,
        duration_s=600,
        success=True,
    )
    # after the course: a completion at borealis, practice at atlas and at borealis
    s.add("learning.completed", person("borealis", 2), -12 * HOUR, "borealis", content=COURSE)
    for n in (1, 2, 3):
        s.add("adoption.practiced", person("atlas", n), -1 * DAY, None, practice="retrospective")
    s.add("adoption.practiced", person("borealis", 1), -6 * HOUR, None, practice="retrospective")
    return s.events


def malformed_records() -> dict[str, bytes]:
    """One record per class of bad input, keyed by the dead-letter reason it must get."""
    good = {
        "id": "bad-base",
        "type": "learning.started",
        "occurred_at": _at(-HOUR),
        "actor": person("atlas", 1),
        "source": "lms",
        "content": "c",
    }
    import orjson

    def variant(**changes: Any) -> bytes:
        return orjson.dumps({**good, **changes})

    return {
        "not_json": b"{this is not json",
        "schema": orjson.dumps({k: v for k, v in good.items() if k != "actor"}),
        "unknown_type": variant(id="bad-type", type="learning.teleported"),
        "bad_timestamp": variant(id="bad-ts", occurred_at="last tuesday"),
        "future": variant(id="bad-future", occurred_at=_at(2 * DAY)),
        "too_large": variant(id="bad-large", content="x" * 70_000),
    }


def malformed_statements() -> dict[str, bytes]:
    """xAPI statements the pipeline must refuse, keyed by the dead-letter reason."""
    import orjson

    verb = {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "completed"}}
    activity = {"objectType": "Activity", "id": "http://example.com/course/1"}
    return {
        "xapi_invalid": orjson.dumps(
            {"verb": verb, "object": activity, "timestamp": _at(-HOUR)}
        ),  # no actor
        "unknown_verb": orjson.dumps(
            {
                "id": "0b5e1c8e-8c5a-4c59-9a3e-6c1f2f4f1a10",
                "actor": {"objectType": "Agent", "mbox": "mailto:" + person("atlas", 2)},
                "verb": {"id": "http://example.com/verbs/teleported"},
                "object": activity,
                "timestamp": _at(-HOUR),
            }
        ),
    }
