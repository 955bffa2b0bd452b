"""What real xAPI senders send, taken by the statements endpoint over real HTTP and the real
broker: a cmi5 session as the cmi5 specification's own sample scenario has it, and the
1.0.0-1.0.2 version headers that authoring tools (Storyline courses among them) still send.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.test_http_ingest import BASIC, Ingest, ingest_settings, start_ingest
from tests.support.vendor_samples import vendor_sample

pytestmark = pytest.mark.integration

# cmi5's "typical non-credit session" scenario (sources in tests/support/vendor_samples.py).
CMI5_SESSION = [
    "cmi5/01-launched_statement.json",
    "cmi5/04-initialized_statement.json",
    "cmi5/05-terminated_statement.json",
]


@pytest.fixture
async def ingest(kafka_bootstrap: str, unique_topic_prefix: str) -> AsyncIterator[Ingest]:
    running, stop = await start_ingest(ingest_settings(kafka_bootstrap, unique_topic_prefix))
    try:
        yield running
    finally:
        await stop()


async def test_the_cmi5_specifications_sample_session_is_written_as_sent(ingest: Ingest):
    session = [vendor_sample(name) for name in CMI5_SESSION]
    headers = {"X-Experience-API-Version": "1.0.3", "Authorization": BASIC}
    for statement in session:  # an AU sends each statement as it happens
        response = await ingest.post("/xAPI/statements", statement, headers)
        assert (response.status, await response.json()) == (200, [statement["id"]])
    written = [record.key.decode() for record in await ingest.records("xapi")]
    assert written == [statement["id"] for statement in session]


@pytest.mark.parametrize("version", ["1.0.0", "1.0.1", "1.0.2"])
async def test_an_older_1_0_version_header_is_taken_and_answered_as_1_0_3(
    ingest: Ingest, version: str
):
    statement = vendor_sample(CMI5_SESSION[0])
    headers = {"X-Experience-API-Version": version, "Authorization": BASIC}
    response = await ingest.post("/xAPI/statements", statement, headers)
    assert response.status == 200
    assert response.headers["X-Experience-API-Version"] == "1.0.3"
    assert [record.key.decode() for record in await ingest.records("xapi")] == [statement["id"]]
