"""Adoption: each person's highest ADKAR stage per initiative, from the configured evidence."""

from __future__ import annotations

from teampulse.contract.event import Event
from teampulse.gauges.adoption import AdoptionBook, evidence_ranks
from teampulse.gauges.config import EvidenceMatcher, InitiativeConfig, Reinforcement

T0 = 1_772_409_600.0  # Monday 2026-03-02
WEEK = 7 * 86_400.0

AGILE = InitiativeConfig(
    id="agile",
    stages={
        "awareness": (EvidenceMatcher(type=("learning.started",), content=("agile-intro",)),),
        "desire": (EvidenceMatcher(type=("learning.started",)),),
        "knowledge": (
            EvidenceMatcher(type=("learning.assessed",), content_prefix="agile-", success=True),
        ),
        "ability": (EvidenceMatcher(type=("adoption.practiced",), practices=("retro",)),),
    },
    reinforcement=Reinforcement(practice_weeks=3, reply_channels=("agile-help",)),
)
DATA = InitiativeConfig(
    id="data",
    stages={"ability": (EvidenceMatcher(type=("adoption.practiced",)),)},
)


def event(kind: str, actor: str = "ann", at: float = 0.0, **fields: object) -> Event:
    return Event(
        id=f"{kind}-{actor}-{at}", type=kind, occurred_at=T0 + at, actor=actor, source="lms",
        team="alpha", **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def test_an_explicit_matcher_needs_no_initiative_tag() -> None:
    kickoff = event("learning.started", content="agile-intro")

    assert evidence_ranks(kickoff, AGILE) == {1}  # awareness


def test_a_plain_matcher_needs_the_initiative_named_by_field_or_tag() -> None:
    untagged = event("learning.started", content="some-course")
    tagged = event("learning.started", content="some-course", tags=("agile", "q3"))
    named = event("learning.started", content="some-course", initiative="agile")

    assert evidence_ranks(untagged, AGILE) == set()
    assert evidence_ranks(tagged, AGILE) == {2}  # desire
    assert evidence_ranks(named, AGILE) == {2}


def test_every_key_of_a_matcher_narrows_it() -> None:
    passed = event("learning.assessed", content="agile-101", success=True)
    failed = event("learning.assessed", content="agile-101", success=False)
    other = event("learning.assessed", content="excel-101", success=True, tags=("agile",))

    assert evidence_ranks(passed, AGILE) == {3}
    assert evidence_ranks(failed, AGILE) == set()
    assert evidence_ranks(other, AGILE) == set()


def test_answering_in_an_initiative_channel_is_reinforcement() -> None:
    answer = event("discussion.replied", channel="agile-help", thread="t", post="r", parent="p")

    assert evidence_ranks(answer, AGILE) == {5}


def stage_counts(book: AdoptionBook) -> dict[str, tuple[int, ...]]:
    return book.stage_counts()


def test_a_persons_stage_is_the_highest_with_evidence() -> None:
    book = AdoptionBook((AGILE,))

    book.apply(event("adoption.practiced", practice="retro"))  # ability, without the earlier
    book.apply(event("learning.started", content="agile-intro"))  # awareness: lower, no change

    assert stage_counts(book) == {"agile": (0, 0, 0, 1, 0)}


def test_practice_in_three_distinct_iso_weeks_is_reinforcement() -> None:
    book = AdoptionBook((AGILE,))
    for at in (0.0, 86_400.0, WEEK, 2 * WEEK + 3600):  # Mon, Tue (same week), next, next
        book.apply(event("adoption.practiced", at=at, practice="retro"))

    assert stage_counts(book) == {"agile": (0, 0, 0, 0, 1)}


def test_two_weeks_of_practice_is_still_ability() -> None:
    book = AdoptionBook((AGILE,))
    for at in (0.0, 86_400.0, 2.0 * 86_400, WEEK):
        book.apply(event("adoption.practiced", at=at, practice="retro"))

    assert stage_counts(book) == {"agile": (0, 0, 0, 1, 0)}


def test_counts_follow_people_per_initiative() -> None:
    book = AdoptionBook((AGILE, DATA))

    book.apply(event("learning.started", "ann", content="agile-intro"))
    book.apply(event("learning.started", "bob", content="agile-intro"))
    book.apply(event("learning.started", "bob", tags=("agile",)))
    changed = book.apply(event("adoption.practiced", "cem", practice="dashboards", tags=("data",)))

    assert changed is True
    assert stage_counts(book) == {"agile": (1, 1, 0, 0, 0), "data": (0, 0, 0, 1, 0)}


def test_an_event_no_initiative_cares_about_changes_nothing() -> None:
    book = AdoptionBook((AGILE,))

    assert book.apply(event("discussion.reacted", thread="t", post="x", parent="p")) is False
    assert stage_counts(book) == {"agile": (0, 0, 0, 0, 0)}


def test_practice_weeks_are_forgotten_once_reinforced() -> None:
    book = AdoptionBook((AGILE,))
    for week in range(10):
        book.apply(event("adoption.practiced", at=week * WEEK, practice="retro"))

    progress = book._people[0]["ann"]
    assert progress.highest == 5
    assert progress.practice_weeks == set()


def test_forgetting_a_person_takes_them_out_of_their_stage_count() -> None:
    book = AdoptionBook((AGILE, DATA))
    book.apply(event("learning.started", "ann", content="agile-intro"))  # awareness
    book.apply(event("adoption.practiced", "ann", practice="retro", tags=("data",)))  # ability x2
    book.apply(event("adoption.practiced", "bob", practice="retro", tags=("data",)))

    assert book.forget({"ann"}) is True

    assert book.stage_counts() == {"agile": (0, 0, 0, 1, 0), "data": (0, 0, 0, 1, 0)}


def test_forgetting_someone_without_progress_changes_no_count() -> None:
    book = AdoptionBook((AGILE,))
    book.apply(event("adoption.practiced", "bob", practice="retro"))

    assert book.forget({"ann"}) is False
    assert book.stage_counts() == {"agile": (0, 0, 0, 1, 0)}
