"""Shared pieces of the benchmarks: the bench database URL, settings, statistics helpers."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_BENCH_URL = "postgresql://postgres@127.0.0.1:5432/trackly_bench"
BENCH_PASSWORD = "bench-password-123"  # noqa: S105 (synthetic bench users only)
BENCH_JWT_SECRET = "bench-secret-key-that-is-long-enough-0123456789"  # noqa: S105
BENCH_EMAIL_DOMAIN = "bench.trackly.test"


def bench_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get("BENCH_DATABASE_URL") or DEFAULT_BENCH_URL


def ensure_database(url: str) -> None:
    """Create the database if it is missing, then migrate it to head."""
    from trackly.db import normalize_url

    parsed = make_url(normalize_url(url))
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}
        ).scalar()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
            print(f"created database {parsed.database}")
    admin.dispose()
    from trackly import schema

    apply_environment(url)
    schema.upgrade(url)
    ensure_indexes(url)


def ensure_indexes(url: str) -> None:
    """Recreate any index the models declare but the database lacks (the seeder drops the
    secondary indexes while loading; an interrupted seed must not leave slow plans behind)."""
    from trackly.db import normalize_url
    from trackly.models import Base

    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            present = set(
                conn.execute(text("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")).scalars()
            )
        missing = [i for t in Base.metadata.sorted_tables for i in t.indexes if i.name not in present]
        for index in missing:
            print(f"[bench] recreating missing index {index.name} ...", flush=True)
            index.create(engine)
        if missing:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE"))
    finally:
        engine.dispose()


def app_environment(url: str) -> dict[str, str]:
    """The settings the app needs to run against the bench database."""
    return {
        "DATABASE_URL": url,
        "TRACKLY_ENV": "test",
        "JWT_SECRET_KEY": BENCH_JWT_SECRET,
        "FRONTEND_URL": "http://localhost:5173",
        "TRACKLY_ALLOWED_ORIGINS": "",
        "LOG_LEVEL": "WARNING",
        # Counted as in production, but with budgets no bench run exhausts.
        "RATE_LIMIT_PER_USER": "1000000000",
        "RATE_LIMIT_ANONYMOUS": "1000000000",
        "RATE_LIMIT_SIGN_IN": "1000000000",
        "RATE_LIMIT_PUBLIC": "1000000000",
    }


def apply_environment(url: str) -> None:
    for key in [k for k in os.environ if k.startswith(("AZURE_STORAGE", "WEBPUBSUB", "GOOGLE", "MICROSOFT"))]:
        os.environ.pop(key)
    os.environ.update(app_environment(url))
    from trackly import db
    from trackly.config import reset_settings

    reset_settings()
    db.dispose_engine()


def summary(samples: Sequence[float]) -> dict[str, Any]:
    """Median with the interquartile range and min/max (values in the samples' unit)."""
    ordered = sorted(samples)
    if not ordered:
        return {"n": 0}
    if len(ordered) >= 4:
        q = statistics.quantiles(ordered, n=4)
        p25, p75 = q[0], q[2]
    else:
        p25, p75 = ordered[0], ordered[-1]
    return {
        "n": len(ordered),
        "median": statistics.median(ordered),
        "p25": p25,
        "p75": p75,
        "min": ordered[0],
        "max": ordered[-1],
    }


def percentile(ordered: Sequence[float], pct: float) -> float:
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))
    return ordered[k]


def fmt_ms(s: dict[str, Any], digits: int = 2) -> str:
    if not s or not s.get("n"):
        return "-"
    return f"{s['median']:.{digits}f} ms [{s['p25']:.{digits}f}-{s['p75']:.{digits}f}]"
