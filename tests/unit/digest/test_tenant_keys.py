"""Which keys `teampulse digest --tenant` reads: the tenant's own prefix, and a clear refusal
for a tenant the file does not hold or a deployment without tenants."""

from __future__ import annotations

from pathlib import Path

import pytest

from teampulse.digest.compose import DigestError
from teampulse.digest.run import _keys
from teampulse.settings import Settings


def settings(tmp_path: Path, with_file: bool = True) -> Settings:
    path = tmp_path / "tenants.yaml"
    path.write_text(
        "tenants:\n"
        "  acme: {pseudonym_secret: acme-pseudonym-key-0001}\n"
        "  globex: {pseudonym_secret: globex-pseudonym-key-02}\n"
    )
    return Settings(redis_prefix="tp:", tenants_file=path if with_file else None)


def test_a_tenants_digest_reads_under_its_prefix_and_the_plain_one_under_the_deployments(
    tmp_path: Path,
) -> None:
    assert _keys(settings(tmp_path), "acme").prefix == "tp:tenant:acme:"
    assert _keys(settings(tmp_path), None).prefix == "tp:"


def test_an_unknown_tenant_or_no_tenants_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(
        DigestError, match=r"'ghost' is not in the tenants file \(tenants: acme, globex\)"
    ):
        _keys(settings(tmp_path), "ghost")
    with pytest.raises(DigestError, match="--tenant needs TEAMPULSE_TENANTS_FILE"):
        _keys(settings(tmp_path, with_file=False), "acme")
