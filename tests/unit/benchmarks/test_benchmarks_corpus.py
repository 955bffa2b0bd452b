"""The benchmark's corpus: 2N simulated events, drawn once and cached by their parameters."""

from __future__ import annotations

import orjson
import pytest

from benchmarks import corpus as corpus_module
from benchmarks.corpus import CorpusSpec, load_corpus

SMALL = CorpusSpec(events=60, people=40, teams=8, departments=4, divisions=2)


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_module, "CACHE_DIR", tmp_path)


def test_the_corpus_holds_twice_the_measured_events():
    drawn = load_corpus(SMALL)
    assert (len(drawn.first_half), len(drawn.second_half)) == (60, 60)


def test_a_cached_corpus_reads_back_the_records_it_was_drawn_with():
    drawn = load_corpus(SMALL)
    cached = load_corpus(SMALL)
    assert (cached.records, cached.last_occurred_at) == (drawn.records, drawn.last_occurred_at)


def test_the_cache_is_written_under_a_name_made_of_the_parameters():
    load_corpus(SMALL)
    assert (
        SMALL.cache_path().exists() and not CorpusSpec(events=60, people=41).cache_path().exists()
    )


def test_records_are_keyed_by_event_id():
    key, value = load_corpus(SMALL).records[0]
    assert key.decode() == orjson.loads(value)["id"]
