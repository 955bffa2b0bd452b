from pathlib import Path

import pytest

from teampulse.settings import Settings, parse_duration, settings_reference

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
