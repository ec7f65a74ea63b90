"""Fixtures for email: the local SMTP server (aiosmtpd, real SMTP on a free loopback port) and
the app pointed at it."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.realtime.conftest import webpubsub, wps_server
from trackly.local.mail import LocalMailServer

__all__ = ["certificate", "mail", "webpubsub", "wps_server"]

INBOUND_DOMAIN = "reply.trackly.test"
INBOUND_SECRET = "inbound-secret-for-tests-0123456789"


@pytest.fixture
def mail(tmp_path: Path, settings_env: Callable[..., None], live_server: str) -> Iterator[LocalMailServer]:
    server = LocalMailServer(
        tmp_path / "mail",
        inbound_domain=INBOUND_DOMAIN,
        inbound_url=f"{live_server}/inbound/email",
        inbound_secret=INBOUND_SECRET,
    ).start()
    settings_env(
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=server.port,
        SMTP_SECURITY="none",
        EMAIL_FROM="Trackly <notifications@trackly.test>",
        API_PUBLIC_URL=live_server,
        EMAIL_INBOUND_DOMAIN=INBOUND_DOMAIN,
        EMAIL_INBOUND_SECRET=INBOUND_SECRET,
        EMAIL_TRANSPORT="auto",
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1 (cert, key), made here."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path
