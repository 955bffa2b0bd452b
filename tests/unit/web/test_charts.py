"""The charts read without hovering: every figure is written on the chart."""

from __future__ import annotations

from teampulse.web.charts import Bar, Series, bar_chart, line_chart, percent


def test_a_line_chart_writes_each_lines_last_value_and_names_it() -> None:
    svg = line_chart(
        ["12-01", "12-02", "12-03"],
        [Series("engagement", [0.5, None, 0.25]), Series("baseline", [0.6, 0.6, 0.6])],
        "alpha",
    )

    assert svg.count("<polyline") == 2
    assert ">25%</text>" in svg and ">60%</text>" in svg
    assert "engagement 25%" in svg and "baseline 60%" in svg
    assert 'stroke-dasharray="6 4"' in svg  # the baseline differs in print too
    assert 'aria-label="alpha"' in svg


def test_a_small_multiple_is_named_by_its_title_and_writes_its_last_value() -> None:
    svg = line_chart(["W47", "W48"], [Series("sales", [0.2, 0.35])], "sales", legend=False)

    assert 'aria-label="sales"' in svg and ">35%</text>" in svg
    assert "sales 35%" not in svg  # no legend to decode


def test_a_line_chart_without_history_says_so() -> None:
    svg = line_chart([], [Series("engagement", [])], "alpha")

    assert "no history yet" in svg and "<polyline" not in svg


def test_a_bar_chart_writes_each_value_and_note() -> None:
    svg = bar_chart([Bar("awareness", 0.8, "8 of 10"), Bar("desire", None)], "funnel")

    assert "80% (8 of 10)" in svg
    assert ">–</text>" in svg  # undefined, not zero


def test_percentages_use_a_true_minus_sign() -> None:
    assert percent(-0.46, signed=True) == "−46%"
    assert percent(0.1, signed=True) == "+10%"
    assert percent(None) == "–"


def test_a_change_that_rounds_to_nothing_has_no_sign() -> None:
    assert [percent(v, signed=True) for v in (-0.004, 0.0, 0.004)] == ["0%", "0%", "0%"]
