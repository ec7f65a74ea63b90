"""A real SMTP server on 127.0.0.1 for development and tests (aiosmtpd).

Every message it accepts is kept as an `.eml` file under `.trackly/mail/` (or the directory
given) and printed as one line. Messages to `reply+…@EMAIL_INBOUND_DOMAIN` are also handed to
`POST /inbound/email` with the shared secret, as an inbound mail provider would, so replying by
email works on one machine. Addresses in `refuse` get a permanent 550 at RCPT, like a server
that knows no such mailbox.

    server = LocalMailServer(directory).start()   # server.port, server.messages, server.wait_for(n)
"""

from __future__ import annotations

import asyncio
import atexit
import email
import email.policy
import logging
import threading
import time
import urllib.request
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from trackly.local.loopback import free_port, port_is_free

log = logging.getLogger("trackly.local.mail")
# aiosmtpd logs every SMTP command at INFO; the server prints its own line per message instead.
logging.getLogger("mail.log").setLevel(logging.WARNING)

DEFAULT_PORT = 8025


class _Handler:
    def __init__(self, server: LocalMailServer) -> None:
        self.server = server

    async def handle_RCPT(self, smtp: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.lower() in self.server.refuse:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.original_content or envelope.content)
        message = self.server.keep(raw, envelope.mail_from, list(envelope.rcpt_tos))
        inbound = [r for r in envelope.rcpt_tos if self.server.is_inbound(r)]
        if inbound and self.server.inbound_url:
            await asyncio.get_running_loop().run_in_executor(None, self.server.hand_over, raw, message)
        return "250 Message accepted for delivery"


class LocalMailServer:
    def __init__(
        self,
        directory: Path,
        *,
        port: int = 0,
        echo: bool = False,
        inbound_domain: str = "",
        inbound_url: str = "",
        inbound_secret: str = "",
        tls_context: Any = None,
        require_starttls: bool = False,
        implicit_tls_context: Any = None,
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.echo = echo
        self.inbound_domain = inbound_domain.lower()
        self.inbound_url = inbound_url
        self.inbound_secret = inbound_secret
        self.refuse: set[str] = set()
        self.messages: list[EmailMessage] = []
        self.handed_over: list[int] = []  # the endpoint's status for each reply handed over
        self._lock = threading.Condition()
        self._count = 0
        self._controller_args: dict[str, Any] = {}
        if tls_context is not None:
            self._controller_args |= {"tls_context": tls_context, "require_starttls": require_starttls}
        if implicit_tls_context is not None:
            self._controller_args["ssl_context"] = implicit_tls_context
        if auth is not None:
            self._controller_args |= {
                "authenticator": _Authenticator(*auth),
                "auth_required": True,
                "auth_require_tls": tls_context is not None or implicit_tls_context is not None,
            }
        self._controller: Any = None

    def start(self) -> LocalMailServer:
        from aiosmtpd.controller import Controller

        self.directory.mkdir(parents=True, exist_ok=True)
        self._controller = Controller(
            _Handler(self),
            hostname="127.0.0.1",
            port=self.port,
            server_hostname="localhost",
            **self._controller_args,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def is_inbound(self, address: str) -> bool:
        local, _, domain = address.lower().rpartition("@")
        return bool(self.inbound_domain) and domain == self.inbound_domain and local.startswith("reply+")

    def keep(self, raw: bytes, sender: str, recipients: list[str]) -> EmailMessage:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self._count += 1
            name = f"{time.strftime('%Y%m%dT%H%M%S')}-{self._count:05d}.eml"
            (self.directory / name).write_bytes(raw)
            self.messages.append(message)
            self._lock.notify_all()
        if self.echo:
            print(f"mail         {', '.join(recipients)}: {message['Subject']} ({name})", flush=True)
        return message

    def hand_over(self, raw: bytes, message: EmailMessage) -> None:
        request = urllib.request.Request(  # noqa: S310 (the app's own loopback URL)
            self.inbound_url,
            data=raw,
            method="POST",
            headers={"Content-Type": "message/rfc822", "X-Inbound-Secret": self.inbound_secret},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback URL from settings)
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError as exc:
            log.warning("could not hand a reply to %s: %s", self.inbound_url, exc)
            status = 0
        with self._lock:
            self.handed_over.append(status)
            self._lock.notify_all()
        if self.echo:
            print(f"mail         reply handed to the app: {status}", flush=True)

    def wait_for(self, count: int, *, timeout: float = 30.0) -> list[EmailMessage]:
        """Block until at least `count` messages arrived (bounded; raises on timeout)."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.messages) >= count, timeout=timeout):
                raise TimeoutError(f"expected {count} messages, got {len(self.messages)}")
            return list(self.messages)

    def wait_for_handovers(self, count: int, *, timeout: float = 30.0) -> list[int]:
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.handed_over) >= count, timeout=timeout):
                raise TimeoutError(f"expected {count} handovers, got {len(self.handed_over)}")
            return list(self.handed_over)


class _Authenticator:
    """AUTH PLAIN/LOGIN against one username and password."""

    def __init__(self, username: str, password: str) -> None:
        self.username, self.password = username.encode(), password.encode()

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.username
            and auth_data.password == self.password
        )
        return AuthResult(success=ok)


def start_for_local_host(
    directory: Path, *, api_base: str, port: int = DEFAULT_PORT
) -> LocalMailServer | None:
    """What `python -m trackly serve` calls: when no email transport is configured, start the
    server, point SMTP_HOST/SMTP_PORT at it (no TLS on loopback), and hand replies to the app."""
    import os
    import secrets

    from trackly.config import get_settings, reset_settings

    settings = get_settings()
    if settings.email_transport is not None:
        return None
    os.environ.setdefault("EMAIL_INBOUND_DOMAIN", "reply.localhost")
    os.environ.setdefault("EMAIL_INBOUND_SECRET", secrets.token_urlsafe(24))
    os.environ.setdefault("EMAIL_FROM", "Trackly <notifications@trackly.localhost>")
    os.environ.setdefault("API_PUBLIC_URL", api_base)
    server = LocalMailServer(
        directory,
        port=port if port_is_free(port) else 0,
        echo=True,
        inbound_domain=os.environ["EMAIL_INBOUND_DOMAIN"],
        inbound_url=f"{api_base}/inbound/email",
        inbound_secret=os.environ["EMAIL_INBOUND_SECRET"],
    ).start()
    atexit.register(server.stop)
    os.environ |= {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(server.port), "SMTP_SECURITY": "none"}
    reset_settings()
    print(f"Mail (SMTP)  127.0.0.1:{server.port} (local server; messages kept in {directory})")
    return server
