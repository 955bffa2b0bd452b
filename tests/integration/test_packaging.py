"""A plain, non-editable install works outside the checkout: one top-level package, the
shipped configuration found as package data, and `teampulse replay` computing gauges."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support import scripted_week as week

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the built wheel, the folder it was installed into), both outside the checkout."""
    work = tmp_path_factory.mktemp("install")
    # Built from a copy: setuptools writes build/ beside the sources it builds.
    source = work / "source"
    shutil.copytree(REPO / "teampulse", source / "teampulse",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(work / "dist"), str(source)],
        check=True, cwd=work, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    (wheel,) = (work / "dist").glob("teampulse-*.whl")
    target = work / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)],
        check=True, cwd=work, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return wheel, target


def top_level_packages(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        names = {name.split("/")[0] for name in archive.namelist()}
    return {name for name in names if not name.endswith((".dist-info", ".data"))}


def run_installed(target: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # The dependencies come from this interpreter's site-packages; PYTHONPATH does not run
    # their .pth files, so the checkout's editable install cannot shadow the installed copy.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(target), *site.getsitepackages()]),
        "PYTHONSAFEPATH": "1",
    }
    env = {k: v for k, v in env.items() if not k.startswith("TEAMPULSE_")}
    return subprocess.run(
        [sys.executable, "-c", "from teampulse.cli import main; main()", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_the_wheel_installs_exactly_one_top_level_package(installed) -> None:
    wheel, _ = installed
    assert top_level_packages(wheel) == {"teampulse"}


def test_the_wheel_carries_the_shipped_configuration(installed) -> None:
    _, target = installed
    shipped = sorted(p.name for p in (target / "teampulse" / "config").glob("*.yaml"))
    assert shipped == ["connectors.yaml", "initiatives.yaml", "scoring.yaml", "xapi-verbs.yaml"]


def test_the_wheel_carries_the_read_api_description(installed) -> None:
    _, target = installed
    assert (target / "teampulse" / "sinks" / "openapi.yaml").is_file()


def test_the_wheel_carries_the_runbooks_the_web_app_serves(installed) -> None:
    _, target = installed
    packaged = target / "teampulse" / "web" / "operations.md"
    assert not packaged.is_symlink()  # the link in the checkout is shipped as the file
    assert packaged.read_text() == (REPO / "docs" / "operations.md").read_text()


def test_replay_works_from_a_folder_outside_the_checkout(installed, tmp_path: Path) -> None:
    _, target = installed
    (tmp_path / "events.ndjson").write_text(
        "\n".join(json.dumps(e) for e in week.scripted_events()) + "\n"
    )
    (tmp_path / "roster.json").write_text(json.dumps(week.roster_records()))

    done = run_installed(
        target, tmp_path, "replay", "events.ndjson", "--roster", "roster.json",
        "--as-of", week.AS_OF, "--output", "gauges.json",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    gauges = json.loads((tmp_path / "gauges.json").read_text())
    assert gauges["teams"]["atlas"]["windowed"]["7d"]["participation_ratio"] == 1.0
    assert gauges["teams"]["borealis"]["windowed"]["7d"]["participation_ratio"] == 0.4


def test_the_installed_copy_is_the_one_that_runs(installed, tmp_path: Path) -> None:
    _, target = installed
    env_probe = run_installed(target, tmp_path, "--help")
    assert env_probe.returncode == 0, env_probe.stderr
    where = subprocess.run(
        [sys.executable, "-c", "import teampulse, sys; sys.stdout.write(teampulse.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(target), *site.getsitepackages()]),
             "PYTHONSAFEPATH": "1"},
    )  # fmt: skip
    assert Path(where.stdout).is_relative_to(target)
