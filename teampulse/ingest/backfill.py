"""`teampulse backfill --lrs URL`: copy an LRS's history into TeamPulse's xapi topic.

Pages through `GET <lrs>/statements` (xAPI 1.0.3 and 2.0.0) in ascending `stored` order,
following the `more` links, checks every statement with the rules the produce tool uses,
and sends it through the acknowledged Kafka sender keyed and digested as the ingest endpoint
does (so its recall and the pipeline's dedupe by id treat a backfilled statement and the same
statement sent live as one). Refused statements go to the dead-letter topic, counted by
reason.

Resume: after each page, once Kafka has acknowledged every record of it, a `Cursor` is saved
to the state file (written to a temporary file, synced, then renamed over the old one). It
holds the LRS's `more` link and the newest `stored` instant sent with the ids sent close to
it. A rerun follows the saved `more` link; when there is none (the last run reached the end)
or the LRS no longer honours it, it asks again `since` just before that instant and skips the
ids already sent or dead-lettered. A crash between the acknowledgement and the save re-sends
at most one page; the pipeline counts a repeated statement id once.

The paging and cursor rules (`statements_url`, `page_url`, `parse_page`, `Cursor`) are pure
and tested without an LRS; `run_backfill` is the I/O around them.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import aiohttp
import orjson
from tqdm import tqdm

from teampulse.contract.intake import LRS_SET_PROPERTIES, content_digest
from teampulse.contract.json_values import encoded
from teampulse.contract.rejections import Reason, Rejection, dead_letter_record
from teampulse.contract.timestamps import (
    format_rfc3339,
    parse_iso8601_timestamp,
    parse_rfc3339,
)
from teampulse.ingest.produce import Outgoing, RecordChecker, RejectionTally
from teampulse.ingest.write import DIGEST_HEADER
from teampulse.ingest.xapi_syntax import VERSION_HEADER
from teampulse.kafka.sender import KafkaSender
from teampulse.kafka.topics import ensure_topics
from teampulse.settings import Settings

__all__ = [
    "XAPI_VERSIONS",
    "BackfillError",
    "BackfillQuery",
    "BackfillSummary",
    "Cursor",
    "Page",
    "default_state_path",
    "page_url",
    "parse_page",
    "refusal",
    "run_backfill",
    "save_cursor",
    "statements_url",
]

XAPI_VERSIONS = ("1.0.3", "2.0.0")
# xAPI requires `stored` to at least millisecond precision. A restart asks `since` (exclusive)
# one millisecond before the newest instant sent, and remembers the ids sent within two, so
# every statement the restart returns again is recognised whatever the LRS's precision.
SINCE_MARGIN_S = 0.001
REMEMBERED_S = 0.002
# Statuses with which an LRS says a saved `more` link is no longer valid.
EXPIRED_LINK = frozenset({400, 404, 410})
STATE_VERSION = 1


class BackfillError(Exception):
    """The backfill cannot go on; the message names the cause and the fix."""


# ---------------------------------------------------------------------------- paging (pure)
def statements_url(lrs: str) -> str:
    """The LRS's statements resource: 'https://lrs/xAPI' and '.../xAPI/statements' both work."""
    parts = urlsplit(lrs.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BackfillError(
            f"--lrs {lrs!r} is not an http(s) URL: give the LRS's xAPI endpoint, "
            "e.g. https://lrs.example.com/xAPI/"
        )
    path = parts.path.rstrip("/")
    if not path.endswith("/statements"):
        path += "/statements"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


@dataclass(frozen=True, slots=True)
class BackfillQuery:
    """What to ask the LRS for: `since`/`until` (RFC 3339, as the LRS reads them) and `limit`."""

    since: str | None = None
    until: str | None = None
    limit: int = 500

    def as_json(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until, "limit": self.limit}


def page_url(resource: str, query: BackfillQuery, since: str | None = None) -> str:
    """The first page's URL; `since` (a restart's) replaces the query's own."""
    params: dict[str, str] = {"ascending": "true", "limit": str(query.limit)}
    chosen_since = since or query.since
    if chosen_since is not None:
        params["since"] = chosen_since
    if query.until is not None:
        params["until"] = query.until
    return f"{resource}?{urlencode(params)}"


@dataclass(frozen=True, slots=True)
class Page:
    statements: list[Any]
    next_url: str | None  # the `more` link resolved against the page's URL; None: the end


def parse_page(body: bytes, url: str, content_type: str = "") -> Page:
    """A StatementResult body -> Page, or BackfillError naming what the LRS sent instead."""
    try:
        result = orjson.loads(body)
    except orjson.JSONDecodeError:
        shown = content_type or "no content type"
        raise BackfillError(
            f"the LRS answered {url} with something that is not JSON ({shown}, "
            f"starting {body[:60]!r}): --lrs must be the xAPI endpoint (the URL that "
            "/statements hangs off, e.g. https://lrs.example.com/xAPI/), not a web page "
            "or a login screen in front of it"
        ) from None
    if not isinstance(result, dict) or not isinstance(result.get("statements"), list):
        raise BackfillError(
            f"the LRS answered {url} with JSON that is not a StatementResult "
            '({"statements": [...], "more": ...}): check that --lrs is the xAPI endpoint'
        )
    more = result.get("more")
    if more is not None and not isinstance(more, str):
        raise BackfillError(f"the LRS answered {url} with a `more` that is not a string")
    # `more` is a relative IRL (path and query) in 1.0.3; some LRSs send it absolute.
    return Page(result["statements"], urljoin(url, more) if more else None)


# ---------------------------------------------------------------------------- cursor (pure)
@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a backfill of one LRS stands, saved after every acknowledged page."""

    lrs: str  # the statements resource
    query: BackfillQuery
    next_url: str | None = None  # the `more` link still to follow
    newest_stored: float | None = None  # epoch seconds of the newest `stored` sent
    recent: Mapping[str, float] = field(default_factory=dict)  # id -> stored, near the newest
    pages: int = 0
    sent: int = 0
    rejected: int = 0

    def start_url(self) -> str:
        """Where the next run begins: the saved `more` link, else a restart `since`."""
        return self.next_url or self.restart_url()

    def restart_url(self) -> str:
        """The first page again, from just before the newest instant sent (if any)."""
        since = None
        if self.newest_stored is not None:
            since = format_rfc3339(self.newest_stored - SINCE_MARGIN_S)
        return page_url(self.lrs, self.query, since)

    def handled_before(self, statement_id: str) -> bool:
        """Whether a restart's page repeats a statement an earlier page sent or refused."""
        return statement_id in self.recent

    def after_page(
        self, page: Page, handled: Mapping[str, float | None], *, sent: int, rejected: int
    ) -> Cursor:
        """The cursor once `page` is acknowledged. `handled`: the id of every statement sent
        or dead-lettered -> its `stored` (None when the LRS gave none)."""
        stamps = [stored for stored in handled.values() if stored is not None]
        if self.newest_stored is not None:
            stamps.append(self.newest_stored)
        newest = max(stamps, default=None)
        recent: dict[str, float] = {}
        if newest is not None:
            known = {**self.recent, **{i: s for i, s in handled.items() if s is not None}}
            recent = {i: s for i, s in known.items() if s >= newest - REMEMBERED_S}
        return replace(
            self,
            next_url=page.next_url,
            newest_stored=newest,
            recent=recent,
            pages=self.pages + 1,
            sent=self.sent + sent,
            rejected=self.rejected + rejected,
        )

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "version": STATE_VERSION,
                "lrs": self.lrs,
                "query": self.query.as_json(),
                "next": self.next_url,
                "newest_stored": self.newest_stored,
                "recent": dict(self.recent),
                "pages": self.pages,
                "sent": self.sent,
                "rejected": self.rejected,
            },
            option=orjson.OPT_INDENT_2,
        )

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Cursor:
        try:
            raw = orjson.loads(data)
            if raw.get("version") != STATE_VERSION:
                raise ValueError(f"state version {raw.get('version')!r}")
            return cls(
                lrs=raw["lrs"],
                query=BackfillQuery(**raw["query"]),
                next_url=raw["next"],
                newest_stored=raw["newest_stored"],
                recent={str(k): float(v) for k, v in raw["recent"].items()},
                pages=int(raw["pages"]),
                sent=int(raw["sent"]),
                rejected=int(raw["rejected"]),
            )
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError) as exc:
            raise BackfillError(
                f"the backfill state {where} is unreadable ({exc}): delete it to start over, "
                "or pass another --state"
            ) from exc

    def matches(self, lrs: str, query: BackfillQuery) -> str | None:
        """None when this cursor continues that backfill, else why it does not."""
        if self.lrs != lrs:
            return f"it belongs to the LRS {self.lrs}"
        if self.query != query:
            return f"it was started with {self.query.as_json()}"
        return None


def default_state_path(settings: Settings, resource: str) -> Path:
    """One state file per LRS statements resource, under the data dir."""
    parts = urlsplit(resource)
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", parts.netloc).strip("-")
    digest = hashlib.sha256(resource.encode()).hexdigest()[:8]
    return settings.data_dir / "backfill" / f"{slug}-{digest}.json"


def save_cursor(path: Path, cursor: Cursor) -> None:
    """Replace the state file atomically and durably (a crash leaves the old or the new)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(path.name + ".tmp")
    with scratch.open("wb") as handle:
        handle.write(cursor.to_json())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(scratch, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


# ---------------------------------------------------------------------------- summary
@dataclass
class BackfillSummary(RejectionTally):
    resumed: bool = False
    pages: int = 0
    read: int = 0
    sent: int = 0
    skipped: int = 0  # sent or dead-lettered by an earlier page
    finished: bool = False
    state: Path | None = None

    def __str__(self) -> str:
        how = "resumed" if self.resumed else "started"
        end = "reached the end" if self.finished else "stopped before the end"
        lines = [
            f"backfill {how}, {end}: {self.pages} pages, read {self.read} statements: "
            f"sent {self.sent}, done before {self.skipped}, rejected {self.rejected} "
            "(to the dead-letter topic)"
        ]
        lines += self.rejection_lines()
        if self.state is not None:
            lines.append(f"cursor saved in {self.state}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------- I/O
@dataclass(frozen=True)
class LrsClient:
    session: aiohttp.ClientSession
    credentials: str  # "user:secret" or ""
    version: str

    def headers(self) -> dict[str, str]:
        headers = {VERSION_HEADER: self.version, "Accept": "application/json"}
        if self.credentials:
            token = base64.b64encode(self.credentials.encode()).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        return headers

    async def get(self, url: str) -> tuple[int, bytes, str]:
        try:
            async with self.session.get(url, headers=self.headers()) as response:
                return response.status, await response.read(), response.content_type
        except aiohttp.ClientConnectorError as exc:
            raise BackfillError(
                f"cannot reach the LRS at {url} ({exc.os_error.strerror or exc}): check the "
                "host and port of --lrs, and that this machine may connect to it"
            ) from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise BackfillError(
                f"the LRS did not answer {url} in time: raise TEAMPULSE_BACKFILL_TIMEOUT_S, "
                "or ask for smaller pages with --limit"
            ) from exc
        except aiohttp.ClientError as exc:
            raise BackfillError(f"reading {url} from the LRS failed: {exc!r}") from exc


def refusal(status: int, url: str, body: bytes) -> BackfillError:
    if status in (401, 403):
        return BackfillError(
            f"the LRS refused the credentials for {url} ({status}): pass --credentials "
            "user:secret or set TEAMPULSE_BACKFILL_LRS_CREDENTIALS, with a key allowed to "
            "read statements"
        )
    if status == 404:
        return BackfillError(
            f"the LRS has no statements resource at {url} (404): --lrs must be the xAPI "
            "endpoint, e.g. https://lrs.example.com/xAPI/"
        )
    return BackfillError(
        f"the LRS answered {url} with {status}: {body[:200].decode('utf-8', 'replace')}"
    )


def load_cursor(path: Path, resource: str, query: BackfillQuery) -> Cursor | None:
    if not path.exists():
        return None
    cursor = Cursor.from_json(path.read_bytes(), str(path))
    mismatch = cursor.matches(resource, query)
    if mismatch is not None:
        raise BackfillError(
            f"the backfill state {path} does not fit this run: {mismatch}. Pass another "
            "--state for a new backfill, or --restart to drop the saved cursor"
        )
    return cursor


async def run_backfill(
    settings: Settings,
    lrs: str,
    *,
    query: BackfillQuery,
    state: Path | None = None,
    credentials: str | None = None,
    version: str = "1.0.3",
    max_pages: int | None = None,
    restart: bool = False,
    progress: bool = True,
) -> BackfillSummary:
    """Copy the LRS's statements to the xapi topic, resuming from `state`; returns the summary."""
    if version not in XAPI_VERSIONS:
        raise BackfillError(f"--xapi-version must be one of {', '.join(XAPI_VERSIONS)}")
    for name, instant in (("--since", query.since), ("--until", query.until)):
        if instant is not None and parse_rfc3339(instant) is None:
            raise BackfillError(
                f"{name} {instant!r} is not an RFC 3339 instant: write it as 2026-01-31T00:00:00Z"
            )
    resource = statements_url(lrs)
    path = state or default_state_path(settings, resource)
    if restart:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    saved = load_cursor(path, resource, query)
    cursor = saved or Cursor(resource, query)
    summary = BackfillSummary(resumed=saved is not None, state=path)

    await ensure_topics(settings)
    timeout = aiohttp.ClientTimeout(total=settings.backfill_timeout_s)
    bar = tqdm(unit="stmt", file=sys.stderr, disable=not progress, desc="backfill")
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            KafkaSender(settings) as sender,
        ):
            client = LrsClient(session, credentials or settings.backfill_lrs_credentials, version)
            url: str | None = cursor.start_url()
            while url is not None and (max_pages is None or summary.pages < max_pages):
                page = await fetch_page(client, url, cursor)
                if page.next_url == url:
                    raise BackfillError(
                        f"the LRS answered {url} with a `more` link to the same page: it "
                        "would be read forever; report it to the LRS's vendor"
                    )
                cursor = await send_page(settings, sender, page, url, cursor, summary)
                save_cursor(path, cursor)
                summary.pages += 1
                bar.update(len(page.statements))
                bar.set_postfix(pages=cursor.pages, rejected=cursor.rejected)
                url = page.next_url
            summary.finished = url is None
    finally:
        bar.close()
    return summary


async def fetch_page(client: LrsClient, url: str, cursor: Cursor) -> Page:
    status, body, content_type = await client.get(url)
    if status in EXPIRED_LINK and url == cursor.next_url:
        # The saved `more` link expired (an LRS may keep them only for a while): ask again
        # from the newest instant sent; the ids remembered near it are skipped.
        url = cursor.restart_url()
        status, body, content_type = await client.get(url)
    if status != 200:
        raise refusal(status, url, body)
    return parse_page(body, url, content_type)


async def send_page(
    settings: Settings,
    sender: KafkaSender,
    page: Page,
    url: str,
    cursor: Cursor,
    summary: BackfillSummary,
) -> Cursor:
    """Sends the page's statements and dead letters, waits for Kafka, returns the new cursor."""
    # "Now" per page: a long run reaches statements stored after it started, and the
    # future-skew check must not refuse them.
    now = settings.now_source()()
    checker = RecordChecker(settings, now)
    handled: dict[str, float | None] = {}
    sent = rejected = 0
    for index, statement in enumerate(page.statements):
        summary.read += 1
        raw = orjson.dumps(statement)
        statement_id = statement.get("id") if isinstance(statement, dict) else None
        if not isinstance(statement_id, str):
            checked: Outgoing | Rejection = Rejection(
                Reason.XAPI_INVALID, "id: a statement read from an LRS has an id"
            )
        else:
            key = statement_id.lower()  # as the ingest endpoint keys it: UUIDs ignore case
            if cursor.handled_before(key):
                summary.skipped += 1
                continue
            stored = statement.get("stored")
            handled[key] = parse_iso8601_timestamp(stored) if isinstance(stored, str) else None
            checked = checker.check("xapi", raw, statement)
            digest = content_digest(statement, LRS_SET_PROPERTIES)
            value = raw if key == statement_id else encoded({**statement, "id": key})
            if not isinstance(checked, Rejection) and (digest is None or value is None):
                checked = Rejection(Reason.UNENCODABLE, "cannot be written back as JSON")
        if isinstance(checked, Rejection):
            rejected += 1
            summary.reject(f"{url} statement {index}", checked)
            letter = dead_letter_record(raw, url, -1, index, checked, now)
            await sender.send(settings.topic("deadletter"), None, letter)
            continue
        assert digest is not None and value is not None  # refused above otherwise
        await sender.send(settings.topic("xapi"), key.encode(), value, [(DIGEST_HEADER, digest)])
        sent += 1
    await sender.flush()  # the cursor moves only past what Kafka acknowledged
    summary.sent += sent
    return cursor.after_page(page, handled, sent=sent, rejected=rejected)
