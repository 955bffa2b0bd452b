"""A clean start's coordinator wait is logged at INFO; the same error later stays an ERROR."""

from __future__ import annotations

import logging

import pytest
from aiokafka.errors import (
    GroupCoordinatorNotAvailableError,
    GroupLoadInProgressError,
    NodeNotReadyError,
)

from teampulse.kafka.coordinator_log import COORDINATOR_LOGGER, CoordinatorStartFilter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _lookup_failed(error: Exception) -> logging.LogRecord:
    # the call aiokafka's coordinator lookup makes
    return logging.getLogger(COORDINATOR_LOGGER).makeRecord(
        COORDINATOR_LOGGER,
        logging.ERROR,
        "group_coordinator.py",
        566,
        "Group Coordinator Request failed: %s",
        (error,),
        None,
    )


@pytest.fixture
def info_enabled():
    logger = logging.getLogger(COORDINATOR_LOGGER)
    before = logger.level
    logger.setLevel(logging.INFO)
    yield
    logger.setLevel(before)


@pytest.mark.parametrize("error", [GroupCoordinatorNotAvailableError(), GroupLoadInProgressError()])
def test_a_coordinator_not_yet_there_at_start_is_info(error: Exception, info_enabled) -> None:
    record = _lookup_failed(error)
    assert CoordinatorStartFilter(grace_s=60, clock=Clock()).filter(record)
    assert (record.levelno, record.levelname) == (logging.INFO, "INFO")


def test_a_coordinator_still_missing_after_the_grace_is_an_error(info_enabled) -> None:
    clock = Clock()
    quiet = CoordinatorStartFilter(grace_s=60, clock=clock)
    clock.now += 61
    record = _lookup_failed(GroupCoordinatorNotAvailableError())
    assert quiet.filter(record)
    assert record.levelname == "ERROR"


def test_another_error_at_start_stays_an_error(info_enabled) -> None:
    record = _lookup_failed(NodeNotReadyError())
    assert CoordinatorStartFilter(grace_s=60, clock=Clock()).filter(record)
    assert record.levelname == "ERROR"


def test_a_demoted_record_is_dropped_when_the_logger_shows_only_warnings() -> None:
    logger = logging.getLogger(COORDINATOR_LOGGER)
    before = logger.level
    logger.setLevel(logging.WARNING)
    try:
        record = _lookup_failed(GroupCoordinatorNotAvailableError())
        assert not CoordinatorStartFilter(grace_s=60, clock=Clock()).filter(record)
    finally:
        logger.setLevel(before)
