"""The embedded PostgreSQL (trackly/local/database.py): concurrent starts of one data directory
share one server instead of racing (the two xdist workers of `make test` on a fresh clone), no
command warns about XDG_RUNTIME_DIR, and `stop_embedded` stops what `start_embedded` started.

Each test uses its own data directory in a scratch directory and stops its server at the end; none
touches .trackly/ (the suite's own server may live there)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.scratch import scratch_dir
from trackly.local.database import data_dir_lock, running_pid, stop_embedded

ROOT = Path(__file__).resolve().parents[2]
START = (
    "import sys; from pathlib import Path; from trackly.local.database import start_embedded; "
    "print(start_embedded(Path(sys.argv[1]), 'postgres'))"
)
WAIT_SECONDS = 120  # generous: only a failure waits this long


def _env_without_runtime_dir() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    env["PYTHONWARNINGS"] = "default"  # show every warning once, whatever the caller's filters
    return env


def _start(data_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", START, str(data_dir)],
        cwd=ROOT,
        env=_env_without_runtime_dir(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _waiting_on_flock(pid: int) -> bool:
    """/proc/locks lists a process blocked in flock() as `N: -> FLOCK ADVISORY WRITE <pid> ...`."""
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[1] == "->" and fields[2] == "FLOCK" and fields[5] == str(pid):
            return True
    return False


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with scratch_dir("trackly-embedded-") as scratch:
        path = scratch / "state" / "pgdata"
        yield path
        if path.exists():
            stop_embedded(path)


def test_a_second_start_waits_for_the_first_then_reuses_its_server(data_dir: Path) -> None:
    with data_dir_lock(data_dir):
        proc = _start(data_dir)
        deadline = time.monotonic() + WAIT_SECONDS
        while not _waiting_on_flock(proc.pid):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "start_embedded never waited for the data directory's lock"
            time.sleep(0.05)
        # Blocked before it touched anything: the directory is created under the lock only.
        assert not data_dir.exists()
    out, err = proc.communicate(timeout=WAIT_SECONDS)
    assert proc.returncode == 0, err
    assert f"host={data_dir}" in out
    assert running_pid(data_dir) is not None
    assert "RuntimeDirWarning" not in err and "XDG_RUNTIME_DIR" not in err, err


def test_concurrent_starts_on_a_fresh_directory_all_succeed(data_dir: Path) -> None:
    procs = [_start(data_dir) for _ in range(3)]
    results = [p.communicate(timeout=WAIT_SECONDS) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in results]
    urls = {out.strip() for out, _ in results}
    assert len(urls) == 1  # one server, found by all three
    pid = running_pid(data_dir)
    assert pid is not None

    assert stop_embedded(data_dir) is True
    assert running_pid(data_dir) is None
    assert stop_embedded(data_dir) is False  # nothing left to stop


def test_stop_without_a_server_is_a_no_op(tmp_path: Path) -> None:
    assert stop_embedded(tmp_path / "never-started") is False
