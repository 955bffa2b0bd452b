"""The tenants in force, reloaded when the tenants file changes (no redeploy, no restart).

Each process that serves tenants (the ingest endpoint, the worker) polls the file every
TEAMPULSE_TENANTS_RELOAD_S with its own timer and calls `reload_if_changed`. The file is
compared by content, so a Kubernetes Secret or ConfigMap update (a symlink swapped under the
mount) is seen like an edit in place. A changed file with a problem leaves the previous
tenants in force and reports the problem; the next change is tried again.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from teampulse.settings import Settings
from teampulse.tenancy.config import TenantConfigError, load_tenants
from teampulse.tenancy.directory import TenantDirectory, tenant_directory

__all__ = ["Reload", "TenantsSource"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reload:
    changed: bool  # the file's content differs from the last one tried
    problem: str | None = None  # why the changed file was refused (the old one stays)


class TenantsSource:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.directory: TenantDirectory = tenant_directory(settings)  # refuses a bad file
        self._digest = self._read_digest()
        # Why the file's current content is not in force (None: it is).
        self.refused_problem: str | None = None

    def _read_digest(self) -> bytes | None:
        path = self.settings.tenants_file
        if path is None:
            return None
        try:
            return hashlib.sha256(path.read_bytes()).digest()
        except OSError:
            return None

    def directory_team_quota(self, tenant: str) -> int | None:
        """The tenant's `max_teams` in the file in force (read at every publication)."""
        return self.directory.team_quota(tenant)

    def directory_series_quota(self, tenant: str) -> int | None:
        """The tenant's `max_series` in the file in force (read at every publication)."""
        return self.directory.series_quota(tenant)

    def knows(self, tenant: str | None) -> bool:
        """Whether state of `tenant` may be kept: the implicit tenant's (None) always, a
        named tenant's while the tenants file holds it."""
        return tenant is None or tenant in self.directory.tenants

    def reload_if_changed(self) -> Reload:
        """Loads the file again when its content changed; the directory is replaced only by
        a file that passes every check."""
        path = self.settings.tenants_file
        if path is None:
            return Reload(changed=False)
        digest = self._read_digest()
        if digest == self._digest:
            return Reload(changed=False)
        self._digest = digest
        try:
            self.directory = TenantDirectory.configured(load_tenants(path), self.settings)
        except TenantConfigError as exc:
            problem = " | ".join(str(exc).splitlines())
            log.error("tenants file not reloaded, the previous tenants stay in force: %s", problem)
            self.refused_problem = problem
            return Reload(changed=True, problem=problem)
        self.refused_problem = None
        log.info("tenants file reloaded: %d tenants", len(self.directory.tenants))
        return Reload(changed=True)
