"""Helpers for the multi-instance and fault suites: local-host processes and a cuttable TCP proxy."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from sqlalchemy.engine import URL

from tests.conftest import BASE_ENV
from trackly.local.loopback import free_port

ROOT = Path(__file__).resolve().parents[2]


class HostProcess:
    """`python -m trackly serve --no-timers --no-seed` on a free port, against `database_url`."""

    def __init__(self, database_url: str, **env: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/api"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_STORAGE", "WEBPUBSUB"))}
        full_env.update(BASE_ENV)
        full_env.update(DATABASE_URL=database_url, **env)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "trackly", "serve", "--port", str(self.port), "--no-timers", "--no-seed"],
            cwd=ROOT,
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._wait()

    def _wait(self, timeout: float = 180) -> None:  # generous: a loaded machine is not a failure
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"local host exited: {self.proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                requests.get(f"{self.base_url}/openapi.json", timeout=2)
                return
            except (requests.ConnectionError, requests.Timeout):  # not up yet, or a busy machine
                time.sleep(0.2)
        raise RuntimeError("local host did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class TcpProxy:
    """A loopback TCP forwarder that can be cut (refuse + drop) and restored, or frozen: connections
    stay open and new ones are accepted, but nothing is forwarded (a hung peer or stalled link,
    which is what SIGSTOP does to a server) until `thaw`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        # A host that is a directory is a Unix socket directory, as libpq reads it (the embedded
        # PostgreSQL listens only there): forward to its `.s.PGSQL.<port>` socket.
        self.target = (target_host, target_port)
        self._unix = target_host.startswith("/")
        self.port = free_port()
        self._up = threading.Event()
        self._up.set()
        self._flowing = threading.Event()
        self._flowing.set()
        self.held_chunks = 0  # chunks that arrived while frozen (a request is waiting on us)
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(64)
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._up.is_set():
                client.close()  # "connection refused/reset" while cut
                continue
            self._flowing.wait()  # frozen: the handshake completes (backlog), then silence
            try:
                upstream = self._connect_upstream()
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)  # an idle or stalled link must not be closed by the proxy
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @classmethod
    def for_database(cls, url: URL) -> tuple[TcpProxy, str]:
        """A proxy in front of the server of `url` (TCP or Unix socket) and the URL through it."""
        socket_dir = url.query.get("host")
        if isinstance(socket_dir, str) and socket_dir:
            proxy = cls(socket_dir, url.port or 5432)
        else:
            proxy = cls(url.host or "127.0.0.1", url.port or 5432)
        through = url.difference_update_query(["host"]).set(host="127.0.0.1", port=proxy.port)
        return proxy, through.render_as_string(hide_password=False)

    def _connect_upstream(self) -> socket.socket:
        if not self._unix:
            return socket.create_connection(self.target, timeout=5)
        upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        upstream.settimeout(5)
        upstream.connect(f"{self.target[0]}/.s.PGSQL.{self.target[1]}")
        return upstream

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if not self._flowing.is_set():
                    with self._lock:
                        self.held_chunks += 1
                    self._flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def cut(self) -> None:
        """Drop every open connection and refuse new ones."""
        self._up.clear()
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self) -> None:
        self._up.set()

    def freeze(self) -> None:
        with self._lock:
            self.held_chunks = 0
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def close(self) -> None:
        self._stopped = True
        self._flowing.set()
        self.cut()
        self._listener.close()
