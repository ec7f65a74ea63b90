"""How long a request waits when PostgreSQL stalls, with the default settings.

    python -m bench.db_stall [--rounds 1]

A local host (`python -m trackly serve`) reaches the bench server through a loopback TCP proxy
(tests/hardening/hosts.py) that can freeze: connections stay open and new ones are accepted, but
nothing is forwarded, as with a SIGSTOPped server or a dead link. For each case it signs in,
freezes the link, times requests until their 503, thaws and waits for recovery:

- `busy`: the request's pooled connection was used moments ago (no ping): the client-side read
  deadline, DATABASE_READ_TIMEOUT_SECONDS, ends it;
- `idle`: the pooled connection sat idle past DATABASE_PING_AFTER_IDLE_SECONDS (0 here, so every
  checkout pings): the ping waits DATABASE_CONNECT_TIMEOUT_SECONDS, then the replacement
  connection as long again;
- `burst`: 8 requests at once (more than the pool's 4 + 2 overflow): one on the busy
  connection, the others on new connections (connect timeout) or waiting for a free slot.

Database: trackly_bench_stall on the bench server (BENCH_DATABASE_URL's server), migrated on
first use. Results: bench/results/db_stall.json. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, delete
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bench.common import BENCH_EMAIL_DOMAIN, BENCH_PASSWORD, bench_url, ensure_database
from tests.hardening.hosts import HostProcess, TcpProxy

RESULTS = Path(__file__).resolve().parent / "results"
EMAIL = f"stall@{BENCH_EMAIL_DOMAIN}"


def _user(url: str) -> None:
    from trackly.auth.passwords import hash_password
    from trackly.db import normalize_url
    from trackly.models import Role, User

    engine = create_engine(normalize_url(url))
    with Session(engine) as session:
        session.execute(delete(User).where(User.email == EMAIL))
        session.add(
            User(
                email=EMAIL,
                full_name="Stall Bench",
                role=Role.MAINTAINER,
                password_hash=hash_password(BENCH_PASSWORD),
            )
        )
        session.commit()
    engine.dispose()


def _timed_get(base: str, token: str) -> tuple[int, float]:
    started = time.monotonic()
    resp = requests.get(f"{base}/issues", headers={"Authorization": f"Bearer {token}"}, timeout=180)
    return resp.status_code, round(time.monotonic() - started, 2)


def _recover(base: str, token: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if requests.get(f"{base}/issues", headers={"Authorization": f"Bearer {token}"}, timeout=60).ok:
            return
        time.sleep(0.5)
    raise RuntimeError("the host did not recover after the stall")


def _case(url: str, name: str, *, env: dict[str, str], parallel: int) -> dict[str, Any]:
    server = make_url(url)
    proxy = TcpProxy(server.host or "127.0.0.1", server.port or 5432)
    through = server.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    host = HostProcess(through, **env)
    try:
        login = requests.post(
            f"{host.base_url}/auth/login", json={"email": EMAIL, "password": BENCH_PASSWORD}, timeout=60
        )
        login.raise_for_status()
        token = login.json()["tokens"]["access_token"]
        _recover(host.base_url, token)  # the pool holds a connection used just now
        proxy.freeze()
        try:
            with ThreadPoolExecutor(parallel) as pool:
                answers = list(pool.map(lambda _: _timed_get(host.base_url, token), range(parallel)))
        finally:
            proxy.thaw()
        _recover(host.base_url, token)
    finally:
        host.stop()
        proxy.close()
    seconds = sorted(s for _, s in answers)
    return {
        "case": name,
        "env": env,
        "statuses": sorted({c for c, _ in answers}),
        "seconds_to_answer": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    url = make_url(bench_url()).set(database="trackly_bench_stall").render_as_string(hide_password=False)
    ensure_database(url)
    _user(url)
    results = []
    for _ in range(args.rounds):
        results.append(_case(url, "busy", env={}, parallel=1))
        results.append(_case(url, "idle", env={"DATABASE_PING_AFTER_IDLE_SECONDS": "0"}, parallel=1))
        results.append(_case(url, "burst", env={}, parallel=8))
    for r in results:
        print(f"{r['case']:>6}: {r['statuses']} after {r['seconds_to_answer']} s")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "db_stall.json").write_text(
        json.dumps(
            {"when": datetime.now(UTC).isoformat(), "machine": platform.node(), "results": results}, indent=2
        )
    )


if __name__ == "__main__":
    main()
