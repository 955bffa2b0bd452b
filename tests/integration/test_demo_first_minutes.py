"""`teampulse demo` makes its point in its first minutes: the web app's address is the first
thing it prints, and that page, like the terminal summary, leads with the team that dropped
and says why, in words."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from teampulse.simulation.demo import demo_organisation
from tests.integration.worker_harness import free_port

pytestmark = pytest.mark.integration

WITHIN_S = 120  # the "in under two minutes"


def first_attention(url: str) -> tuple[str, str] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            page = response.read().decode()
    except OSError:
        return None
    found = re.search(r'<div class="attention[^"]*" data-team="([^"]+)">.*?<br>([^<]*)</div>', page)
    return (found.group(1), found.group(2)) if found else None


def test_the_demo_prints_its_web_app_first_and_leads_with_the_dropping_team(
    kafka_bootstrap: str, redis_url: str, unique_topic_prefix: str, tmp_path: Path
) -> None:
    _, dropping = demo_organisation(7, 35)
    web_port = free_port()
    env = {
        **os.environ,
        "TEAMPULSE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TEAMPULSE_REDIS_URL": redis_url,
        "TEAMPULSE_TOPIC_PREFIX": unique_topic_prefix,
        "TEAMPULSE_REDIS_PREFIX": unique_topic_prefix,
        "TEAMPULSE_APP_ID": unique_topic_prefix.rstrip("."),
        "TEAMPULSE_WEB_PORT": str(free_port()),
        "TEAMPULSE_WEBAPP_PORT": str(web_port),
        "TEAMPULSE_NOTIFY_PORT": str(free_port()),
        "TEAMPULSE_STACK_DIR": str(tmp_path / "stack"),
        "DEMO_SECONDS": str(WITHIN_S + 60),
    }
    started = time.monotonic()
    demo = subprocess.Popen(
        [sys.executable, "-m", "teampulse.cli", "demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(demo.stdout or []), daemon=True)
    reader.start()
    url = f"http://127.0.0.1:{web_port}/"
    seen = None
    try:
        while time.monotonic() - started < WITHIN_S and demo.poll() is None:
            seen = first_attention(url)
            summary = f"needs attention: {dropping} (" in "".join(lines)
            if seen and seen[0] == dropping and summary:
                break
            time.sleep(2)
        took = time.monotonic() - started
    finally:
        os.killpg(demo.pid, signal.SIGTERM)
        demo.wait(timeout=60)
        reader.join(timeout=10)
    output = "".join(lines)
    said = [line for line in output.splitlines() if line.startswith("[demo]")]
    print(f"the web app and the summary led with {dropping} after {took:.0f} s")

    assert said and said[0] == f"[demo] open {url} — the L&D web app", output[-3000:]
    assert seen is not None and seen[0] == dropping, output[-3000:]
    assert re.fullmatch(r"engagement −\d+% against its usual \w+day.*", seen[1]) or (
        "participation 2 of 18" in seen[1]
    ), seen
    assert f"needs attention: {dropping} (" in output, output[-3000:]
    # notify runs beside it, posting to the demo's stand-in Teams channel
    assert any(line.startswith("[demo] notify started (pid") for line in said), output[-3000:]
    assert any(line.startswith("[demo] notifications: ") for line in said), output[-3000:]
