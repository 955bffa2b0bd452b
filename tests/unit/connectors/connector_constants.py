"""What the connector specifications share: one secret, one clock instant."""

from __future__ import annotations

from teampulse.contract.pseudonym import Pseudonymiser

SECRET = "connector-test-secret"
NOW = 1772496000.0  # 2026-03-03T00:00:00Z


def keyed(identity: str) -> str:
    """The actor a connector writes for a platform identity."""
    return "pseudonym:" + Pseudonymiser(SECRET).person(identity)
