"""The changes `teampulse tenant create|suspend|resume|delete` make to the tenants file, and
what `list` and `show` say of it (pure: YAML data in, YAML data out; teampulse/ops/tenants.py
reads and writes the file).

Each change is checked whole with the same rules as a reload before it is written. Secrets
are shown once, when `create` makes them, and never by `list` or `show`.
"""

from __future__ import annotations

import copy
import secrets
from typing import Any

import yaml

from teampulse.tenancy.config import TENANT_ID, TenantConfigError, parse_tenants

__all__ = [
    "created",
    "deleted",
    "described",
    "listed",
    "suspended",
]

SECRET_BYTES = 32
REMAINS_AFTER_DELETE = (
    "its records on the input topics, the state log and the roster topic until their "
    "retention (TEAMPULSE_INPUT_RETENTION), keyed with a key that no longer exists and "
    "ignored as an unknown tenant's; its teams' state, threads, roster, series and Redis keys are "
    "removed by the workers within TEAMPULSE_TENANTS_RELOAD_S (docs/tenancy.md)"
)


def _checked(raw: dict[str, Any]) -> dict[str, Any]:
    """`raw` once it passes every rule of the file (an empty file is allowed here: the last
    tenant may be deleted)."""
    if raw["tenants"]:
        parse_tenants(raw, "the tenants file")
    return raw


def _tenant(raw: dict[str, Any], tenant: str) -> dict[str, Any]:
    found = raw["tenants"].get(tenant)
    if not isinstance(found, dict):
        known = ", ".join(sorted(raw["tenants"])) or "none"
        raise TenantConfigError(f"no tenant {tenant!r} in the tenants file (tenants: {known})")
    return found


def created(raw: dict[str, Any], tenant: str) -> tuple[dict[str, Any], str]:
    """The file with a new tenant: its own pseudonym secret and one Basic credential
    `<tenant>-lms:<secret>`, returned to show once."""
    if TENANT_ID.fullmatch(tenant) is None:
        raise TenantConfigError(
            f"{tenant!r} is not a tenant id: use a-z, 0-9 and '-' (up to 63, starting with a "
            "letter or digit)"
        )
    if tenant in raw["tenants"]:
        raise TenantConfigError(f"tenant {tenant!r} exists already")
    credential = f"{tenant}-lms:{secrets.token_urlsafe(SECRET_BYTES)}"
    changed = copy.deepcopy(raw)
    changed["tenants"][tenant] = {
        "pseudonym_secret": secrets.token_urlsafe(SECRET_BYTES),
        "credentials": [credential],
    }
    return _checked(changed), credential


def suspended(raw: dict[str, Any], tenant: str, suspend: bool) -> dict[str, Any]:
    changed = copy.deepcopy(raw)
    _tenant(changed, tenant)["suspended"] = suspend
    return _checked(changed)


def deleted(raw: dict[str, Any], tenant: str) -> dict[str, Any]:
    """The file without the tenant: its pseudonym key is destroyed with the entry."""
    _tenant(raw, tenant)
    changed = copy.deepcopy(raw)
    del changed["tenants"][tenant]
    return _checked(changed)


def listed(raw: dict[str, Any]) -> list[str]:
    """One line per tenant: its id, state and what it is reached by (no secrets)."""
    lines = []
    for tenant, entry in sorted(raw["tenants"].items()):
        lines.append(
            f"{tenant}\t{'suspended' if entry.get('suspended') else 'active'}\t{_reach(entry)}"
        )
    return lines


def _reach(entry: dict[str, Any]) -> str:
    parts = []
    credentials = entry.get("credentials") or []
    if credentials:
        parts.append(f"{len(credentials)} credentials")
    for platform, key in (
        ("slack", "workspaces"),
        ("msteams", "entra_tenants"),
        ("discourse", "forums"),
        ("caliper", "sensors"),
    ):
        senders = (entry.get(platform) or {}).get(key) or {}
        if senders:
            parts.append(f"{platform}: {', '.join(sorted(senders))}")
    return "; ".join(parts) or "no credentials"


def described(raw: dict[str, Any], tenant: str) -> str:
    """The tenant's entry as YAML with every secret replaced by `***`."""
    entry = copy.deepcopy(_tenant(raw, tenant))
    entry["pseudonym_secret"] = "***"
    entry["credentials"] = [
        f"{c.split(':', 1)[0]}:***" if ":" in c else "*** (bearer)"
        for c in entry.get("credentials") or []
    ]
    for platform, key in (
        ("slack", "workspaces"),
        ("msteams", "entra_tenants"),
        ("discourse", "forums"),
        ("caliper", "sensors"),
    ):
        senders = (entry.get(platform) or {}).get(key)
        if senders:
            entry[platform][key] = dict.fromkeys(senders, "***")
    return yaml.safe_dump({tenant: entry}, sort_keys=False)
