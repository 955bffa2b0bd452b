"""`teampulse tenant ...`: each change is checked whole before the file is written."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from teampulse.cli import cli
from teampulse.settings import Settings
from teampulse.tenancy.config import TenantConfigError, load_tenants
from teampulse.tenancy.directory import TenantDirectory
from teampulse.tenancy.lifecycle import created, deleted, described, listed, suspended
from tests.unit.tenancy.conftest import two_tenants


def test_a_created_tenant_has_its_own_key_and_a_working_credential():
    raw, credential = created(two_tenants(), "initech")
    entry = raw["tenants"]["initech"]
    assert entry["credentials"] == [credential]
    assert credential.startswith("initech-lms:") and len(credential) > 40
    assert len(entry["pseudonym_secret"]) >= 40
    other, _ = created(two_tenants(), "initech")
    assert other["tenants"]["initech"]["pseudonym_secret"] != entry["pseudonym_secret"]


@pytest.mark.parametrize(
    "tenant, problem",
    [("acme", "tenant 'acme' exists already"), ("Init Tech", "'Init Tech' is not a tenant id")],
)
def test_a_tenant_is_not_created_twice_nor_with_a_bad_id(tenant: str, problem: str):
    with pytest.raises(TenantConfigError, match=problem):
        created(two_tenants(), tenant)


def test_suspend_resume_and_delete_change_only_that_tenant():
    raw = suspended(two_tenants(), "acme", True)
    assert raw["tenants"]["acme"]["suspended"] is True
    assert "suspended" not in raw["tenants"]["globex"]
    assert suspended(raw, "acme", False)["tenants"]["acme"]["suspended"] is False
    assert list(deleted(raw, "acme")["tenants"]) == ["globex"]
    assert deleted(deleted(raw, "acme"), "globex") == {"tenants": {}}


def test_an_unknown_tenant_is_named_with_the_known_ones():
    with pytest.raises(TenantConfigError, match=r"no tenant 'ghost' .*\(tenants: acme, globex\)"):
        suspended(two_tenants(), "ghost", True)


def test_list_and_show_never_print_a_secret():
    raw = two_tenants()
    text = "\n".join(listed(raw)) + described(raw, "acme")
    assert listed(raw)[0].startswith("acme\tactive\t2 credentials; slack: TACME")
    for secret in ("acme-secret", "acme-token", "acme-slack-secret", "acme-pseudonym-key"):
        assert secret not in text
    assert "acme-lms:***" in text


def test_the_commands_edit_the_file_the_processes_reload(tmp_path: Path, monkeypatch):
    path = tmp_path / "tenants.yaml"
    monkeypatch.setenv("TEAMPULSE_TENANTS_FILE", str(path))
    runner = CliRunner()
    made = runner.invoke(cli, ["tenant", "create", "acme"])
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    credential = made.output.split("shown this once: ")[1].strip()
    directory = TenantDirectory.configured(load_tenants(path), Settings())
    assert directory.tenants["acme"].credentials == (credential,)
    assert runner.invoke(cli, ["tenant", "suspend", "acme"]).exit_code == 0
    assert yaml.safe_load(path.read_text())["tenants"]["acme"]["suspended"] is True
    refused = runner.invoke(cli, ["tenant", "suspend", "ghost"])
    assert refused.exit_code == 1 and "no tenant 'ghost'" in refused.output
    gone = runner.invoke(cli, ["tenant", "delete", "acme"])
    assert gone.exit_code == 0 and "what remains: its records on the input topics" in gone.output
    assert yaml.safe_load(path.read_text()) == {"tenants": {}}
