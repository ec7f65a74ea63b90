"""How an email leaves: SMTP (any relay, including Azure Communication Services' SMTP endpoint)
or Azure Communication Services Email through its SDK with the app's managed identity. Both
behind one interface; `open_transport` picks one from the settings (None: email is off).

A transport raises `SendFailed` with `permanent=True` when the server refused the message for
good (an SMTP 5xx for the recipient): that address is then switched off. Anything else
(connection refused, timeouts, 4xx) is temporary and is retried with backoff.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import getaddresses
from types import TracebackType
from typing import Any, Protocol

from trackly.config import Settings

log = logging.getLogger("trackly.email")


class SendFailed(Exception):
    def __init__(self, detail: str, *, permanent: bool, connection_lost: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.permanent = permanent
        self.connection_lost = connection_lost


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...

    def close(self) -> None: ...


class SmtpTransport:
    """One SMTP connection per timer run, opened on the first message."""

    def __init__(self, settings: Settings, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._settings = settings
        self._context = ssl_context or ssl.create_default_context()
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self._settings
        smtp: smtplib.SMTP
        if s.SMTP_SECURITY == "tls":
            smtp = smtplib.SMTP_SSL(
                s.SMTP_HOST, s.SMTP_PORT, timeout=s.SMTP_TIMEOUT_SECONDS, context=self._context
            )
        else:
            smtp = smtplib.SMTP(s.SMTP_HOST, s.SMTP_PORT, timeout=s.SMTP_TIMEOUT_SECONDS)
        try:
            smtp.ehlo()
            if s.SMTP_SECURITY == "starttls":
                smtp.starttls(context=self._context)
                smtp.ehlo()
            if s.SMTP_USERNAME:
                smtp.login(s.SMTP_USERNAME, s.SMTP_PASSWORD)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: EmailMessage) -> None:
        if self._smtp is None:
            try:
                self._smtp = self._connect()
            except (smtplib.SMTPException, OSError) as exc:
                # Connection, TLS or login: the server or the settings, not this recipient.
                raise SendFailed(_describe(exc), permanent=False, connection_lost=True) from None
        try:
            refused = self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            raise SendFailed(f"{code} {_text(text)}", permanent=code >= 500) from None
        except smtplib.SMTPResponseException as exc:
            # Sender or message refused: retried, and given up after EMAIL_MAX_ATTEMPTS; only a
            # refused recipient turns that user's email off.
            raise SendFailed(f"{exc.smtp_code} {_text(exc.smtp_error)}", permanent=False) from None
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise SendFailed(_describe(exc), permanent=False, connection_lost=True) from None
        if refused:  # several recipients, some refused: we only ever send to one
            code, text = next(iter(refused.values()))
            raise SendFailed(f"{code} {_text(text)}", permanent=code >= 500)

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()


def _describe(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    return f"{type(exc).__name__}: {exc}"[:250]


def _text(value: bytes | str) -> str:
    return (value.decode(errors="replace") if isinstance(value, bytes) else value)[:250]


class AcsTransport:
    """Azure Communication Services Email (`azure-communication-email`), authenticated with a
    token credential: the app's managed identity, never a key."""

    def __init__(self, settings: Settings, *, credential: Any = None, **client_options: Any) -> None:
        from azure.communication.email import EmailClient  # heavy SDK: imported on first use

        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        self._client = EmailClient(settings.ACS_EMAIL_ENDPOINT, credential, **client_options)
        self._timeout = settings.SMTP_TIMEOUT_SECONDS

    def send(self, message: EmailMessage) -> None:
        from azure.core.exceptions import HttpResponseError, ServiceRequestError

        try:
            poller = self._client.begin_send(to_acs(message), polling_interval=1)
            result = poller.result(timeout=self._timeout * 3)
        except HttpResponseError as exc:
            code = exc.status_code or 0
            if _operation_failed(exc):  # the service took it, then could not deliver it
                raise SendFailed(f"Failed: {exc.message}"[:250], permanent=True) from None
            # Other 4xx are about our request (schema, sender domain, auth): not the recipient.
            raise SendFailed(f"{code} {exc.reason or exc.message}"[:250], permanent=False) from None
        except ServiceRequestError as exc:
            raise SendFailed(str(exc)[:250], permanent=False, connection_lost=True) from None
        status = str((result or {}).get("status", ""))
        if status.lower() != "succeeded":
            error = (result or {}).get("error") or {}
            raise SendFailed(
                f"{status}: {error.get('message', '')}"[:250], permanent=status.lower() == "failed"
            )

    def close(self) -> None:
        self._client.close()


def _operation_failed(exc: Any) -> bool:
    try:
        return str(exc.response.json().get("status", "")).lower() == "failed"
    except Exception:  # no JSON body
        return False


def to_acs(message: EmailMessage) -> dict[str, Any]:
    """The SDK's message shape (senderAddress, recipients, content, headers, replyTo)."""
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    headers = {
        name: str(message[name])
        for name in ("Message-ID", "In-Reply-To", "References", "List-Unsubscribe", "List-Unsubscribe-Post")
        if message[name]
    }
    out: dict[str, Any] = {
        "senderAddress": getaddresses([str(message["From"])])[0][1],
        "recipients": {"to": [{"address": a} for _, a in getaddresses([str(message["To"])])]},
        "content": {
            "subject": str(message["Subject"]),
            "plainText": plain.get_content() if plain else "",
            **({"html": html.get_content()} if html else {}),
        },
        "headers": headers,
    }
    if message["Reply-To"]:
        out["replyTo"] = [{"address": a} for _, a in getaddresses([str(message["Reply-To"])])]
    return out


def open_transport(settings: Settings) -> Transport | None:
    kind = settings.email_transport
    if kind == "smtp":
        return SmtpTransport(settings)
    if kind == "acs":
        return AcsTransport(settings)
    return None


class opened:
    """`with opened(transport):` closes it however the run ends."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def __enter__(self) -> Transport:
        return self.transport

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.transport.close()
