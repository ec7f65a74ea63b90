"""Secret rotation (both secrets verify for 24 hours, with the independent verifier) and TLS to a
pinned address: the certificate is checked against the URL's host name, sent as SNI."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme
from sqlalchemy import text
from sqlalchemy.engine import Engine
from standardwebhooks.webhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

from tests.support.api import Api
from tests.support.receiver import Receiver, receiving
from tests.webhooks.conftest import create_hook, make_issue, run_timer
from trackly import clock


def test_during_a_rotation_old_and_new_secret_both_verify(
    as_admin: Api, receiver: Receiver, local_targets: Any, engine: Engine
) -> None:
    hook = create_hook(as_admin, receiver.url())
    old = hook["secret"]
    resp = as_admin.post(f"webhooks/{hook['id']}/rotate-secret")
    assert resp.status_code == 200, resp.text
    new = resp.json()["secret"]
    assert new != old and new.startswith("whsec_")
    rotated_at = datetime.now(UTC)
    make_issue(as_admin)
    run_timer()
    (during,) = receiver.requests
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert Verifier(old).verify(during.body, during.headers) == Verifier(new).verify(
        during.body, during.headers
    )

    # After the window only the new secret signs (the timestamp header stays real time, so the
    # verifier's freshness check still holds).
    make_issue(as_admin)
    with clock.frozen(rotated_at + timedelta(hours=24, minutes=1)):
        with engine.begin() as conn:  # the new delivery is due at the frozen time too
            conn.execute(
                text("UPDATE webhook_deliveries SET next_attempt_at = now() WHERE status = 'pending'")
            )
        run_timer()
    after = receiver.wait_for(2)[1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    Verifier(new).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        Verifier(old).verify(after.body, after.headers)
    assert as_admin.get(f"webhooks/{hook['id']}").json()["previous_secret_valid_until"] is not None


def test_a_tampered_body_does_not_verify(as_admin: Api, receiver: Receiver, local_targets: Any) -> None:
    hook = create_hook(as_admin, receiver.url())
    make_issue(as_admin)
    run_timer()
    (got,) = receiver.requests
    with pytest.raises(WebhookVerificationError):
        Verifier(hook["secret"]).verify(got.body.replace(b"Printer", b"Scanner"), got.headers)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_bundle(ca: trustme.CA, tmp_path: Path, local_targets: Any) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    local_targets(WEBHOOK_CA_BUNDLE=str(path))
    return str(path)


def _tls_receiver(ca: trustme.CA, name: str) -> Iterator[Receiver]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)
    with receiving(tls=context) as r:
        yield r


@pytest.fixture
def tls_localhost(ca: trustme.CA) -> Iterator[Receiver]:
    yield from _tls_receiver(ca, "localhost")


@pytest.fixture
def tls_other_name(ca: trustme.CA) -> Iterator[Receiver]:
    yield from _tls_receiver(ca, "hooks.example.test")


def test_https_to_the_checked_address_verifies_the_name(
    as_admin: Api, tls_localhost: Receiver, ca_bundle: str
) -> None:
    hook = create_hook(as_admin, tls_localhost.url(host="localhost"))
    make_issue(as_admin)
    assert run_timer().succeeded == 1
    (got,) = tls_localhost.requests
    assert got.headers["host"] == f"localhost:{tls_localhost.port}"
    Verifier(hook["secret"]).verify(got.body, got.headers)


def test_a_certificate_for_another_name_is_refused(
    as_admin: Api, tls_other_name: Receiver, ca_bundle: str
) -> None:
    hook = create_hook(as_admin, tls_other_name.url(host="localhost"))
    make_issue(as_admin)
    run = run_timer()
    assert run.failed == 1 and run.succeeded == 0
    assert tls_other_name.requests == []
    (delivery,) = as_admin.get(f"webhooks/{hook['id']}/deliveries").json()["items"]
    assert delivery["last_error"] == "tls_error" and delivery["status"] == "pending"
