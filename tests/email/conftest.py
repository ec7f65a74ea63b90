"""Fixtures for email: the local SMTP server (aiosmtpd, real SMTP on a free loopback port) and
the app pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
import trustme

from tests.realtime.conftest import webpubsub, wps_server
from trackly.local.mail import LocalMailServer

__all__ = ["TlsFiles", "certificate", "mail", "webpubsub", "wps_server"]

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


class TlsFiles(NamedTuple):
    chain: Path  # the server's certificate chain (PEM)
    key: Path  # its private key (PEM)
    ca: Path  # the CA a client trusts (PEM)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A certificate for localhost and 127.0.0.1 from a throwaway CA (trustme), as files."""
    ca = trustme.CA()
    issued = ca.issue_cert("localhost", "127.0.0.1")
    folder = tmp_path_factory.mktemp("tls")
    files = TlsFiles(folder / "chain.pem", folder / "key.pem", folder / "ca.pem")
    issued.cert_chain_pems[0].write_to_path(str(files.chain))
    for pem in issued.cert_chain_pems[1:]:
        pem.write_to_path(str(files.chain), append=True)
    issued.private_key_pem.write_to_path(str(files.key))
    ca.cert_pem.write_to_path(str(files.ca))
    return files
