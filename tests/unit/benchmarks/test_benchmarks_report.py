"""The pure part of `make bench`: percentiles, ratios, the result document, the table, and the
comparison of two runs' gauges."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from benchmarks.report import (
    Figures,
    build_result,
    percentile,
    ratio,
    render_table,
    result_filename,
    snapshot_differences,
    write_results,
)

STARTED = dt.datetime(2026, 12, 1, 7, 47, 12, tzinfo=dt.UTC)
MACHINE = {"cores": 2, "memory_mib": 24105, "python": "3.11.7"}


def figures() -> Figures:
    return Figures(
        ceiling_rates=[300_000.0, 100_000.0, 400_000.0],
        baseline_rates=[200_000.0, 250_000.0, 150_000.0],
        teampulse_rate=1_000.0,
        teampulse_seconds=50.0,
        teampulse_counted_seconds=40.0,
        quix_rate=10_000.0,
        latencies_s=[0.1 * n for n in range(1, 101)],
        latency_offered_rate=5_000.0,
        rss_bytes_n=200 * 2**20,
        rss_bytes_2n=210 * 2**20,
        two_worker_rate=1_500.0,
        two_worker_gauges_equal=True,
    )


def result() -> dict:
    return build_result(
        figures(),
        commit="e6bc1032781d0000",
        machine=MACHINE,
        settings={"events": 50_000},
        started_at=STARTED,
        duration_s=127.04,
    )


def test_percentile_is_the_nearest_rank_value():
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0


def test_p99_of_a_hundred_values_is_the_99th_smallest():
    assert percentile([float(n) for n in range(1, 101)], 99) == 99.0


def test_p99_of_few_values_is_the_largest():
    assert percentile([0.2, 0.9, 0.4], 99) == 0.9


def test_percentile_of_nothing_is_an_error():
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_percentile_rank_outside_0_100_is_an_error():
    with pytest.raises(ValueError, match="rank"):
        percentile([1.0], 0)


def test_ratio_divides():
    assert ratio(1_000.0, 400_000.0) == 0.0025


@pytest.mark.parametrize(("numerator", "denominator"), [(None, 1.0), (1.0, None), (1.0, 0.0)])
def test_ratio_of_a_missing_figure_is_none(numerator, denominator):
    assert ratio(numerator, denominator) is None


def test_result_uses_the_median_read_for_ceiling_and_baseline():
    document = result()
    assert (document["ceiling_rate"], document["baseline_rate"]) == (300_000.0, 200_000.0)


def test_result_ratios_compare_teampulse_with_each_reference():
    document = result()
    assert (document["ratio_ceiling"], document["ratio_baseline"], document["ratio_quix"]) == (
        pytest.approx(1 / 300),
        0.005,
        0.1,
    )


def test_result_keeps_the_time_to_count_apart_from_the_time_to_reflect():
    document = result()
    assert (document["teampulse_counted_seconds"], document["teampulse_seconds"]) == (40.0, 50.0)


def test_result_latency_percentiles_in_seconds():
    document = result()
    assert (document["p50_s"], document["p99_s"]) == (pytest.approx(5.0), pytest.approx(9.9))


def test_result_memory_in_mib_and_growth():
    document = result()
    assert (document["rss_mib_n"], document["rss_mib_2n"], document["rss_growth"]) == (
        200.0,
        210.0,
        1.05,
    )


def test_result_records_commit_machine_settings_and_start():
    document = result()
    assert (
        document["commit"],
        document["machine"]["cores"],
        document["settings"]["events"],
        document["started_at"],
    ) == ("e6bc1032781d0000", 2, 50_000, "2026-12-01T07:47:12Z")


def test_skipped_figures_are_null_not_zero():
    document = build_result(
        Figures(ceiling_rates=[1.0]),
        commit="c",
        machine=MACHINE,
        settings={},
        started_at=STARTED,
        duration_s=1.0,
    )
    assert (document["teampulse_rate"], document["ratio_ceiling"], document["p99_s"]) == (
        None,
        None,
        None,
    )


def test_table_shows_the_ratio_against_the_ceiling():
    assert "0.003 × ceiling" in render_table(result())


def test_table_marks_latency_as_a_lower_bound_when_probes_were_missing():
    document = result()
    document["latency_unreflected"] = 3
    assert "≥ 9.900 s" in render_table(document)


def test_table_says_in_how_many_hashes_two_workers_disagree():
    document = result()
    document["two_worker_gauges_equal"] = False
    document["two_worker_differing_hashes"] = ["department:a", "org"]
    assert "GAUGES DIFFER in 2 hashes" in render_table(document)


def test_result_names_every_differing_hash_once():
    differing = Figures(
        two_worker_gauges_equal=False,
        two_worker_differences=["org posts:1d: 1 != 2", "org posts:7d: 1 != 2", "team:a x: 1 != 2"],
    )
    document = build_result(
        differing, commit="c", machine=MACHINE, settings={}, started_at=STARTED, duration_s=1.0
    )
    assert (document["two_worker_differing_hashes"], document["two_worker_differing_fields"]) == (
        ["org", "team:a"],
        3,
    )


def test_result_filename_is_the_utc_start_without_colons():
    assert result_filename(STARTED) == "20261201T074712Z.json"


def test_results_are_written_twice_as_timestamped_and_latest(tmp_path):
    path = write_results(result(), tmp_path, STARTED)
    assert (path.name, orjson.loads((tmp_path / "latest.json").read_bytes())["p99_s"]) == (
        "20261201T074712Z.json",
        pytest.approx(9.9),
    )


def test_equal_snapshots_have_no_differences():
    snapshot = {"team:alpha": {"posts:7d": "3", "department": "eng"}}
    assert snapshot_differences(snapshot, snapshot) == []


def test_last_digit_float_noise_is_not_a_difference():
    one = {"org": {"engagement_score:7d": "0.30000000000000004"}}
    other = {"org": {"engagement_score:7d": "0.3"}}
    assert snapshot_differences(one, other) == []


def test_a_different_value_is_named_with_its_key_and_field():
    one = {"team:alpha": {"posts:7d": "3"}}
    other = {"team:alpha": {"posts:7d": "4"}}
    assert snapshot_differences(one, other) == ["team:alpha posts:7d: 3 != 4"]


def test_a_missing_field_is_a_difference():
    one = {"team:alpha": {"reply_ratio:7d": "0.5"}}
    other: dict[str, dict[str, str]] = {"team:alpha": {}}
    assert snapshot_differences(one, other) == ["team:alpha reply_ratio:7d: 0.5 != None"]


def test_a_hash_in_one_run_only_is_a_difference():
    assert snapshot_differences({"team:alpha": {}}, {}) == ["team:alpha: only in the first run"]


def test_table_gives_the_state_per_person_and_the_restore_when_measured():
    measured = figures()
    measured.state_bytes_per_person = 9_876.4
    measured.state_bytes_per_event = 123.4
    measured.snapshot_bytes = 3 * 2**20
    measured.restore_s = 1.25
    document = build_result(
        measured, commit="c", machine=MACHINE, settings={}, started_at=STARTED, duration_s=1.0
    )
    table = render_table(document)
    assert "9,876 B" in table and "123 B per event kept" in table
    assert "1.250 s" in table and "snapshot 3.0 MiB" in table


def test_table_says_the_state_phase_was_skipped_when_it_was():
    rows = {row.split("  ")[0]: row for row in render_table(result()).splitlines()}
    assert "skipped" in rows["core state per person after N"]
