"""How `make test` splits the suite over two processes (pytest-xdist, `--dist loadscope`).

Each test module is one unit of work, so its module fixtures (workers, servers) start once.
The modules below are one unit together, run in file order in one process:
- the modules that share a session fixture costing minutes, whose runs carry on between
  tests in the background (the scenario runs, the connector stack), so it starts once;
- the module that stops the broker, so that it comes after the scenario runs' readers, as in
  a one-process run, and no scenario is mid-run in this process when the broker goes away
  (the other process's modules wait for it: `broker_in_use` in conftest.py).
The scheduler sees only test ids, so the list is written out; the collection checks it.
"""

from __future__ import annotations

import pytest
from xdist.scheduler import LoadScopeScheduling

SHARED_SESSION_FIXTURES = ("team_drops_run", "steady_run", "connector_stack")
SESSION_RUNS = "session-runs"
SESSION_RUN_MODULES = frozenset(
    {
        "test_alerts_end_to_end.py",
        "test_board_queries.py",
        "test_broker_outage.py",
        "test_connector_caliper.py",
        "test_connector_discourse.py",
        "test_connector_msteams.py",
        "test_connector_privacy.py",
        "test_connector_robustness.py",
        "test_connector_slack.py",
        "test_msteams_subscribe.py",
    }
)


class ModuleGroupScheduling(LoadScopeScheduling):
    def _split_scope(self, nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        return SESSION_RUNS if module.rsplit("/", 1)[-1] in SESSION_RUN_MODULES else module


def check_session_run_modules(items: list[pytest.Item]) -> None:
    """Every module that needs to be in SESSION_RUN_MODULES is, or the run stops here."""
    needed = {
        item.path.name
        for item in items
        if item.get_closest_marker("stops_the_broker")
        or any(name in getattr(item, "fixturenames", ()) for name in SHARED_SESSION_FIXTURES)
    }
    if missing := sorted(needed - SESSION_RUN_MODULES):
        raise pytest.UsageError(
            f"{', '.join(missing)} use a shared session run or stop the broker: add them to "
            "SESSION_RUN_MODULES in tests/integration/process_groups.py"
        )
