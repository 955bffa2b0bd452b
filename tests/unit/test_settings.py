from pathlib import Path

import pytest

from teampulse.settings import Settings, compressed_clock, parse_duration, settings_reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_configuration_doc_lists_every_setting_as_the_code_defines_it():
    assert settings_reference() in DOC.read_text()


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("48h", 172800), ("7d", 604800), ("120", 120)]
)
def test_durations_parse_to_seconds(text, seconds):
    assert parse_duration(text) == seconds


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
