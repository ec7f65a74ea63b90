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

It prints the POST-to-page latencies it measured (figures, not assertions).

A second run loads tests/realtime/browser/original.html, a page shaped like the original client's
code, with the documented change to it (the `original-client-connect` block of the docs, taken
as written) and checks `messages: 'original'`: the original event names and `data` shapes (a
status change is `issue_updated` carrying the issue, `created_by` included, so the reporter
dashboard toasts it), only the original types, and a page left idle past its access token's
lifetime (ACCESS_TOKEN_EXPIRE_MINUTES=0.1) refreshing and receiving again after its socket drops,
without its error handler ever running."""

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


SNIPPET_MARKER = "<!-- tested: original-client-connect"


def documented_snippet() -> str:
    """The documented change to the original client: the js block after the marker, in whichever
    docs page holds it (the docs may move; exactly one page holds it)."""
    found = []
    for page in sorted((ROOT / "docs").rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        if SNIPPET_MARKER in text:
            after = text[text.index(SNIPPET_MARKER) :]
            block = after.split("```js\n", 1)[1].split("\n```", 1)[0]
            found.append(block)
    assert len(found) == 1, f"expected one docs page with {SNIPPET_MARKER!r}, found {len(found)}"
    return found[0]


@pytest.fixture
def page_origin(tmp_path: Path) -> Iterator[str]:
    """The test pages served on a free loopback port (the page's own origin): page.html as it
    is, original.html with the documented snippet in place of its marker."""
    (tmp_path / "page.html").write_bytes((HERE / "page.html").read_bytes())
    template = (HERE / "original.html").read_text(encoding="utf-8")
    assert template.count("/*@@CONNECT@@*/") == 1
    (tmp_path / "original.html").write_text(
        template.replace("/*@@CONNECT@@*/", documented_snippet()), encoding="utf-8"
    )

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _preconditions() -> None:
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)"
    assert shutil.which("node"), "node is missing"
    assert (ROOT / "node_modules" / "playwright-core").exists(), (
        "playwright-core is missing: run `npm install`"
    )


def _run(config: dict[str, Any]) -> dict[str, Any]:
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
    print(result.stdout)
    figures: dict[str, Any] = next(
        json.loads(line) for line in result.stdout.splitlines() if line.startswith('{"result"')
    )["result"]
    return figures


def _config(page: str, live_server: str, webpubsub: LocalWebPubSub, people: dict[str, Any]) -> dict[str, Any]:
    return {
        "page": f"{page}/page.html",
        "original": f"{page}/original.html",
        "api": live_server,
        "chromium": CHROMIUM,
        "webpubsub": {"endpoint": webpubsub.endpoint, "accessKey": webpubsub.access_key, "hub": "trackly"},
        "users": {
            name: {"email": user.email, "password": "password123", "id": str(user.id)}
            for name, user in people.items()
        },
    }


def test_live_updates_in_a_real_browser(
    webpubsub: LocalWebPubSub, live_server: str, users: Any, settings_env: Any, page_origin: str
) -> None:
    _preconditions()
    settings_env(TRACKLY_ALLOWED_ORIGINS=page_origin)
    people = {"staff": users("MAINTAINER"), "alice": users("REPORTER"), "bob": users("REPORTER")}
    figures = _run(_config(page_origin, live_server, webpubsub, people))
    print(f"\nPOST-to-page latency (ms): {figures['post_to_page_ms']} median {figures['median_ms']}")
    assert len(figures["staff_event_ids"]) == len(set(figures["staff_event_ids"])) == 12


def test_the_original_client_with_the_documented_change(
    webpubsub: LocalWebPubSub, live_server: str, users: Any, settings_env: Any, page_origin: str
) -> None:
    _preconditions()
    # The setup the frontend docs give for this client (rotation off), and tokens that expire
    # while the page sits idle.
    settings_env(
        TRACKLY_ALLOWED_ORIGINS=page_origin, REFRESH_TOKEN_ROTATION="false", ACCESS_TOKEN_EXPIRE_MINUTES="0.1"
    )
    people = {
        "staff": users("MAINTAINER"),
        "admin": users("ADMIN"),
        "alice": users("REPORTER"),
        "bob": users("REPORTER"),
    }
    figures = _run({**_config(page_origin, live_server, webpubsub, people), "scenario": "original"})
    assert figures["original_messages"] == 6
    assert figures["refreshes"] >= 1


def test_the_documented_snippet_is_the_async_connect() -> None:
    """What the docs print compiles as the start of an async function and uses the original
    messages, the token callback and the refresh (the test page runs it as written)."""
    snippet = documented_snippet()
    assert "async function connect()" in snippet
    assert "messages: 'original'" in snippet
    assert "getToken: () => localStorage.getItem('access_token')" in snippet
    assert "onUnauthorized" in snippet
