"""The tenants file: what it holds, and one line naming the entry for every mistake."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from teampulse.tenancy.config import TenantConfigError, load_tenants, parse_tenants
from tests.unit.tenancy.conftest import two_tenants


def problem_of(raw: Any) -> str:
    with pytest.raises(TenantConfigError) as caught:
        parse_tenants(raw, "tenants.yaml")
    return str(caught.value)


def with_change(path: tuple[str, ...], value: Any) -> dict:
    raw = copy.deepcopy(two_tenants())
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return raw


def test_a_valid_file_gives_every_tenant_its_entries(tenants_file: Path):
    parsed = load_tenants(tenants_file)
    acme = parsed.tenants["acme"]
    assert sorted(parsed.tenants) == ["acme", "globex"]
    assert acme.basic_users == ["acme-lms"]
    assert acme.bearer_tokens == ["acme-token"]
    assert acme.rate_limit is not None and (acme.rate_limit.per_s, acme.rate_limit.burst) == (2, 3)
    assert acme.discourse.forums == {"forum.acme.example": "acme-forum-secret"}
    assert acme.min_group_size == 3
    assert parsed.tenants["globex"].rate_limit is None


@pytest.mark.parametrize(
    "path, value, expected",
    [
        (
            ("tenants", "acme", "pseudonym_secret"),
            "short",
            "tenants.yaml: tenants.acme.pseudonym_secret: String should have at least 16",
        ),
        (
            ("tenants", "acme", "rate_limit", "per_s"),
            0,
            "tenants.yaml: tenants.acme.rate_limit.per_s: Input should be greater than 0",
        ),
        (
            ("tenants", "acme", "credentials"),
            [":nouser"],
            "tenants.yaml: tenants.acme.credentials: Value error, a Basic credential needs both",
        ),
        (
            ("tenants", "acme", "retention"),
            "forever",
            "tenants.yaml: tenants.acme.retention: Value error, 'forever' is not a duration",
        ),
        (
            ("tenants", "acme", "colour"),
            "blue",
            "tenants.yaml: tenants.acme.colour: Extra inputs are not permitted",
        ),
        (
            ("tenants", "acme", "slack", "workspaces"),
            {"TACME": ""},
            "tenants.yaml: tenants.acme.slack.workspaces: Value error, TACME: the secret must",
        ),
        (
            ("tenants", "acme", "scoring"),
            {"engagement": {"weights": {"participation": 2}}},
            "tenants.yaml: tenants.acme.scoring.engagement.weights: Value error, engagement "
            "weights must add up to 1 (they add up to 2.6)",
        ),
        (
            ("tenants", "acme", "scoring"),
            {"baseline": {"samples": 2}},
            "tenants.yaml: tenants.acme.scoring: Value error, baseline cannot be set per "
            "tenant: they decide how much history every team's state keeps",
        ),
    ],
)
def test_a_mistake_is_one_line_naming_the_tenant_and_entry(
    path: tuple[str, ...], value: Any, expected: str
):
    problem = problem_of(with_change(path, value))
    assert problem.startswith(expected)
    assert "\n" not in problem


def test_a_tenant_id_must_fit_a_topic_a_key_and_a_label():
    raw = {"tenants": {"Acme Corp": two_tenants()["tenants"]["acme"]}}
    assert "'Acme Corp' is not a tenant id" in problem_of(raw)


def test_a_credential_claimed_by_two_tenants_is_refused_without_showing_it():
    raw = with_change(("tenants", "globex", "credentials"), ["acme-token"])
    problem = problem_of(raw)
    assert problem == "tenants.yaml: tenants: Bearer token one is claimed by both acme and globex"
    assert "acme-token" not in problem


@pytest.mark.parametrize(
    "entry, value, what",
    [
        ("credentials", ["acme-lms:other-secret"], "Basic user 'acme-lms'"),
        ("slack", {"workspaces": {"TACME": "x"}}, "Slack workspace 'TACME'"),
        ("msteams", {"entra_tenants": {"entra-acme": "x"}}, "Entra tenant 'entra-acme'"),
        ("discourse", {"forums": {"forum.acme.example": "x"}}, "Discourse forum"),
    ],
)
def test_a_sender_claimed_by_two_tenants_is_refused(entry: str, value: Any, what: str):
    problem = problem_of(with_change(("tenants", "globex", entry), value))
    assert what in problem and "claimed by both acme and globex" in problem


def test_a_token_twice_in_one_tenant_is_refused():
    raw = with_change(("tenants", "acme", "credentials"), ["acme-sensor-token"])
    assert problem_of(raw) == "tenants.yaml: tenants.acme: a Bearer token is listed twice"


@pytest.mark.parametrize("raw", [None, [], "tenants", {"tenants": {}}])
def test_a_file_without_tenants_is_refused(raw: Any):
    assert problem_of(raw).startswith("tenants.yaml:")


def test_an_unreadable_file_names_the_setting(tmp_path: Path):
    with pytest.raises(TenantConfigError, match="fix TEAMPULSE_TENANTS_FILE"):
        load_tenants(tmp_path / "missing.yaml")


def test_broken_yaml_is_one_line(tmp_path: Path):
    path = tmp_path / "tenants.yaml"
    path.write_text("tenants: [\n  acme: {\n")
    with pytest.raises(TenantConfigError) as caught:
        load_tenants(path)
    assert str(caught.value).startswith("tenants.yaml: not valid YAML:")
    assert "\n" not in str(caught.value)
