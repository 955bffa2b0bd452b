"""Gauge configuration: defaults, the shipped YAML files, and clear errors for mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from teampulse.gauges.config import (
    GaugeConfig,
    GaugeConfigError,
    ScoringConfig,
    load_gauge_config,
    parse_initiatives,
    parse_scoring,
)
from teampulse.settings import PACKAGED_CONFIG_DIR, load_settings


def test_the_shipped_scoring_file_states_the_built_in_defaults() -> None:
    shipped = yaml.safe_load((PACKAGED_CONFIG_DIR / "scoring.yaml").read_text())

    assert parse_scoring(shipped) == ScoringConfig()


def test_the_shipped_configuration_loads_with_three_initiatives() -> None:
    config = load_gauge_config(load_settings())

    assert [i.id for i in config.initiatives] == [
        "digital-workplace",
        "agile-ways-of-working",
        "data-literacy",
    ]
    assert config.windows == {"1d": 86_400, "7d": 604_800, "28d": 2_419_200}
    assert config.bucket_s == 3600
    assert config.lateness_s == 172_800
    assert config.min_group_size == 5


def test_retention_covers_the_drop_signal_reach_plus_lateness() -> None:
    config = GaugeConfig()
    # The baseline reaches 28 days 20 hours back (4 samples a week apart, the oldest one's
    # 20-hour window); the drop signal further: its 2-week span and 3 reference weeks.
    assert config.baseline_lookback_s == 28 * 86_400 + 20 * 3600
    assert config.signal_lookback_s == 35 * 86_400
    assert config.retention_s == 37 * 86_400  # plus 48 h lateness


def test_retention_follows_the_longest_window_when_it_reaches_further() -> None:
    config = GaugeConfig(windows={"1d": 86_400, "90d": 90 * 86_400})
    assert config.retention_s == 92 * 86_400


def test_settings_reach_the_gauge_config(tmp_path: Path) -> None:
    settings = load_settings(windows="1d,14d", lateness="6h", min_group_size=3, config_dir=tmp_path)

    config = load_gauge_config(settings)

    assert config.windows == {"1d": 86_400, "14d": 1_209_600}
    assert config.lateness_s == 21_600
    assert config.min_group_size == 3
    # that folder has no YAML files: every one is the shipped default
    assert config.initiatives == load_gauge_config(load_settings()).initiatives != ()
    assert config.scoring == load_gauge_config(load_settings()).scoring


def test_weights_that_do_not_add_up_to_one_are_refused_with_their_sum() -> None:
    # participation 0.5 + learning 0.25 + the defaults of the other two (0.25 + 0.1) = 1.1
    raw = {"engagement": {"weights": {"participation": 0.5, "learning_intensity": 0.25}}}

    with pytest.raises(GaugeConfigError, match=r"(?s)scoring.yaml is invalid.*add up to 1.1\b"):
        parse_scoring(raw)


def test_a_misspelt_key_is_refused_with_its_location() -> None:
    with pytest.raises(GaugeConfigError, match=r"engagement\.wieghts"):
        parse_scoring({"engagement": {"wieghts": {}}})


def test_an_unknown_stage_is_refused() -> None:
    raw = {"initiatives": [{"id": "x", "stages": {"mastery": [{"type": "learning.started"}]}}]}

    with pytest.raises(GaugeConfigError, match="unknown stage.*mastery"):
        parse_initiatives(raw)


def test_an_unknown_event_type_is_refused() -> None:
    raw = {"initiatives": [{"id": "x", "stages": {"awareness": [{"type": "video.watched"}]}}]}

    with pytest.raises(GaugeConfigError, match="unknown event type.*video.watched"):
        parse_initiatives(raw)


def test_initiative_ids_must_be_unique() -> None:
    raw = {"initiatives": [{"id": "x"}, {"id": "x"}]}

    with pytest.raises(GaugeConfigError, match="unique"):
        parse_initiatives(raw)


def test_a_matcher_accepts_one_type_or_a_list() -> None:
    raw = {
        "initiatives": [
            {
                "id": "x",
                "stages": {
                    "awareness": [{"type": "learning.started", "content": "intro"}],
                    "knowledge": [{"type": ["learning.completed", "learning.assessed"]}],
                },
            }
        ]
    }

    (initiative,) = parse_initiatives(raw)

    assert initiative.stages["awareness"][0].type == ("learning.started",)
    assert initiative.stages["awareness"][0].content == ("intro",)
    assert initiative.stages["knowledge"][0].type == ("learning.completed", "learning.assessed")


def test_more_initiatives_than_the_cardinality_guard_are_refused(tmp_path: Path) -> None:
    (tmp_path / "initiatives.yaml").write_text(
        yaml.safe_dump({"initiatives": [{"id": f"i{n}"} for n in range(3)]})
    )

    with pytest.raises(GaugeConfigError, match="TEAMPULSE_MAX_INITIATIVES allows 2"):
        load_gauge_config(load_settings(config_dir=tmp_path, max_initiatives=2))


def test_a_file_that_is_not_yaml_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "scoring.yaml").write_text("engagement: [unclosed")

    with pytest.raises(GaugeConfigError, match="scoring.yaml: not valid YAML"):
        load_gauge_config(load_settings(config_dir=tmp_path))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bucket_s": 7 * 3600}, "must divide a day"),
        ({"windows": {"90m": 5400}}, "whole number of buckets"),
        ({"windows": {}}, "at least one window"),
        ({"min_group_size": 0}, "at least 1"),
        ({"lateness_s": -1}, "must not be negative"),
    ],
)
def test_event_time_settings_that_cannot_work_are_refused(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(GaugeConfigError, match=message):
        GaugeConfig(**kwargs)  # type: ignore[arg-type]
