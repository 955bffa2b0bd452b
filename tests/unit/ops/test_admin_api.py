"""The tenant admin API edits the tenants file as the commands do, behind its token."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import yaml
from aiohttp.test_utils import TestClient, TestServer

from teampulse.ops.admin_api import make_admin_app
from teampulse.settings import Settings
from teampulse.tenancy.config import load_tenants
from teampulse.tenancy.directory import TenantDirectory

TOKEN = "admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_create_list_show_suspend_resume_delete_over_http(tmp_path: Path) -> None:
    path = tmp_path / "tenants.yaml"

    async def scenario() -> None:
        async with TestClient(TestServer(make_admin_app(TOKEN, path))) as client:
            assert (await client.get("/tenants")).status == 401
            wrong = await client.post("/tenants/acme", headers={"Authorization": "Bearer x"})
            assert wrong.status == 401 and not path.exists()

            made = await client.post("/tenants/acme", headers=AUTH)
            assert made.status == 201
            credential = (await made.json())["credential"]
            directory = TenantDirectory.configured(load_tenants(path), Settings())
            assert directory.tenants["acme"].credentials == (credential,)
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            again = await client.post("/tenants/acme", headers=AUTH)
            assert (again.status, (await again.json())["error"]) == (409, "tenant_exists")
            bad = await client.post("/tenants/Not_An_Id", headers=AUTH)
            assert bad.status == 400 and "not a tenant id" in (await bad.json())["detail"]

            listed = await (await client.get("/tenants", headers=AUTH)).json()
            assert listed == {
                "tenants": [{"id": "acme", "suspended": False, "reached_by": "1 credentials"}]
            }
            shown = await (await client.get("/tenants/acme", headers=AUTH)).json()
            assert shown["entry"]["pseudonym_secret"] == "***"
            assert credential not in str(shown)

            assert (await client.post("/tenants/acme/suspend", headers=AUTH)).status == 200
            assert yaml.safe_load(path.read_text())["tenants"]["acme"]["suspended"] is True
            assert (await client.post("/tenants/acme/resume", headers=AUTH)).status == 200
            assert yaml.safe_load(path.read_text())["tenants"]["acme"]["suspended"] is False

            ghost = await client.delete("/tenants/ghost", headers=AUTH)
            assert (ghost.status, (await ghost.json())["error"]) == (404, "unknown_tenant")
            gone = await client.delete("/tenants/acme", headers=AUTH)
            body = await gone.json()
            assert gone.status == 200 and body["remains"].startswith("its records")
            assert yaml.safe_load(path.read_text())["tenants"] == {}

    asyncio.run(scenario())
