"""The Faust application shell: the App the worker command runs, with no Kafka client of its own.

Faust gives TeamPulse its application: the worker command and its signals, the services'
lifecycle (the engine's batch loop is a dependency of the App), the web server and its views,
the timers and the start-up tasks. Every record is read and written by the engine
(`teampulse.engine`): Faust starts no consumer, no producer, no topic conductor and no table
manager (`enable_kafka = False`), so the worker is one member of one consumer group,
`<app id>.hot`. docs/architecture.md ("What Faust does, and what the engine does") says why.
"""

from __future__ import annotations

import faust
from faust.app.base import BootStrategy

from teampulse.settings import Settings

__all__ = ["ShellApp", "build_app"]


class _NoKafkaBoot(BootStrategy):
    # Faust's consumer, conductor and table manager are started together or not at all (the
    # conductor and the table manager crash with ConsumerNotStarted without the consumer),
    # and the App's tasks, timers and web views wait for the table manager's recovery, which
    # only a rebalance of Faust's own group completes.
    enable_kafka = False


class ShellApp(faust.App):
    BootStrategy = _NoKafkaBoot


def build_app(settings: Settings) -> faust.App:
    return ShellApp(
        settings.app_id,
        store="memory://",
        datadir=str(settings.data_dir),
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        canonical_url=f"http://{settings.web_host}:{settings.web_port}",
        web_in_thread=False,
        # Faust's /router pages route Faust tables, of which TeamPulse has none (its read API
        # routes teams itself); left on they list every worker's URL to anyone and answer
        # 500 for an unknown table name.
        web_router_enabled=False,
    )
