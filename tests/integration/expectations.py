"""What the pipeline must publish for a given input: the reference model, keyed like /metrics."""

from __future__ import annotations

import math
from collections.abc import Set as AbstractSet
from typing import Any

import orjson

from teampulse.contract.events import EventValidator
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Rejection
from teampulse.contract.roster import RosterEntry, parse_roster_record
from teampulse.enrichment.roster import Roster, resolve_team
from teampulse.gauges.config import load_gauge_config
from teampulse.gauges.model import OrgSnapshot
from teampulse.reference import reference_snapshot
from teampulse.settings import Settings
from tests.integration.worker_harness import Samples


def reference_for(
    raw_events: list[dict[str, Any]],
    raw_roster: list[dict[str, Any]],
    settings: Settings,
    as_of: float,
    erased: AbstractSet[str] = frozenset(),
) -> OrgSnapshot:
    """The reference model over what the worker will accept, in the order it arrives, with
    the erased people (pseudonyms) left out."""
    pseudonymiser = Pseudonymiser(settings.pseudonym_secret)
    roster = Roster()
    for record in raw_roster:
        entry = parse_roster_record(record["person"].encode(), orjson.dumps(record), pseudonymiser)
        assert isinstance(entry, RosterEntry), entry
        roster.apply(entry)
    validator = EventValidator(settings, pseudonymiser)
    events = []
    for raw in raw_events:
        event = validator.validate(raw, as_of)
        if isinstance(event, Rejection):
            continue  # the dead-letter topic gets it, the gauges do not
        event = event.with_team(resolve_team(event.team, event.actor, roster))
        events.append(event)
    return reference_snapshot(events, roster, load_gauge_config(settings), as_of, erased)


def reference_series(expected: OrgSnapshot) -> Samples:
    """Every windowed and plain series the reference publishes, and the teams' rows of the
    interaction matrix, keyed as parse_metrics does."""
    series: Samples = {}
    for snapshot in [*expected.teams.values(), *expected.rollups]:
        base = {} if snapshot.scope == "org" else {snapshot.scope: snapshot.key}
        for window, gauges in snapshot.windowed.items():
            labels = tuple(sorted({**base, "window": window}.items()))
            for name, value in gauges.items():
                series[(f"teampulse_{snapshot.scope}_{name}", labels)] = value
        for name, value in snapshot.plain.items():
            series[(f"teampulse_{snapshot.scope}_{name}", tuple(sorted(base.items())))] = value
        for window, row in snapshot.interactions.items():
            for other, replies in row.items():
                labels = tuple(sorted({**base, "other_team": other, "window": window}.items()))
                series[("teampulse_team_interactions", labels)] = replies
    return series


def mismatches(expected: Samples, samples: Samples) -> list:
    """Series that are missing or differ (relative 1e-9: sums may add up in another order)."""
    return [
        (key, value, samples.get(key))
        for key, value in expected.items()
        if samples.get(key) is None or not math.isclose(samples[key], value, rel_tol=1e-9)
    ]


def published_teams(samples: Samples) -> set[str]:
    return {dict(labels)["team"] for name, labels in samples if name == "teampulse_team_info"}
