"""The pure part of a benchmark run: percentiles, ratios, the result document and its table.

No I/O besides `write_results`; every figure arrives as a plain value.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "Figures",
    "build_result",
    "percentile",
    "ratio",
    "render_table",
    "result_filename",
    "snapshot_differences",
    "write_results",
]

MIB = 2**20
DIFFERENCES_SHOWN = 20  # the JSON keeps every differing hash, but only this many field lines


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank q-th percentile (0 < q <= 100): the smallest value that at least
    q % of the values do not exceed. Nearest rank never invents a latency nobody saw."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < q <= 100:
        raise ValueError(f"percentile rank must be in (0, 100], got {q}")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either figure is missing or the denominator is
    not positive (a skipped or failed measurement must not turn into a ratio)."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


@dataclass
class Figures:
    """What one run measured; None for a figure that was skipped."""

    ceiling_rates: list[float] = field(default_factory=list)  # records/s, one per read
    baseline_rates: list[float] = field(default_factory=list)
    teampulse_rate: float | None = None  # events/s, first record read -> last reflected
    teampulse_seconds: float | None = None
    teampulse_counted_seconds: float | None = None  # first read -> every record counted
    teampulse_cpu_seconds: float | None = None  # the worker's CPU time, first read -> settled
    quix_rate: float | None = None
    latencies_s: list[float] = field(default_factory=list)  # produce-to-gauge, per probe
    latency_offered_rate: float | None = None  # events/s the latency phase really sent
    latency_unreflected: int = 0  # probes still missing at the end: percentiles are lower bounds
    rss_bytes_n: int | None = None  # worker peak RSS after N events
    rss_bytes_2n: int | None = None
    two_worker_rate: float | None = None
    two_worker_gauges_equal: bool | None = None
    two_worker_differences: list[str] = field(default_factory=list)  # one line per field
    # The state phase (in process): the core's bytes after N, and the teams snapshot's load.
    state_bytes_per_person: float | None = None
    state_bytes_per_event: float | None = None
    snapshot_bytes: int | None = None
    restore_s: float | None = None


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _mib(value: int | None) -> float | None:
    return None if value is None else value / MIB


def build_result(
    figures: Figures,
    *,
    commit: str,
    machine: Mapping[str, Any],
    settings: Mapping[str, Any],
    started_at: dt.datetime,
    duration_s: float,
) -> dict[str, Any]:
    """The JSON document of one run. Keys are flat and stable so runs compare across commits."""
    ceiling = _median(figures.ceiling_rates)
    baseline = _median(figures.baseline_rates)
    tp = figures.teampulse_rate
    lat = figures.latencies_s
    differences = figures.two_worker_differences
    return {
        "started_at": started_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "duration_s": round(duration_s, 1),
        "commit": commit,
        "machine": dict(machine),
        "settings": dict(settings),
        "ceiling_rate": ceiling,
        "ceiling_rates": list(figures.ceiling_rates),
        "baseline_rate": baseline,
        "baseline_rates": list(figures.baseline_rates),
        "teampulse_rate": tp,
        "teampulse_seconds": figures.teampulse_seconds,
        "teampulse_counted_seconds": figures.teampulse_counted_seconds,
        "cpu_us_per_event": cpu_per_event_us(figures, settings.get("events")),
        "quix_rate": figures.quix_rate,
        "ratio_ceiling": ratio(tp, ceiling),
        "ratio_baseline": ratio(tp, baseline),
        "ratio_quix": ratio(tp, figures.quix_rate),
        "latency_probes": len(lat),
        "latency_offered_rate": figures.latency_offered_rate,
        "latency_unreflected": figures.latency_unreflected,
        "p50_s": percentile(lat, 50) if lat else None,
        "p99_s": percentile(lat, 99) if lat else None,
        "rss_mib_n": _mib(figures.rss_bytes_n),
        "rss_mib_2n": _mib(figures.rss_bytes_2n),
        "rss_growth": ratio(figures.rss_bytes_2n, figures.rss_bytes_n),
        "two_worker_rate": figures.two_worker_rate,
        "two_worker_gauges_equal": figures.two_worker_gauges_equal,
        "two_worker_differing_fields": len(differences),
        "two_worker_differing_hashes": sorted({line.split(" ")[0] for line in differences}),
        "two_worker_differences": differences[:DIFFERENCES_SHOWN],
        "state_bytes_per_person": figures.state_bytes_per_person,
        "state_bytes_per_event": figures.state_bytes_per_event,
        "snapshot_mib": _mib(figures.snapshot_bytes),
        "restore_s": figures.restore_s,
    }


def cpu_per_event_us(figures: Figures, events: int | None) -> float | None:
    if figures.teampulse_cpu_seconds is None or not events:
        return None
    return figures.teampulse_cpu_seconds / events * 1e6


def _rate(value: float | None) -> str:
    return "skipped" if value is None else f"{value:,.0f}/s"


def _times(value: float | None, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f} ×"


def _mib_text(value: float | None) -> str:
    return "skipped" if value is None else f"{value:,.0f} MiB"


def _seconds(value: float | None, lower_bound: bool = False) -> str:
    if value is None:
        return "skipped"
    return f"{'≥ ' if lower_bound else ''}{value:.3f} s"


def table_rows(result: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(figure, value, comparison) rows, in the order docs/benchmarks.md explains them."""
    n = result["settings"].get("events")
    equal = result["two_worker_gauges_equal"]
    differing = len(result.get("two_worker_differing_hashes", ()))
    gauges = {
        True: "gauges equal one worker's",
        False: f"GAUGES DIFFER in {differing} hashes",
        None: "",
    }[equal]
    offered = result["latency_offered_rate"]
    unreflected = result["latency_unreflected"]
    probes = f"{result['latency_probes']} probes at {offered:,.0f} events/s" if offered else ""
    if unreflected:
        probes += f", {unreflected} never reflected (lower bounds)"
    ceiling, baseline = _times(result["ratio_ceiling"]), _times(result["ratio_baseline"])
    quix = _times(result["ratio_quix"], 2)
    growth = _times(result["rss_growth"], 2)
    cpu_us = result.get("cpu_us_per_event")
    return [
        ("ceiling: bare aiokafka getmany", _rate(result["ceiling_rate"]), "median of reads"),
        ("baseline: getmany + orjson + dict", _rate(result["baseline_rate"]), ""),
        (
            f"teampulse: one worker, {n:,} events" if n else "teampulse: one worker",
            _rate(result["teampulse_rate"]),
            " · ".join(
                text
                for text in (ceiling and f"{ceiling} ceiling", baseline and f"{baseline} baseline")
                if text
            ),
        ),
        (
            "teampulse: worker CPU per event",
            "skipped" if cpu_us is None else f"{cpu_us:,.0f} µs",
            "first read to settled, quiet time included",
        ),
        (
            "peer: Quix Streams per-team 7-day count",
            _rate(result["quix_rate"]),
            quix and f"teampulse = {quix} peer",
        ),
        (
            "latency p50, produce-to-gauge",
            _seconds(result["p50_s"], bool(unreflected)),
            probes,
        ),
        ("latency p99, produce-to-gauge", _seconds(result["p99_s"], bool(unreflected)), ""),
        ("worker peak RSS after N", _mib_text(result["rss_mib_n"]), ""),
        (
            "worker peak RSS after 2N",
            _mib_text(result["rss_mib_2n"]),
            growth and f"{growth} after N",
        ),
        ("two workers, same topic", _rate(result["two_worker_rate"]), gauges),
        (
            "core state per person after N",
            _bytes(result.get("state_bytes_per_person")),
            _per_event(result.get("state_bytes_per_event")),
        ),
        (
            "restore: load the teams snapshot",
            _seconds(result.get("restore_s")),
            _snapshot(result.get("snapshot_mib")),
        ),
    ]


def _bytes(value: float | None) -> str:
    return "skipped" if value is None else f"{value:,.0f} B"


def _per_event(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f} B per event kept"


def _snapshot(value: float | None) -> str:
    return "" if value is None else f"snapshot {value:,.1f} MiB, CPU only"


def render_table(result: Mapping[str, Any]) -> str:
    """A plain-text table of the run (no colour, so it pastes into an issue as it is)."""
    rows = [("figure", "value", "compared"), *table_rows(result)]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]}".rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    machine = result["machine"]
    lines.append("")
    lines.append(
        f"commit {result['commit'][:12]} · {machine.get('cores')} cores · "
        f"{machine.get('memory_mib', 0):,} MiB · Python {machine.get('python')} · "
        f"{result['duration_s']:.0f} s"
    )
    return "\n".join(lines)


def result_filename(started_at: dt.datetime) -> str:
    """`20261201T074712Z.json`: sortable, and free of ':' for every file system."""
    return started_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + ".json"


def write_results(result: Mapping[str, Any], folder: Path, started_at: dt.datetime) -> Path:
    """Write the run as `<timestamp>.json` and as `latest.json`; return the first."""
    folder.mkdir(parents=True, exist_ok=True)
    body = orjson.dumps(result, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    path = folder / result_filename(started_at)
    path.write_bytes(body)
    (folder / "latest.json").write_bytes(body)
    return path


def snapshot_differences(
    one: Mapping[str, Mapping[str, str]],
    other: Mapping[str, Mapping[str, str]],
    rel_tol: float = 1e-9,
) -> list[str]:
    """Where two gauge snapshots (key -> field -> value) differ, one line per field.

    Numbers compare with a relative tolerance: a roll-up sums its teams in the order their
    partitions arrive, and float addition is not associative, so two correct runs may differ
    in the last digit."""
    differences: list[str] = []
    for key in sorted(one.keys() | other.keys()):
        if key not in one or key not in other:
            differences.append(f"{key}: only in the {'first' if key in one else 'second'} run")
            continue
        a, b = one[key], other[key]
        for name in sorted(a.keys() | b.keys()):
            left, right = a.get(name), b.get(name)
            if left == right:
                continue
            try:
                if (
                    left is not None
                    and right is not None
                    and math.isclose(float(left), float(right), rel_tol=rel_tol, abs_tol=1e-12)
                ):
                    continue
            except ValueError:
                pass
            differences.append(f"{key} {name}: {left} != {right}")
    return differences
