"""Requests per second of one worker process at 1, 4, 8 and 16 concurrent requests.

    python -m bench.concurrency [--levels 1,4,8,16] [--requests 400] [--rounds 3]

What Flex Consumption's `perInstanceConcurrency` decides: how many HTTP invocations one instance
(one Python worker process) runs at once. The Python worker runs sync functions on a thread pool
(PYTHON_THREADPOOL_THREAD_COUNT); this bench does the same: a ThreadPoolExecutor with N threads
keeps N requests in flight, each handed to the user function `function_app` registers (as
bench.inprocess does), with a SQLAlchemy pool of N connections (DATABASE_POOL_SIZE = N, as the
Bicep sets it). The mix is the original client's hot path: list 20 issues, get one issue, and
the issue counters, as a maintainer. Database: trackly_bench_concurrency (10,000 issues, seeded on
first use) on the bench server. Results: bench/results/concurrency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from bench.common import bench_url, percentile, summary
from bench.run import ensure_seeded

RESULTS = Path(__file__).resolve().parent / "results"
SEED_ISSUES = 10_000


def _database_url(base: str) -> str:
    return make_url(base).set(database="trackly_bench_concurrency").render_as_string(hide_password=False)


def _level(url: str, threads: int, requests: int) -> dict[str, Any]:
    from bench.common import apply_environment
    from bench.inprocess import InProcessApp, bench_users, sample_issue_id
    from trackly import db
    from trackly.config import reset_settings

    apply_environment(url)
    os.environ["DATABASE_POOL_SIZE"] = str(threads)  # the Bicep: pool = per-instance concurrency
    reset_settings()
    db.dispose_engine()
    app = InProcessApp()
    users = bench_users()
    token = users.tokens["maintainer"]
    issue = sample_issue_id(url)
    calls = [
        lambda: app.request("GET", "issues", token=token, params=[("limit", "20")]),
        lambda: app.request("GET", f"issues/{issue}", token=token),
        lambda: app.request("GET", "issues/stats/by-status", token=token),
    ]

    def one(i: int) -> float:
        started = time.perf_counter()
        response = calls[i % len(calls)]()
        if response.status != 200:
            raise RuntimeError(f"request {i} answered {response.status}: {response.body[:200]!r}")
        return time.perf_counter() - started

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(one, range(threads * 10)))  # warm the pool's connections and caches
        started = time.perf_counter()
        latencies = list(pool.map(one, range(requests)))
        elapsed = time.perf_counter() - started
    db.dispose_engine()
    ms = sorted(s * 1000 for s in latencies)
    return {"rps": requests / elapsed, "latency_ms": {**summary(ms), "p95": percentile(ms, 95)}}


def run(levels: list[int], requests: int, rounds: int, database_url: str | None = None) -> dict[str, Any]:
    url = _database_url(bench_url(database_url))
    ensure_seeded(url, SEED_ISSUES, exact=False)  # seeds unless it holds the bench data
    out: dict[str, Any] = {"levels": {}}
    for threads in levels:
        samples = [_level(url, threads, requests) for _ in range(rounds)]
        rps = sorted(s["rps"] for s in samples)
        out["levels"][str(threads)] = {
            "rps_median": rps[len(rps) // 2],
            "rps_rounds": rps,
            "latency_ms_median_round": samples[len(samples) // 2]["latency_ms"],
        }
    return out


def render(result: dict[str, Any]) -> str:
    base = result["levels"].get("1", {}).get("rps_median")
    lines = [
        "| concurrent requests (threads = pool) | requests/s (median of rounds) | vs 1 | p50 ms | p95 ms |",
        "|---:|---:|---:|---:|---:|",
    ]
    for threads, row in result["levels"].items():
        lat = row["latency_ms_median_round"]
        ratio = f"{row['rps_median'] / base:.2f}x" if base else "-"
        p50, p95 = lat["median"], lat.get("p95", 0)
        lines.append(f"| {threads} | {row['rps_median']:.0f} | {ratio} | {p50:.1f} | {p95:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,4,8,16")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url")
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    result = run(levels, args.requests, args.rounds, args.database_url)
    result["meta"] = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "requests_per_round": args.requests,
        "rounds": args.rounds,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "concurrency.json").write_text(json.dumps(result, indent=2))
    print(render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
