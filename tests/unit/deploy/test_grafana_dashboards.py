"""The provisioned Grafana boards load from files, pick their data source through a
variable, and only ask Prometheus for series and labels that exist."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.deploy.promql_names import (
    FRACTIONS,
    KNOWN,
    RECORDED,
    recording_rule_names,
    selectors,
    stack_tool,
    unknown_references,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
GRAFANA = REPO_ROOT / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__range", "__range_s", "datasource"}

VARIABLES_OF = {
    "team-engagement.json": {"datasource", "tenant", "division", "department", "team", "window"},
    "conversation.json": {"datasource", "tenant", "division", "department", "team", "window"},
    "adoption.json": {"datasource", "tenant", "division", "department", "team", "initiative"},
    "org-rollup.json": {"datasource", "tenant", "division", "department", "window"},
    "pipeline-health.json": {"datasource", "source"},
}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])  # panels inside a collapsed row


def queries(board: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title, PromQL) of every panel target."""
    for panel in panels(board):
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def variable_queries(board: dict[str, Any]) -> Iterator[str]:
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            yield query["query"] if isinstance(query, dict) else query


@pytest.fixture(params=DASHBOARDS, ids=lambda path: path.name)
def dashboard(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return request.param.name, load(request.param)


# --- the reader the checks rely on ------------------------------------------------------


def test_the_promql_reader_finds_unknown_metrics_and_labels() -> None:
    assert unknown_references("rate(teampulse_nope_total[5m])") == [
        "unknown metric teampulse_nope_total"
    ]
    assert unknown_references('max by (team) (teampulse_team_members{window="7d"})') == [
        "teampulse_team_members has no label window"
    ]
    assert unknown_references("sum by (departement) (teampulse_team_posts)") == [
        "no metric has label departement"
    ]
    assert (
        unknown_references(
            'sum(max by (team) (teampulse_team_posts{team=~"$team", window="$window"}))'
            " * on (team) group_left (department) topk by (team) (1, teampulse_team_info)"
        )
        == []
    )


def test_the_promql_reader_sees_bare_names_and_skips_functions_and_keywords() -> None:
    names = [name for name, _ in selectors(
        "time() - max by (source) (teampulse_last_event_timestamp_seconds offset 1w)"
        " and on () up"
    )]  # fmt: skip
    assert names == ["teampulse_last_event_timestamp_seconds", "up"]


def test_the_recording_rules_known_to_the_checks_are_those_in_the_rule_files() -> None:
    assert set(RECORDED) == recording_rule_names()


def test_fractions_are_the_ratios_and_scores_of_the_catalog() -> None:
    assert "teampulse_team_voice_evenness" in FRACTIONS
    assert "teampulse_org_engagement_score" in FRACTIONS
    assert "teampulse_department_adoption_index" in FRACTIONS
    assert "department:teampulse_team_participation:ratio" in FRACTIONS
    assert "teampulse_team_members" not in FRACTIONS
    assert "teampulse_team_first_reply_median_seconds" not in FRACTIONS


# --- the boards ---------------------------------------------------------------------------


def test_the_five_boards_exist_with_unique_uids() -> None:
    assert [path.name for path in DASHBOARDS] == sorted(VARIABLES_OF)
    uids = [load(path)["uid"] for path in DASHBOARDS]
    assert len(set(uids)) == 5
    assert all(uid.startswith("teampulse-") for uid in uids)


def test_board_has_no_import_placeholders(dashboard: tuple[str, dict[str, Any]]) -> None:
    name, board = dashboard
    text = (GRAFANA / "dashboards" / name).read_text()
    assert "__inputs" not in board
    assert "DS_PROMETHEUS" not in text and "${DS_" not in text


def test_board_has_its_variables(dashboard: tuple[str, dict[str, Any]]) -> None:
    name, board = dashboard
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert set(variables) == VARIABLES_OF[name]
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE
            assert variable["definition"].startswith("label_values(")


def test_every_panel_and_target_uses_the_datasource_variable(
    dashboard: tuple[str, dict[str, Any]],
) -> None:
    _, board = dashboard
    for panel in panels(board):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]


def test_every_query_asks_for_existing_series_and_labels(
    dashboard: tuple[str, dict[str, Any]],
) -> None:
    _, board = dashboard
    problems = [
        f"{title}: {problem}"
        for title, expr in queries(board)
        for problem in unknown_references(expr)
    ]
    for query in variable_queries(board):
        match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
        assert match, query
        series, label = match.groups()
        problems += [f"variable query: {problem}" for problem in unknown_references(series)]
        (metric, _), *_ = selectors(series)
        if label not in KNOWN.get(metric, ()):
            problems.append(f"variable query: {metric} has no label {label}")
    assert problems == []


def test_every_variable_a_query_uses_is_defined(dashboard: tuple[str, dict[str, Any]]) -> None:
    _, board = dashboard
    defined = {v["name"] for v in board["templating"]["list"]} | GRAFANA_BUILTINS
    texts = [expr for _, expr in queries(board)] + list(variable_queries(board))
    texts += [panel["title"] for panel in panels(board)]
    used = {name for text in texts for name in re.findall(r"\$\{?(\w+)", text)}
    assert used <= defined


def test_team_queries_follow_the_team_variable(dashboard: tuple[str, dict[str, Any]]) -> None:
    name, board = dashboard
    if "team" not in VARIABLES_OF[name]:
        return
    for title, expr in queries(board):
        for metric, matchers in selectors(expr):
            if "team" in KNOWN[metric] and metric != "teampulse_team_info":
                assert matchers.get("team") == "$team", f"{title}: {metric}"


def test_every_figure_follows_the_tenant_variable_and_all_matches_no_tenant_label(
    dashboard: tuple[str, dict[str, Any]],
) -> None:
    """A tenant picked shows its figures only; "All" is `.*`, which also matches the series
    of a deployment without tenants, which have no `tenant` label (docs/tenancy.md)."""
    name, board = dashboard
    if "tenant" not in VARIABLES_OF[name]:
        return
    variable = next(v for v in board["templating"]["list"] if v["name"] == "tenant")
    assert variable["includeAll"] and variable["allValue"] == ".*"
    assert variable["query"] == "label_values(teampulse_team_info, tenant)"
    texts = [expr for _, expr in queries(board)]
    texts += [
        re.fullmatch(r"label_values\((.+),\s*\w+\)", q).group(1)  # type: ignore[union-attr]
        for q in variable_queries(board)
        if q != variable["query"]
    ]
    for text in texts:
        found = selectors(text)
        assert found, text
        for metric, matchers in found:
            assert matchers.get("tenant") == "$tenant", f"{name}: {metric} in {text}"


def test_scores_and_ratios_are_shown_as_percent(dashboard: tuple[str, dict[str, Any]]) -> None:
    _, board = dashboard
    for panel in panels(board):
        if panel["type"] in ("row", "table"):
            continue
        metrics = {m for t in panel["targets"] for m, _ in selectors(t["expr"])}
        if metrics and metrics <= FRACTIONS:
            assert panel["fieldConfig"]["defaults"]["unit"] == "percentunit", panel["title"]


def test_table_columns_of_scores_and_ratios_are_shown_as_percent(
    dashboard: tuple[str, dict[str, Any]],
) -> None:
    _, board = dashboard
    for panel in panels(board):
        if panel["type"] != "table":
            continue
        organize = next(t for t in panel["transformations"] if t["id"] == "organize")
        renamed = organize["options"].get("renameByName", {})
        units = {
            override["matcher"]["options"]: override["properties"][0]["value"]
            for override in panel["fieldConfig"]["overrides"]
        }
        for target in panel["targets"]:
            metrics = {m for m, _ in selectors(target["expr"])}
            column = renamed.get(f"Value #{target['refId']}")
            if column and metrics and metrics <= FRACTIONS:
                assert units[column] == "percentunit", f"{panel['title']}: {column}"


# Values that stand in for the variables when the queries are parsed by promtool.
SAMPLE_VALUES = {
    "datasource": "prometheus", "tenant": ".*", "division": ".*", "department": ".*", "team": ".*",
    "initiative": ".*", "source": ".*", "window": "7d", "__rate_interval": "1m",
}  # fmt: skip
# What Grafana puts in for a multi-value variable with two values chosen: a regex group.
SEVERAL_VALUES = {
    **SAMPLE_VALUES,
    "tenant": "(acme|globex)",
    "division": "(commercial|corporate)", "department": "(sales|customer-care)",
    "team": "(sales-nova|sales-tundra)", "initiative": "(data-literacy|digital-workplace)",
    "source": "(lms|xapi)",
}  # fmt: skip


def fill(expr: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: values[m.group(1)], expr)


def promtool_parses(exprs: list[str], tmp_path: Path) -> None:
    """promtool parses each expression, as a recording rule of a generated rule file."""
    promtool = stack_tool("promtool", "prometheus", "prometheus")
    rules = [{"record": f"board:query:{index}", "expr": e} for index, e in enumerate(exprs)]
    rule_file = tmp_path / "board-queries.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "boards", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(rule_file)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def board_queries() -> list[str]:
    return [expr for path in DASHBOARDS for _, expr in queries(load(path))]


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each board query (variables filled in) as a recording rule."""
    promtool_parses([fill(expr, SAMPLE_VALUES) for expr in board_queries()], tmp_path)


def test_every_query_is_valid_promql_with_several_values_chosen(tmp_path: Path) -> None:
    promtool_parses([fill(expr, SEVERAL_VALUES) for expr in board_queries()], tmp_path)


def test_multi_value_variables_are_matched_as_regexes(
    dashboard: tuple[str, dict[str, Any]],
) -> None:
    """Several chosen values arrive as `(a|b)`: with `=` a query would match nothing."""
    _, board = dashboard
    multi = {v["name"] for v in board["templating"]["list"] if v.get("multi")}
    texts = [expr for _, expr in queries(board)] + list(variable_queries(board))
    exact = {
        name
        for text in texts
        for name in re.findall(r'\w+\s*(?:=|!=)\s*"\$\{?(\w+)', text)
        if name in multi
    }
    assert exact == set()


def test_every_variable_query_selects_with_valid_promql(tmp_path: Path) -> None:
    """label_values(SELECTOR, label) is Grafana's, not PromQL; its selector must parse."""
    selectors_of_variables = []
    for path in DASHBOARDS:
        for query in variable_queries(load(path)):
            found = re.fullmatch(r"label_values\((.+),\s*\w+\)", query)
            assert found, f"{path.name}: variable query {query!r} is not label_values(...)"
            selectors_of_variables.append(fill(found.group(1), SEVERAL_VALUES))
    assert selectors_of_variables
    promtool_parses(selectors_of_variables, tmp_path)


# --- provisioning -------------------------------------------------------------------------


def test_the_datasource_is_the_compose_prometheus_with_a_fixed_uid() -> None:
    provisioned = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (source,) = provisioned["datasources"]
    assert source["type"] == "prometheus"
    assert source["uid"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"


def test_the_dashboard_provider_reads_the_folder_compose_mounts() -> None:
    provider_file = GRAFANA / "provisioning/dashboards/teampulse.yml"
    (provider,) = yaml.safe_load(provider_file.read_text())["providers"]
    assert provider["type"] == "file"
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in mounts
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
