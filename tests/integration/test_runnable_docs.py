"""Every shell block of README.md and docs/ fenced as ```sh runnable runs, as written, against
the test stack, so a doc that drifts from the product fails here.

What a block may rely on (README.md's Development section says the same): `teampulse` on the
PATH, Kafka and Redis of the test stack in the TEAMPULSE_* variables, the topics created
(`teampulse topics`), and `teampulse ingest` serving on TEAMPULSE_INGEST_PORT with
TEAMPULSE_INGEST_CREDENTIALS=lms:secret. Each block runs with `bash -euo pipefail` in a fresh
folder; a non-zero exit fails it.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RUNNABLE = re.compile(r"^```sh runnable\n(.*?)^```", re.DOTALL | re.MULTILINE)
BLOCK_TIMEOUT_S = 120  # a loaded machine; each block takes seconds
INGEST_START_TIMEOUT_S = 90
CREDENTIALS = "lms:secret"


def runnable_blocks() -> list[tuple[str, str]]:
    """(`file:line`, script) of every runnable block, in file order."""
    blocks = []
    for doc in [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]:
        text = doc.read_text()
        for match in RUNNABLE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            blocks.append((f"{doc.relative_to(REPO)}:{line}", match.group(1)))
    return blocks


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def docs_env(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    prefix = f"t-runnable-docs-{os.getpid()}."
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEAMPULSE_")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        TEAMPULSE_KAFKA_BOOTSTRAP=kafka_bootstrap,
        TEAMPULSE_REDIS_URL=redis_url,
        TEAMPULSE_TOPIC_PREFIX=prefix,
        TEAMPULSE_APP_ID=prefix.rstrip("."),
        TEAMPULSE_REDIS_PREFIX=prefix.replace(".", ":"),
        TEAMPULSE_TOPIC_PARTITIONS="1",
        TEAMPULSE_INGEST_PORT=str(_free_port()),
        TEAMPULSE_INGEST_CREDENTIALS=CREDENTIALS,
        TEAMPULSE_PSEUDONYM_SECRET="runnable-docs-secret",
    )
    workdir = tmp_path_factory.mktemp("runnable-docs")
    topics = subprocess.run(
        ["teampulse", "topics"], env=env, cwd=workdir, capture_output=True, text=True, timeout=120
    )
    assert topics.returncode == 0, topics.stderr
    log = (workdir / "ingest.log").open("w")
    ingest = subprocess.Popen(
        ["teampulse", "ingest"], env=env, cwd=workdir, stdout=log, stderr=subprocess.STDOUT
    )
    about = f"http://127.0.0.1:{env['TEAMPULSE_INGEST_PORT']}/xAPI/about"
    deadline = time.monotonic() + INGEST_START_TIMEOUT_S
    while not _answers(about):
        assert ingest.poll() is None, (workdir / "ingest.log").read_text()
        assert time.monotonic() < deadline, "teampulse ingest did not answer"
        time.sleep(0.5)
    yield env
    ingest.terminate()
    ingest.wait(timeout=30)
    log.close()


def test_the_docs_have_runnable_blocks_where_a_newcomer_starts() -> None:
    files = {where.split(":")[0] for where, _ in runnable_blocks()}
    assert {"docs/xapi.md", "docs/events.md", "docs/gauges.md"} <= files


@pytest.mark.parametrize(("where", "script"), runnable_blocks(), ids=lambda v: str(v)[:40])
def test_a_runnable_block_runs_as_written(
    where: str, script: str, docs_env: dict[str, str], tmp_path: Path
) -> None:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env=docs_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT_S,
    )
    assert done.returncode == 0, f"{where} failed:\n{done.stdout}\n{done.stderr}"
