"""Keeps a clean start's group-coordinator wait out of the ERROR log.

A consumer group's coordinator is the broker that leads the group's partition of
`__consumer_offsets`. On a fresh broker that topic is created when the first group asks, and
until it is ready every lookup answers GroupCoordinatorNotAvailable (and then
GroupLoadInProgress) while aiokafka retries: it logs each answer at ERROR, so every clean
worker start used to log errors a newcomer reads as "broken". During the first minute of a
process those answers are logged at INFO instead; after it, a coordinator that still cannot
be found is a real problem and stays an ERROR.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from aiokafka.errors import GroupCoordinatorNotAvailableError, GroupLoadInProgressError

__all__ = ["COORDINATOR_LOGGER", "CoordinatorStartFilter", "quiet_coordinator_start"]

COORDINATOR_LOGGER = "aiokafka.consumer.group_coordinator"
COORDINATOR_START_GRACE_S = 60.0
_STARTING = (GroupCoordinatorNotAvailableError, GroupLoadInProgressError)


class CoordinatorStartFilter(logging.Filter):
    def __init__(
        self,
        grace_s: float = COORDINATOR_START_GRACE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._clock = clock
        self._until = clock() + grace_s

    def filter(self, record: logging.LogRecord) -> bool:
        starting = any(isinstance(arg, _STARTING) for arg in _args(record))
        if record.levelno == logging.ERROR and starting and self._clock() < self._until:
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
            # the logger let the record through at ERROR; at INFO it must pass its level again
            return logging.getLogger(record.name).isEnabledFor(logging.INFO)
        return True


def _args(record: logging.LogRecord) -> tuple[object, ...]:
    args = record.args
    return args if isinstance(args, tuple) else ()


def quiet_coordinator_start(grace_s: float = COORDINATOR_START_GRACE_S) -> None:
    """Install the filter on aiokafka's coordinator logger (call once, at process start)."""
    logging.getLogger(COORDINATOR_LOGGER).addFilter(CoordinatorStartFilter(grace_s))
