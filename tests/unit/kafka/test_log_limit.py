"""Repeated log lines collapse into one line per interval with the count."""

from __future__ import annotations

import logging

from teampulse.kafka.log_limit import RepeatedMessageFilter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(message: str, *args: object, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord("aiokafka.client", level, __file__, 1, message, args, None)


def passed(limiter: RepeatedMessageFilter, *records: logging.LogRecord) -> list[str]:
    return [r.getMessage() for r in records if limiter.filter(r)]


def test_identical_lines_within_the_interval_pass_once():
    limiter = RepeatedMessageFilter(10.0, Clock())
    lines = [record("Unable connect to node with id %s", 1) for _ in range(500)]
    assert passed(limiter, *lines) == ["Unable connect to node with id 1"]


def test_lines_of_one_format_string_with_other_arguments_are_alike():
    limiter = RepeatedMessageFilter(10.0, Clock())
    lines = [record("record dead-lettered offset=%d", offset) for offset in range(500)]
    assert passed(limiter, *lines) == ["record dead-lettered offset=0"]


def test_messages_without_arguments_are_compared_whole():
    limiter = RepeatedMessageFilter(10.0, Clock())
    assert passed(limiter, record("offset=1"), record("offset=2"), record("offset=1")) == [
        "offset=1",
        "offset=2",
    ]


def test_the_first_line_after_the_interval_carries_the_count():
    clock = Clock()
    limiter = RepeatedMessageFilter(10.0, clock)
    passed(limiter, *[record("Unable connect") for _ in range(98)])
    clock.now += 10.0
    assert passed(limiter, record("Unable connect"), record("Unable connect")) == [
        "Unable connect [97 more like this in the last 10 s]"
    ]


def test_different_messages_levels_and_loggers_are_counted_apart():
    limiter = RepeatedMessageFilter(10.0, Clock())
    other_logger = record("x")
    other_logger.name = "faust"
    assert passed(
        limiter, record("x"), record("y"), record("x", level=logging.WARNING), other_logger
    ) == ["x", "y", "x", "x"]


def test_one_record_gets_one_decision_on_every_handler():
    limiter = RepeatedMessageFilter(10.0, Clock())
    first = record("x")
    assert limiter.filter(first) and limiter.filter(first)
    second = record("x")
    assert not limiter.filter(second) and not limiter.filter(second)


def test_an_interval_of_zero_lets_every_line_through():
    limiter = RepeatedMessageFilter(0.0, Clock())
    assert len(passed(limiter, *[record("x") for _ in range(5)])) == 5
