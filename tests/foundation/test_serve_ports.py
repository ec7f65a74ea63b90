"""`python -m trackly serve --azurite-port N --webpubsub-port M` (or TRACKLY_AZURITE_PORT /
TRACKLY_WEBPUBSUB_PORT): two local hosts side by side, each with its own Azurite and local Web
PubSub on the ports it was given, and a chosen port that is taken is refused, not swapped."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from trackly.local.loopback import free_port

ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 90.0  # generous: only a failure waits this long


def _env(database_url: str, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AZURE_STORAGE", "WEBPUBSUB", "TRACKLY_"))
    }
    env.update(DATABASE_URL=database_url, TRACKLY_ENV="development", **extra)
    return env


def _serve(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "trackly", "serve", "--no-timers", "--no-seed", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _healthy(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def _listens(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=WAIT_SECONDS)
    return output


def test_two_hosts_side_by_side_on_the_ports_they_were_given(database_url: str) -> None:
    api = [free_port(), free_port()]
    blob = [free_port(), free_port()]
    pubsub = [free_port(), free_port()]
    first = _serve(
        _env(database_url),
        *("--port", str(api[0]), "--azurite-port", str(blob[0]), "--webpubsub-port", str(pubsub[0])),
    )
    # The second one takes its ports from the settings instead of the options.
    second = _serve(
        _env(database_url, TRACKLY_AZURITE_PORT=str(blob[1]), TRACKLY_WEBPUBSUB_PORT=str(pubsub[1])),
        *("--port", str(api[1])),
    )
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while not (_healthy(api[0]) and _healthy(api[1])):
            for proc in (first, second):
                assert proc.poll() is None, _stop(proc)
            assert time.monotonic() < deadline, "the local hosts did not start"
            time.sleep(0.1)
        for port in (*blob, *pubsub):
            assert _listens(port), port
    finally:
        outputs = [_stop(first), _stop(second)]
        for port in blob:
            shutil.rmtree(ROOT / ".trackly" / f"azurite-{port}", ignore_errors=True)
    for i in (0, 1):
        assert f"Blob storage http://127.0.0.1:{blob[i]}/devstoreaccount1" in outputs[i], outputs[i]
        assert f"Web PubSub   http://127.0.0.1:{pubsub[i]}" in outputs[i], outputs[i]
        assert f"Azurite, data in {ROOT / '.trackly' / f'azurite-{blob[i]}'}" in outputs[i]
    # Both stopped their own Azurite and Web PubSub on the way out.
    for port in (*blob, *pubsub):
        assert not _listens(port), port


def test_a_chosen_port_that_is_taken_is_refused(database_url: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        for args, env in (
            (("--azurite-port", str(taken)), {}),
            (("--webpubsub-port", str(taken)), {}),
            ((), {"TRACKLY_WEBPUBSUB_PORT": str(taken)}),
        ):
            proc = _serve(_env(database_url, **env), "--port", str(free_port()), *args)
            output, _ = proc.communicate(timeout=WAIT_SECONDS)
            assert proc.returncode == 2, output
            assert f"127.0.0.1:{taken}" in output and "in use" in output, output
    proc = _serve(_env(database_url, TRACKLY_AZURITE_PORT="ten"), "--port", str(free_port()))
    output, _ = proc.communicate(timeout=WAIT_SECONDS)
    assert proc.returncode != 0 and "TRACKLY_AZURITE_PORT='ten' is not a port number." in output
