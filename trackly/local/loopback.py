"""Loopback ports for the local stand-ins (Azurite, Web PubSub, the local host) and their tests."""

from __future__ import annotations

import socket


class PortTaken(RuntimeError):
    """A port the user chose (an option or a setting) is already in use."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether `port` can be bound on `host` now (a fixed default port may be taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port the kernel just handed out on 127.0.0.1 (free at that moment)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
