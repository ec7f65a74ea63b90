"""`python -m trackly stop` (and `make stop`, `make clean`, `make help`): what the local tools
leave running is stopped, and nothing else.

The processes here are real: two embedded PostgreSQL servers, a real Azurite, and a process
that records itself as a local host the way `serve` does. All under a scratch directory, never .trackly/
(the suite's own embedded server may be running there)."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.support.scratch import scratch_dir
from trackly.local import azurite as local_azurite
from trackly.local import processes
from trackly.local.database import running_pid, start_embedded, stop_embedded
from trackly.local.loopback import free_port

ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 60.0  # generous: only a failure waits this long

# A stand-in for `python -m trackly serve` that only does what matters here: record itself.
RECORDING_HOST = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from trackly.local import processes
    processes.record(Path(sys.argv[1]), "serve", __import__("os").getpid())
    print("recorded", flush=True)
    while True:
        time.sleep(1)
    """
)


def _wait_until(condition: object, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.fixture
def state_dir() -> Iterator[Path]:
    with scratch_dir("trackly-stop-") as path:
        yield path
        for data_dir in (path / "pgdata", path / "test-pgdata"):
            if data_dir.exists():
                stop_embedded(data_dir)


def test_stop_stops_hosts_azurite_and_every_embedded_server(state_dir: Path) -> None:
    start_embedded(state_dir / "pgdata")
    start_embedded(state_dir / "test-pgdata", database="postgres")
    blob = local_azurite.start(port=free_port())
    processes.record(state_dir, "azurite", blob.process.pid)
    host = subprocess.Popen(
        [sys.executable, "-c", RECORDING_HOST, str(state_dir)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    # A live process whose record has another start time: a pid reused since it was recorded.
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        assert host.stdout is not None and host.stdout.readline().strip() == "recorded"
        stale = state_dir / "run" / f"serve-{bystander.pid}.json"
        stale.write_text(f'{{"kind": "serve", "pid": {bystander.pid}, "started": 1.0}}')
        pg_pids = [running_pid(state_dir / "pgdata"), running_pid(state_dir / "test-pgdata")]
        assert None not in pg_pids

        out = subprocess.run(
            [sys.executable, "-m", "trackly", "stop", "--state-dir", str(state_dir)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=WAIT_SECONDS * 2,
        )
        assert out.returncode == 0, out.stderr
        assert f"Stopped serve (pid {host.pid})" in out.stdout
        assert f"Stopped azurite (pid {blob.process.pid})" in out.stdout
        assert f"Stopped embedded PostgreSQL in {state_dir / 'pgdata'}" in out.stdout
        assert f"Stopped embedded PostgreSQL in {state_dir / 'test-pgdata'}" in out.stdout

        assert host.wait(timeout=WAIT_SECONDS) is not None
        assert blob.process.wait(timeout=WAIT_SECONDS) is not None
        assert running_pid(state_dir / "pgdata") is None
        assert running_pid(state_dir / "test-pgdata") is None
        assert all(_pid_gone(pid) for pid in pg_pids if pid is not None)
        assert bystander.poll() is None  # never signalled
        assert list((state_dir / "run").glob("*.json")) == []  # every record forgotten

        again = subprocess.run(
            [sys.executable, "-m", "trackly", "stop", "--state-dir", str(state_dir)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=WAIT_SECONDS * 2,
        )
        assert again.returncode == 0 and "Nothing was running." in again.stdout
    finally:
        for proc in (host, bystander):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        blob.stop()


def _pid_gone(pid: int) -> bool:
    try:
        return processes.gone(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return True


def _makefile_targets() -> list[str]:
    text = (ROOT / "Makefile").read_text()
    rules = re.findall(r"^([a-z][a-z-]*):(?!=)", text, re.MULTILINE)
    return list(dict.fromkeys(rules))


def _make(*args: str) -> str:
    out = subprocess.run(["make", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_make_help_lists_every_target() -> None:
    targets = _makefile_targets()
    assert {"run", "test", "stop", "clean", "help"} <= set(targets)
    listed = re.findall(r"^make (\S+)\s+\S", _make("help"), re.MULTILINE)
    assert sorted(listed) == sorted(targets)
    phony = re.search(r"^\.PHONY:(.*)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert phony is not None and sorted(phony.group(1).split()) == sorted(targets)


def test_make_clean_stops_before_it_deletes() -> None:
    plan = _make("-n", "clean").splitlines()  # -n: print the commands, run none
    stop_line = next(i for i, line in enumerate(plan) if "-m trackly stop" in line)
    delete_line = next(i for i, line in enumerate(plan) if line.startswith("rm -rf") and ".trackly" in line)
    assert stop_line < delete_line
