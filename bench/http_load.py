"""Through HTTP: requests/s and latency through the local host with 1, 8 and 32 clients.

The load generator is pure Python (one thread and one keep-alive `http.client` connection per
client, run in a separate process from the server). It shares this machine's CPUs with the
server, so the figures are a floor for the server, not a ceiling. The baseline is a bare WSGI
"hello" app served by the same werkzeug threaded server: the cost of the host itself.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import app_environment, percentile
from trackly.local.loopback import free_port

ROOT = Path(__file__).resolve().parents[1]

_BARE_SERVER = """
import sys
from werkzeug.serving import make_server
def app(environ, start_response):
    body = b'{"status":"ok"}'
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
server = make_server("127.0.0.1", int(sys.argv[1]), app, threaded=True)
print("ready", flush=True)
server.serve_forever()
"""


def wait_ready(port: int, path: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not answer {path} within {timeout} s")


def start_local_host(url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, **app_environment(url)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "trackly", "serve", "--port", str(port), "--no-timers", "--no-seed"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_ready(port, "/api/health")
    return proc


def start_bare(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _BARE_SERVER, str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_ready(port, "/")
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def load(
    *, port: int, path: str, headers: dict[str, str], clients: int, duration: float, max_requests: int
) -> dict:
    """Closed loop: each client sends its next request when the previous answer arrived."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.perf_counter() + duration
    per_client = max(1, max_requests // clients)
    start = threading.Barrier(clients + 1)

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        start.wait()
        mine = latencies[i]
        while time.perf_counter() < deadline and len(mine) < per_client:
            t = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                errors[i] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            mine.append((time.perf_counter() - t) * 1000)
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    all_lat = sorted(x for lst in latencies for x in lst)
    return {
        "clients": clients,
        "requests": len(all_lat),
        "seconds": elapsed,
        "rps": len(all_lat) / elapsed if elapsed else 0.0,
        "p50_ms": percentile(all_lat, 50),
        "p99_ms": percentile(all_lat, 99),
        "errors": sum(errors),
        "statuses": statuses,
    }


def _load_in_subprocess(
    *, port: int, path: str, headers: dict[str, str], clients: int, duration: float, max_requests: int
) -> dict:
    """Run the load generator in its own interpreter, so its GIL is not the server's."""
    code = (
        "import json,sys; from bench.http_load import load; "
        "a=json.loads(sys.argv[1]); print(json.dumps(load(**a)))"
    )
    args = {
        "port": port,
        "path": path,
        "headers": headers,
        "clients": clients,
        "duration": duration,
        "max_requests": max_requests,
    }
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(
    url: str,
    token: str,
    levels: tuple[int, ...] = (1, 8, 32),
    duration: float = 5.0,
    max_requests: int = 20000,
) -> dict[str, Any]:
    results: dict[str, Any] = {"levels": list(levels), "duration_s": duration, "targets": {}}
    app_port, bare_port = free_port(), free_port()
    app = start_local_host(url, app_port)
    bare = start_bare(bare_port)
    try:
        auth = {"Authorization": f"Bearer {token}"}
        targets = {
            "GET /api/issues (20, maintainer)": (app_port, "/api/issues?limit=20", auth),
            "GET /api/health": (app_port, "/api/health", {}),
            "bare werkzeug hello (baseline)": (bare_port, "/", {}),
        }
        for name, (port, path, headers) in targets.items():
            _load_in_subprocess(
                port=port, path=path, headers=headers, clients=1, duration=1.0, max_requests=50
            )
            results["targets"][name] = [
                _load_in_subprocess(
                    port=port,
                    path=path,
                    headers=headers,
                    clients=c,
                    duration=duration,
                    max_requests=max_requests,
                )
                for c in levels
            ]
    finally:
        stop(app)
        stop(bare)
    return results
