"""The `teampulse` command line: every subcommand documents itself, and `replay` runs offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from teampulse.cli import COMMAND_SETTINGS, cli
from teampulse.settings import Settings
from tests.support import scripted_week as week

SUBCOMMANDS = [
    "worker",
    "ingest",
    "produce",
    "tenant-relay",
    "tenant",
    "tenant-admin",
    "backfill",
    "simulate",
    "replay",
    "forget",
    "topics",
    "demo",
    "web",
    "notify",
    "digest",
    "msteams-subscribe",
]


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_help(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_help_points_at_its_settings_and_the_doc(name: str) -> None:
    output = " ".join(CliRunner().invoke(cli, [name, "--help"], terminal_width=300).output.split())
    assert "docs/configuration.md lists every one with its default" in output
    assert all(variable in output for variable in COMMAND_SETTINGS[name])


def test_the_settings_named_in_the_help_exist() -> None:
    named = {variable for variables in COMMAND_SETTINGS.values() for variable in variables}
    assert {v.removeprefix("TEAMPULSE_").lower() for v in named} <= set(Settings.model_fields)
    assert set(COMMAND_SETTINGS) == set(SUBCOMMANDS)


def test_replay_computes_the_scripted_week_from_files(tmp_path: Path, monkeypatch) -> None:
    events = tmp_path / "events.ndjson"
    events.write_text("\n".join(json.dumps(e) for e in week.scripted_events()) + "\n")
    roster = tmp_path / "roster.json"
    roster.write_text(json.dumps(week.roster_records()))
    output = tmp_path / "gauges.json"
    result = CliRunner().invoke(
        cli,
        [
            "replay",
            str(events),
            "--roster",
            str(roster),
            "--as-of",
            week.AS_OF,
            "--output",
            str(output),
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"as of {week.AS_OF} (--as-of)" in result.output.splitlines()
    gauges = json.loads(output.read_text())
    assert gauges["teams"]["atlas"]["windowed"]["7d"]["participation_ratio"] == 1.0
    assert gauges["teams"]["borealis"]["windowed"]["7d"]["participation_ratio"] == 0.4
    assert "dune" not in gauges["teams"]


def test_produce_refuses_a_missing_file_with_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["produce", str(tmp_path / "nope.ndjson")])
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_an_invalid_setting_names_the_variable(monkeypatch) -> None:
    monkeypatch.setenv("TEAMPULSE_CLOCK", "soon")
    result = CliRunner().invoke(cli, ["topics"])
    assert result.exit_code == 2
    assert "TEAMPULSE_" in result.output or "clock" in result.output


def test_backfill_refuses_an_lrs_that_is_not_a_url_before_touching_kafka(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["backfill", "--lrs", "lrs.example.com"], env={"TEAMPULSE_DATA_DIR": str(tmp_path)}
    )
    assert result.exit_code == 1
    assert "backfill failed: --lrs 'lrs.example.com' is not an http(s) URL" in result.output


def test_backfill_refuses_an_xapi_version_it_does_not_speak(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["backfill", "--lrs", "https://lrs.example.com/xAPI/", "--xapi-version", "0.95"],
        env={"TEAMPULSE_DATA_DIR": str(tmp_path)},
    )
    assert result.exit_code == 1
    assert "--xapi-version must be one of 1.0.3, 2.0.0" in result.output


def test_backfill_refuses_a_since_that_is_not_an_instant(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["backfill", "--lrs", "https://lrs.example.com/xAPI/", "--since", "last week"],
        env={"TEAMPULSE_DATA_DIR": str(tmp_path)},
    )
    assert result.exit_code == 1
    assert "--since 'last week' is not an RFC 3339 instant" in result.output


def test_forget_without_the_pseudonym_secret_refuses_and_says_why(monkeypatch) -> None:
    monkeypatch.delenv("TEAMPULSE_PSEUDONYM_SECRET", raising=False)

    result = CliRunner().invoke(cli, ["forget", "jane@example.com"])

    assert result.exit_code == 1
    assert "TEAMPULSE_PSEUDONYM_SECRET is not set" in result.output
    assert "as the workers have it" in result.output


def test_forget_without_a_broker_says_nothing_was_erased(monkeypatch) -> None:
    monkeypatch.setenv("TEAMPULSE_PSEUDONYM_SECRET", "cli-secret")
    monkeypatch.setenv("TEAMPULSE_KAFKA_BOOTSTRAP", "127.0.0.1:1")  # nothing listens there

    result = CliRunner().invoke(cli, ["forget", "jane@example.com"])

    assert result.exit_code == 1
    assert "nothing was erased: cannot reach Kafka at 127.0.0.1:1" in result.output


@pytest.mark.parametrize("name", ["worker", "ingest", "topics", "forget"])
def test_a_bad_setting_stops_a_command_with_one_line_and_exit_2(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEAMPULSE_BUCKET", "1hr")
    result = CliRunner().invoke(cli, [name, "someone@example.com"] if name == "forget" else [name])
    assert result.exit_code == 2
    assert result.output.splitlines() == [
        "invalid setting TEAMPULSE_BUCKET='1hr': '1hr' is not a duration: write a number and "
        "one unit letter (s, m, h, d or w) such as '48h' or '7d', or a bare number of seconds; "
        "unset it for the default 1h (docs/configuration.md lists every setting)"
    ]


def test_replay_with_a_config_folder_holding_only_initiatives_uses_them_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "initiatives.yaml").write_text(
        "initiatives:\n  - id: pilot\n    stages:\n      awareness: [{type: learning.started}]\n"
    )
    events = tmp_path / "events.ndjson"
    events.write_text("\n".join(json.dumps(e) for e in week.scripted_events()) + "\n")
    roster = tmp_path / "roster.json"
    roster.write_text(json.dumps(week.roster_records()))
    output = tmp_path / "gauges.json"
    monkeypatch.setenv("TEAMPULSE_CONFIG_DIR", str(config))

    result = CliRunner().invoke(
        cli,
        ["replay", str(events), "--roster", str(roster), "--as-of", week.AS_OF]
        + ["--output", str(output)],
    )

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        f"config: initiatives.yaml from {config}; "
        "connectors.yaml, scoring.yaml, xapi-verbs.yaml from the shipped defaults"
    )
    gauges = json.loads(output.read_text())
    assert list(gauges["teams"]["atlas"]["initiatives"]) == ["pilot"]


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        (
            "scoring.yaml",
            "engagement: {wieghts: {}}\n",
            ["scoring.yaml is invalid:", "  engagement.wieghts: Extra inputs are not permitted"],
        ),
        (
            "connectors.yaml",
            "slack: {channels: {C1: {}}}\n",
            ["connectors.yaml is invalid:"],
        ),
        (
            "xapi-verbs.yaml",
            "verbs: {'http://example.com/verbs/did': nothing}\n",
            ["{folder}/xapi-verbs.yaml: verb http://example.com/verbs/did: type must be one of"],
        ),
    ],
)
def test_a_bad_config_file_stops_a_command_naming_the_file_and_the_fix(
    name: str, content: str, problem: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / name).write_text(content)
    monkeypatch.setenv("TEAMPULSE_CONFIG_DIR", str(tmp_path))
    events = tmp_path / "events.json"
    events.write_text("[]")

    result = CliRunner().invoke(cli, ["replay", str(events)])

    assert result.exit_code == 2
    lines = result.output.splitlines()
    assert lines[0].startswith(f"config: {name} from {tmp_path}")
    expected = [line.format(folder=tmp_path) for line in problem]
    assert [line[: len(e)] for line, e in zip(lines[1:], expected, strict=False)] == expected
    assert lines[-1] == (
        "fix that file, or remove it from TEAMPULSE_CONFIG_DIR to use the shipped default "
        "(docs/configuration.md)"
    )


def test_replay_without_as_of_says_it_computes_as_of_the_latest_event(tmp_path: Path) -> None:
    events = tmp_path / "events.ndjson"
    events.write_text("\n".join(json.dumps(e) for e in week.scripted_events()) + "\n")
    latest = max(e["occurred_at"] for e in week.scripted_events())

    result = CliRunner().invoke(cli, ["replay", str(events), "--output", str(tmp_path / "g.json")])

    assert result.exit_code == 0, result.output
    assert (
        f"as of {latest[:19]}Z, the latest event in the file; pass --as-of to compare with a "
        "worker, which computes as of its clock"
    ) in result.output.splitlines()


@pytest.mark.parametrize(
    ("content", "extra", "said"),
    [
        ("{not json\n", [], "replay: events.ndjson line 1: not JSON"),
        ("[]", ["--as-of", "yesterday"], "replay: as_of 'yesterday' is not an RFC 3339 instant"),
    ],
)
def test_replay_of_a_bad_file_or_instant_says_what_is_wrong_without_a_traceback(
    tmp_path: Path, content: str, extra: list[str], said: str
) -> None:
    events = tmp_path / "events.ndjson"
    events.write_text(content)
    result = CliRunner().invoke(cli, ["replay", str(events), *extra])
    assert result.exit_code == 2
    assert said in result.output
    assert isinstance(result.exception, SystemExit)  # an exit with a message, not a crash


def test_replay_of_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["replay", str(tmp_path / "absent.ndjson")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


@pytest.mark.parametrize(
    ("people", "teams", "said"),
    [
        ("3", "8", "3 people are too few for 8 teams: give at least"),
        ("60", "5", "needs at least 6 teams, not 5: raise --teams"),
    ],
)
def test_simulate_of_an_organisation_that_cannot_be_built_says_why_before_reaching_for_kafka(
    monkeypatch: pytest.MonkeyPatch, people: str, teams: str, said: str
) -> None:
    monkeypatch.setenv("TEAMPULSE_KAFKA_BOOTSTRAP", "127.0.0.1:1")  # nothing listens there
    result = CliRunner().invoke(cli, ["simulate", "--people", people, "--teams", teams])
    assert result.exit_code == 2
    assert said in " ".join(result.output.split())
