from pathlib import Path

import pytest

from teampulse.settings import (
    CONFIG_FILES,
    PACKAGED_CONFIG_DIR,
    Settings,
    SettingsError,
    compressed_clock,
    parse_duration,
    read_settings,
)


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("48h", 172800), ("7d", 604800), ("120", 120)]
)
def test_durations_parse_to_seconds(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["1hr", "2days", "h", "-3h", ""])
def test_a_text_that_is_not_a_duration_is_refused_as_written(text: str) -> None:
    with pytest.raises(ValueError, match=f"{text!r} is not a duration: write a number and one"):
        parse_duration(text)


def test_windows_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("TEAMPULSE_WINDOWS", "1d,14d")
    assert Settings().window_seconds == {"1d": 86400, "14d": 1209600}


def test_a_clock_that_is_not_an_instant_is_refused_with_the_fix(monkeypatch):
    monkeypatch.setenv("TEAMPULSE_CLOCK", "yesterday")
    with pytest.raises(ValueError, match="RFC 3339"):
        Settings()


def test_frozen_clock_is_epoch_seconds(monkeypatch):
    monkeypatch.setenv("TEAMPULSE_CLOCK", "2026-03-02T12:00:00Z")
    assert Settings().frozen_now == 1772452800.0


# --- the clock: wall, frozen, or compressed (INSTANT*SPEED) ----------------------------------

INSTANT = 1772452800.0  # 2026-03-02T12:00:00Z


def test_a_compressed_clock_agrees_with_the_wall_clock_at_its_instant() -> None:
    assert compressed_clock(INSTANT, 1000.0, wall=lambda: INSTANT)() == INSTANT


def test_a_compressed_clock_runs_speed_times_faster_after_its_instant() -> None:
    clock = compressed_clock(INSTANT, 2016.0, wall=lambda: INSTANT + 300.0)
    assert clock() == INSTANT + 7 * 86_400  # a week in five minutes


def test_two_processes_with_the_same_setting_agree_on_now() -> None:
    settings = Settings(clock="2026-03-02T12:00:00Z*100")
    wall = lambda: INSTANT + 60.0  # noqa: E731
    assert settings.now_source(wall)() == settings.now_source(wall)() == INSTANT + 6000.0


def test_a_frozen_clock_ignores_the_wall_clock() -> None:
    clock = Settings(clock="2026-03-02T12:00:00Z").now_source(wall=lambda: 0.0)
    assert clock() == INSTANT


def test_the_wall_setting_is_the_wall_clock() -> None:
    assert Settings(clock="wall").now_source(wall=lambda: 42.0)() == 42.0


def test_a_compressed_clock_is_not_frozen() -> None:
    settings = Settings(clock="2026-03-02T12:00:00Z*100")
    assert settings.frozen_now is None
    assert settings.clock_compression == (INSTANT, 100.0)


@pytest.mark.parametrize("speed", ["0", "-5", "fast"])
def test_a_compressed_clock_needs_a_positive_speed(speed: str) -> None:
    with pytest.raises(ValueError, match=r"2026-03-02T12:00:00Z\*1000"):
        Settings(clock=f"2026-03-02T12:00:00Z*{speed}")


# --- a bad variable is one line naming it, what is wrong and the way out ---------------------


def _refusal(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> str:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as refused:
        read_settings()
    return str(refused.value)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        # a duration
        (
            "TEAMPULSE_BUCKET",
            "1hr",
            "invalid setting TEAMPULSE_BUCKET='1hr': '1hr' is not a duration: write a number "
            "and one unit letter (s, m, h, d or w) such as '48h' or '7d', or a bare number of "
            "seconds; unset it for the default 1h (docs/configuration.md lists every setting)",
        ),
        (
            "TEAMPULSE_BUCKET",
            "0h",
            "invalid setting TEAMPULSE_BUCKET='0h': '0h' must be longer than 0 seconds, such as "
            "'1h'; unset it for the default 1h (docs/configuration.md lists every setting)",
        ),
        # a list of durations
        (
            "TEAMPULSE_WINDOWS",
            "1d,week",
            "invalid setting TEAMPULSE_WINDOWS='1d,week': 'week' is not a duration: write a "
            "number and one unit letter (s, m, h, d or w) such as '48h' or '7d', or a bare "
            "number of seconds; unset it for the default 1d,7d,28d (docs/configuration.md "
            "lists every setting)",
        ),
        # a retention (a duration or 'auto')
        (
            "TEAMPULSE_INPUT_RETENTION",
            "0",
            "invalid setting TEAMPULSE_INPUT_RETENTION='0': '0' must be longer than 0 seconds, "
            "such as '1h'; unset it for the default 7d (docs/configuration.md lists every "
            "setting)",
        ),
        # a whole number
        (
            "TEAMPULSE_WEB_PORT",
            "abc",
            "invalid setting TEAMPULSE_WEB_PORT='abc': not a whole number; unset it for the "
            "default 6066 (docs/configuration.md lists every setting)",
        ),
        # a whole number out of its range
        (
            "TEAMPULSE_WEB_PORT",
            "70000",
            "invalid setting TEAMPULSE_WEB_PORT='70000': must be at most 65535; unset it for "
            "the default 6066 (docs/configuration.md lists every setting)",
        ),
        (
            "TEAMPULSE_MIN_GROUP_SIZE",
            "0",
            "invalid setting TEAMPULSE_MIN_GROUP_SIZE='0': must be at least 1; unset it for the "
            "default 5 (docs/configuration.md lists every setting)",
        ),
        # an address list
        (
            "TEAMPULSE_KAFKA_BOOTSTRAP",
            "kafka-1:9092,nonsense",
            "invalid setting TEAMPULSE_KAFKA_BOOTSTRAP='kafka-1:9092,nonsense': 'nonsense' is "
            "not host:port: write comma-separated host:port pairs such as "
            "'kafka-1:9092,kafka-2:9092'; unset it for the default 127.0.0.1:9092 "
            "(docs/configuration.md lists every setting)",
        ),
        # a URL
        (
            "TEAMPULSE_REDIS_URL",
            "localhost:6379",
            "invalid setting TEAMPULSE_REDIS_URL='localhost:6379': not a Redis URL: write "
            "redis://host:port/db, rediss://user:password@host:port/db (TLS) or "
            "unix:///path/to/socket; unset it for the default redis://127.0.0.1:6379/0 "
            "(docs/configuration.md lists every setting)",
        ),
        # a number of seconds
        (
            "TEAMPULSE_EXPORT_INTERVAL_S",
            "half",
            "invalid setting TEAMPULSE_EXPORT_INTERVAL_S='half': not a number; unset it for the "
            "default 0.5 (docs/configuration.md lists every setting)",
        ),
        (
            "TEAMPULSE_EXPORT_INTERVAL_S",
            "0",
            "invalid setting TEAMPULSE_EXPORT_INTERVAL_S='0': must be greater than 0; unset it "
            "for the default 0.5 (docs/configuration.md lists every setting)",
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    assert _refusal(monkeypatch, variable, value) == expected


def test_a_bad_clock_names_the_forms_it_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _refusal(monkeypatch, "TEAMPULSE_CLOCK", "soon") == (
        "invalid setting TEAMPULSE_CLOCK='soon': must be 'wall', an RFC 3339 instant such as "
        "2026-03-02T12:00:00Z, or an instant and a speed such as 2026-03-02T12:00:00Z*1000; "
        "unset it for the default wall (docs/configuration.md lists every setting)"
    )


def test_two_bad_settings_give_one_line_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAMPULSE_LATENESS", "2days")
    lines = _refusal(monkeypatch, "TEAMPULSE_TOPIC_PARTITIONS", "four").splitlines()
    assert [line.split("=")[0] for line in lines] == [
        "invalid setting TEAMPULSE_TOPIC_PARTITIONS",
        "invalid setting TEAMPULSE_LATENESS",
    ]


# --- the config folder: each file it lacks comes from the shipped defaults -------------------


def test_a_config_folder_with_only_connectors_yaml_reads_the_other_files_shipped(
    tmp_path: Path,
) -> None:
    (tmp_path / "connectors.yaml").write_text("slack: {channels: {}}\n")
    settings = Settings(config_dir=tmp_path)

    assert {name: settings.config_file(name) for name in CONFIG_FILES} == {
        "connectors.yaml": tmp_path / "connectors.yaml",
        "initiatives.yaml": PACKAGED_CONFIG_DIR / "initiatives.yaml",
        "scoring.yaml": PACKAGED_CONFIG_DIR / "scoring.yaml",
        "xapi-verbs.yaml": PACKAGED_CONFIG_DIR / "xapi-verbs.yaml",
    }
    assert settings.config_origins() == (
        f"config: connectors.yaml from {tmp_path}; "
        "initiatives.yaml, scoring.yaml, xapi-verbs.yaml from the shipped defaults"
    )


def test_without_a_config_folder_every_file_is_shipped() -> None:
    assert Settings().config_origins() == (
        "config: the shipped defaults (TEAMPULSE_CONFIG_DIR is not set)"
    )


def test_a_config_folder_that_does_not_exist_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "conf"
    assert _refusal(monkeypatch, "TEAMPULSE_CONFIG_DIR", str(missing)) == (
        f"invalid setting TEAMPULSE_CONFIG_DIR={str(missing)!r}: not a folder: create it and "
        "put there the YAML files you change (the others come from the shipped defaults); "
        "unset it for the default teampulse/config (docs/configuration.md lists every setting)"
    )
