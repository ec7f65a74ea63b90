"""Live-update latency: from an API call that changes an issue to the event arriving at a client.

    python -m bench.realtime [--samples 200] [--database-url URL]

In one process: the local host serving function_app.py on a loopback port, the local Web PubSub
service (trackly/local/webpubsub.py), and Microsoft's Python client
(`azure-messaging-webpubsubclient`, reliable protocol) connected as a maintainer with the URL
/api/realtime/negotiate returned. A reporter creates issues one at a time through the API; each
sample is measured on one clock (time.perf_counter):

- api_to_client: from sending POST /api/issues to the client's callback for that issue's
  `issue_created` (commit, after-commit publish to two groups, fan-out, client parse);
- service_to_client: from the local service accepting the REST send to the client's callback
  (the WebSocket leg alone);
- api_response: the POST itself (it returns after the publish, which is part of it).

The same client/browser path is exercised by tests/realtime/test_browser.py, which prints the
POST-to-page latency in headless Chromium (a handful of samples). Figures go to stdout and
bench/results/realtime.json. The synthetic users, their issues and events are deleted afterwards.
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from bench.common import BENCH_EMAIL_DOMAIN, bench_url, ensure_database, fmt_ms, summary

if TYPE_CHECKING:
    from trackly.local.webpubsub import LocalWebPubSub

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = bench_url(args.database_url)
    ensure_database(url)

    import logging
    import os

    import function_app
    from trackly.config import reset_settings
    from trackly.local.host import build_server
    from trackly.local.webpubsub import LocalWebPubSub

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    service = LocalWebPubSub().start()
    os.environ["WEBPUBSUB_CONNECTION_STRING"] = service.connection_string
    reset_settings()
    server, _ = build_server(function_app.app, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    users = _make_users()
    try:
        figures = measure(f"http://127.0.0.1:{server.server_port}/api", service, users, args.samples)
    finally:
        _delete_synthetic(*users)
        server.shutdown()
        service.stop()
    for name, s in figures.items():
        print(f"{name:22} {fmt_ms(s)}  (n={s['n']}, max {s['max']:.2f} ms)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "realtime.json").write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": {"python": platform.python_version(), "processor": platform.machine()},
                "samples": args.samples,
                **figures,
            },
            indent=2,
        )
        + "\n"
    )


def measure(
    base: str, service: LocalWebPubSub, users: tuple[uuid.UUID, uuid.UUID], samples: int
) -> dict[str, Any]:
    from azure.messaging.webpubsubclient import WebPubSubClient, WebPubSubClientCredential
    from azure.messaging.webpubsubclient.models import CallbackType

    staff, reporter = ({"Authorization": f"Bearer {_sign_in(u)}"} for u in users)
    http = requests.Session()
    arrived: dict[str, float] = {}
    signal = threading.Condition()

    def on_message(e: Any) -> None:
        now = time.perf_counter()
        if isinstance(e.data, dict) and e.data.get("type") == "issue_created" and e.group == "staff":
            with signal:
                arrived[str(e.data["issue_id"])] = now
                signal.notify_all()

    client_url = http.get(f"{base}/realtime/negotiate", headers=staff, timeout=10).json()["url"]
    client = WebPubSubClient(credential=WebPubSubClientCredential(lambda: client_url))
    client.subscribe(CallbackType.GROUP_MESSAGE, on_message)
    client.open()
    api_to_client: list[float] = []
    service_to_client: list[float] = []
    api_response: list[float] = []
    try:
        for n in range(samples + 5):  # the first 5 warm up connections and caches
            body = {"title": f"latency {n}", "severity": "LOW"}
            before_wall, sent = time.time(), time.perf_counter()
            response = http.post(f"{base}/issues", json=body, headers=reporter, timeout=30)
            answered = time.perf_counter()
            issue_id = str(response.json()["id"])
            with signal:
                if not signal.wait_for(functools.partial(arrived.__contains__, issue_id), timeout=30):
                    raise RuntimeError(f"issue {issue_id} never reached the client")
                got = arrived[issue_id]
            accepted_wall = next(
                r.at
                for r in reversed(service.received)
                if r.target == "staff" and r.body.get("issue_id") == issue_id
            )
            if n < 5:
                continue
            api_to_client.append((got - sent) * 1000)
            api_response.append((answered - sent) * 1000)
            # the service's accept time (wall clock) mapped onto perf_counter through `sent`
            service_to_client.append((got - (sent + (accepted_wall - before_wall))) * 1000)
    finally:
        client.close()
    return {
        "api_to_client_ms": summary(api_to_client),
        "service_to_client_ms": summary(service_to_client),
        "api_response_ms": summary(api_response),
    }


def _make_users() -> tuple[uuid.UUID, uuid.UUID]:
    from trackly import db
    from trackly.auth.passwords import hash_password
    from trackly.models import Role, User

    tag = uuid.uuid4().hex[:8]
    digest = hash_password("bench-password-123")
    with db.session_scope() as session:
        staff = User(
            email=f"rt-staff-{tag}@{BENCH_EMAIL_DOMAIN}",
            full_name="RT Staff",
            role=Role.MAINTAINER,
            password_hash=digest,
        )
        reporter = User(
            email=f"rt-rep-{tag}@{BENCH_EMAIL_DOMAIN}",
            full_name="RT Reporter",
            role=Role.REPORTER,
            password_hash=digest,
        )
        session.add_all([staff, reporter])
        session.flush()
        return staff.id, reporter.id


def _sign_in(user_id: uuid.UUID) -> str:
    """An access token of a real sign-in session (as login starts one), so the timed requests
    pay for the session check production does. Deleting the user deletes the session."""
    from trackly import db
    from trackly.auth.sessions import start_session
    from trackly.config import get_settings
    from trackly.models import User

    with db.session_scope() as session:
        user = session.get(User, user_id)
        assert user is not None
        return start_session(user, session=session, settings=get_settings()).tokens.access_token


def _delete_synthetic(*ids: uuid.UUID) -> None:
    """Remove the bench users, their issues and those issues' events (nothing else refers to them)."""
    from sqlalchemy import text

    from trackly import db

    with db.session_scope() as session:
        params = {"ids": list(ids)}
        session.execute(
            text("DELETE FROM events WHERE issue_id IN (SELECT id FROM issues WHERE created_by = ANY(:ids))"),
            params,
        )
        session.execute(text("DELETE FROM events WHERE actor_id = ANY(:ids)"), params)
        session.execute(text("DELETE FROM issues WHERE created_by = ANY(:ids)"), params)
        session.execute(text("DELETE FROM users WHERE id = ANY(:ids)"), params)


if __name__ == "__main__":
    main()
