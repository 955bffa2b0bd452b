"""What the boards and rules may query: every series TeamPulse exports (built from the gauge
catalog, so a renamed gauge breaks the tests that use it), with the labels each carries,
the recording rules, and a small reader that finds the series a PromQL expression selects.
Also where the tests find promtool and amtool.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from teampulse.gauges import catalog

REPO_ROOT = Path(__file__).resolve().parents[3]
RULES_DIR = REPO_ROOT / "deploy" / "prometheus" / "rules"
ENSURE_PACKAGES = REPO_ROOT / "deploy" / "stack" / "ensure-packages.sh"

SCRAPE_LABELS = frozenset({"job", "instance"})  # Prometheus adds them to every scraped series
ROLLUP_SCOPES = ("department", "division", "org")


def _exported() -> dict[str, frozenset[str]]:
    """Metric name -> its labels (without job/instance), for everything the worker serves."""
    series: dict[str, set[str]] = {}
    for scope in ("team", *ROLLUP_SCOPES):
        # `tenant` only with a tenants file (docs/tenancy.md); rules group by it either way
        key = {"tenant"} if scope == "org" else {"tenant", scope}
        for gauge in catalog.WINDOWED:
            series[catalog.metric_name(scope, gauge.name)] = key | {"window"}
        for gauge in catalog.PLAIN:
            series[catalog.metric_name(scope, gauge.name)] = set(key)
        for gauge in catalog.ADOPTION:
            stage = {"stage"} if gauge.name == "members" else set()
            series[catalog.adoption_metric_name(scope, gauge.name)] = key | {"initiative"} | stage
    # `alert_route` only for a tenant whose entry sets one (docs/tenancy.md)
    series["teampulse_team_info"] = {"tenant", "team", "department", "division", "alert_route"}
    # The drop signal: teams only.
    for gauge in catalog.SIGNAL_WINDOWED:
        series[catalog.metric_name("team", gauge.name)] = {"tenant", "team", "window"}
    for gauge in catalog.SIGNAL_PLAIN:
        series[catalog.metric_name("team", gauge.name)] = {"tenant", "team"}
    series[catalog.DROP_SIGNAL_METRIC] = {"tenant", "team", "state"}
    # The team network: teams only.
    for gauge in catalog.NETWORK_WINDOWED:
        series[catalog.metric_name("team", gauge.name)] = {"tenant", "team", "window"}
    series[catalog.INTERACTIONS_METRIC] = {"tenant", "team", "other_team", "window"}
    series |= {
        "teampulse_events_total": {"source", "outcome"},
        "teampulse_dead_letters_total": {"reason"},
        "teampulse_consumer_lag": {"topic", "partition"},
        "teampulse_last_event_timestamp_seconds": {"source"},
        "teampulse_redis_write_failures_total": set(),
        "teampulse_redis_pending_keys": set(),
        "teampulse_state_entries": {"stage", "kind"},
        "teampulse_cardinality_refused_total": {"kind"},
        "teampulse_cardinality_refused_keys": {"kind"},
        "up": set(),
    }
    for histogram in ("teampulse_event_time_lag_seconds", "teampulse_export_duration_seconds"):
        series[f"{histogram}_bucket"] = {"le"}
        series[f"{histogram}_sum"] = set()
        series[f"{histogram}_count"] = set()
    return {name: frozenset(labels | SCRAPE_LABELS) for name, labels in series.items()}


EXPORTED = _exported()

# The recording rules of deploy/prometheus/rules/ and the labels of what they record.
RECORDED: dict[str, frozenset[str]] = {
    name: frozenset(labels)
    for name, labels in {
        "department:teampulse_team_members:sum": {"tenant", "department"},
        "department:teampulse_team_active_members:sum": {"tenant", "department", "window"},
        "department:teampulse_team_participation:ratio": {"tenant", "department", "window"},
        "division:teampulse_team_members:sum": {"tenant", "division"},
        "division:teampulse_team_active_members:sum": {"tenant", "division", "window"},
        "division:teampulse_team_participation:ratio": {"tenant", "division", "window"},
        "department:teampulse_team_threads_started:sum": {"tenant", "department", "window"},
        "department:teampulse_team_threads_replied:sum": {"tenant", "department", "window"},
        "department:teampulse_team_reply:ratio": {"tenant", "department", "window"},
        "department:teampulse_team_reply_interactions:sum": {"tenant", "department", "window"},
        "department:teampulse_team_cross_team_interactions:sum": {"tenant", "department", "window"},
        "department:teampulse_team_cross_team:ratio": {"tenant", "department", "window"},
        "department:teampulse_adoption_members:sum": {
            "tenant",
            "department",
            "initiative",
            "stage",
        },  # fmt: skip
        "department:teampulse_adoption:ratio": {"tenant", "department", "initiative"},
        "source_outcome:teampulse_events:rate5m": {"source", "outcome"},
        "reason:teampulse_dead_letters:rate5m": {"reason"},
        "job:teampulse_event_time_lag_seconds:p95_5m": {"job"},
        "topic:teampulse_consumer_lag:sum": {"topic"},
    }.items()
}


def _fractions() -> frozenset[str]:
    """Series whose values are 0-1 ratios or scores (the boards show them as percent)."""
    names = {name for name in RECORDED if name.endswith(":ratio")}
    for scope in ("team", *ROLLUP_SCOPES):
        names |= {
            catalog.metric_name(scope, gauge.name)
            for gauge in catalog.WINDOWED + catalog.PLAIN + catalog.SIGNAL_PLAIN
            if gauge.unit in ("ratio", "score")
        }
        names |= {catalog.adoption_metric_name(scope, g) for g in ("ratio", "index")}
    return frozenset(names)


FRACTIONS = _fractions()

# ALERTS carries each alert's own labels: any label may be matched.
ANY_LABEL = frozenset({"*"})
KNOWN: dict[str, frozenset[str]] = {**EXPORTED, **RECORDED, "ALERTS": ANY_LABEL}


def recording_rule_names() -> set[str]:
    names = set()
    for path in RULES_DIR.glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {rule["record"] for rule in group["rules"] if "record" in rule}
    return names


# --- reading PromQL ---------------------------------------------------------------------
_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SELECTOR = re.compile(rf"(?<![\w:.$])({_NAME})\s*\{{([^}}]*)\}}")
_MATCHER = re.compile(r'([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
_CLAUSE = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
     "offset", "bool", "inf", "nan"}
)  # fmt: skip
_IDENTIFIER = re.compile(rf"(?<![\w:.$])({_NAME})(\s*\()?")


def selectors(expr: str) -> list[tuple[str, dict[str, str]]]:
    """(metric, {label: value}) of every series selector in `expr`; bare metric names
    come with no matchers."""
    found = [
        (name, {label: value for label, _, value in _MATCHER.findall(body)})
        for name, body in _SELECTOR.findall(expr)
    ]
    rest = _SELECTOR.sub(" ", expr)
    rest = re.sub(r"\{[^}]*\}", " ", rest)
    rest = re.sub(r'"(?:[^"\\]|\\.)*"', " ", rest)
    rest = re.sub(r"\[[^\]]*\]", " ", rest)
    rest = _CLAUSE.sub(" ", rest)
    rest = re.sub(r"\$\{?\w+\}?", " ", rest)
    for name, call in _IDENTIFIER.findall(rest):
        if not call and name not in _KEYWORDS:
            found.append((name, {}))
    return found


def grouping_labels(expr: str) -> set[str]:
    """Labels named in by/without/on/ignoring/group_left/group_right clauses."""
    labels: set[str] = set()
    for clause in _CLAUSE.finditer(expr):
        labels |= {label.strip() for label in clause.group(1).split(",") if label.strip()}
    return labels


def unknown_references(expr: str) -> list[str]:
    """Every way `expr` reaches for a series or label that does not exist: an unknown
    metric, a matcher on a label the metric lacks, a grouping by a label none of the
    expression's metrics has. Each would make a panel or rule silently empty."""
    problems = []
    available: set[str] = set()
    for metric, matchers in selectors(expr):
        labels = KNOWN.get(metric)
        if labels is None:
            problems.append(f"unknown metric {metric}")
        elif labels is ANY_LABEL:
            return problems
        else:
            available |= labels
            problems += [
                f"{metric} has no label {label}" for label in matchers if label not in labels
            ]
    problems += [f"no metric has label {label}" for label in grouping_labels(expr) - available]
    return problems


def stack_tool(binary: str, service: str, package: str) -> str:
    """Path of promtool or amtool. Missing is a failure, never a skip: CI installs the tools
    with the stack's package script, which is tried here first."""
    found = shutil.which(binary)
    if found is None and ENSURE_PACKAGES.exists():
        subprocess.run(["bash", str(ENSURE_PACKAGES), service], check=False, timeout=900)
        found = shutil.which(binary)
    if found is None:
        pytest.fail(f"{binary} is not installed (Debian package `{package}`)")
    return found
