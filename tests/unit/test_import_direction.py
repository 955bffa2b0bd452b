"""Data flows one way: each folder of `teampulse` imports only the folders before it.

The table is the architecture (docs/architecture.md): the pure core first, then the I/O
edges in the order records flow through them, then the composition roots. A module may
import its own folder and anything its folder's row names; the pure core may import no I/O
library at all. Imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "teampulse"

CORE = {
    "settings",
    "contract",
    "connectors",
    "enrichment",
    "gauges",
    "tenancy",
    "reference",
    "simulation",
}
ALLOWED: dict[str, set[str]] = {
    # the pure core
    "settings": set(),
    "contract": {"settings"},
    "connectors": {"settings", "contract"},
    "enrichment": {"settings", "contract"},
    "gauges": {"settings", "contract", "enrichment"},
    "tenancy": {"settings", "contract", "gauges"},
    "reference": {"settings", "contract", "enrichment", "gauges"},
    "simulation": {"settings", "contract", "enrichment", "gauges"},
    # the I/O edges, in the order records flow
    "kafka": CORE,
    # the stream-processing runtime: nothing of the product's meaning
    "engine": {"settings", "kafka"},
    "ingest": CORE | {"kafka", "engine"},
    "streams": CORE | {"kafka", "engine"},
    "sinks": CORE | {"kafka", "engine", "streams"},
    # what reads the published figures back: the L&D web app, notifications, the digest
    "web": CORE | {"sinks"},
    "notify": CORE | {"sinks", "web"},
    "digest": CORE | {"sinks", "web", "notify"},
    # the composition roots
    "ops": CORE | {"kafka", "engine", "ingest", "streams", "sinks", "web"},
    "worker": CORE | {"kafka", "engine", "ingest", "streams", "sinks", "shell"},
    "shell": {"settings"},
    "cli": CORE
    | {"kafka", "engine", "ingest", "streams", "sinks", "web", "notify", "digest", "ops", "worker"},
}
IO_LIBRARIES = {"faust", "mode", "aiokafka", "redis", "aiohttp", "prometheus_client"}
# I/O libraries an edge may not import although its row allows I/O: the stream stages leave
# reading, committing and producing to the engine.
FORBIDDEN_LIBRARIES: dict[str, set[str]] = {"streams": {"aiokafka"}}


def folder_of(module: str) -> str | None:
    """'teampulse.gauges.snapshot' -> 'gauges'; None outside the package."""
    parts = module.split(".")
    if parts[0] != "teampulse":
        return None
    return parts[1] if len(parts) > 1 else "teampulse"


def imported_modules(source: str) -> list[str]:
    modules = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.append(node.module)
        elif isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
    return modules


def violations(folder: str, source: str) -> list[str]:
    """The imports of one module of `folder` that break the table."""
    found = []
    for module in imported_modules(source):
        target = folder_of(module)
        if target is None:
            library = module.split(".")[0]
            if folder in CORE and library in IO_LIBRARIES:
                found.append(f"the pure core imports the I/O library {module}")
            elif library in FORBIDDEN_LIBRARIES.get(folder, ()):
                found.append(f"{folder} imports {module} (the engine's library)")
        elif target not in (folder, "teampulse") and target not in ALLOWED[folder]:
            why = "the product's meaning" if target in CORE else "a later stage"
            found.append(f"{folder} imports {module} ({why})")
    return found


def package_modules() -> list[tuple[str, Path]]:
    modules = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        folder = relative.parts[0].removesuffix(".py")
        if folder != "__init__":
            modules.append((folder, path))
    return modules


def test_every_folder_of_the_package_has_a_row_in_the_table() -> None:
    assert {folder for folder, _ in package_modules()} == set(ALLOWED)


@pytest.mark.parametrize(
    "folder, path",
    package_modules(),
    ids=lambda v: str(v.relative_to(PACKAGE)) if isinstance(v, Path) else v,
)
def test_no_module_imports_a_later_stage(folder: str, path: Path) -> None:
    assert violations(folder, path.read_text()) == []


def test_an_import_of_a_later_stage_is_caught() -> None:
    source = "from teampulse.sinks.exporter import Exporter\n"
    assert violations("streams", source) == [
        "streams imports teampulse.sinks.exporter (a later stage)"
    ]


def test_a_lazy_import_inside_a_function_is_caught() -> None:
    source = "def run():\n    from teampulse.worker import run_worker\n"
    assert violations("ingest", source) == ["ingest imports teampulse.worker (a later stage)"]


def test_the_engine_importing_the_products_meaning_is_caught() -> None:
    source = "from teampulse.gauges.counts import TeamCounts\nimport teampulse.contract.event\n"
    assert violations("engine", source) == [
        "engine imports teampulse.gauges.counts (the product's meaning)",
        "engine imports teampulse.contract.event (the product's meaning)",
    ]


def test_a_kafka_client_in_the_stream_stages_is_caught() -> None:
    assert violations("streams", "from aiokafka.structs import ConsumerRecord\n") == [
        "streams imports aiokafka.structs (the engine's library)"
    ]


# The Faust application shell (the App, the worker command and its lifecycle, the timers and
# the web views): the only modules that import Faust. The read API's roll-up routes are web
# views of the worker, mounted on the App beside the team routes.
FAUST_SHELL = {"shell.py", "worker.py", "sinks/read_api.py"}


def imports_faust(source: str) -> bool:
    return any(module.split(".")[0] == "faust" for module in imported_modules(source))


def test_only_the_application_shell_imports_faust() -> None:
    importing = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if imports_faust(path.read_text())
    }
    assert importing == FAUST_SHELL


def test_an_import_of_faust_anywhere_is_seen() -> None:
    assert imports_faust("def view():\n    from faust.web import View\n")
    assert not imports_faust("from mode import Service\n")


def test_an_io_library_in_the_pure_core_is_caught() -> None:
    assert violations("gauges", "import redis.asyncio\n") == [
        "the pure core imports the I/O library redis.asyncio"
    ]


def module_name(path: Path) -> str:
    """teampulse/ingest/http.py -> 'teampulse.ingest.http'; a package's __init__ -> its name."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def package_imports(source: str) -> set[str]:
    """The modules of the package that `source` imports, wherever the import is (inside a
    function, under TYPE_CHECKING): `from teampulse.ingest import slack` imports the module
    teampulse.ingest.slack."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found & MODULES.keys()


def import_circle(graph: dict[str, set[str]]) -> list[str]:
    """One circle of imports in `graph` (module -> the modules it imports), as the path that
    comes back to its start, or [] when there is none."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str]:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return []
        for imported in sorted(graph.get(module, ())):
            circle = visit(imported, [*path, module])
            if circle:
                return circle
        done.add(module)
        return []

    for module in sorted(graph):
        circle = visit(module, [])
        if circle:
            return circle
    return []


def test_no_module_imports_itself_through_others() -> None:
    graph = {name: package_imports(path.read_text()) - {name} for name, path in MODULES.items()}
    assert import_circle(graph) == []


def test_an_import_circle_is_caught() -> None:
    graph = {
        "teampulse.ingest.http": {"teampulse.ingest.connectors"},
        "teampulse.ingest.connectors": {"teampulse.ingest.slack"},
        "teampulse.ingest.slack": {"teampulse.ingest.connectors"},
    }
    assert import_circle(graph) == [
        "teampulse.ingest.connectors",
        "teampulse.ingest.slack",
        "teampulse.ingest.connectors",
    ]


def test_an_import_of_a_module_named_in_from_import_is_an_import_of_that_module() -> None:
    source = "def mount():\n    from teampulse.ingest import slack, connectors\n"
    assert package_imports(source) == {"teampulse.ingest.slack", "teampulse.ingest.connectors"}
