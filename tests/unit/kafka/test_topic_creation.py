"""How `teampulse topics` reads the broker's per-topic answer to CreateTopics."""

from __future__ import annotations

import pytest
from aiokafka.errors import InvalidConfigurationError
from aiokafka.protocol.admin import CreateTopicsResponse_v1

from teampulse.kafka.topics import _created


def answer(*topics: tuple[str, int, str | None]) -> CreateTopicsResponse_v1:
    return CreateTopicsResponse_v1(topic_errors=list(topics))


def test_a_topic_that_exists_already_is_not_reported_created_so_its_retention_is_checked():
    created = _created(
        answer(("events", 0, None), ("roster", 36, "Topic 'roster' already exists."))
    )

    assert created == ["events"]


def test_any_other_refusal_is_raised_with_the_topic_and_the_brokers_reason():
    with pytest.raises(InvalidConfigurationError, match="create topic events: bad retention.ms"):
        _created(answer(("roster", 0, None), ("events", 40, "bad retention.ms")))
