"""A demo interrupted while it sends the history leaves no mark, so the next one sends the
whole history again; a completed one is marked and the next goes straight to the live feed."""

from __future__ import annotations

import pytest

from teampulse.ops.demo import history_complete, mark_history_complete
from teampulse.settings import load_settings

pytestmark = pytest.mark.integration


async def test_the_history_counts_as_sent_only_once_it_was_marked_complete(
    kafka_bootstrap: str, unique_topic_prefix: str
) -> None:
    settings = load_settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=unique_topic_prefix)

    assert await history_complete(settings) is False  # nothing sent, or interrupted
    await mark_history_complete(settings)
    assert await history_complete(settings) is True
