"""How simulated people behave: one activity in, one canonical event out.

`Behaviour` keeps the little state a believable feed needs — each person's course in
progress, each person's journey through each initiative, the recent threads of each
channel — and turns "this person does this kind of thing at this instant" into one
canonical event dict (the JSON a producer would send, see schemas/).

Conversation follows the archetypes: members post and reply in their team channel
(`team-<team>`), which only the team uses; non-silo teams also use the shared channels,
where engaged teams mostly answer other teams; silo teams never leave their own channel,
so they neither answer nor are answered by another team. A reply always answers an earlier
post of the same thread by someone else.

Content drives conversation and practice: a learner part-way through an initiative's path
asks in the initiative's channel about the content in hand (the thread and every answer in
it carry that content's id, as a platform that knows the course would send it), and people
who finished the path practise and answer peers there, so the content gauges (which course
sparked talk, whether its completers practised) have something to measure.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from teampulse.simulation.organisation import Archetype, Organisation, Person

__all__ = [
    "ACTIVITIES",
    "COURSES",
    "INITIATIVE_PLANS",
    "PROFILES",
    "Activity",
    "Behaviour",
    "InitiativePlan",
    "Profile",
    "rfc3339",
]

Activity = Literal["learning", "post", "reply", "react", "initiative"]
ACTIVITIES: tuple[Activity, ...] = ("learning", "post", "reply", "react", "initiative")

TEAM_SENT_SHARE = 0.7  # producers send `team` this often; the roster resolves the rest
THREAD_REPLY_HORIZON_MS = 7 * 86_400_000  # nobody answers a thread older than a week
THREADS_KEPT_PER_CHANNEL = 30
SHARED_CHANNELS = ("general", "ask-anything")
REPLY_ATTEMPTS = 3  # threads tried before a would-be reply starts a new thread
POSTS_CONSIDERED = 20  # of a long thread, the posts a replier looks at
PASS_SCORE = 0.7


@dataclass(frozen=True, slots=True)
class Profile:
    """An archetype's behaviour. Rates are activities per person per working day."""

    rates: dict[Activity, float]
    shared_channel_share: float  # share of posts/replies in channels other teams use
    other_team_preference: float  # in shared channels: chance to answer another team
    adoption_reach: float  # chance a member goes all the way to practising an initiative
    early_stall_step: int  # members who do not go all the way stop before this step
    assessment_mean: float


_ENGAGED = Profile(
    rates={"learning": 0.5, "post": 0.4, "reply": 0.8, "react": 0.8, "initiative": 2.5},
    shared_channel_share=0.55,
    other_team_preference=0.85,
    adoption_reach=0.85,
    early_stall_step=9,
    assessment_mean=0.82,
)
PROFILES: dict[Archetype, Profile] = {
    "engaged": _ENGAGED,
    "declining": _ENGAGED,  # until its decline day, then most members stop (see feed)
    "steady": Profile(
        rates={"learning": 0.3, "post": 0.12, "reply": 0.25, "react": 0.3, "initiative": 0.9},
        shared_channel_share=0.3,
        other_team_preference=0.5,
        adoption_reach=0.55,
        early_stall_step=9,
        assessment_mean=0.74,
    ),
    "quiet": Profile(
        rates={"learning": 0.25, "post": 0.05, "reply": 0.1, "react": 0.12, "initiative": 0.15},
        shared_channel_share=0.25,
        other_team_preference=0.5,
        adoption_reach=0.1,
        early_stall_step=4,  # most quiet members stall around enrolment
        assessment_mean=0.66,
    ),
    "silo": Profile(
        rates={"learning": 0.6, "post": 0.5, "reply": 1.2, "react": 0.5, "initiative": 0.6},
        shared_channel_share=0.0,
        other_team_preference=0.0,
        adoption_reach=0.45,
        early_stall_step=9,
        assessment_mean=0.74,
    ),
}


@dataclass(frozen=True, slots=True)
class InitiativePlan:
    """The content of one transformation initiative, as the simulated people meet it."""

    initiative: str
    kickoff: str
    core_path: tuple[str, ...]
    assessment: str
    practices: tuple[str, ...]
    channel: str

    def journey(self) -> list[tuple[str, str]]:
        """The learning steps before practice, in order: (event type, content id)."""
        steps = [("learning.started", self.kickoff), ("learning.completed", self.kickoff)]
        for content in self.core_path:
            steps += [
                ("learning.started", content),
                ("learning.progressed", content),
                ("learning.completed", content),
            ]
        return [*steps, ("learning.assessed", self.assessment)]


# The initiatives of teampulse/config/initiatives.yaml, with content that is evidence of each
# ADKAR stage there: starting the kick-off = awareness, starting the path = desire,
# completing the core content or passing the assessment = knowledge, practising = ability,
# answering peers in the help channel (or practising in 3+ weeks) = reinforcement.
INITIATIVE_PLANS: tuple[InitiativePlan, ...] = (
    InitiativePlan(
        initiative="digital-workplace",
        kickoff="dw-kickoff-video",
        core_path=("dw-path-basics", "dw-path-core"),
        assessment="dw-path-quiz",
        practices=("co-authored-document", "chat-first-meeting", "shared-channel-decision"),
        channel="digital-workplace-help",
    ),
    InitiativePlan(
        initiative="agile-ways-of-working",
        kickoff="agile-intro-talk",
        core_path=("agile-course-foundations", "agile-course-scrum"),
        assessment="agile-course-assessment",
        practices=("retrospective", "daily-standup", "backlog-refinement", "sprint-review"),
        channel="agile-community",
    ),
    InitiativePlan(
        initiative="data-literacy",
        kickoff="data-literacy-primer",
        core_path=("data-literacy-foundations",),
        assessment="data-literacy-certificate",
        practices=("dashboard-in-review", "metric-defined"),
        channel="data-questions",
    ),
)

# Everyday courses outside any initiative, with the platform that reports them.
COURSES: tuple[tuple[str, str], ...] = (
    ("course-spreadsheet-skills", "lms"),
    ("course-feedback-skills", "lxp"),
    ("course-security-basics", "lms"),
    ("course-writing-clearly", "lxp"),
    ("course-python-intro", "xapi"),
    ("course-negotiation", "lms"),
    ("course-customer-empathy", "lxp"),
    ("course-finance-basics", "xapi"),
    ("course-leading-meetings", "lms"),
    ("course-accessibility", "lxp"),
)


@dataclass(slots=True)
class _Course:
    content: str
    source: str
    steps_left: int


@dataclass(slots=True)
class _Journey:
    step: int  # index into the plan's journey; len(journey) means practising
    reach: int  # the step this person will not go beyond


@dataclass(slots=True)
class _Thread:
    thread: str
    channel: str
    initiative: str | None
    started_ms: int
    content: str | None = None  # the course the thread is about (every event of it says so)
    posts: list[tuple[str, str, str, int]] = field(default_factory=list)  # post, actor, team, ms


class Behaviour:
    """Turns activities into canonical events; all randomness comes from `rng`."""

    def __init__(
        self, org: Organisation, rng: random.Random, never_practised: frozenset[str] = frozenset()
    ) -> None:
        """`never_practised`: initiatives whose people take the training but never apply it."""
        self.rng = rng
        self._never_practised = never_practised
        self._archetype = {team.name: team.archetype for team in org.teams}
        self._courses: dict[str, _Course] = {}
        self._journeys: dict[tuple[str, str], _Journey] = {}
        self._threads: dict[str, deque[_Thread]] = {}

    # --- the one entry point ------------------------------------------------------------
    def act(self, person: Person, activity: Activity, at_ms: int) -> dict[str, Any]:
        """The canonical event for `person` doing `activity` at `at_ms` (epoch ms)."""
        if activity == "learning":
            return self._learn(person, at_ms)
        if activity == "initiative":
            return self._initiative(person, at_ms)
        channel = self._channel(person)
        if activity == "post":
            return self._post(person, at_ms, channel, None)
        return self._answer(person, at_ms, channel, None, react=activity == "react")

    # --- learning ---------------------------------------------------------------------
    def _learn(self, person: Person, at_ms: int) -> dict[str, Any]:
        course = self._courses.get(person.person)
        if course is None:
            content, source = self.rng.choice(COURSES)
            self._courses[person.person] = _Course(content, source, self.rng.randint(1, 4))
            return self._event(person, at_ms, "learning.started", source, content=content)
        if course.steps_left > 0:
            course.steps_left -= 1
            return self._event(
                person, at_ms, "learning.progressed", course.source,
                content=course.content, duration_s=self._study_seconds(),
            )  # fmt: skip
        del self._courses[person.person]
        if self.rng.random() < 0.5:
            return self._event(
                person, at_ms, "learning.completed", course.source,
                content=course.content, duration_s=self._study_seconds(),
            )  # fmt: skip
        return self._assessed(person, at_ms, course.content, course.source, None)

    def _assessed(
        self, person: Person, at_ms: int, content: str, source: str, initiative: str | None
    ) -> dict[str, Any]:
        mean = PROFILES[self._archetype[person.team]].assessment_mean
        score = round(min(1.0, max(0.0, self.rng.gauss(mean, 0.15))), 2)
        return self._event(
            person, at_ms, "learning.assessed", source, initiative=initiative, content=content,
            duration_s=self.rng.randint(300, 1500), score=score, success=score >= PASS_SCORE,
        )  # fmt: skip

    def _study_seconds(self) -> int:
        return self.rng.randint(300, 1800)

    # --- initiatives ------------------------------------------------------------------
    def _initiative(self, person: Person, at_ms: int) -> dict[str, Any]:
        plan = self.rng.choice(INITIATIVE_PLANS)
        journey = self._journey(person, plan)
        steps = plan.journey()
        silo = self._archetype[person.team] == "silo"
        if journey.step >= len(steps) and plan.initiative in self._never_practised:
            return self._learn(person, at_ms)  # trained, but the new way never takes hold
        if journey.step >= len(steps):  # practising: apply it, share tips, answer peers
            roll = self.rng.random()
            if silo or roll < 0.65:
                return self._event(
                    person, at_ms, "adoption.practiced", "xapi", initiative=plan.initiative,
                    practice=self.rng.choice(plan.practices),
                )  # fmt: skip
            if roll < 0.9:
                return self._answer(person, at_ms, plan.channel, plan.initiative, react=False)
            return self._post(person, at_ms, plan.channel, plan.initiative)
        if journey.step >= journey.reach:  # stalled: the initiative no longer gets through
            return self._learn(person, at_ms)
        if journey.step > 0 and not silo and self.rng.random() < 0.12:
            # a question about the content in hand: the platform tags the thread with it
            _kind, about = steps[journey.step - 1]
            return self._post(person, at_ms, plan.channel, plan.initiative, about)
        kind, content = steps[journey.step]
        source = "lxp" if content == plan.kickoff else "lms"
        if kind == "learning.assessed":
            event = self._assessed(person, at_ms, content, source, plan.initiative)
            if event["success"]:
                journey.step += 1
            return event
        journey.step += 1
        duration = {} if kind == "learning.started" else {"duration_s": self._study_seconds()}
        return self._event(
            person, at_ms, kind, source, initiative=plan.initiative, content=content, **duration
        )

    def _journey(self, person: Person, plan: InitiativePlan) -> _Journey:
        key = (person.person, plan.initiative)
        journey = self._journeys.get(key)
        if journey is None:
            profile = PROFILES[self._archetype[person.team]]
            full = len(plan.journey())
            if self.rng.random() < profile.adoption_reach:
                reach = full
            else:
                reach = self.rng.randint(1, min(full, profile.early_stall_step))
            journey = self._journeys[key] = _Journey(step=0, reach=reach)
        return journey

    # --- conversation -----------------------------------------------------------------
    def _channel(self, person: Person) -> str:
        profile = PROFILES[self._archetype[person.team]]
        if self.rng.random() < profile.shared_channel_share:
            return self.rng.choice(SHARED_CHANNELS)
        return f"team-{person.team}"

    def _post(
        self,
        person: Person,
        at_ms: int,
        channel: str,
        initiative: str | None,
        content: str | None = None,
    ) -> dict[str, Any]:
        thread = _Thread(self._id("thread"), channel, initiative, at_ms, content)
        post = self._id("post")
        thread.posts.append((post, person.person, person.team, at_ms))
        self._threads.setdefault(channel, deque(maxlen=THREADS_KEPT_PER_CHANNEL)).append(thread)
        return self._event(
            person, at_ms, "discussion.posted", _channel_source(channel), initiative=initiative,
            thread=thread.thread, post=post, channel=channel, length=self._length(400),
            content=content,
        )  # fmt: skip

    def _answer(
        self, person: Person, at_ms: int, channel: str, initiative: str | None, react: bool
    ) -> dict[str, Any]:
        """A reply (or reaction) to an earlier post by someone else; a new thread when the
        channel has nothing to answer."""
        target = self._reply_target(person, at_ms, channel)
        if target is None:
            return self._post(person, at_ms, channel, initiative)
        thread, parent = target
        source = _channel_source(channel)
        if react:  # a reaction has an id of its own, but nobody answers a reaction
            return self._event(
                person, at_ms, "discussion.reacted", source, initiative=thread.initiative,
                thread=thread.thread, post=self._id("reaction"), parent=parent, channel=channel,
                content=thread.content,
            )  # fmt: skip
        post = self._id("post")
        thread.posts.append((post, person.person, person.team, at_ms))
        return self._event(
            person, at_ms, "discussion.replied", source, initiative=thread.initiative,
            thread=thread.thread, post=post, parent=parent, channel=channel,
            length=self._length(180), content=thread.content,
        )  # fmt: skip

    def _reply_target(self, person: Person, at_ms: int, channel: str) -> tuple[_Thread, str] | None:
        recent = [
            thread
            for thread in self._threads.get(channel, ())
            if at_ms - thread.started_ms < THREAD_REPLY_HORIZON_MS
        ]
        for _ in range(REPLY_ATTEMPTS):
            if not recent:
                return None
            # Newer threads are more likely to be answered.
            thread = self.rng.choices(recent, range(1, len(recent) + 1))[0]
            visible = thread.posts
            if len(visible) > POSTS_CONSIDERED:  # the opening post and the latest replies
                visible = [visible[0], *visible[1 - POSTS_CONSIDERED :]]
            posts = [p for p in visible if p[1] != person.person and p[3] < at_ms]
            if posts:
                break
            recent.remove(thread)
        else:
            return None
        profile = PROFILES[self._archetype[person.team]]
        others = [p for p in posts if p[2] != person.team]
        if others and self.rng.random() < profile.other_team_preference:
            posts = others
        parent = posts[0] if self.rng.random() < 0.6 else self.rng.choice(posts)
        return thread, parent[0]

    def _length(self, typical: int) -> int:
        return max(1, int(self.rng.lognormvariate(0.0, 0.7) * typical))

    # --- the event itself -------------------------------------------------------------
    def _event(
        self, person: Person, at_ms: int, kind: str, source: str, **fields: Any
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "type": kind,
            "occurred_at": rfc3339(at_ms),
            "actor": person.person,
            "source": source,
        }
        if self.rng.random() < TEAM_SENT_SHARE:
            event["team"] = person.team
        event.update((k, v) for k, v in fields.items() if v is not None)
        return event

    def _id(self, kind: str) -> str:
        return f"{kind}-{self.rng.getrandbits(64):016x}"


def _channel_source(channel: str) -> str:
    return "chat" if channel.startswith("team-") else "forum"


def rfc3339(at_ms: int) -> str:
    """Epoch milliseconds -> '2026-03-02T09:15:42.123Z'."""
    seconds, millis = divmod(at_ms, 1000)
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{millis:03d}Z"
