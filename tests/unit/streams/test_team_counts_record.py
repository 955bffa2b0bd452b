"""The `team-counts` record: what a worker reads back is what was written, whether it wrote
the record itself (the bytes it remembers) or another worker did (parsed)."""

from __future__ import annotations

import orjson
import pytest

from teampulse.gauges.counts import TeamCounts, WindowCounts
from teampulse.streams.team_counts_record import (
    REMEMBERED_PER_TEAM,
    TeamCountsRecord,
    decode_team_counts,
    encode_team_counts,
)

FIRST = TeamCounts(
    members=5,
    windows={"7d": WindowCounts(active_members=3, posts=2, contributions=(1, 1, 2),
                                first_reply_latencies=(30.0, 600.5))},
    adoption={"agile": (1, 0, 1, 0, 0)},
    baseline_members=5, baseline_sum=2.5, current_sum=1.25,
)  # fmt: skip
SECOND = TeamCounts(members=5, windows={"7d": WindowCounts(active_members=4, posts=3)})


def parsed(record: bytes) -> TeamCountsRecord:
    """What another process, which never wrote the record, reads from it."""
    message = orjson.loads(record)
    return TeamCountsRecord(
        message["team"],
        (message["seq"], message["as_of"]),
        TeamCounts.from_wire(message["counts"]),
    )


def test_a_record_read_back_equals_the_one_written_and_parsed() -> None:
    record = encode_team_counts("eng-record", 41, 1_700_000_000.5, FIRST)

    assert decode_team_counts(record) == parsed(record)
    assert decode_team_counts(record) == ("eng-record", (41, 1_700_000_000.5), FIRST)


def test_an_older_record_of_a_team_is_still_read_for_what_it_says() -> None:
    older = encode_team_counts("eng-older", 7, 100.0, FIRST)
    newer = encode_team_counts("eng-older", 8, 200.0, SECOND)

    assert decode_team_counts(older) == ("eng-older", (7, 100.0), FIRST)
    assert decode_team_counts(newer) == ("eng-older", (8, 200.0), SECOND)


def test_records_read_back_long_after_they_were_written_are_what_they_say() -> None:
    written = [
        encode_team_counts("eng-trail", seq, 10.0 * seq, FIRST if seq % 2 else SECOND)
        for seq in range(3 * REMEMBERED_PER_TEAM)
    ]

    assert [decode_team_counts(record) for record in written] == [
        parsed(record) for record in written
    ]


def test_a_record_from_another_writer_is_parsed() -> None:
    encode_team_counts("eng-other", 3, 50.0, FIRST)
    foreign = orjson.dumps({"team": "eng-other", "as_of": 60.0, "counts": SECOND.to_wire()})

    team, (seq, as_of), counts = decode_team_counts(foreign)

    assert (team, as_of, counts) == ("eng-other", 60.0, SECOND)
    assert seq < 0  # written before `seq` existed: below every record that has one


@pytest.mark.parametrize("record", [b"[]", b'"x"', b"{}", b'{"team": "t", "as_of": 1.0}', b"{"])
def test_a_record_that_is_not_a_teams_counts_is_refused(record: bytes) -> None:
    with pytest.raises((ValueError, KeyError, TypeError)):
        decode_team_counts(record)
