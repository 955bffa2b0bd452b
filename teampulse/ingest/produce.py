"""`teampulse produce FILE`: validate records from a file (or stdin) and send them to Kafka.

The file is a JSON array or NDJSON (one JSON value per line) of canonical events, xAPI
statements or roster records, mixed if you like: with no `kind`, each record's kind is told
by its shape (a `verb` -> xAPI statement; a `type` -> canonical event; a `team` without
`type` -> roster record). Every record is checked with the same core the pipeline uses; a
rejected one is reported with its line (NDJSON) or position (array) and reason, and is not
sent. Accepted records go to their topic as they were written, keyed by event id,
statement id (or the id derived from its content) or roster person.

With `fail_on_reject`, the file is all or nothing: one rejected record and nothing is sent,
so a fixed file can simply be sent again.

With `tenant` (docs/tenancy.md), the command is that tenant's trusted producer: every record
is checked as usual, then its person id is keyed with the tenant's pseudonym secret (from
TEAMPULSE_TENANTS_FILE) and it is sent with the tenant's header, as the ingest endpoint
writes a tenant's records.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

import orjson
from tqdm import tqdm

from teampulse.contract.event import Event
from teampulse.contract.events import EventValidator
from teampulse.contract.framing import split_json_records
from teampulse.contract.pseudonym import PSEUDONYM_PREFIX, Pseudonymiser
from teampulse.contract.rejections import Reason, Rejection
from teampulse.contract.roster import RosterEntry, parse_roster_record
from teampulse.contract.xapi import XapiMapper
from teampulse.settings import Settings
from teampulse.tenancy.directory import tenant_directory
from teampulse.tenancy.door import keyed_event, keyed_statement

__all__ = [
    "Kind",
    "Outgoing",
    "ProduceSummary",
    "RecordChecker",
    "check_records",
    "RejectionTally",
    "TenantKeying",
    "kind_of",
    "produce_file",
]

Kind = Literal["events", "xapi", "roster"]
KINDS: tuple[Kind, ...] = ("events", "xapi", "roster")
REPORTED_REJECTIONS = 20  # the summary lists the first ones; all are counted by reason


@dataclass(frozen=True, slots=True)
class Outgoing:
    kind: Kind
    key: bytes
    value: bytes


@dataclass(frozen=True)
class TenantKeying:
    """Whose records a `produce --tenant` run sends: the tenant's person-id keying and the
    headers its records carry."""

    pseudonymiser: Pseudonymiser
    headers: list[tuple[str, bytes]]

    @classmethod
    def of(cls, settings: Settings, tenant: str) -> TenantKeying:
        directory = tenant_directory(settings)
        if directory.implicit:
            raise SystemExit(
                "--tenant needs TEAMPULSE_TENANTS_FILE: without it there is one implicit "
                "tenant, whose records carry no tenant"
            )
        if directory.get(tenant) is None:
            known = ", ".join(sorted(directory.tenants))
            raise SystemExit(f"--tenant {tenant}: no such tenant in the tenants file ({known})")
        return cls(directory.pseudonymiser(tenant), directory.record_headers(tenant))


@dataclass
class RejectionTally:
    """The records a command refused: counted by reason, the first ones kept with where they
    were, for its summary."""

    rejected: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    rejections: list[str] = field(default_factory=list)  # "line 3: schema: score: ..."

    def reject(self, where: str, rejection: Rejection) -> None:
        self.rejected += 1
        self.reasons[rejection.reason.value] += 1
        if len(self.rejections) < REPORTED_REJECTIONS:
            self.rejections.append(f"{where}: {rejection.reason.value}: {rejection.detail}")

    def rejection_lines(self) -> list[str]:
        """Counts by reason, then the first refusals."""
        lines = []
        if self.reasons:
            lines.append(
                "rejected by reason: "
                + ", ".join(f"{r} {n}" for r, n in self.reasons.most_common())
            )
        lines += [f"  {line}" for line in self.rejections]
        if self.rejected > len(self.rejections):
            lines.append(f"  ... and {self.rejected - len(self.rejections)} more")
        return lines


@dataclass
class ProduceSummary(RejectionTally):
    read: int = 0
    sent: Counter[str] = field(default_factory=Counter)  # kind -> records sent
    held_back: int = 0  # valid records not sent because of fail_on_reject

    @property
    def accepted(self) -> int:
        return sum(self.sent.values())

    def __str__(self) -> str:
        sent = ", ".join(f"{n} {kind}" for kind, n in sorted(self.sent.items())) or "nothing"
        lines = [f"read {self.read} records: sent {sent}; rejected {self.rejected}"]
        lines += self.rejection_lines()
        if self.held_back:
            lines.append(
                f"nothing sent: {self.held_back} valid records held back because "
                "rejects are fatal (--fail-on-reject)"
            )
        return "\n".join(lines)


def kind_of(record: Any) -> Kind | Rejection:
    if not isinstance(record, dict):
        return Rejection(Reason.NOT_OBJECT, "a record is a JSON object")
    if "verb" in record:
        return "xapi"
    if "type" in record:
        return "events"
    if "team" in record:
        return "roster"
    return Rejection(
        Reason.SCHEMA,
        "cannot tell an event (type), a statement (verb) or a roster record (team): pass --kind",
    )


class RecordChecker:
    """Validates one record of a given kind with the pipeline's core -> Outgoing or Rejection."""

    def __init__(self, settings: Settings, now: float, tenant: TenantKeying | None = None) -> None:
        pseudonymiser = Pseudonymiser(settings.pseudonym_secret)
        self._tenant = tenant
        self._pseudonymiser = pseudonymiser
        self._events = EventValidator(settings, pseudonymiser)
        self._xapi = XapiMapper(settings, pseudonymiser)
        self._max_bytes = settings.max_event_bytes
        self._now = now

    def check(self, kind: Kind, original: bytes | None, record: Any) -> Outgoing | Rejection:
        value = original if original is not None else orjson.dumps(record)
        if len(value) > self._max_bytes and kind != "roster":
            return Rejection(
                Reason.TOO_LARGE, f"{len(value)} bytes, the limit is {self._max_bytes}"
            )
        if kind == "roster":
            entry = parse_roster_record(None, value, self._pseudonymiser)
            if not isinstance(entry, RosterEntry):
                return (
                    entry
                    if isinstance(entry, Rejection)
                    else Rejection(Reason.ROSTER_INVALID, "a roster record needs a value")
                )
            if self._tenant is not None:
                person = PSEUDONYM_PREFIX + self._tenant.pseudonymiser.person(str(record["person"]))
                return Outgoing(kind, person.encode(), orjson.dumps({**record, "person": person}))
            return Outgoing(kind, str(record["person"]).encode(), value)
        if not isinstance(record, dict):
            return Rejection(Reason.NOT_OBJECT, "a record is a JSON object")
        result: Event | Rejection = (
            self._xapi.to_event(record, self._now)
            if kind == "xapi"
            else self._events.validate(record, self._now)
        )
        if isinstance(result, Rejection):
            return result
        if self._tenant is not None:
            keying = self._tenant.pseudonymiser
            door = keyed_statement if kind == "xapi" else keyed_event
            value = orjson.dumps(door(record, keying))
        return Outgoing(kind, result.id.encode(), value)


def check_records(
    data: bytes,
    settings: Settings,
    kind: Kind | None,
    now: float,
    tenant: TenantKeying | None = None,
) -> tuple[list[Outgoing], ProduceSummary]:
    """The pure part of `produce`: what would be sent, and the summary of what was refused."""
    checker = RecordChecker(settings, now, tenant)
    summary = ProduceSummary()
    outgoing: list[Outgoing] = []
    for framed in split_json_records(data):
        where, original, record = framed.where, framed.raw, framed.value
        summary.read += 1
        if isinstance(record, Rejection):
            summary.reject(where, record)
            continue
        record_kind = kind or kind_of(record)
        if isinstance(record_kind, Rejection):
            summary.reject(where, record_kind)
            continue
        checked = checker.check(record_kind, original, record)
        if isinstance(checked, Rejection):
            summary.reject(where, checked)
        else:
            outgoing.append(checked)
    return outgoing, summary


async def produce_file(
    settings: Settings,
    path: Path | None,
    kind: str | None = None,
    fail_on_reject: bool = False,
    *,
    dry_run: bool = False,
    progress: bool = True,
    tenant: str | None = None,
) -> ProduceSummary:
    """Validate a file (None: stdin) and send its accepted records, as `tenant`'s when one is
    given; returns the summary."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    chosen = cast(Kind | None, kind)
    keying = TenantKeying.of(settings, tenant) if tenant is not None else None
    data = path.read_bytes() if path is not None else sys.stdin.buffer.read()
    now = settings.now_source()()
    outgoing, summary = check_records(data, settings, chosen, now, keying)
    headers = keying.headers if keying is not None else None
    if fail_on_reject and summary.rejected:
        summary.held_back = len(outgoing)
        return summary
    if dry_run or not outgoing:
        return summary

    from teampulse.kafka.sender import KafkaSender
    from teampulse.kafka.topics import ensure_topics

    await ensure_topics(settings)
    bar = tqdm(
        total=len(outgoing), unit="rec", file=sys.stderr, disable=not progress, desc="sending"
    )
    try:
        async with KafkaSender(settings) as sender:
            for record in outgoing:
                await sender.send(settings.topic(record.kind), record.key, record.value, headers)
                summary.sent[record.kind] += 1
                bar.update()
    finally:
        bar.close()
    return summary
