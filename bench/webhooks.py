"""What webhooks cost: the write path with hooks vs without (same run), and delivery throughput.

    python -m bench.webhooks [--writes 300] [--deliveries 1000] [--database-url URL]

Runs against its own database (`<bench database>_webhooks`, created and migrated; emptied at the
start), in-process through the real HTTP functions (bench.inprocess.InProcessApp), with a real
receiver on 127.0.0.1 in its own process (`python -m trackly webhook-receiver`).

- **Write cost**: `PATCH /issues/{id}` (a title change: one event) timed in alternation, round by
  round, with no active hook, with 1 matching active hook and with 20 (hooks are switched on and
  off between the timed calls, by SQL outside the timing). Ratio of medians and of minimums
  against "no hook" in the same run; with hooks, the write also inserts its deliveries (one
  INSERT ... SELECT, whatever the number of hooks).
- **Deliveries per second**: `--deliveries` pending deliveries to one hook at the local receiver,
  one timer run (`trackly.webhooks.delivery.run`: claim in batches with SKIP LOCKED, sign, send
  on 8 threads, record), wall time; deliveries/s = delivered / elapsed.

Figures go to stdout and bench/results/webhooks.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from bench.common import bench_url, ensure_database, summary

RESULTS = Path(__file__).resolve().parent / "results"


def _reset(engine: Any) -> None:
    with engine.begin() as conn:
        tables = conn.execute(
            text(
                "SELECT string_agg(format('%I', tablename), ', ') FROM pg_tables "
                "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )
        ).scalar()
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


def _admin_token(engine: Any) -> str:
    from sqlalchemy.orm import Session

    from trackly.auth.passwords import hash_password
    from trackly.auth.sessions import start_session
    from trackly.config import get_settings
    from trackly.models import Role, User

    with Session(engine) as session:
        user = User(
            email="bench-webhooks-admin@bench.trackly.test",
            full_name="Bench Admin",
            role=Role.ADMIN,
            password_hash=hash_password("bench-password-123"),
            is_active=True,
        )
        session.add(user)
        session.commit()
        token = start_session(user, session=session, settings=get_settings()).tokens.access_token
        session.commit()
    return token


def write_cost(app: Any, engine: Any, token: str, receiver_url: str, writes: int) -> dict[str, Any]:
    created = app.request("POST", "issues", token=token, body={"title": "Bench", "description": "x"})
    assert created.status == 201, created.body
    issue = created.json()["id"]
    hooks = []
    for _ in range(20):
        resp = app.request(
            "POST", "webhooks", token=token, body={"url": receiver_url, "events": ["issue_updated"]}
        )
        assert resp.status == 201, resp.body
        hooks.append(resp.json()["id"])

    def activate(count: int) -> None:
        with engine.begin() as conn:
            conn.execute(text("UPDATE webhooks SET active = false"))
            if count:
                conn.execute(
                    text("UPDATE webhooks SET active = true WHERE id = ANY(CAST(:ids AS uuid[]))"),
                    {"ids": hooks[:count]},
                )

    counter = [0]

    def write() -> None:
        counter[0] += 1
        resp = app.request("PATCH", f"issues/{issue}", token=token, body={"title": f"Bench {counter[0]}"})
        assert resp.status == 200, resp.body

    cases = {"no hook": 0, "1 hook": 1, "20 hooks": 20}
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(10):  # warm-up
        for count in cases.values():
            activate(count)
            write()
    for _ in range(writes):
        for name, count in cases.items():
            activate(count)
            started = time.perf_counter()
            write()
            samples[name].append((time.perf_counter() - started) * 1000)
    base_median = statistics.median(samples["no hook"])
    base_min = min(samples["no hook"])
    out: dict[str, Any] = {}
    for name, values in samples.items():
        out[name] = {
            **summary(values),
            "ratio_median": round(statistics.median(values) / base_median, 3),
            "ratio_min": round(min(values) / base_min, 3),
        }
    with engine.connect() as conn:
        out["deliveries_written"] = conn.execute(text("SELECT count(*) FROM webhook_deliveries")).scalar()
    activate(0)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM webhooks"))
    return out


def throughput(app: Any, engine: Any, token: str, deliveries: int) -> dict[str, Any]:
    import subprocess
    import sys

    import requests

    from trackly.local.loopback import free_port

    # The receiver in its own process (python -m trackly webhook-receiver), so it does not share
    # this process's GIL with the timer being measured.
    port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, "-m", "trackly", "webhook-receiver", "--port", str(port)],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            requests.post(f"http://127.0.0.1:{port}/", data=b"{}", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    try:
        return _throughput(app, engine, token, f"http://127.0.0.1:{port}/", deliveries)
    finally:
        receiver.terminate()
        receiver.wait(timeout=30)


def _throughput(app: Any, engine: Any, token: str, url: str, deliveries: int) -> dict[str, Any]:
    from trackly.config import get_settings
    from trackly.webhooks import delivery

    resp = app.request("POST", "webhooks", token=token, body={"url": url, "events": ["*"]})
    assert resp.status == 201, resp.body
    hook = resp.json()["id"]
    with engine.begin() as conn:
        # Pending deliveries of existing events (the write path is measured above).
        conn.execute(
            text(
                "INSERT INTO webhook_deliveries (webhook_id, event_id, message_id, next_attempt_at) "
                "SELECT :hook, e.id, 'evt_' || e.id, now() - interval '1 second' "
                "FROM events e ORDER BY e.id LIMIT :n"
            ),
            {"hook": hook, "n": deliveries},
        )
        queued = conn.execute(
            text("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")
        ).scalar()
    started = time.perf_counter()
    run = delivery.run(settings=get_settings(), budget_seconds=600)
    elapsed = time.perf_counter() - started
    return {
        "queued": queued,
        "delivered": run.succeeded,
        "seconds": round(elapsed, 3),
        "deliveries_per_second": round(run.succeeded / elapsed, 1),
        "threads": delivery.SEND_THREADS,
        "batch_size": get_settings().WEBHOOK_BATCH_SIZE,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = bench_url(args.database_url).rstrip("/") + "_webhooks"
    ensure_database(url)

    import logging
    import os

    from bench.inprocess import InProcessApp
    from trackly.config import reset_settings
    from trackly.db import normalize_url

    logging.getLogger("trackly").setLevel(logging.ERROR)
    os.environ["WEBHOOK_ALLOW_PRIVATE_TARGETS"] = "true"
    reset_settings()
    engine = create_engine(normalize_url(url))
    _reset(engine)
    token = _admin_token(engine)
    app = InProcessApp()
    # The write path never contacts a receiver (its deliveries stay pending): any URL will do.
    cost = write_cost(app, engine, token, "http://127.0.0.1:9/", args.writes)
    # Enough events for the throughput run.
    with engine.begin() as conn:
        events = conn.execute(text("SELECT count(*) FROM events")).scalar() or 0
    for n in range(max(0, args.deliveries - events)):
        app.request("POST", "issues", token=token, body={"title": f"Bench {n}", "description": "x"})
    speed = throughput(app, engine, token, args.deliveries)
    engine.dispose()
    for name in ("no hook", "1 hook", "20 hooks"):
        s = cost[name]
        print(
            f"PATCH /issues/{{id}} {name:9} median {s['median']:.2f} ms  min {s['min']:.2f} ms  "
            f"ratio (median) {s['ratio_median']:.3f}  ratio (min) {s['ratio_min']:.3f}"
        )
    print(
        f"deliver_webhooks: {speed['delivered']} of {speed['queued']} in {speed['seconds']} s "
        f"= {speed['deliveries_per_second']} deliveries/s ({speed['threads']} threads)"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "webhooks.json").write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {"python": platform.python_version(), "processor": platform.machine()},
                "write_cost": cost,
                "throughput": speed,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
