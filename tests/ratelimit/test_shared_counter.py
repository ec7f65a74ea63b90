"""Two app instances (two `python -m trackly serve` processes on two ports, one database) draw
from one budget: the counter lives in PostgreSQL, not in either process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import text

from tests.hardening.hosts import HostProcess

QUOTA = 6


@pytest.fixture
def two_hosts(database_url: str) -> Iterator[list[HostProcess]]:
    # A day-long window: the processes run on the real clock, and a window that ended during the
    # test is detected below (the test then runs again, in the new window).
    env = {"RATE_LIMIT_PER_USER": str(QUOTA), "RATE_LIMIT_WINDOW_SECONDS": "86400"}
    hosts = [HostProcess(database_url, **env), HostProcess(database_url, **env)]
    try:
        yield hosts
    finally:
        for host in hosts:
            host.stop()


def _windows(engine: Any) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(DISTINCT window_start) FROM rate_limit_counters WHERE subject LIKE 'user:%'"
                )
            ).scalar_one()
        )


def _run(hosts: list[HostProcess], token: str) -> list[tuple[int, str]]:
    out = []
    for i in range(QUOTA + 2):
        host = hosts[i % 2]  # alternate between the instances
        response = requests.get(
            f"{host.base_url}/issues", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        out.append((response.status_code, response.headers["RateLimit"].split(";")[1]))
    return out


def test_two_processes_share_one_counter(two_hosts: list[HostProcess], users: Any, engine: Any) -> None:
    assert two_hosts[0].port != two_hosts[1].port
    token = users.pat(users("REPORTER"))
    for _attempt in range(2):
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM rate_limit_counters"))
        seen = _run(two_hosts, token)
        if _windows(engine) == 1:
            break
    assert seen == [(200, f"r={QUOTA - 1 - i}") for i in range(QUOTA)] + [(429, "r=0"), (429, "r=0")]
    with engine.connect() as conn:
        assert (
            conn.execute(
                text("SELECT hits FROM rate_limit_counters WHERE subject LIKE 'user:%'")
            ).scalar_one()
            == QUOTA + 2
        )
