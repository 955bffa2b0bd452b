"""`teampulse tenant ...`: the tenants file, read and written (docs/tenancy.md).

The file is the one source of truth; the processes that serve tenants pick up each change
within TEAMPULSE_TENANTS_RELOAD_S. A change is written as a new file renamed over the old one,
readable by its owner only; the file's comments are not kept.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from teampulse.tenancy.config import TenantConfigError

__all__ = ["read_raw", "write_raw"]


def read_raw(path: Path) -> dict[str, Any]:
    """The tenants file as YAML data; an absent file is one without tenants."""
    if not path.exists():
        return {"tenants": {}}
    loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(loaded, dict):
        raise TenantConfigError(f"{path.name}: the top level must be a mapping with `tenants:`")
    loaded.setdefault("tenants", {})
    return loaded


def write_raw(path: Path, raw: dict[str, Any]) -> None:
    """Writes the file whole, readable by its owner only, replacing the old one at once."""
    fresh = path.with_name(f".{path.name}.{os.getpid()}.new")
    descriptor = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        yaml.safe_dump(raw, out, sort_keys=False)
    fresh.replace(path)
