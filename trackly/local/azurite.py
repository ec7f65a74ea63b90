"""Azurite (npm `azurite`) as a child process: the local host's Blob Storage and the tests'.

`start_for_local_host()` is what `python -m trackly serve` calls: when no storage setting is
configured (or it is `UseDevelopmentStorage=true` and nothing listens on 127.0.0.1:10000) and
`node_modules/.bin/azurite-blob` exists, it starts Azurite (blob service only, on 127.0.0.1),
exports AZURE_STORAGE_CONNECTION_STRING for it, configures Blob CORS for the front end and
stops it when the process exits.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from trackly.local.loopback import PortTaken, free_port, port_is_free

ROOT = Path(__file__).resolve().parents[2]
AZURITE_BIN = ROOT / "node_modules" / ".bin" / "azurite-blob"
DEFAULT_PORT = 10000


@dataclass
class AzuriteProcess:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path | None

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/devstoreaccount1"

    @property
    def connection_string(self) -> str:
        from trackly.attachments.storage import dev_connection_string

        return dev_connection_string(self.blob_endpoint)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start(
    *,
    port: int,
    location: Path | None = None,
    log_path: Path | None = None,
    timeout: float = 30.0,
) -> AzuriteProcess:
    """Start azurite-blob on 127.0.0.1:`port` (in memory unless `location`) and wait until it listens."""
    if not AZURITE_BIN.exists():
        raise RuntimeError(
            f"{AZURITE_BIN.relative_to(ROOT)} is missing: run `npm install` (or `make setup`) first."
        )
    args = [
        str(AZURITE_BIN),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--skipApiVersionCheck",
        "--loose",
        "--disableTelemetry",
    ]
    if location is None:
        args.append("--inMemoryPersistence")
    else:
        location.mkdir(parents=True, exist_ok=True)
        args += ["--location", str(location)]
    # A fixed executable and argument list, no shell.
    if log_path:
        with open(log_path, "ab") as log_file:
            process = subprocess.Popen(  # noqa: S603
                args, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
    else:
        process = subprocess.Popen(  # noqa: S603
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
        )
    azurite = AzuriteProcess(process, port, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            hint = f" (see {log_path})" if log_path else ""
            raise RuntimeError(f"Azurite exited with code {process.returncode} while starting{hint}.")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return azurite
        except OSError:
            time.sleep(0.05)
    azurite.stop()
    raise RuntimeError(f"Azurite did not accept connections on 127.0.0.1:{port} within {timeout:.0f} s.")


def _exit_on_sigterm(signum: int, frame: object) -> None:
    sys.exit(128 + signum)


def start_for_local_host(state_dir: Path, *, port: int | None = None) -> AzuriteProcess | None:
    """Start Azurite for `python -m trackly serve` when it is needed and installed (see module doc).

    `port`: None picks 10000, or a free port when 10000 is taken; 0 any free port; another number
    exactly that port (PortTaken when it is in use). Azurite keeps its data in `state_dir`, or in
    `<state_dir>-<port>` on a port other than 10000, so two hosts side by side never share files.
    """
    from trackly.attachments import storage
    from trackly.config import get_settings, reset_settings

    current = os.environ.get("AZURE_STORAGE_CONNECTION_STRING", "").strip()
    dev_storage = current.replace(" ", "").lower().rstrip(";") == "usedevelopmentstorage=true"
    if get_settings().storage_configured and not dev_storage:
        return None
    if not AZURITE_BIN.exists():
        print("Attachments are off: no storage is configured and node_modules/.bin/azurite-blob is missing.")
        return None
    if port is not None:
        if port == 0:
            port = free_port()
        elif not port_is_free(port):
            raise PortTaken(f"Azurite cannot listen on 127.0.0.1:{port}: the port is in use.")
    elif dev_storage:
        if not port_is_free(DEFAULT_PORT):
            return None  # UseDevelopmentStorage=true and something (Azurite, presumably) listens
        port = DEFAULT_PORT
    else:
        port = DEFAULT_PORT if port_is_free(DEFAULT_PORT) else free_port()
    if port != DEFAULT_PORT:
        state_dir = state_dir.with_name(f"{state_dir.name}-{port}")
    state_dir.mkdir(parents=True, exist_ok=True)
    azurite = start(port=port, location=state_dir, log_path=state_dir / "azurite.log")
    atexit.register(azurite.stop)
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    ):
        # Until the host installs its own handler, SIGTERM exits normally so atexit stops Azurite.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    os.environ["AZURE_STORAGE_CONNECTION_STRING"] = azurite.connection_string
    reset_settings()
    storage.reset_clients()
    settings = get_settings()
    store = storage.get_storage(settings)
    store.ensure_container()
    storage.configure_cors(store, settings.cors_origins)
    print(
        f"Blob storage {azurite.blob_endpoint} (Azurite, data in {state_dir}; "
        f"CORS for {', '.join(settings.cors_origins)})"
    )
    return azurite
