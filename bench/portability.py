"""Export and import at scale (issue 27).

    python -m bench.portability [--issues 100000] [--baseline 10000] [--rows 10000]

1. **Full export in bounded memory.** The archive of the seeded bench database (`--issues`) and of
   a small one (`--baseline`) is written by the export timer's own function in a child process
   each, against Azurite on disk; each child reports its peak RSS (`ru_maxrss`). Bounded memory
   means the big export's peak is about the small one's (the ratio is the figure), whatever the
   number of issues; the archive size and the timer runs it took are printed too.
2. **CSV import in timer runs.** A `--rows` CSV (the quick export's columns, 200 reporters, labels)
   is imported into an empty database by calling the import timer's function until the job is
   done, each call with the production budget (TRANSFER_RUN_SECONDS); the figure is how many runs.

The databases are `<bench>_i27`-style names on the bench server (BENCH_DATABASE_URL's server),
seeded by bench.seed when their size is off by more than 10 %.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.common import ensure_database
from bench.run import ensure_seeded

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/trackly_bench_i27"


def _on(server: str, database: str) -> str:
    return make_url(server).set(database=database).render_as_string(hide_password=False)


def _env(url: str, connection_string: str) -> dict[str, str]:
    return {
        **os.environ,
        "TRACKLY_ENV": "development",
        "DATABASE_URL": url,
        "AZURE_STORAGE_CONNECTION_STRING": connection_string,
        "AZURE_STORAGE_CONTAINER_NAME": "bench-portability",
        "DATABASE_STATEMENT_TIMEOUT_MS": "120000",
        "DATABASE_READ_TIMEOUT_SECONDS": "180",
        "LOG_LEVEL": "WARNING",
    }


# --- child: one export --------------------------------------------------------------------------


def export_child() -> None:
    """Queue one export and run the export timer's function until it is done; print figures."""
    from sqlalchemy.orm import Session

    from trackly import db
    from trackly.config import get_settings
    from trackly.models import ExportJob, Role, User
    from trackly.portability import jobs

    settings = get_settings()
    with db.session_scope() as session:
        admin = session.query(User).filter(User.role == Role.ADMIN).first()
        assert admin is not None, "the bench database has no admin"
        job_id = jobs.create_export(False, actor=admin, session=session, settings=settings).id
    started = time.perf_counter()
    runs = 0
    while True:
        runs += 1
        jobs.run_exports(settings=settings)
        with Session(db.get_engine()) as session:
            job = session.get(ExportJob, job_id)
            assert job is not None
            if job.status not in {"running", "queued"}:
                break
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "status": job.status,
                "runs": runs,
                "seconds": round(seconds, 1),
                "bytes": job.bytes_written,
                "counts": job.counts,
                "peak_rss_mib": round(peak_kib / 1024, 1),
            }
        )
    )


def _export(url: str, connection_string: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.portability", "--child-export"],
        env=_env(url, connection_string),
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    if out.returncode != 0:
        raise SystemExit(f"export child failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# --- import ------------------------------------------------------------------------------------


def _csv(rows: int) -> bytes:
    rnd = random.Random(27)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    writer.writerow(
        ["id", "title", "description", "severity", "status", "labels", "reporter_email", "created_at"]
    )
    for n in range(rows):
        writer.writerow(
            [
                f"bench-{n}",
                f"Imported issue {n}: {rnd.choice(['printer', 'login', 'export', 'search'])} fails",
                "Steps:\n1. open\n2. click\n" * rnd.randint(1, 4),
                rnd.choice(["LOW", "MEDIUM", "HIGH", "CRITICAL"]),
                rnd.choice(["OPEN", "TRIAGED", "IN_PROGRESS", "DONE"]),
                ", ".join(rnd.sample(["bug", "ui", "backend", "p1", "docs"], rnd.randint(0, 2))),
                f"person{rnd.randint(1, 200)}@import.example",
                f"2024-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}T10:00:00Z",
            ]
        )
    return out.getvalue().encode()


def import_child(rows: int) -> None:
    from trackly import db
    from trackly.attachments import storage
    from trackly.config import get_settings
    from trackly.models import ImportJob, Role, User
    from trackly.portability import jobs
    from trackly.portability.schemas import ImportCreate

    settings = get_settings()
    data = _csv(rows)
    with db.session_scope() as session:
        admin = User(email=f"admin-{uuid.uuid4().hex[:6]}@bench.example", full_name="Bench", role=Role.ADMIN)
        session.add(admin)
        session.flush()
        storage.get_storage(settings).ensure_container()
        job_id = jobs.create_import_with_file(
            ImportCreate(source="csv"), data, actor=admin, session=session, settings=settings
        ).id
    started = time.perf_counter()
    runs = 0
    while True:
        runs += 1
        jobs.run_imports(settings=settings)
        with db.session_scope() as session:
            job = session.get(ImportJob, job_id)
            assert job is not None
            if job.status not in ("queued", "running"):
                break
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "status": job.status,
                "runs": runs,
                "seconds": round(seconds, 1),
                "rows": rows,
                "bytes": len(data),
                "counts": job.counts,
                "budget_seconds": settings.TRANSFER_RUN_SECONDS,
                "chunk_rows": settings.IMPORT_CHUNK_ROWS,
            }
        )
    )


def _import(url: str, connection_string: str, rows: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.portability", "--child-import", str(rows)],
        env=_env(url, connection_string),
        capture_output=True,
        text=True,
        check=False,
        timeout=3600,
    )
    if out.returncode != 0:
        raise SystemExit(f"import child failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _fresh(url: str) -> None:
    from trackly.db import normalize_url

    parsed = make_url(normalize_url(url))
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()
    ensure_database(url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER))
    parser.add_argument("--issues", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--only", choices=["export", "import"], default=None)
    parser.add_argument("--child-export", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-import", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_export:
        export_child()
        return 0
    if args.child_import is not None:
        import_child(args.child_import)
        return 0

    from trackly.local import azurite as localazurite

    big = args.database_url
    small = _on(big, f"{make_url(big).database}_s{args.baseline}")
    for url, size in ((big, args.issues), (small, args.baseline)):
        started = time.perf_counter()
        ensure_seeded(url, size, exact=True)
        print(f"[seed] {make_url(url).database}: ready in {time.perf_counter() - started:.0f} s")
    target = _on(big, f"{make_url(big).database}_import")
    _fresh(target)

    with tempfile.TemporaryDirectory() as tmp:
        process = localazurite.start(port=localazurite.free_port(), location=Path(tmp) / "azurite")
        try:
            if args.only != "import":
                baseline = _export(small, process.connection_string)
                large = _export(big, process.connection_string)
            if args.only != "export":
                imported = _import(target, process.connection_string, args.rows)
        finally:
            process.stop()
    if args.only != "import":
        _print_export(args, baseline, large)
    if args.only != "export":
        _print_import(imported)
    return 0


def _print_export(args: argparse.Namespace, baseline: dict[str, Any], large: dict[str, Any]) -> None:

    ratio = large["peak_rss_mib"] / baseline["peak_rss_mib"]
    print("\nFull export (archive without files), export timer's function in a child process:")
    for label, size, fig in (("baseline", args.baseline, baseline), ("large", args.issues, large)):
        print(
            f"  {label:8} {size:>8,} issues: peak RSS {fig['peak_rss_mib']:7.1f} MiB, "
            f"{fig['bytes'] / 1e6:8.1f} MB archive, {fig['seconds']:6.1f} s, {fig['runs']} timer run(s), "
            f"{sum(fig['counts'].values()):,} records"
        )
    print(f"  peak RSS ratio large/baseline: {ratio:.2f}x for {args.issues / args.baseline:.0f}x the issues")


def _print_import(imported: dict[str, Any]) -> None:
    print(f"\nCSV import of {imported['rows']:,} rows ({imported['bytes'] / 1e6:.1f} MB):")
    print(
        f"  {imported['runs']} timer run(s) (budget {imported['budget_seconds']} s, "
        f"{imported['chunk_rows']} rows per chunk), {imported['seconds']} s, "
        f"{imported['rows'] / max(imported['seconds'], 0.001):,.0f} rows/s, outcome {imported['counts']}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
