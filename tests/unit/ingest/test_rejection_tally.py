"""The one tally of refused records that `produce` and `backfill` report in their summaries."""

from __future__ import annotations

from teampulse.contract.rejections import Reason, Rejection
from teampulse.ingest.backfill import BackfillSummary
from teampulse.ingest.produce import REPORTED_REJECTIONS, ProduceSummary


def test_refusals_are_counted_by_reason_and_the_first_ones_listed_with_where_they_were():
    summary = ProduceSummary(read=25)
    for line in range(1, 26):
        reason = Reason.SCHEMA if line % 5 else Reason.BAD_TIMESTAMP
        summary.reject(f"line {line}", Rejection(reason, "why"))
    lines = str(summary).splitlines()
    assert lines[1] == "rejected by reason: schema 20, bad_timestamp 5"
    assert lines[2] == "  line 1: schema: why"
    assert len([line for line in lines if line.startswith("  line ")]) == REPORTED_REJECTIONS
    assert lines[-1] == "  ... and 5 more"


def test_the_backfill_summary_reports_its_refusals_the_same_way():
    summary = BackfillSummary()
    summary.reject("https://lrs.example/xAPI/statements statement 3", Rejection(Reason.SCHEMA, "x"))
    assert str(summary).splitlines()[1:] == [
        "rejected by reason: schema 1",
        "  https://lrs.example/xAPI/statements statement 3: schema: x",
    ]
