"""A name inside its tenant: how two tenants' teams of the same name stay apart.

With tenants configured (docs/tenancy.md), the ingest stage and the roster reader put the
tenant in front of every name that identifies state: a team, a department, a division, an
event id and a thread, post or parent id. Everything downstream (routing by key, the team
and thread states, the team-counts topic, roll-ups, the drop signal's organisation) then
keeps tenants apart by construction, and only the sinks split a scoped name back into a
`tenant` label or key prefix and the name its tenant knows.

The separator is a control character: a tenant id is `[a-z0-9-]`, so splitting at the
first separator is unambiguous whatever the name holds, and a name sent by one tenant
cannot land in another tenant's scope. Without tenants nothing is scoped, and every name is
what it was before tenants existed.
"""

from __future__ import annotations

__all__ = ["SEPARATOR", "scoped", "split", "tenant_of", "unscoped"]

SEPARATOR = "\x1f"


def scoped(tenant: str | None, name: str) -> str:
    """`name` inside `tenant`; the name itself for the one implicit tenant (None)."""
    return name if tenant is None else f"{tenant}{SEPARATOR}{name}"


def split(key: str) -> tuple[str | None, str]:
    """(tenant, name) of a scoped name; (None, key) of a name without a tenant."""
    tenant, separator, name = key.partition(SEPARATOR)
    return (tenant, name) if separator else (None, key)


def tenant_of(key: str) -> str | None:
    return split(key)[0]


def unscoped(key: str) -> str:
    """The name as its tenant knows it."""
    return split(key)[1]
