"""The SMTP transport over STARTTLS with AUTH and over implicit TLS, against the real aiosmtpd
server with a certificate from a throwaway CA (trustme), and the local mail server as `make run` starts it."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.email.conftest import TlsFiles
from trackly.config import Settings, get_settings
from trackly.email.transport import SendFailed, SmtpTransport, open_transport
from trackly.local.mail import LocalMailServer


def _server_context(certificate: TlsFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate.chain, certificate.key)
    return context


def _message() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "notifications@trackly.test"
    message["To"] = "rita@example.com"
    message["Subject"] = "Hello"
    message.set_content("Over TLS")
    return message


def _settings(**values: object) -> Settings:
    return get_settings().model_copy(update={"SMTP_HOST": "127.0.0.1", "SMTP_TIMEOUT_SECONDS": 10, **values})


def test_starttls_with_auth(tmp_path: Path, certificate: TlsFiles, database_url: str) -> None:
    server = LocalMailServer(
        tmp_path, tls_context=_server_context(certificate), require_starttls=True, auth=("trackly", "s3cret")
    ).start()
    client_context = ssl.create_default_context(cafile=str(certificate.ca))
    try:
        good = SmtpTransport(
            _settings(
                SMTP_PORT=server.port,
                SMTP_SECURITY="starttls",
                SMTP_USERNAME="trackly",
                SMTP_PASSWORD="s3cret",
            ),
            ssl_context=client_context,
        )
        good.send(_message())
        good.close()
        assert server.wait_for(1)[0]["Subject"] == "Hello"
        # Without TLS the server refuses to go on; with a wrong password it refuses the login.
        for settings in (
            _settings(SMTP_PORT=server.port, SMTP_SECURITY="none"),
            _settings(
                SMTP_PORT=server.port,
                SMTP_SECURITY="starttls",
                SMTP_USERNAME="trackly",
                SMTP_PASSWORD="wrong",
            ),
        ):
            transport = SmtpTransport(settings, ssl_context=client_context)
            with pytest.raises(SendFailed) as failed:
                transport.send(_message())
            assert failed.value.permanent is False  # a setup problem, not the recipient's fault
            transport.close()
        assert len(server.messages) == 1
    finally:
        server.stop()


def test_implicit_tls(tmp_path: Path, certificate: TlsFiles, database_url: str) -> None:
    server = LocalMailServer(tmp_path, implicit_tls_context=_server_context(certificate)).start()
    try:
        transport = SmtpTransport(
            _settings(SMTP_PORT=server.port, SMTP_SECURITY="tls"),
            ssl_context=ssl.create_default_context(cafile=str(certificate.ca)),
        )
        transport.send(_message())
        transport.close()
        assert server.wait_for(1)[0].get_body(("plain",)).get_content().strip() == "Over TLS"
        # A client that does not trust the certificate never sends.
        untrusting = SmtpTransport(_settings(SMTP_PORT=server.port, SMTP_SECURITY="tls"))
        with pytest.raises(SendFailed):
            untrusting.send(_message())
        assert len(server.messages) == 1
    finally:
        server.stop()


def test_make_run_starts_a_local_server_and_points_the_app_at_it(
    tmp_path: Path, settings_env: Callable[..., None]
) -> None:
    settings_env(
        SMTP_HOST=None,
        ACS_EMAIL_ENDPOINT=None,
        EMAIL_TRANSPORT=None,
        SMTP_PORT=None,
        SMTP_SECURITY=None,
        EMAIL_FROM=None,
        EMAIL_INBOUND_DOMAIN=None,
        EMAIL_INBOUND_SECRET=None,
        API_PUBLIC_URL=None,
    )
    from trackly.local.mail import start_for_local_host

    assert get_settings().email_transport is None
    server = start_for_local_host(tmp_path, api_base="http://127.0.0.1:7071/api", port=0)
    assert server is not None
    try:
        settings = get_settings()
        assert settings.email_transport == "smtp" and server.port == settings.SMTP_PORT
        assert settings.EMAIL_INBOUND_DOMAIN == "reply.localhost" and settings.EMAIL_INBOUND_SECRET
        transport = open_transport(settings)
        assert transport is not None
        transport.send(_message())
        transport.close()
        assert len(server.wait_for(1)) == 1 and len(list(tmp_path.glob("*.eml"))) == 1
        # Configured already: nothing more is started.
        assert start_for_local_host(tmp_path, api_base="http://127.0.0.1:7071/api", port=0) is None
    finally:
        server.stop()
