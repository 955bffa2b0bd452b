"""Serve the latest gauge snapshots as Prometheus metrics, built at scrape time.

The collector holds the snapshots this worker last published and turns them into metric
families only when Prometheus scrapes. Nothing is kept in `prometheus_client` Gauges: a
team whose partition moved to another worker, or that became suppressed, is absent from the
next publication and so vanishes from this worker's scrape (Prometheus marks its series
stale) instead of lingering with its last value.

Naming (docs/metrics.md):

    windowed gauge g of scope s   teampulse_{s}_{g}{s="key", window="7d"}
    plain gauge g of scope s      teampulse_{s}_{g}{s="key"}
    organisation                  teampulse_org_{g}{window="7d"}   (no scope label)
    team adoption                 teampulse_adoption_members{team, initiative, stage}
                                  teampulse_adoption_ratio{team, initiative}
                                  teampulse_adoption_index{team, initiative}
    roll-up adoption              teampulse_{s}_adoption_members{s, initiative, stage}, ...
    org path                      teampulse_{s}_info{s, department, division} 1
    drop signal of a team         teampulse_team_drop_signal{team, state} 1 (current) or 0
    team x team interactions      teampulse_team_interactions{team, other_team, window}
                                  (both teams published, longest window only: at most
                                  teams x (teams - 1) series, a team's partners in practice)

With tenants configured (docs/tenancy.md), every team and roll-up series carries a
`tenant` label first (`teampulse_team_x{tenant="acme", team="red", ...}`,
`teampulse_org_x{tenant="acme", window="7d"}`) and its scope keys are the names the tenant
knows; without tenants the series are exactly as above. A tenant with an `alert_route` in
the tenants file has it as a label of its teams' `teampulse_team_info`: the alert rules copy
it onto the team alerts (`group_left`), and Alertmanager routes by it.

An absent value (undefined ratio, median of nothing) yields no sample, never 0. No label
ever carries a person: labels are tenant, scope keys (and `other_team`), window,
initiative, stage and the org path.

Cardinality guard: a worker exports at most `max_teams` teams and `max_initiatives`
initiatives per publication. The excess (names sorted, the first N kept, so the choice is
deterministic and stable) is refused: counted once per name in
`teampulse_cardinality_refused_total{kind}`, shown as the current number in
`teampulse_cardinality_refused_keys{kind}`, and logged once per name.

Cost: a scrape runs in the worker's event loop. What a snapshot renders to is made once
and reused by later scrapes for as long as the same snapshot object stays published (the
exporter republishes unchanged teams' snapshots as they are), so published snapshots are
treated as immutable. Two renderings exist: `collect()` yields GaugeMetricFamily objects
for prometheus_client (any registry, `generate_latest`), and `metrics_page(registry)`
writes the gauges from text cached per snapshot and the rest of the registry through
prometheus_client. For 1,000 teams the second is an order of magnitude cheaper, because
`generate_latest` formats every sample anew at every scrape; serve /metrics with it.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from teampulse.contract.tenant_scope import split, tenant_of, unscoped
from teampulse.gauges import catalog
from teampulse.gauges.drop_signal import DROP_STATES
from teampulse.gauges.model import SCOPES, ScopeSnapshot
from teampulse.settings import Settings
from teampulse.sinks.sink import Publication

__all__ = ["GaugeCollector"]

log = logging.getLogger(__name__)

PREFIX = "teampulse"
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
# Only the org path may become labels of an info metric: a guard against anything
# person-shaped ever reaching a label through `ScopeSnapshot.info`.
INFO_LABELS = ("department", "division")
GUARD_KINDS = ("team", "initiative")
GAUGE_METRIC_NAMES = catalog.gauge_metric_names(SCOPES)

# Sample is a NamedTuple; building it through tuple.__new__ skips its Python-level __new__,
# the largest single cost of building a scrape.
_new_sample = tuple.__new__


@dataclass(frozen=True, slots=True)
class _Publication:
    """One atomic publication: collect() reads it with a single reference load."""

    snapshots: tuple[ScopeSnapshot, ...] = ()
    initiatives: frozenset[str] = frozenset()  # initiatives the guard lets through
    refused_teams: frozenset[str] = frozenset()
    refused_initiatives: frozenset[str] = frozenset()


@dataclass(slots=True)
class _Built:
    """What one published snapshot renders to, grouped by metric name, made when first
    needed and reused by every scrape while the same snapshot object stays published."""

    snapshot: ScopeSnapshot
    initiatives: frozenset[str]  # the guard's choice the rendering was made with
    samples: tuple[tuple[str, list[Sample]], ...] | None = None  # for collect()
    text: tuple[tuple[str, str], ...] | None = None  # for exposition()
    series: int = 0  # samples of the text, once made (a tenant's usage)
    routes: Mapping[str, str] | None = None  # the alert routes the rendering was made with


class _Fixed:
    """A ready list of metric families, in the shape generate_latest() reads."""

    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> list[Metric]:
        return self.metrics


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _label_text(labels: dict[str, str]) -> str:
    """`{team="alpha",window="7d"}` with exposition-format escaping; '' without labels."""
    if not labels:
        return ""
    return "{" + ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items()) + "}"


def _number(value: float) -> str:
    if value.__class__ is int:  # member counts
        return str(value)
    number = float(value)
    return repr(number) if math.isfinite(number) else floatToGoString(number)


class GaugeCollector(Collector):
    """Custom collector over the latest snapshots this worker published.

    `publish_teams` and `publish_rollups` swap one reference each, so a scrape running in
    another thread sees the old or the new publication, never a mix of both.
    """

    def __init__(
        self,
        settings: Settings,
        registry: CollectorRegistry | None = None,
        team_quota: Callable[[str], int | None] = lambda _tenant: None,
        series_quota: Callable[[str], int | None] = lambda _tenant: None,
    ) -> None:
        self.max_teams = settings.max_teams
        # A tenant's own limit on its teams (`max_teams` of the tenants file), within max_teams
        self.team_quota = team_quota
        # A tenant's own limit on its teams' series (`max_series`).
        self.series_quota = series_quota
        # tenant -> teams over its max_teams or max_series right now
        self.refused_by_quota: dict[str, int] = {}
        # tenant -> its `alert_route`, on its teams' info series. Replaced, never changed in
        # place: a new mapping has every team rendered again at the next scrape.
        self.alert_routes: Mapping[str, str] = {}
        # id(snapshot) -> (snapshot, its series): counted once per published snapshot
        self._series_counted: dict[int, tuple[ScopeSnapshot, int]] = {}
        self.max_initiatives = settings.max_initiatives
        self._teams = _Publication()
        self._rollups = _Publication()
        self._refused_ever: dict[str, set[str]] = {kind: set() for kind in GUARD_KINDS}
        self._built: dict[int, _Built] = {}  # id(snapshot) -> its renderings, last scrape's
        self._rendering = threading.local()  # set while metrics_page() runs in this thread
        self._help: dict[str, str] = {}  # metric name -> help text
        # scope -> gauge -> metric name ('' when the gauge cannot be named)
        self._names: dict[str, dict[str, str]] = {}
        if registry is not None:
            registry.register(self)

    # --- publishing: called by the exporter at every export tick --------------------------
    def publish(self, publication: Publication) -> None:
        """The Sink contract: serve exactly the publication's teams and roll-ups."""
        self.publish_teams(publication.teams)
        self.publish_rollups(publication.rollups)

    def publish_teams(self, snapshots: Mapping[str, ScopeSnapshot]) -> None:
        """Replace the set of teams this worker exports (the teams of its active partitions)."""
        names = sorted(snapshots)
        over_quota = self._over_tenant_quota(names)
        if over_quota:
            names = [name for name in names if name not in over_quota]
        over_series = self._over_series_quota(names, snapshots)
        if over_series:
            names = [name for name in names if name not in over_series]
            over_quota |= over_series
        kept, refused = names[: self.max_teams], names[self.max_teams :]
        self._note_refused("team", refused)
        refused += sorted(over_quota)
        self._teams = self._guarded(self._teams, [snapshots[name] for name in kept], refused)

    def _over_tenant_quota(self, names: list[str]) -> set[str]:
        """Teams beyond their tenant's `max_teams` (names sorted: the first ones are kept, so
        the choice is stable), logged once per team."""
        counted: dict[str, int] = {}
        over: set[str] = set()
        for name in names:
            tenant = tenant_of(name)
            if tenant is None:
                continue
            quota = self.team_quota(tenant)
            seen = counted[tenant] = counted.get(tenant, 0) + 1
            if quota is not None and seen > quota:
                over.add(name)
                self._log_refused_by_quota(name, tenant, "max_teams", quota)
        refused: dict[str, int] = {}
        for name in over:
            tenant = tenant_of(name) or ""
            refused[tenant] = refused.get(tenant, 0) + 1
        self.refused_by_quota = refused
        return over

    def _log_refused_by_quota(self, name: str, tenant: str, setting: str, quota: int) -> None:
        """Once per team: which of the tenant's quotas keeps it off /metrics."""
        if name in self._refused_ever["team"]:
            return
        self._refused_ever["team"].add(name)
        log.warning(
            "tenant=%s team %r is not exported to Prometheus: the tenant's %s (%d) is reached "
            "(raise it in the tenants file)",
            tenant,
            unscoped(name),
            setting,
            quota,
        )

    def _over_series_quota(
        self, names: list[str], snapshots: Mapping[str, ScopeSnapshot]
    ) -> set[str]:
        """Teams beyond their tenant's `max_series`: its teams in name order are kept while
        their series fit, and from the first that does not, the rest are refused (a stable
        choice: which teams are exported does not flicker with their sizes)."""
        used: dict[str, int] = {}
        full: set[str] = set()
        over: set[str] = set()
        counted: dict[int, tuple[ScopeSnapshot, int]] = {}
        for name in names:
            tenant = tenant_of(name)
            if tenant is None:
                continue
            quota = self.series_quota(tenant)
            if quota is None:
                continue
            snapshot = snapshots[name]
            known = self._series_counted.get(id(snapshot))
            if known is None or known[0] is not snapshot:
                entry = _Built(snapshot, self._teams.initiatives)
                known = (snapshot, sum(1 for _ in self._points(entry)))
            counted[id(snapshot)] = known
            if tenant not in full and used.get(tenant, 0) + known[1] <= quota:
                used[tenant] = used.get(tenant, 0) + known[1]
                continue
            full.add(tenant)
            over.add(name)
            self._log_refused_by_quota(name, tenant, "max_series", quota)
        self._series_counted = counted
        for name in over:
            tenant = tenant_of(name) or ""
            self.refused_by_quota[tenant] = self.refused_by_quota.get(tenant, 0) + 1
        return over

    def usage(self) -> dict[str, tuple[int, int]]:
        """tenant -> (teams published, series exported) on this worker, as of the last
        scrape's rendering (what billing and the series quota read)."""
        teams: dict[str, int] = {}
        for snapshot in self._teams.snapshots:
            tenant = tenant_of(snapshot.key)
            if tenant is not None:
                teams[tenant] = teams.get(tenant, 0) + 1
        series: dict[str, int] = {}
        for entry in self._built.values():
            tenant = tenant_of(entry.snapshot.key)
            if tenant is not None:
                series[tenant] = series.get(tenant, 0) + entry.series
        return {t: (teams.get(t, 0), series.get(t, 0)) for t in teams.keys() | series.keys()}

    def publish_rollups(self, snapshots: Iterable[ScopeSnapshot] | None) -> None:
        """Replace the department/division/org snapshots; None when this worker no longer
        owns the roll-ups."""
        if snapshots is None:
            self._rollups = _Publication()
        else:
            self._rollups = self._guarded(self._rollups, snapshots, [])

    def _guarded(
        self, previous: _Publication, snapshots: Iterable[ScopeSnapshot], refused_teams: list[str]
    ) -> _Publication:
        chosen = tuple(snapshots)
        names: set[str] = set()
        for snapshot in chosen:
            names.update(snapshot.initiatives)
        ordered = sorted(names)
        allowed, refused = ordered[: self.max_initiatives], ordered[self.max_initiatives :]
        self._note_refused("initiative", refused)
        initiatives = frozenset(allowed)
        if initiatives == previous.initiatives:
            initiatives = previous.initiatives  # same object: built samples stay reusable
        return _Publication(chosen, initiatives, frozenset(refused_teams), frozenset(refused))

    def _note_refused(self, kind: str, names: list[str]) -> None:
        seen = self._refused_ever[kind]
        limit = self.max_teams if kind == "team" else self.max_initiatives
        for name in names:
            if name not in seen:
                seen.add(name)
                tenant, plain = split(name)
                log.warning(
                    "cardinality guard: %s%s %r is not exported to Prometheus: more than %d "
                    "%ss on this worker (TEAMPULSE_MAX_%sS raises the limit)",
                    "" if tenant is None else f"tenant={tenant} ",
                    kind,
                    plain,
                    limit,
                    kind,
                    kind.upper(),
                )

    # --- scrape -----------------------------------------------------------------------
    def collect(self) -> Iterator[Metric]:
        if getattr(self._rendering, "active", False):
            return  # metrics_page() renders the gauges itself, from cached text
        teams, rollups = self._teams, self._rollups  # one read each: a consistent view
        families: dict[str, GaugeMetricFamily] = {}
        for entry in self._entries(teams, rollups):
            if entry.samples is None:
                entry.samples = self._samples(entry)
            for name, samples in entry.samples:
                family = families.get(name)
                if family is None:
                    family = families[name] = GaugeMetricFamily(name, self._help[name])
                family.samples.extend(samples)
        yield from families.values()
        yield from self._guard_families(teams, rollups)

    def exposition(self, names: Collection[str] | None = None) -> bytes:
        """The gauges in the Prometheus text format (0.0.4), from text cached per snapshot;
        only the metrics in `names` (family or sample names) when given.

        Same series as collect() + generate_latest, at a fraction of the cost: an unchanged
        snapshot costs a string join, and cached text (unlike Sample objects) gives the
        garbage collector nothing to traverse."""
        teams, rollups = self._teams, self._rollups
        blocks: dict[str, list[str]] = {}
        # A poller asking for a few counters must not cost the text of every team's series.
        wanted = names is None or not GAUGE_METRIC_NAMES.isdisjoint(names)
        for entry in self._entries(teams, rollups) if wanted else ():
            if entry.text is None:
                entry.text = self._text(entry)
            for name, block in entry.text:
                if names is not None and name not in names:
                    continue
                parts = blocks.get(name)
                if parts is None:
                    help_text = self._help[name].replace("\\", r"\\").replace("\n", r"\n")
                    parts = blocks[name] = [f"# HELP {name} {help_text}\n# TYPE {name} gauge\n"]
                parts.append(block)
        page = "".join(part for parts in blocks.values() for part in parts).encode()
        guards = [
            family
            for family in self._guard_families(teams, rollups)
            if names is None or _named(family, names)
        ]
        return page + generate_latest(_Fixed(guards))

    def metrics_page(
        self, registry: CollectorRegistry, names: Collection[str] | None = None
    ) -> bytes:
        """The /metrics body: the gauges from `exposition()`, every other collector of
        `registry` (pipeline health, Faust's sensors) through prometheus_client. The gauges
        are left out of the registry's pass even when this collector is registered in it.

        `names` keeps only those metrics, as prometheus_client's `name[]` parameter does: a
        poller that needs a few counters (a benchmark, a readiness script) then does not
        make the worker render every team's series."""
        self._rendering.active = True  # per thread: a concurrent collect() still works
        try:
            if names is None:
                others = generate_latest(registry)
            else:  # not restricted_registry: it skips collectors without describe()
                kept = [family for family in registry.collect() if _named(family, names)]
                others = generate_latest(_Fixed(kept))
        finally:
            self._rendering.active = False
        return self.exposition(names) + others

    def _entries(self, teams: _Publication, rollups: _Publication) -> Iterator[_Built]:
        """The cache entry of every published snapshot; forgets the unpublished ones."""
        previous, current = self._built, {}
        routes = self.alert_routes
        for publication in (teams, rollups):
            for snapshot in publication.snapshots:
                entry = previous.get(id(snapshot))
                if (
                    entry is None
                    or entry.snapshot is not snapshot
                    or entry.initiatives is not publication.initiatives
                    or entry.routes is not routes
                ):
                    entry = _Built(snapshot, publication.initiatives, routes=routes)
                current[id(snapshot)] = entry
                yield entry
        self._built = current

    def _samples(self, entry: _Built) -> tuple[tuple[str, list[Sample]], ...]:
        by_name: dict[str, list[Sample]] = {}
        # Label dicts are shared by the samples of a window: exposition only reads them.
        for name, labels, _text, value in self._points(entry):
            samples = by_name.get(name)
            if samples is None:
                samples = by_name[name] = []
            samples.append(_new_sample(Sample, (name, labels, value, None, None, None)))
        return tuple(by_name.items())

    def _text(self, entry: _Built) -> tuple[tuple[str, str], ...]:
        by_name: dict[str, list[str]] = {}
        for name, _labels, text, value in self._points(entry):
            lines = by_name.get(name)
            if lines is None:
                lines = by_name[name] = []
            lines.append(f"{name}{text} {_number(value)}\n")
        entry.series = sum(len(lines) for lines in by_name.values())
        return tuple((name, "".join(lines)) for name, lines in by_name.items())

    def _points(self, entry: _Built) -> Iterator[tuple[str, dict[str, str], str, float]]:
        """(metric name, labels, labels as exposition text, value) of every sample of a
        snapshot, by the naming rules of the module docstring."""
        snapshot, allowed_initiatives = entry.snapshot, entry.initiatives
        scope = snapshot.scope
        tenant, key = split(snapshot.key)
        # A tenant's series carry its id first; without tenants they are what they were.
        base: dict[str, str] = {} if tenant is None else {"tenant": tenant}
        if scope != "org":
            base[scope] = key
        names = self._names.setdefault(scope, {})
        for window, gauges in snapshot.windowed.items():
            labels = {**base, "window": window}
            text = _label_text(labels)
            for gauge, value in gauges.items():
                name = names.get(gauge)
                if name is None:
                    name = self._gauge_name(scope, gauge)
                if name and value is not None:
                    yield name, labels, text, value
        text = _label_text(base)
        for gauge, value in snapshot.plain.items():
            name = names.get(gauge)
            if name is None:
                name = self._gauge_name(scope, gauge)
            if name and value is not None:
                yield name, base, text, value
        if snapshot.initiatives:
            members, ratio, index = (self._adoption_name(scope, g.name) for g in catalog.ADOPTION)
            for initiative, adoption in snapshot.initiatives.items():
                if initiative not in allowed_initiatives:
                    continue
                labels = {**base, "initiative": initiative}
                for stage, count in adoption.stage_members.items():
                    staged = {**labels, "stage": stage}
                    yield members, staged, _label_text(staged), count
                text = _label_text(labels)
                if adoption.ratio is not None:
                    yield ratio, labels, text, adoption.ratio
                if adoption.index is not None:
                    yield index, labels, text, adoption.index
        if snapshot.info and scope != "org":
            name = catalog.info_metric_name(scope)
            self._help.setdefault(name, catalog.info_help(scope))
            labels = dict(base)
            for label in INFO_LABELS:
                if label != scope and label in snapshot.info:
                    labels[label] = unscoped(snapshot.info[label])
            route = entry.routes.get(tenant) if entry.routes and tenant is not None else None
            if route is not None:
                labels["alert_route"] = route
            yield name, labels, _label_text(labels), 1.0
        if snapshot.drop_signal is not None and scope == "team":
            name = catalog.DROP_SIGNAL_METRIC
            self._help.setdefault(name, catalog.DROP_SIGNAL_HELP)
            for state in DROP_STATES:
                labels = {**base, "state": state}
                yield name, labels, _label_text(labels), float(state == snapshot.drop_signal)
        if snapshot.interactions and scope == "team":
            name = catalog.INTERACTIONS_METRIC
            self._help.setdefault(name, catalog.INTERACTIONS_HELP)
            for window, row in snapshot.interactions.items():
                for other, count in row.items():
                    labels = {**base, "other_team": unscoped(other), "window": window}
                    yield name, labels, _label_text(labels), float(count)

    def _gauge_name(self, scope: str, gauge: str) -> str:
        """Metric name of a gauge ('' when it cannot be exported), computed once."""
        name = catalog.metric_name(scope, gauge)
        if METRIC_NAME.match(name):
            self._help[name] = catalog.help_text(gauge)
        else:
            log.error("gauge %r has no valid Prometheus name (%r); it is not exported", gauge, name)
            name = ""
        self._names.setdefault(scope, {})[gauge] = name
        return name

    def _adoption_name(self, scope: str, what: str) -> str:
        name = catalog.adoption_metric_name(scope, what)
        self._help.setdefault(name, catalog.ADOPTION_BY_NAME[what].help)
        return name

    def _guard_families(self, teams: _Publication, rollups: _Publication) -> Iterator[Metric]:
        total = CounterMetricFamily(
            f"{PREFIX}_cardinality_refused",
            "Distinct teams/initiatives refused by the cardinality guard since the worker started.",
            labels=["kind"],
        )
        current = GaugeMetricFamily(
            f"{PREFIX}_cardinality_refused_keys",
            "Teams/initiatives not exported right now because of the cardinality guard.",
            labels=["kind"],
        )
        refused_now = {
            "team": len(teams.refused_teams),
            "initiative": len(teams.refused_initiatives | rollups.refused_initiatives),
        }
        for kind in GUARD_KINDS:
            total.add_metric([kind], len(self._refused_ever[kind]))
            current.add_metric([kind], refused_now[kind])
        yield total
        yield current


def _named(family: Metric, names: Collection[str]) -> bool:
    return family.name in names or any(sample.name in names for sample in family.samples)
