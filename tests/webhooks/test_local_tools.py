"""`make run` says how to try webhooks, and `python -m trackly webhook-receiver` verifies what the
local host sends it (with the independent `standardwebhooks` package)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import requests

from tests.foundation.test_local_host_defaults import _admin_login, _bare_env, _serve, _stop
from trackly.local.loopback import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_the_local_host_prints_the_recipe_and_the_receiver_verifies_a_ping(empty_database: str) -> None:
    proc, base = _serve(empty_database)
    receiver: subprocess.Popen[str] | None = None
    try:
        token = _admin_login(base).json()["tokens"]["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        port = free_port()
        created = requests.post(
            f"{base}/webhooks",
            json={"url": f"http://127.0.0.1:{port}/", "events": ["*"]},
            headers=auth,
            timeout=30,
        )
        assert created.status_code == 201, created.text
        hook = created.json()
        receiver = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "trackly",
                "webhook-receiver",
                "--port",
                str(port),
                "--secret",
                hook["secret"],
            ],
            cwd=ROOT,
            env=_bare_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert receiver.stdout is not None
        ready = receiver.stdout.readline()
        assert "Webhook receiver on" in ready, ready
        lines: list[str] = []
        got_line = threading.Event()

        def read() -> None:
            assert receiver is not None and receiver.stdout is not None
            for line in receiver.stdout:
                lines.append(line)
                got_line.set()

        threading.Thread(target=read, daemon=True).start()
        ping = requests.post(f"{base}/webhooks/{hook['id']}/ping", headers=auth, timeout=30).json()
        assert ping["status"] == "succeeded", ping
        assert got_line.wait(timeout=30)
        assert "ping" in lines[0] and "signature OK" in lines[0], lines
    finally:
        if receiver is not None:
            receiver.terminate()
            receiver.wait(timeout=30)
        output = _stop(proc)
    assert "python -m trackly webhook-receiver" in output
    assert f"POST {base}/webhooks" in output
