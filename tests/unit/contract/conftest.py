"""Fixtures of the event-contract specifications: one clock instant, one secret, the repo's
verb map."""

from __future__ import annotations

import pytest

from teampulse.contract.events import EventValidator
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.xapi import XapiMapper
from teampulse.settings import Settings

# 2026-03-03T00:00:00Z: every example lies before it, within the default lateness.
NOW = 1772496000.0
SECRET = "contract-test-secret"


@pytest.fixture
def settings() -> Settings:
    return Settings(pseudonym_secret=SECRET)


@pytest.fixture
def pseudonymiser() -> Pseudonymiser:
    return Pseudonymiser(SECRET)


@pytest.fixture
def validator(settings: Settings, pseudonymiser: Pseudonymiser) -> EventValidator:
    return EventValidator(settings, pseudonymiser)


@pytest.fixture
def mapper(settings: Settings, pseudonymiser: Pseudonymiser) -> XapiMapper:
    return XapiMapper(settings, pseudonymiser)
