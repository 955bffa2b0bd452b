"""A tenants file of two organisations, as the tenancy tests read it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ACME_KEY = "acme-pseudonym-key-0001"
GLOBEX_KEY = "globex-pseudonym-key-02"


def two_tenants() -> dict:
    return {
        "tenants": {
            "acme": {
                "pseudonym_secret": ACME_KEY,
                "credentials": ["acme-lms:acme-secret", "acme-token"],
                "rate_limit": {"per_s": 2, "burst": 3},
                "slack": {"workspaces": {"TACME": "acme-slack-secret"}},
                "msteams": {"entra_tenants": {"entra-acme": "acme-client-state"}},
                "discourse": {"forums": {"https://forum.acme.example/": "acme-forum-secret"}},
                "caliper": {"sensors": {"https://lms.acme.example/sensor": "acme-sensor-token"}},
                "min_group_size": 3,
                "retention": "400d",
                "alert_route": "l-and-d-acme",
            },
            "globex": {
                "pseudonym_secret": GLOBEX_KEY,
                "credentials": ["globex-lms:globex-secret"],
            },
        }
    }


@pytest.fixture
def tenants_file(tmp_path: Path) -> Path:
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(two_tenants()))
    return path
