"""`teampulse backfill` from a real LRS (Ralph, filesystem backend, on 127.0.0.1) into the
real broker: every statement arrives once, an interrupted run resumes without resending,
refused statements are dead-lettered by reason, and a wrong URL or key fails with the fix.
Two behaviours Ralph cannot show are played by small stdlib HTTP servers in this file: an
HTML sign-in page where the LRS should be, and `more` links that have expired.

Ralph is installed by the `lrs-test` extra (`make venv`). Two traits of its filesystem
backend shape the fixture: it writes its file once, so the LRS is filled with a single POST
before any test reads it; and it filters `since`/`until` by `timestamp` where xAPI says
`stored`, so the statements are sent without a timestamp (the LRS then sets it to `stored`)
and a `since` query means what the spec says.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import bcrypt
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from typer.testing import CliRunner

from teampulse.cli import cli
from teampulse.contract.intake import LRS_SET_PROPERTIES, content_digest

pytestmark = pytest.mark.integration

LRS_USER, LRS_SECRET = "teampulse-backfill", "lrs-secret-for-tests"
MAPPED = 300  # statements whose verb the shipped verb map knows
UNMAPPED = 5  # statements with a verb it does not: refused as unknown_verb
PAGE = 40  # statements per page: 305 statements are 8 pages
VERBS = (
    "http://adlnet.gov/expapi/verbs/completed",
    "http://adlnet.gov/expapi/verbs/passed",
    "http://adlnet.gov/expapi/verbs/experienced",
)
LRS_START_S = 90.0


def statement(index: int, verb: str) -> dict[str, object]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"mbox": f"mailto:person{index % 40}@example.com", "objectType": "Agent"},
        "verb": {"id": verb},
        "object": {"id": f"https://lms.example.com/courses/{index % 12}"},
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def lrs_request(url: str, *, body: object = None, secret: str = LRS_SECRET) -> object:
    token = base64.b64encode(f"{LRS_USER}:{secret}".encode()).decode()
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
        headers={
            "Authorization": f"Basic {token}",
            "Content-Type": "application/json",
            "X-Experience-API-Version": "1.0.3",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


class RalphLrs:
    def __init__(self, base: str, statements: list[dict[str, object]]) -> None:
        self.base = base  # the xAPI endpoint, e.g. http://127.0.0.1:PORT/xAPI/
        self.statements = statements

    @property
    def mapped_ids(self) -> set[str]:
        return {str(s["id"]) for s in self.statements if s["verb"]["id"] in VERBS}  # type: ignore[index]


@pytest.fixture(scope="module")
def ralph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RalphLrs]:
    """Ralph's LRS on a free loopback port, holding MAPPED + UNMAPPED statements."""
    home = tmp_path_factory.mktemp("ralph")
    hashed = bcrypt.hashpw(LRS_SECRET.encode(), bcrypt.gensalt()).decode()
    (home / "auth.json").write_text(
        json.dumps(
            [
                {
                    "username": LRS_USER,
                    "hash": hashed,
                    "scopes": ["all"],
                    "agent": {"mbox": "mailto:backfill@example.com"},
                }
            ]
        )
    )
    port = free_port()
    env = {
        **os.environ,
        "RALPH_APP_DIR": str(home),
        "RALPH_AUTH_FILE": str(home / "auth.json"),
        "RALPH_RUNSERVER_BACKEND": "fs",
        "RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH": str(home),
        "RALPH_RUNSERVER_MAX_SEARCH_HITS_COUNT": "100",
    }
    command = [sys.executable, "-m", "uvicorn", "ralph.api:app", "--host", "127.0.0.1"]
    log = (home / "ralph.log").open("wb")
    server = subprocess.Popen(
        [*command, "--port", str(port)], cwd=home, env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}/xAPI/"
    try:
        deadline = time.monotonic() + LRS_START_S
        while True:
            try:
                lrs_request(f"{base}statements?limit=1")
                break
            except (urllib.error.URLError, ConnectionError) as exc:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"Ralph did not start ({exc}):\n{(home / 'ralph.log').read_text()}",
                        pytrace=False,
                    )
                time.sleep(0.5)
        statements = [statement(i, VERBS[i % len(VERBS)]) for i in range(MAPPED)]
        for i in range(UNMAPPED):
            statements.insert(i * 60 + 7, statement(i, "https://example.com/verbs/pondered"))
        ids = lrs_request(f"{base}statements", body=statements)
        assert len(ids) == MAPPED + UNMAPPED  # type: ignore[arg-type]
        yield RalphLrs(base, statements)
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


@pytest.fixture
def topics(kafka_bootstrap: str, unique_topic_prefix: str) -> Iterator[str]:
    """The test's topic prefix; every topic created under it is deleted afterwards."""
    yield unique_topic_prefix

    async def delete() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            mine = [t for t in await admin.list_topics() if t.startswith(unique_topic_prefix)]
            if mine:
                await admin.delete_topics(mine)
        finally:
            await admin.close()

    asyncio.run(delete())


def read_topic(bootstrap: str, topic: str) -> list[tuple[bytes, bytes, dict[str, bytes]]]:
    async def read() -> list[tuple[bytes, bytes, dict[str, bytes]]]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
        )
        await consumer.start()
        try:
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])
            end = (await consumer.end_offsets([tp]))[tp]
            consumer.seek(tp, 0)
            found: list[tuple[bytes, bytes, dict[str, bytes]]] = []
            while len(found) < end:
                batch = await consumer.getmany(tp, timeout_ms=2000)
                found += [(r.key, r.value, dict(r.headers)) for r in batch.get(tp, [])]
            return found
        finally:
            await consumer.stop()

    return asyncio.run(read())


def backfill(
    kafka_bootstrap: str, prefix: str, data_dir: Path, *args: str, secret: str = LRS_SECRET
) -> tuple[int, str]:
    env = {
        "TEAMPULSE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TEAMPULSE_TOPIC_PREFIX": prefix,
        "TEAMPULSE_TOPIC_PARTITIONS": "1",
        "TEAMPULSE_DATA_DIR": str(data_dir),
        "TEAMPULSE_BACKFILL_LRS_CREDENTIALS": f"{LRS_USER}:{secret}",
    }
    result = CliRunner().invoke(cli, ["backfill", *args], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_every_statement_of_the_lrs_arrives_once_keyed_and_digested_as_the_endpoint_does(
    ralph: RalphLrs, kafka_bootstrap: str, topics: str, tmp_path: Path
):
    code, output = backfill(
        kafka_bootstrap, topics, tmp_path, "--lrs", ralph.base, "--limit", str(PAGE)
    )

    assert code == 0, output
    assert "reached the end: 8 pages, read 305 statements: sent 300" in output
    records = read_topic(kafka_bootstrap, f"{topics}xapi")
    assert len(records) == MAPPED
    assert {key.decode() for key, _, _ in records} == ralph.mapped_ids
    for key, value, headers in records:
        sent = orjson.loads(value)
        assert sent["id"] == key.decode()
        assert headers["teampulse-digest"] == content_digest(sent, LRS_SET_PROPERTIES)


def test_refused_statements_are_counted_by_reason_and_dead_lettered(
    ralph: RalphLrs, kafka_bootstrap: str, topics: str, tmp_path: Path
):
    code, output = backfill(
        kafka_bootstrap, topics, tmp_path, "--lrs", ralph.base, "--limit", str(PAGE)
    )

    assert code == 0, output
    assert "rejected by reason: unknown_verb 5" in output
    letters = [orjson.loads(v) for _, v, _ in read_topic(kafka_bootstrap, f"{topics}deadletter")]
    assert [letter["reason"] for letter in letters] == ["unknown_verb"] * UNMAPPED
    refused = {orjson.loads(letter["original"])["verb"]["id"] for letter in letters}
    assert refused == {"https://example.com/verbs/pondered"}


def test_an_interrupted_backfill_resumes_and_sends_the_rest_exactly_once(
    ralph: RalphLrs, kafka_bootstrap: str, topics: str, tmp_path: Path
):
    state = tmp_path / "cursor.json"
    args = ("--lrs", ralph.base, "--limit", str(PAGE), "--state", str(state))

    code, output = backfill(kafka_bootstrap, topics, tmp_path, *args, "--max-pages", "3")
    assert code == 0, output
    assert "stopped before the end: 3 pages, read 120 statements" in output
    first = read_topic(kafka_bootstrap, f"{topics}xapi")
    assert 0 < len(first) < MAPPED
    assert orjson.loads(state.read_bytes())["next"] is not None

    code, output = backfill(kafka_bootstrap, topics, tmp_path, *args)
    assert code == 0, output
    assert "backfill resumed, reached the end: 5 pages, read 185 statements" in output

    keys = [key.decode() for key, _, _ in read_topic(kafka_bootstrap, f"{topics}xapi")]
    assert len(keys) == MAPPED
    assert set(keys) == ralph.mapped_ids
    assert len(read_topic(kafka_bootstrap, f"{topics}deadletter")) == UNMAPPED


def test_a_backfill_killed_midway_resumes_resending_at_most_the_page_in_flight(
    ralph: RalphLrs, kafka_bootstrap: str, topics: str, tmp_path: Path
):
    state = tmp_path / "cursor.json"
    args = ["--lrs", ralph.base, "--limit", "10", "--state", str(state)]
    env = {
        **os.environ,
        "TEAMPULSE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TEAMPULSE_TOPIC_PREFIX": topics,
        "TEAMPULSE_TOPIC_PARTITIONS": "1",
        "TEAMPULSE_BACKFILL_LRS_CREDENTIALS": f"{LRS_USER}:{LRS_SECRET}",
    }
    command = [sys.executable, "-m", "teampulse.cli", "backfill", *args]
    running = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while not (state.exists() and orjson.loads(state.read_bytes())["pages"] >= 5):
            assert running.poll() is None, "the backfill ended before it could be killed"
            assert time.monotonic() < deadline, "the backfill saved no cursor in 60 s"
            time.sleep(0.01)
    finally:
        running.kill()  # SIGKILL: no cleanup, as a crash or an OOM kill would leave it
        running.wait(timeout=20)
    killed_at = orjson.loads(state.read_bytes())
    assert killed_at["next"] is not None

    code, output = backfill(kafka_bootstrap, topics, tmp_path, *args)

    assert code == 0, output
    assert "backfill resumed, reached the end" in output
    keys = [key.decode() for key, _, _ in read_topic(kafka_bootstrap, f"{topics}xapi")]
    assert set(keys) == ralph.mapped_ids
    # Kafka may have acknowledged the page in flight before the cursor was saved: that page,
    # and only it, is sent again (the pipeline counts a repeated statement id once).
    assert len(keys) - len(set(keys)) <= 10


def test_a_rerun_after_the_end_sends_nothing_again(
    ralph: RalphLrs, kafka_bootstrap: str, topics: str, tmp_path: Path
):
    args = ("--lrs", ralph.base, "--limit", str(PAGE))
    assert backfill(kafka_bootstrap, topics, tmp_path, *args)[0] == 0

    code, output = backfill(kafka_bootstrap, topics, tmp_path, *args)

    assert code == 0, output
    # The rerun asks `since` just before the newest `stored` sent: the LRS returns at least
    # that statement again, and the ids remembered in the cursor keep it from being resent.
    again = re.search(
        r"reached the end: \d+ pages, read (\d+) statements: sent 0, "
        r"done before (\d+), rejected 0",
        output,
    )
    assert again is not None, output
    assert int(again.group(1)) == int(again.group(2)) >= 1
    assert len(read_topic(kafka_bootstrap, f"{topics}xapi")) == MAPPED
    assert len(read_topic(kafka_bootstrap, f"{topics}deadletter")) == UNMAPPED


def test_wrong_credentials_fail_with_the_way_to_pass_them(
    ralph: RalphLrs, kafka_bootstrap: str, topics: str, tmp_path: Path
):
    code, output = backfill(
        kafka_bootstrap, topics, tmp_path, "--lrs", ralph.base, secret="not-the-secret"
    )

    assert code == 1
    assert "the LRS refused the credentials" in output
    assert "(401)" in output
    assert "--credentials user:secret" in output


def test_an_unreachable_lrs_fails_naming_the_url(kafka_bootstrap: str, topics: str, tmp_path: Path):
    lrs = f"http://127.0.0.1:{free_port()}/xAPI/"

    code, output = backfill(kafka_bootstrap, topics, tmp_path, "--lrs", lrs)

    assert code == 1
    assert f"cannot reach the LRS at {lrs}statements" in output
    assert "check the host and port of --lrs" in output


class SignInPage(BaseHTTPRequestHandler):
    """What an SSO proxy in front of an LRS answers: a 200 HTML page."""

    def do_GET(self) -> None:
        body = b"<html><body><form>Sign in</form></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_page_that_is_not_json_fails_naming_what_came_and_the_fix(
    kafka_bootstrap: str, topics: str, tmp_path: Path
):
    server = ThreadingHTTPServer(("127.0.0.1", 0), SignInPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        lrs = f"http://127.0.0.1:{server.server_address[1]}/xAPI/"
        code, output = backfill(kafka_bootstrap, topics, tmp_path, "--lrs", lrs)
    finally:
        server.shutdown()
        server.server_close()

    assert code == 1
    assert "not JSON (text/html" in output
    assert "--lrs must be the xAPI endpoint" in output


STORED_LAST = "2026-11-30T12:00:00.000Z"
SENT_BEFORE = "0b8f5c1e-3d2a-4e6f-9a7b-1c2d3e4f5a6b"  # stored at STORED_LAST, sent by run 1
STORED_WITH_IT = "7e1d2c3b-4a5f-4e6d-8c7b-9a0b1c2d3e4f"  # same instant, not sent yet


class ExpiringLinkLrs(BaseHTTPRequestHandler):
    """An LRS whose `more` links have expired (410), answering `since` by `stored` as the
    spec says: the two statements stored at STORED_LAST."""

    def do_GET(self) -> None:
        if "search_after" in self.path:
            self.send_response(410)
            self.end_headers()
            return
        asked = parse_qs(urlsplit(self.path).query)
        assert asked["since"] == ["2026-11-30T11:59:59.999Z"], self.path
        page = {"statements": [stored_statement(SENT_BEFORE), stored_statement(STORED_WITH_IT)]}
        body = json.dumps(page).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Experience-API-Version", "1.0.3")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def stored_statement(statement_id: str) -> dict[str, object]:
    return {**statement(1, VERBS[0]), "id": statement_id, "stored": STORED_LAST}


def test_an_expired_more_link_restarts_since_the_newest_stored_without_resending(
    kafka_bootstrap: str, topics: str, tmp_path: Path
):
    server = ThreadingHTTPServer(("127.0.0.1", 0), ExpiringLinkLrs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        resource = f"http://127.0.0.1:{server.server_address[1]}/xAPI/statements"
        state = tmp_path / "cursor.json"
        stored_last = 1796040000.0  # STORED_LAST as epoch seconds
        cursor = {
            "version": 1,
            "lrs": resource,
            "query": {"since": None, "until": None, "limit": 40},
            "next": f"{resource}?search_after=expired",
            "newest_stored": stored_last,
            "recent": {SENT_BEFORE: stored_last},
            "pages": 4,
            "sent": 160,
            "rejected": 0,
        }
        state.write_bytes(orjson.dumps(cursor))
        code, output = backfill(
            kafka_bootstrap, topics, tmp_path, "--lrs", resource, "--limit", "40",
            "--state", str(state),
        )  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()

    assert code == 0, output
    assert "read 2 statements: sent 1, done before 1" in output
    keys = [key.decode() for key, _, _ in read_topic(kafka_bootstrap, f"{topics}xapi")]
    assert keys == [STORED_WITH_IT]
