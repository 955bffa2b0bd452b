"""connectors.yaml: the file shipped with the package loads, mistakes name their entry."""

from __future__ import annotations

import pytest

from teampulse.connectors.config import CONNECTORS_FILE, ConnectorConfig, ConnectorConfigError
from teampulse.settings import PACKAGED_CONFIG_DIR


def test_the_shipped_file_loads_with_caliper_sessions_ignored():
    config = ConnectorConfig.load(PACKAGED_CONFIG_DIR / CONNECTORS_FILE)
    assert config.caliper.actions["SessionEvent"] == {"LoggedIn": "ignore", "LoggedOut": "ignore"}


def test_a_channel_needs_a_team_or_an_initiative():
    with pytest.raises(ConnectorConfigError, match="slack.channels.C1"):
        ConnectorConfig.parse({"slack": {"channels": {"C1": {}}}})


def test_a_caliper_action_must_map_to_a_canonical_type_or_ignore():
    with pytest.raises(ConnectorConfigError, match="caliper.actions.ViewEvent.Viewed"):
        ConnectorConfig.parse({"caliper": {"actions": {"ViewEvent": {"Viewed": "viewed"}}}})


def test_numeric_category_ids_are_read_as_text():
    config = ConnectorConfig.parse({"discourse": {"channels": {7: {"team": "atlas"}}}})
    assert config.discourse.route("7") == {"team": "atlas"}
