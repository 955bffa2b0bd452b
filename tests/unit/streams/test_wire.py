"""Thread facts on the wire: msgspec's encoding is the same JSON the earlier writer wrote."""

from __future__ import annotations

import orjson
import pytest

from teampulse.gauges.threads import ReplyLink, ThreadSummary
from teampulse.streams.wire import decode_fact, encode_fact

FACTS = [
    ThreadSummary(
        team="atlas", thread="th", root="p1", started_at=1.5, replies=2,
        replies_from_others=1, first_reply_at=None, version=3, current=False,
    ),
    ReplyLink(team="comet", reply="p2", replier_team="comet", parent_team="atlas", at=2.0),
]  # fmt: skip


@pytest.mark.parametrize("fact", FACTS)
def test_a_fact_encodes_to_the_json_of_its_to_wire(fact):
    assert orjson.loads(encode_fact(fact)) == fact.to_wire()


@pytest.mark.parametrize("fact", FACTS)
def test_a_fact_decodes_from_either_writer(fact):
    assert decode_fact(encode_fact(fact)) == fact
    assert decode_fact(orjson.dumps(fact.to_wire())) == fact
    reordered = orjson.dumps({**{k: v for k, v in fact.to_wire().items() if k != "kind"},
                              "kind": fact.kind})  # fmt: skip
    assert decode_fact(reordered) == fact
