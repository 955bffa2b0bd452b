"""Fixtures of the connector specifications: the pseudonymiser and one connectors config."""

from __future__ import annotations

import pytest

from teampulse.connectors.config import ConnectorConfig
from teampulse.contract.pseudonym import Pseudonymiser
from tests.unit.connectors.connector_constants import SECRET


@pytest.fixture
def pseudonymiser() -> Pseudonymiser:
    return Pseudonymiser(SECRET)


@pytest.fixture
def config() -> ConnectorConfig:
    return ConnectorConfig.parse(
        {
            "slack": {
                "channels": {
                    "C0TEAM": {"team": "atlas"},
                    "C0AGILE": {"initiative": "agile-ways-of-working"},
                }
            },
            "msteams": {"channels": {"19:agile@thread.tacv2": {"initiative": "digital-workplace"}}},
            "discourse": {"channels": {7: {"initiative": "agile-ways-of-working"}}},
            "caliper": {
                "channels": {"https://lms.example.edu/sections/1": {"team": "atlas"}},
            },
        }
    )
