"""The per-credential token bucket, on an injected clock."""

from __future__ import annotations

import pytest

from teampulse.ingest.rate_limit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_full_bucket_admits_the_burst_then_says_how_long_to_wait(clock: Clock):
    limiter = RateLimiter(rate_per_s=2.0, burst=3, clock=clock)
    assert [limiter.wait_s("basic:lrs") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.wait_s("basic:lrs") == pytest.approx(0.5)


def test_a_refused_request_takes_no_token(clock: Clock):
    limiter = RateLimiter(rate_per_s=2.0, burst=1, clock=clock)
    assert limiter.wait_s("basic:lrs") == 0.0
    assert limiter.wait_s("basic:lrs") == pytest.approx(0.5)
    clock.now += 0.25
    assert limiter.wait_s("basic:lrs") == pytest.approx(0.25)
    clock.now += 0.25
    assert limiter.wait_s("basic:lrs") == 0.0


def test_the_bucket_refills_at_the_rate_up_to_the_burst(clock: Clock):
    limiter = RateLimiter(rate_per_s=2.0, burst=3, clock=clock)
    for _ in range(3):
        limiter.wait_s("basic:lrs")
    clock.now += 60.0  # far longer than a refill: the bucket holds the burst, no more
    assert [limiter.wait_s("basic:lrs") for _ in range(4)] == [0.0, 0.0, 0.0, pytest.approx(0.5)]


def test_each_caller_has_its_own_bucket(clock: Clock):
    limiter = RateLimiter(rate_per_s=1.0, burst=1, clock=clock)
    assert limiter.wait_s("basic:lrs") == 0.0
    assert limiter.wait_s("basic:lrs") == pytest.approx(1.0)
    assert limiter.wait_s("bearer:1") == 0.0
    assert limiter.wait_s("connector:slack") == 0.0


def test_a_clock_that_steps_back_adds_no_tokens(clock: Clock):
    limiter = RateLimiter(rate_per_s=1.0, burst=1, clock=clock)
    limiter.wait_s("basic:lrs")
    clock.now -= 100.0
    assert limiter.wait_s("basic:lrs") == pytest.approx(1.0)


def test_a_rate_of_zero_admits_everything(clock: Clock):
    limiter = RateLimiter(rate_per_s=0.0, burst=1, clock=clock)
    assert [limiter.wait_s("basic:lrs") for _ in range(1000)] == [0.0] * 1000


def test_a_caller_with_its_own_limit_gets_its_rate_and_burst(clock: Clock):
    limiter = RateLimiter(rate_per_s=100.0, burst=100, clock=clock)
    assert [limiter.wait_s("tenant:acme", 2.0, 2) for _ in range(3)] == [0.0, 0.0, 0.5]
    clock.now += 0.5
    assert limiter.wait_s("tenant:acme", 2.0, 2) == 0.0


def test_a_changed_limit_applies_at_once_without_adding_tokens(clock: Clock):
    limiter = RateLimiter(rate_per_s=1.0, burst=1, clock=clock)
    for _ in range(5):
        limiter.wait_s("tenant:acme", 10.0, 5)
    # the limit is lowered by a reload: the bucket keeps what it has, capped at the new burst
    assert limiter.wait_s("tenant:acme", 1.0, 1) == pytest.approx(1.0)
    clock.now += 1.0
    assert limiter.wait_s("tenant:acme", 1.0, 1) == 0.0
