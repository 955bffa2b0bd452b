"""`teampulse tenant usage` and the admin API's usage: each figure from Prometheus's query
API, aggregated across processes, next to the tenant's quotas; a Prometheus that does not
answer is a clear error, never a page of zeros.

Prometheus here is a stand-in serving the query API's answer shape for the six queries: the
unit is the aggregation, the quotas beside it and the errors, not Prometheus."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from typer.testing import CliRunner

from teampulse.cli import cli
from teampulse.ops.admin_api import make_admin_app
from teampulse.ops.tenant_usage import USAGE_QUERIES

TOKEN = "admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# What Prometheus holds, summed (or maxed) per tenant across the processes it scrapes.
HELD = {
    "records": {"acme": 120, "globex": 4},
    "events": {"acme": 118, "globex": 4},
    "people": {"acme": 11},
    "teams": {"acme": 2, "globex": 1},
    "series": {"acme": 640, "globex": 320},
    "teams_refused": {"acme": 1},
}


def tenants_file(tmp_path: Path) -> Path:
    path = tmp_path / "tenants.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "tenants": {
                    "acme": {
                        "pseudonym_secret": "acme-pseudonym-key-0001",
                        "max_teams": 2,
                        "max_series": 700,
                        "rate_limit": {"per_s": 50, "burst": 100},
                    },
                    "globex": {"pseudonym_secret": "globex-pseudonym-key-02"},
                }
            }
        )
    )
    return path


def prometheus_stand_in() -> web.Application:
    by_query = {query: HELD[figure] for figure, query in USAGE_QUERIES.items()}

    async def query(request: web.Request) -> web.Response:
        held = by_query.get(request.query.get("query", ""))
        if held is None:
            return web.json_response({"status": "error", "error": "unknown query"}, status=400)
        result = [{"metric": {"tenant": t}, "value": [0, str(v)]} for t, v in held.items()]
        return web.json_response({"status": "success", "data": {"result": result}})

    app = web.Application()
    app.router.add_get("/api/v1/query", query)
    return app


def test_usage_over_http_per_tenant_and_for_all(tmp_path: Path) -> None:
    path = tenants_file(tmp_path)

    async def scenario() -> None:
        async with TestServer(prometheus_stand_in()) as prometheus:
            url = str(prometheus.make_url("")).rstrip("/")
            async with TestClient(TestServer(make_admin_app(TOKEN, path, url))) as client:
                assert (await client.get("/tenants/acme/usage")).status == 401
                acme = await (await client.get("/tenants/acme/usage", headers=AUTH)).json()
                assert acme == {
                    "tenant": "acme",
                    "usage": {
                        "records": 120,
                        "events": 118,
                        "people": 11,
                        "teams": 2,
                        "series": 640,
                        "teams_refused": 1,
                    },
                    "quotas": {"max_teams": 2, "max_series": 700, "rate_per_s": 50},
                }
                ghost = await client.get("/tenants/ghost/usage", headers=AUTH)
                assert (ghost.status, (await ghost.json())["error"]) == (404, "unknown_tenant")
                every = await (await client.get("/usage", headers=AUTH)).json()
                globex = every["tenants"][1]
                assert [t["tenant"] for t in every["tenants"]] == ["acme", "globex"]
                assert globex["usage"]["people"] == 0 and globex["usage"]["series"] == 320
            async with TestClient(
                TestServer(make_admin_app(TOKEN, path, "http://127.0.0.1:9"))
            ) as client:
                down = await client.get("/tenants/acme/usage", headers=AUTH)
                body = await down.json()
                assert down.status == 502 and body["error"] == "usage_unavailable"
                assert "TEAMPULSE_PROMETHEUS_URL" in body["detail"]

    asyncio.run(scenario())


def test_the_usage_command_prints_a_line_per_tenant_and_names_a_missing_prometheus(
    tmp_path: Path,
) -> None:
    path = tenants_file(tmp_path)
    runner = CliRunner()

    async def run_with_prometheus() -> tuple[str, int]:
        async with TestServer(prometheus_stand_in()) as prometheus:
            url = str(prometheus.make_url("")).rstrip("/")
            env = {"TEAMPULSE_TENANTS_FILE": str(path), "TEAMPULSE_PROMETHEUS_URL": url}
            result = await asyncio.to_thread(runner.invoke, cli, ["tenant", "usage"], env=env)
            return result.output, result.exit_code

    output, code = asyncio.run(run_with_prometheus())
    assert code == 0, output
    acme, globex = output.splitlines()
    assert acme.startswith("acme\t") and "series=640" in acme and "max_series=700" in acme
    assert globex.startswith("globex\t") and "events=4" in globex

    env = {"TEAMPULSE_TENANTS_FILE": str(path), "TEAMPULSE_PROMETHEUS_URL": "http://127.0.0.1:9"}
    down = runner.invoke(cli, ["tenant", "usage", "acme"], env=env)
    assert down.exit_code == 1 and "Prometheus at http://127.0.0.1:9 did not answer" in down.output
    ghost = runner.invoke(cli, ["tenant", "usage", "ghost"], env=env)
    assert ghost.exit_code == 1 and "tenants: acme, globex" in ghost.output
