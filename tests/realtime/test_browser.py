"""A real browser receives live updates through /api/realtime/client.js.

Headless Debian Chromium (apt package `chromium`, installed by `make browser`, which `make test`
runs) is driven by npm `playwright-core` from tests/realtime/browser/run.mjs. The test page comes
from its own origin (allowed by CORS, like a frontend), imports the module from the API under
test, signs in, and connects to the local Web PubSub service. The script checks that:

- issues another user creates through the API appear on a staff page, pushed over the socket;
- a reporter's page receives their own issue and never another reporter's;
- after the socket is cut (no close frame) and reconnections are refused for a while, the
  changes made meanwhile are caught up from /api/events exactly once, and a repeated delivery
  on the socket is ignored.

It prints the POST-to-page latencies it measured (figures, not assertions)."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from trackly.local.webpubsub import LocalWebPubSub

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@pytest.fixture
def page_origin() -> Iterator[str]:
    """tests/realtime/browser/ served on a free loopback port: the page's own origin."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(HERE)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_live_updates_in_a_real_browser(
    webpubsub: LocalWebPubSub, live_server: str, users: Any, settings_env: Any, page_origin: str
) -> None:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)"
    assert shutil.which("node"), "node is missing"
    assert (ROOT / "node_modules" / "playwright-core").exists(), (
        "playwright-core is missing: run `npm install`"
    )
    settings_env(TRACKLY_ALLOWED_ORIGINS=page_origin)
    people = {"staff": users("MAINTAINER"), "alice": users("REPORTER"), "bob": users("REPORTER")}
    config = {
        "page": f"{page_origin}/page.html",
        "api": live_server,
        "chromium": CHROMIUM,
        "webpubsub": {"endpoint": webpubsub.endpoint, "accessKey": webpubsub.access_key, "hub": "trackly"},
        "users": {
            name: {"email": user.email, "password": "password123", "id": str(user.id)}
            for name, user in people.items()
        },
    }
    result = subprocess.run(  # fixed argv, no shell
        ["node", str(HERE / "run.mjs")],
        cwd=ROOT,
        env={**os.environ, "TRACKLY_BROWSER_TEST": json.dumps(config)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"the browser test failed:\n{output}"
    summary = next(json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"result"'))
    figures = summary["result"]
    print(result.stdout)
    print(f"\nPOST-to-page latency (ms): {figures['post_to_page_ms']} median {figures['median_ms']}")
    assert len(figures["staff_event_ids"]) == len(set(figures["staff_event_ids"])) == 11
