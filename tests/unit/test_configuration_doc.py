"""docs/configuration.md lists every variable anything in the repository reads, as it reads it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from teampulse.settings import Settings, settings_reference

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "configuration.md"
STACK_LIB = REPO / "deploy" / "stack" / "lib.sh"
# `#   TEAMPULSE_NAME    meaning (default: value)` in lib.sh's header
STACK_KNOB = re.compile(r"^#   (TEAMPULSE_[A-Z_]+) +(.+) \(default: (.+)\)$", re.MULTILINE)
VARIABLE = re.compile(r"\bTEAMPULSE_[A-Z0-9_]*[A-Z0-9]\b")
SETTINGS = {f"TEAMPULSE_{name.upper()}" for name in Settings.model_fields}


def stack_reference() -> str:
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, meaning, default in STACK_KNOB.findall(STACK_LIB.read_text()):
        rows.append(f"| `{name}` | `{default}` | {meaning} |")
    return "\n".join(rows)


def _read_by_the_product() -> set[str]:
    """Every TEAMPULSE_* name in the tracked files outside tests/ (plus the suite's conftest)."""
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    names: set[str] = set()
    for name in tracked:
        if name.startswith("tests/") and name != "tests/conftest.py":
            continue
        path = REPO / name
        if path.suffix in {".py", ".sh", ".md", ".yml", ".yaml", ".toml", ""} and path.is_file():
            names |= set(VARIABLE.findall(path.read_text(errors="replace")))
    return names


def test_the_settings_table_is_the_settings_object() -> None:
    assert settings_reference() in DOC.read_text()


def test_the_stack_table_is_the_list_in_lib_sh() -> None:
    assert stack_reference() in DOC.read_text()


def test_every_variable_the_stack_scripts_read_is_in_lib_sh_list() -> None:
    listed = {name for name, _, _ in STACK_KNOB.findall(STACK_LIB.read_text())}
    scripts = "".join(p.read_text() for p in STACK_LIB.parent.glob("*.sh"))
    read = set(re.findall(r"\$\{(TEAMPULSE_[A-Z_]+)", scripts))
    assert read - SETTINGS - listed == set()
    assert {"TEAMPULSE_WORKER_TARGETS", "TEAMPULSE_KAFKA_HEAP_OPTS"} <= listed


def test_every_variable_anything_reads_is_in_the_doc() -> None:
    documented = set(re.findall(r"^\| `(TEAMPULSE_[A-Z0-9_]+)`", DOC.read_text(), re.MULTILINE))
    assert _read_by_the_product() - documented == set()
    assert SETTINGS - documented == set()
