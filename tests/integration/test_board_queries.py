"""Every board's queries run against a real Prometheus scraping a worker after a scenario.

The `team-drops` run (tests/integration/scenario_run.py) is the data: a worker on a
compressed clock, scraped every second. Each dashboard's template variables are resolved the
way Grafana does (their `label_values` queries against that Prometheus, "All" selected: every
value as a regex alternation), each panel's PromQL gets them substituted, and must parse and
run; every panel that is not about alerts must return data. One exception, by design: the
scenario organisation has a 4-person team in a department that is not published, so
complementary suppression (docs/gauges.md) withholds the organisation roll-up; panels that
read only `teampulse_org_*` series must then be empty, and are checked to be.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.scenario_run import ScenarioRun

pytestmark = pytest.mark.integration

DASHBOARDS = sorted(
    (Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards").glob("*.json")
)
# Grafana's own variables: $__rate_interval is 4 x its default 15 s scrape interval.
BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h", "__range_s": "3600"}
SCRAPED_FOR_S = 65  # a 1m rate window needs a minute of samples
_REGEX_SPECIAL = set("\\^$.|?*+()[]{}")
_LABEL_VALUES = re.compile(r"^label_values\((?:(.*),\s*)?(\w+)\)$")


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def regex_literal(value: str) -> str:
    """A value inside a PromQL regex string, as Grafana escapes it (backslash doubled)."""
    return "".join(f"\\\\{ch}" if ch in _REGEX_SPECIAL else ch for ch in value)


def substitute(expr: str, values: dict[str, str]) -> str:
    for name, value in sorted(values.items(), key=lambda item: -len(item[0])):
        expr = expr.replace(f"${{{name}}}", value).replace(f"${name}", value)
    return expr


def resolve_variables(board: dict[str, Any], run: ScenarioRun) -> dict[str, str]:
    """Each query variable, in board order, with "All" of its values as Grafana sends it."""
    values = dict(BUILTINS)
    for variable in board["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        match = _LABEL_VALUES.match(substitute(text, values).strip())
        assert match, f"{variable['name']}: not a label_values query: {text}"
        selector, label = match.groups()
        params = {"match[]": selector} if selector else {}
        body = run.prometheus.api(f"label/{label}/values", **params)
        assert body["status"] == "success", body
        found = sorted(body["data"])
        if not found and variable.get("allValue"):
            # "All" of a label the series lack (`tenant` without a tenants file)
            values[variable["name"]] = variable["allValue"]
            continue
        assert found, f"variable {variable['name']} has no values ({text})"
        multi = variable.get("multi") or variable.get("includeAll")
        values[variable["name"]] = f"({'|'.join(map(regex_literal, found))})" if multi else found[0]
    return values


@pytest.fixture(scope="module")
def scraped(team_drops_run: ScenarioRun) -> ScenarioRun:
    wait = SCRAPED_FOR_S - (time.monotonic() - team_drops_run.prometheus.started)
    if wait > 0:
        team_drops_run.watch(lambda run: False, timeout_s=wait)
    return team_drops_run


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.name)
def test_every_query_of_the_board_runs_and_every_panel_shows_data(
    path: Path, scraped: ScenarioRun
) -> None:
    board = json.loads(path.read_text(encoding="utf-8"))
    values = resolve_variables(board, scraped)
    org = scraped.prometheus.query('count({__name__=~"teampulse_org_.+"})')
    org_published = bool(org["data"]["result"])
    problems = []
    for panel in panels(board):
        exprs = [substitute(t["expr"], values) for t in panel.get("targets", [])]
        if not exprs:
            continue
        answers = [scraped.prometheus.query(expr) for expr in exprs]
        for expr, answer in zip(exprs, answers, strict=True):
            if answer["status"] != "success":
                problems.append(f"{panel['title']}: {answer.get('error')} in {expr}")
        about_alerts = any("ALERTS" in expr for expr in exprs)
        has_data = any(a["status"] == "success" and a["data"]["result"] for a in answers)
        withheld = not org_published and all("teampulse_org_" in expr for expr in exprs)
        if withheld and has_data:
            problems.append(f"{panel['title']}: data although the organisation is withheld")
        elif not about_alerts and not withheld and not has_data:
            problems.append(f"{panel['title']}: no data from {exprs}")

    assert problems == []
