"""Fixtures shared by several integration modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.connector_stack import (
    ConnectorStack,
    start_connector_stack,
    stop_connector_stack,
)


@pytest.fixture(scope="session")
def connector_stack(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConnectorStack]:
    """One worker and one `teampulse ingest` with every connector configured; each
    platform's tests use their own teams, so they do not see each other's events."""
    stack = start_connector_stack(kafka_bootstrap, redis_url, tmp_path_factory.mktemp("conn"))
    try:
        yield stack
    finally:
        stop_connector_stack(stack)
