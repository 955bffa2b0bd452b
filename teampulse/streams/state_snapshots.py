"""How the stages' partition states are written into snapshots and read back.

A snapshot is the state's object graph as pickle writes it (the engine moves the bytes; see
`teampulse.engine.snapshots`). The gauge configuration is not copied into it: it is written
as a reference and the running worker's configuration takes its place when a snapshot is
loaded, so a change of weights or thresholds applies at once to restored state.

What a snapshot cannot survive is a change of the state's shape: another bucket width,
lateness, window set, retention or initiative list (counted and bucketed differently), or a
release whose state classes changed (`SNAPSHOT_FORMAT`, raised by such a release). Such a
snapshot is refused with the reason, and the state log is replayed instead.

Snapshots are written by this worker to an internal topic only this application reads: the
same trust as the state log it replaces.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from typing import Any

from teampulse.engine.state_store import IncompatibleSnapshot
from teampulse.gauges.config import GaugeConfig
from teampulse.streams.partitions import TeamPartition, ThreadPartition

__all__ = ["SNAPSHOT_FORMAT", "dump_teams", "dump_threads", "load_teams", "load_threads"]

# Raised by a release that changes the classes a snapshot holds (TeamState, ThreadBook and
# what they contain): older snapshots are then refused instead of misread.
SNAPSHOT_FORMAT = 5
PICKLE_PROTOCOL = 5


def _shape(config: GaugeConfig) -> tuple[Any, ...]:
    """What decides how the state is laid out (a change makes old state meaningless)."""
    return (
        config.bucket_s,
        config.lateness_s,
        sorted(config.windows.items()),
        config.retention_s,
        config.baseline_every_s,
        config.initiatives,
    )


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, config: GaugeConfig) -> None:
        super().__init__(file, protocol=PICKLE_PROTOCOL)
        self._shared = {id(config): "config", id(config.initiatives): "initiatives"}

    def persistent_id(self, obj: Any) -> str | None:  # noqa: ANN401 - pickle's signature
        return self._shared.get(id(obj))


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, config: GaugeConfig) -> None:
        super().__init__(file)
        self._shared = {"config": config, "initiatives": config.initiatives}

    def persistent_load(self, pid: Any) -> Any:  # noqa: ANN401 - pickle's signature
        if pid not in self._shared:
            raise pickle.UnpicklingError(f"unknown shared object {pid!r}")
        return self._shared[pid]


def _dump(config: GaugeConfig, state: object) -> bytes:
    out = io.BytesIO()
    pickle.dump((SNAPSHOT_FORMAT, _shape(config)), out, protocol=PICKLE_PROTOCOL)
    _Pickler(out, config).dump(state)
    return out.getvalue()


def _load(config: GaugeConfig, data: bytes) -> Any:  # noqa: ANN401 - checked by the callers
    source = io.BytesIO(data)
    try:
        version, shape = pickle.load(source)
    except Exception as exc:  # noqa: BLE001 - any failure means "not ours to read"
        raise IncompatibleSnapshot(f"unreadable snapshot header: {exc!r}") from None
    if version != SNAPSHOT_FORMAT:
        raise IncompatibleSnapshot(
            f"snapshot format {version}, this release reads {SNAPSHOT_FORMAT}"
        )
    if shape != _shape(config):
        raise IncompatibleSnapshot(
            "taken under another bucket width, lateness, window set, retention or initiatives"
        )
    try:
        return _Unpickler(source, config).load()
    except Exception as exc:  # noqa: BLE001
        raise IncompatibleSnapshot(f"unreadable snapshot: {exc!r}") from None


def dump_teams(config: GaugeConfig) -> Callable[[TeamPartition], bytes]:
    return lambda partition: _dump(config, partition.teams)


def load_teams(config: GaugeConfig) -> Callable[[int, bytes], TeamPartition]:
    def load(_partition: int, data: bytes) -> TeamPartition:
        teams = _load(config, data)
        if not isinstance(teams, dict):
            raise IncompatibleSnapshot(f"a teams snapshot holding {type(teams).__name__}")
        # Every team restored is published again, as after a replay.
        return TeamPartition(config, teams, changed=set(teams))

    return load


def dump_threads(config: GaugeConfig) -> Callable[[ThreadPartition], bytes]:
    return lambda partition: _dump(config, partition)


def load_threads(config: GaugeConfig) -> Callable[[int, bytes], ThreadPartition]:
    def load(_partition: int, data: bytes) -> ThreadPartition:
        threads = _load(config, data)
        if not isinstance(threads, ThreadPartition):
            raise IncompatibleSnapshot(f"a threads snapshot holding {type(threads).__name__}")
        return threads

    return load
