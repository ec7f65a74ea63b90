"""What the local tools leave running, and `python -m trackly stop`, which stops it all.

- Embedded PostgreSQL servers: one per data directory under the state directory (`.trackly/pgdata`
  for `make run`, `.trackly/test-pgdata` for `make test`); they outlive the command that started
  them on purpose, so the next start is instant. Found by their `postmaster.pid`.
- Local hosts (`python -m trackly serve`) and the Azurite each one starts: recorded in
  `<state dir>/run/<kind>-<pid>.json` while they run. A host stopped with SIGKILL leaves its
  Azurite behind; the record still names it. A record is trusted only while the process it
  names has the recorded start time, so a reused pid is never signalled.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from trackly.local.database import running_pid, stop_embedded

STOP_WAIT_SECONDS = 20.0


@dataclass(frozen=True)
class Recorded:
    kind: str
    pid: int
    started: float
    path: Path

    def process(self) -> psutil.Process | None:
        """The live process this record names, or None (gone, or the pid now belongs to another)."""
        try:
            proc = psutil.Process(self.pid)
            same = abs(proc.create_time() - self.started) < 1.0
        except psutil.Error:
            return None
        return proc if same else None


def _run_dir(state_dir: Path) -> Path:
    return state_dir / "run"


def record(state_dir: Path, kind: str, pid: int) -> Path:
    """Note that `pid` (a `kind` process) was started by this checkout; forgotten at our exit."""
    run_dir = _run_dir(state_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / f"{kind}-{pid}.json"
    path.write_text(json.dumps({"kind": kind, "pid": pid, "started": psutil.Process(pid).create_time()}))
    atexit.register(forget, path)
    return path


def forget(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def recorded(state_dir: Path) -> list[Recorded]:
    found = []
    for path in sorted(_run_dir(state_dir).glob("*-*.json")):
        try:
            data = json.loads(path.read_text())
            found.append(Recorded(str(data["kind"]), int(data["pid"]), float(data["started"]), path))
        except (OSError, ValueError, KeyError, TypeError):
            forget(path)  # a half-written or foreign file names nothing we can trust
    return found


def embedded_data_dirs(state_dir: Path) -> list[Path]:
    """Every data directory under `state_dir` with a running embedded PostgreSQL."""
    return [p.parent for p in sorted(state_dir.glob("*/postmaster.pid")) if running_pid(p.parent) is not None]


def gone(proc: psutil.Process) -> bool:
    """Exited: no such process, or a zombie its parent has not reaped yet (it runs nothing)."""
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    alive = [p for p in procs if not gone(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if not gone(p)]
    return alive


def _terminate(procs: list[psutil.Process]) -> None:
    """SIGTERM (a host stops its Azurite and Web PubSub on it), SIGKILL what is left after a while."""
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    for proc in _wait_gone(procs, STOP_WAIT_SECONDS):
        with contextlib.suppress(psutil.Error):
            proc.kill()
    _wait_gone(procs, STOP_WAIT_SECONDS)


def stop_all(state_dir: Path) -> list[str]:
    """Stop local hosts first (they stop their own Azurite and Web PubSub), then any Azurite left
    behind, then the embedded PostgreSQL servers. Returns one line per thing stopped."""
    stopped: list[str] = []
    for kind in ("serve", "azurite"):
        procs = []
        for rec in recorded(state_dir):
            if rec.kind != kind:
                continue
            proc = rec.process()
            if proc is not None and proc.pid != os.getpid():
                procs.append(proc)
                stopped.append(f"{kind} (pid {proc.pid})")
            forget(rec.path)
        _terminate(procs)
    for data_dir in embedded_data_dirs(state_dir):
        if stop_embedded(data_dir):
            stopped.append(f"embedded PostgreSQL in {data_dir}")
    return stopped
