"""CI runs what a newcomer runs: .ci/run is the documented commands, verbatim, with no extra
environment (the reason CI once missed the embedded-PostgreSQL race of a fresh `make test`)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _commands(script: str) -> list[str]:
    lines = [line.strip() for line in script.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _documented_commands() -> set[str]:
    text = (ROOT / "README.md").read_text() + (ROOT / "docs" / "testing.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", text, re.DOTALL)
    return {line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines()}


def test_ci_runs_the_documented_commands_as_written() -> None:
    commands = _commands((ROOT / ".ci" / "run").read_text())
    steps = [c for c in commands if c not in ("set -euo pipefail", 'cd "$(dirname "$0")/.."')]
    assert steps, "no commands in .ci/run"
    assert "make test" in steps
    undocumented = [c for c in steps if c not in _documented_commands()]
    assert undocumented == []


def test_ci_sets_no_environment() -> None:
    script = "\n".join(_commands((ROOT / ".ci" / "run").read_text()))
    assert "TEST_DATABASE_URL" not in script
    assert not re.search(r"^\s*(export\s+)?[A-Z_]+=", script, re.MULTILINE)
    assert not re.search(r"make \S+ +[A-Z_]+=", script)  # no make variables on the command line
