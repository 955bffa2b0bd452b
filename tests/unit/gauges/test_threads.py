"""The thread book: joining replies to their parents across teams, as absolute facts."""

from __future__ import annotations

from dataclasses import replace

import orjson

from teampulse.contract.event import Event
from teampulse.gauges.config import GaugeConfig
from teampulse.gauges.threads import (
    ReplyLink,
    ThreadBook,
    ThreadFact,
    ThreadSummary,
    ThreadTeams,
    fact_from_wire,
)

T0 = 1_772_409_600.0  # 2026-03-02T00:00:00Z
CONFIG = GaugeConfig()


def post(post_id: str, actor: str, team: str, at: float, thread: str = "th") -> Event:
    return Event(
        id=f"e-{post_id}", type="discussion.posted", occurred_at=T0 + at, actor=actor,
        source="forum", team=team, thread=thread, post=post_id,
    )  # fmt: skip


def reply(post_id: str, actor: str, team: str, at: float, parent: str, thread: str = "th") -> Event:
    return Event(
        id=f"e-{post_id}", type="discussion.replied", occurred_at=T0 + at, actor=actor,
        source="forum", team=team, thread=thread, post=post_id, parent=parent,
    )  # fmt: skip


def summary(team: str, started: float, replies: int, others: int, first: float | None,
            version: int, root: str = "p1", current: bool = True, cross: float | None = None,
            within: float | None = None) -> ThreadSummary:  # fmt: skip
    """`cross`, `within`: the first reply from another team, from a teammate (seconds)."""
    return ThreadSummary(
        team=team, thread="th", root=root, started_at=T0 + started, replies=replies,
        replies_from_others=others, first_reply_at=None if first is None else T0 + first,
        version=version, current=current,
        first_cross_reply_at=None if cross is None else T0 + cross,
        first_within_reply_at=None if within is None else T0 + within,
    )  # fmt: skip


def joined(facts: list[ThreadFact]) -> list[ThreadFact]:
    """The summaries and links, without what bridging is told (its own tests below)."""
    return [f for f in facts if not isinstance(f, ThreadTeams)]


def link(to: str, reply_id: str, replier: str, parent: str, at: float) -> ReplyLink:
    return ReplyLink(team=to, reply=reply_id, replier_team=replier, parent_team=parent, at=T0 + at)


def test_a_new_thread_is_summarised_to_its_starters_team() -> None:
    book = ThreadBook(CONFIG)

    assert book.apply(post("p1", "ann", "alpha", 0)) == [summary("alpha", 0, 0, 0, None, 1)]


def test_a_reply_updates_the_summary_and_links_to_its_parent() -> None:
    book = ThreadBook(CONFIG)
    book.apply(post("p1", "ann", "alpha", 0))

    facts = book.apply(reply("r1", "bob", "alpha", 600, parent="p1"))

    assert facts == [
        summary("alpha", 0, 1, 1, 600, 2, within=600),
        link("alpha", "r1", "alpha", "alpha", 600),
    ]


def test_a_reply_across_teams_is_linked_to_both_teams() -> None:
    book = ThreadBook(CONFIG)
    book.apply(post("p1", "ann", "alpha", 0))

    facts = book.apply(reply("r1", "cem", "beta", 900, parent="p1"))

    assert facts[1:3] == [
        link("beta", "r1", "beta", "alpha", 900),
        link("alpha", "r1", "beta", "alpha", 900),
    ]


def test_the_starters_own_replies_count_as_replies_but_not_as_answers() -> None:
    book = ThreadBook(CONFIG)
    book.apply(post("p1", "ann", "alpha", 0))
    book.apply(reply("r1", "ann", "alpha", 100, parent="p1"))

    facts = book.apply(reply("r2", "bob", "alpha", 700, parent="r1"))

    assert facts[0] == summary("alpha", 0, 2, 1, 700, 3, within=700)


def test_a_reply_that_arrives_before_its_parent_is_linked_when_the_parent_arrives() -> None:
    book = ThreadBook(CONFIG)

    early = book.apply(reply("r1", "cem", "beta", 900, parent="p1"))
    facts = book.apply(post("p1", "ann", "alpha", 0))

    assert early == []  # no root yet, no parent yet
    assert joined(facts) == [
        summary("alpha", 0, 1, 1, 900, 2, cross=900),
        link("beta", "r1", "beta", "alpha", 900),
        link("alpha", "r1", "beta", "alpha", 900),
    ]


def test_a_reply_links_only_to_its_own_parent() -> None:
    book = ThreadBook(CONFIG)
    book.apply(post("p1", "ann", "alpha", 0))

    facts = book.apply(reply("r1", "bob", "beta", 60, parent="deleted-post"))

    # counted in the thread (and as another team's answer), not linked
    assert joined(facts) == [summary("alpha", 0, 1, 1, 60, 2, cross=60)]


def test_an_earlier_post_arriving_later_becomes_the_root_and_retracts_the_old_one() -> None:
    book = ThreadBook(CONFIG)
    book.apply(post("p2", "bob", "beta", 3600))

    facts = book.apply(post("p1", "ann", "alpha", 0))

    assert joined(facts) == [
        summary("beta", 3600, 0, 0, None, 2, root="p2", current=False),
        summary("alpha", 0, 0, 0, None, 2, root="p1"),
    ]


def test_applying_an_event_twice_repeats_the_same_facts() -> None:
    book = ThreadBook(CONFIG)
    book.apply(post("p1", "ann", "alpha", 0))
    event = reply("r1", "cem", "beta", 900, parent="p1")

    assert book.apply(event) == book.apply(event)


def test_a_post_id_counts_once_the_first_occurrence_wins() -> None:
    book = ThreadBook(CONFIG)
    book.apply(post("p1", "ann", "alpha", 0))
    book.apply(reply("r1", "bob", "alpha", 60, parent="p1"))

    facts = book.apply(reply("r1", "eve", "gamma", 120, parent="p1"))  # same post id

    assert facts == [
        summary("alpha", 0, 1, 1, 60, 2, within=60),
        link("alpha", "r1", "alpha", "alpha", 60),
    ]


def test_replies_without_a_thread_are_not_joined() -> None:
    book = ThreadBook(CONFIG)
    orphan = Event(
        id="x2", type="discussion.replied", occurred_at=T0, actor="ann", source="forum",
        team="alpha", post="x2", parent="p1",
    )  # fmt: skip

    assert book.apply(orphan) == []
    assert len(book) == 0


def test_a_post_without_a_thread_starts_its_own() -> None:
    book = ThreadBook(CONFIG)
    lone = Event(
        id="e9", type="discussion.posted", occurred_at=T0, actor="ann", source="chat",
        team="alpha", post="m9",
    )  # fmt: skip

    (fact,) = book.apply(lone)

    assert isinstance(fact, ThreadSummary) and (fact.thread, fact.root) == ("m9", "m9")


def test_idle_threads_expire_after_the_retention() -> None:
    book = ThreadBook(CONFIG)
    book.apply(post("p1", "ann", "alpha", 0, thread="old"))
    book.apply(post("p2", "bob", "alpha", 86_400, thread="recent"))

    dropped = book.expire(T0 + CONFIG.retention_s + 1)

    assert dropped == 1
    assert len(book) == 1


def test_the_posts_held_count_goes_down_when_a_thread_expires() -> None:
    book = ThreadBook(CONFIG)
    book.apply(post("p1", "ann", "alpha", 0, thread="old"))
    book.apply(reply("r1", "bob", "alpha", 60, parent="p1", thread="old"))
    book.apply(post("p2", "bob", "alpha", 86_400, thread="recent"))
    book.apply(post("p2", "bob", "alpha", 86_400, thread="recent"))  # a repeat holds nothing

    assert book.posts == 3
    book.expire(T0 + CONFIG.retention_s + 120)
    assert book.posts == 1


def test_the_posts_held_count_goes_down_when_a_person_is_erased() -> None:
    book = ThreadBook(CONFIG)
    book.apply(post("p1", "ann", "alpha", 0))
    book.apply(reply("r1", "bob", "alpha", 60, parent="p1"))

    book.forget({"bob"})

    assert book.posts == 1


def test_a_thread_active_for_months_holds_only_the_retentions_posts() -> None:
    book = ThreadBook(CONFIG)
    book.apply(post("p0", "ann", "alpha", 0))
    for day in range(1, 121):  # a reply a day for four months, each to the previous post
        parent = "p0" if day == 1 else f"r{day - 1}"
        book.apply(reply(f"r{day}", "bob", "beta", day * 86_400, parent=parent))
        book.expire(T0 + day * 86_400)

    # The root and the replies of the retention's last whole days are held, no older.
    assert book.posts == 1 + CONFIG.retention_s // 86_400 + 1
    (summary, *links) = book.apply(reply("r121", "cid", "alpha", 121 * 86_400, parent="r120"))
    assert isinstance(summary, ThreadSummary)
    assert (summary.root, summary.replies, summary.version) == ("p0", 121, 122)
    assert [link.parent_team for link in links if isinstance(link, ReplyLink)] == [
        "beta",
        "beta",
    ]


def test_a_reply_to_a_forgotten_post_of_an_active_thread_counts_but_is_not_joined() -> None:
    book = ThreadBook(CONFIG)
    book.apply(post("p0", "ann", "alpha", 0))
    book.apply(reply("r1", "bob", "beta", 86_400, parent="p0"))
    book.apply(reply("r2", "bob", "beta", 40 * 86_400, parent="p0"))
    book.expire(T0 + 40 * 86_400)  # r1 is 39 days old: forgotten; the root stays

    (summary, *links) = joined(book.apply(reply("r3", "cid", "gamma", 41 * 86_400, parent="r1")))

    assert isinstance(summary, ThreadSummary) and summary.replies == 3
    assert links == []


def test_a_reply_keeps_its_thread_alive() -> None:
    book = ThreadBook(CONFIG)
    book.apply(post("p1", "ann", "alpha", 0))
    book.apply(reply("r1", "bob", "alpha", 10 * 86_400, parent="p1"))

    assert book.expire(T0 + CONFIG.retention_s + 1) == 0


def test_facts_survive_the_wire() -> None:
    facts: list[ThreadFact] = [
        summary("alpha", 0, 2, 1, 600, 3),
        summary("beta", 60, 0, 0, None, 4, root="p9", current=False),
        link("beta", "r1", "beta", "alpha", 900),
    ]

    assert [fact_from_wire(orjson.loads(orjson.dumps(f.to_wire()))) for f in facts] == facts


def test_a_first_reply_written_before_the_start_counts_as_instant() -> None:
    fact = summary("alpha", 600, 1, 1, 0, 2)

    assert fact.first_reply_latency == 0.0


# --- erasure -------------------------------------------------------------------------------
def test_forgetting_a_replier_corrects_the_summary_and_removes_their_link() -> None:
    book = ThreadBook(CONFIG)
    book.apply(post("p1", "ann", "alpha", 0))
    book.apply(reply("r1", "bob", "beta", 600, parent="p1"))
    book.apply(reply("r2", "cem", "alpha", 900, parent="p1"))

    facts = book.forget({"bob"})

    assert joined(facts) == [
        replace(link("beta", "r1", "beta", "alpha", 600), removed=True),
        replace(link("alpha", "r1", "beta", "alpha", 600), removed=True),
        # 2 posts left, 1 erased, 1 erasure; the first answer from another team went with bob
        summary("alpha", 0, 1, 1, 900, version=2 + 2, within=900),
    ]


def test_forgetting_the_starter_moves_the_root_and_retracts_the_old_one() -> None:
    book = ThreadBook(CONFIG)
    book.apply(post("p1", "ann", "alpha", 0))
    book.apply(reply("r1", "bob", "beta", 600, parent="p1"))
    book.apply(post("p2", "cem", "gamma", 1200))

    facts = book.forget({"ann"})

    assert joined(facts) == [
        replace(link("beta", "r1", "beta", "alpha", 600), removed=True),
        replace(link("alpha", "r1", "beta", "alpha", 600), removed=True),
        summary("alpha", 0, 0, 0, None, version=4, current=False),
        # cem's post is the root now; bob's reply still counts, as one from someone else
        summary("gamma", 1200, 1, 1, 600, version=4, root="p2", cross=600),
    ]


def test_a_thread_without_the_person_is_left_alone() -> None:
    book = ThreadBook(CONFIG)
    book.apply(post("p1", "ann", "alpha", 0))

    assert book.forget({"bob"}) == []
    assert book.apply(reply("r1", "bob", "alpha", 60, parent="p1"))[0].version == 2


def test_a_thread_kept_alive_by_a_reply_expires_once_the_reply_is_behind_the_retention() -> None:
    book = ThreadBook(CONFIG)
    book.apply(post("p1", "ann", "alpha", 0))
    book.apply(reply("r1", "bob", "alpha", 10 * 86_400, parent="p1"))
    assert book.expire(T0 + CONFIG.retention_s + 1) == 0

    assert book.expire(T0 + 10 * 86_400 + CONFIG.retention_s + 1) == 1
    assert (len(book), book.posts) == (0, 0)


def test_a_late_post_older_than_every_post_held_is_forgotten_when_it_falls_behind() -> None:
    book = ThreadBook(CONFIG)
    book.apply(post("p0", "ann", "alpha", 5 * 86_400))
    book.apply(reply("r2", "bob", "alpha", 40 * 86_400, parent="p0"))
    book.apply(reply("r1", "cid", "alpha", 2 * 86_400, parent="p0"))  # late, the oldest now

    book.expire(T0 + 2 * 86_400 + CONFIG.retention_s + 1)

    assert book.posts == 2  # the root and r2; r1 is behind the retention


def test_a_long_thread_still_finds_each_post_and_repeats_change_nothing() -> None:
    # Past 32 posts the book looks posts up by a dict instead of scanning the thread.
    book = ThreadBook(CONFIG)
    book.apply(post("p1", "ann", "alpha", 0))
    for n in range(40):
        book.apply(reply(f"r{n}", "bob", "beta", 60 + n, parent="p1"))

    facts = book.apply(reply("r7", "bob", "beta", 67, parent="p1"))  # a repeat

    assert book.posts == 41
    assert joined(facts) == [
        summary("alpha", 0, 40, 40, 60, 41, cross=60),
        link("beta", "r7", "beta", "alpha", 67),
        link("alpha", "r7", "beta", "alpha", 67),
    ]


def test_a_reply_naming_a_post_before_it_arrives_is_not_taken_for_that_post() -> None:
    # r1 names p2 as its parent before p2 arrives: p2 is not a post of the thread yet.
    book = ThreadBook(CONFIG)
    book.apply(post("p1", "ann", "alpha", 0))
    book.apply(reply("r1", "bob", "beta", 60, parent="p2"))

    facts = book.apply(reply("p2", "cat", "alpha", 30, parent="p1"))

    assert book.posts == 3
    assert facts == [
        summary("alpha", 0, 2, 2, 30, 3, cross=60, within=30),
        link("alpha", "p2", "alpha", "alpha", 30),
        link("beta", "r1", "beta", "alpha", 60),
        link("alpha", "r1", "beta", "alpha", 60),
    ]


def test_the_first_answers_from_another_team_and_from_a_teammate_are_told_apart() -> None:
    book = ThreadBook(CONFIG)
    book.apply(post("p1", "ann", "alpha", 0))
    book.apply(reply("r1", "ann", "alpha", 60, parent="p1"))  # the starter: no answer
    book.apply(reply("r2", "cem", "beta", 300, parent="p1"))
    book.apply(reply("r3", "bob", "alpha", 900, parent="r2"))

    facts = book.apply(reply("r4", "dan", "beta", 1200, parent="r3"))

    assert facts[0] == summary("alpha", 0, 4, 3, 300, 5, cross=300, within=900)
    assert facts[0].first_cross_reply_latency == 300.0
    assert facts[0].first_within_reply_latency == 900.0


def teams(to: str, started: float, n: int, owner: bool, version: int) -> ThreadTeams:
    return ThreadTeams(
        team=to, thread="th", started_at=T0 + started, teams=n, owner=owner, version=version
    )


def test_a_thread_becomes_cross_team_and_every_team_in_it_is_told_once() -> None:
    book = ThreadBook(CONFIG)
    book.apply(post("p1", "ann", "beta", 0))
    alone = book.apply(reply("r1", "bob", "beta", 60, parent="p1"))

    joined = book.apply(reply("r2", "cem", "alpha", 120, parent="p1"))
    again = book.apply(reply("r3", "dan", "alpha", 180, parent="r2"))

    assert not [f for f in alone if isinstance(f, ThreadTeams)]  # one team: nothing to bridge
    # alpha is first by name: it owns the thread for the organisation's count
    assert [f for f in joined if isinstance(f, ThreadTeams)] == [
        teams("beta", 0, 2, False, 3),
        teams("alpha", 0, 2, True, 3),
    ]
    assert not [f for f in again if isinstance(f, ThreadTeams)]  # no team joined


def test_people_without_a_team_make_no_thread_cross_team() -> None:
    book = ThreadBook(CONFIG)
    book.apply(post("p1", "ann", "beta", 0))

    facts = book.apply(reply("r1", "eve", "unassigned", 60, parent="p1"))

    assert not [f for f in facts if isinstance(f, ThreadTeams)]


def test_a_moved_start_retracts_the_teams_at_the_old_one() -> None:
    book = ThreadBook(CONFIG)
    book.apply(post("p2", "ann", "beta", 7200))
    book.apply(reply("r1", "cem", "alpha", 7300, parent="p2"))

    facts = book.apply(post("p1", "bob", "beta", 0))

    assert [f for f in facts if isinstance(f, ThreadTeams)] == [
        teams("beta", 7200, 0, False, 3),
        teams("alpha", 7200, 0, False, 3),
        teams("beta", 0, 2, False, 3),
        teams("alpha", 0, 2, True, 3),
    ]


def test_erasing_the_only_person_of_a_team_tells_it_and_the_rest_the_thread_is_not_bridged() -> (
    None
):
    book = ThreadBook(CONFIG)
    book.apply(post("p1", "ann", "beta", 0))
    book.apply(reply("r1", "cem", "alpha", 60, parent="p1"))

    facts = book.forget({"cem"})

    assert [f for f in facts if isinstance(f, ThreadTeams)] == [
        teams("beta", 0, 0, False, 3),
        teams("alpha", 0, 0, False, 3),
    ]


def test_a_repeated_post_tells_the_teams_again() -> None:
    book = ThreadBook(CONFIG)
    book.apply(post("p1", "ann", "beta", 0))
    first = book.apply(reply("r1", "cem", "alpha", 60, parent="p1"))

    repeat = book.apply(reply("r1", "cem", "alpha", 60, parent="p1"))

    told = [f for f in first if isinstance(f, ThreadTeams)]
    assert [f for f in repeat if isinstance(f, ThreadTeams)] == told
    assert all(fact_from_wire(orjson.loads(orjson.dumps(f.to_wire()))) == f for f in told)


def react(reaction_id: str, actor: str, team: str, at: float, parent: str) -> Event:
    return Event(
        id=f"e-{reaction_id}", type="discussion.reacted", occurred_at=T0 + at, actor=actor,
        source="forum", team=team, thread="th", post=reaction_id, parent=parent,
    )  # fmt: skip


def reaction_link(to: str, reaction_id: str, reactor: str, parent: str, at: float) -> ReplyLink:
    return replace(link(to, reaction_id, reactor, parent, at), reaction=True)


def test_a_reaction_to_another_teams_post_is_a_link_for_both_teams() -> None:
    book = ThreadBook(CONFIG)
    book.apply(post("p1", "ann", "alpha", 0))

    facts = book.apply(react("x1", "cem", "beta", 60, parent="p1"))
    own = book.apply(react("x2", "bob", "alpha", 90, parent="p1"))

    assert facts == [
        reaction_link("beta", "x1", "beta", "alpha", 60),
        reaction_link("alpha", "x1", "beta", "alpha", 60),
    ]
    assert own == []  # within the team: nothing for the network
    # No reactor is kept: the book knows only the post's author.
    assert book.apply(react("x1", "cem", "beta", 60, parent="p1")) == facts  # a repeat
    assert set(book._people.numbers) == {"ann"}  # the authors of posts, no reactor


def test_a_reaction_before_its_post_is_linked_when_the_post_arrives() -> None:
    book = ThreadBook(CONFIG)

    early = book.apply(react("x1", "cem", "beta", 60, parent="p1"))
    facts = book.apply(post("p1", "ann", "alpha", 0))

    assert early == []
    assert joined(facts)[1:] == [
        reaction_link("beta", "x1", "beta", "alpha", 60),
        reaction_link("alpha", "x1", "beta", "alpha", 60),
    ]


def test_erasing_a_posts_author_removes_the_reactions_to_it_but_not_a_reactors() -> None:
    book = ThreadBook(CONFIG)
    book.apply(post("p1", "ann", "alpha", 0))
    book.apply(post("p2", "dan", "alpha", 10))
    book.apply(react("x1", "cem", "beta", 60, parent="p1"))
    book.apply(react("x2", "cem", "beta", 70, parent="p2"))

    ann_gone = [f for f in book.forget({"ann"}) if isinstance(f, ReplyLink)]
    cem_gone = [f for f in book.forget({"cem"}) if isinstance(f, ReplyLink)]

    assert ann_gone == [
        replace(reaction_link("beta", "x1", "beta", "alpha", 60), removed=True),
        replace(reaction_link("alpha", "x1", "beta", "alpha", 60), removed=True),
    ]
    assert cem_gone == []  # the book cannot tell whose reactions were cem's (docs/gauges.md)
