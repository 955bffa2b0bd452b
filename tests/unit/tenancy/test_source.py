"""The tenants file is reloaded when it changes; a broken change keeps the tenants in force."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from teampulse.settings import Settings
from teampulse.tenancy.config import TenantConfigError
from teampulse.tenancy.source import Reload, TenantsSource
from tests.unit.tenancy.conftest import two_tenants


def test_an_unchanged_file_is_not_loaded_again(tenants_file: Path):
    source = TenantsSource(Settings(tenants_file=tenants_file))
    before = source.directory
    assert not source.reload_if_changed().changed
    assert source.directory is before


def test_a_changed_file_replaces_the_tenants(tenants_file: Path):
    source = TenantsSource(Settings(tenants_file=tenants_file))
    raw = two_tenants()
    raw["tenants"]["acme"]["suspended"] = True
    tenants_file.write_text(yaml.safe_dump(raw))
    assert source.reload_if_changed().changed
    assert source.directory.tenants["acme"].suspended


def test_a_broken_change_keeps_the_tenants_in_force_and_says_why(tenants_file: Path):
    source = TenantsSource(Settings(tenants_file=tenants_file))
    before = source.directory
    raw = two_tenants()
    raw["tenants"]["acme"]["pseudonym_secret"] = "short"
    tenants_file.write_text(yaml.safe_dump(raw))
    reload = source.reload_if_changed()
    assert reload.changed and reload.problem is not None
    assert "tenants.acme.pseudonym_secret" in reload.problem
    assert source.directory is before
    assert not source.reload_if_changed().changed  # the same broken file is not retried
    assert source.refused_problem == reload.problem
    tenants_file.write_text(yaml.safe_dump(two_tenants()))
    assert source.reload_if_changed() == Reload(changed=True)
    assert source.refused_problem is None


def test_a_broken_file_at_start_refuses_to_start(tmp_path: Path):
    path = tmp_path / "tenants.yaml"
    path.write_text("tenants: {}\n")
    with pytest.raises(TenantConfigError, match="name at least one tenant"):
        TenantsSource(Settings(tenants_file=path))


def test_no_file_means_the_implicit_tenant_and_nothing_to_reload():
    source = TenantsSource(Settings())
    assert source.directory.implicit
    assert not source.reload_if_changed().changed
