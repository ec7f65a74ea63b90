"""The Azure Communication Services transport through Microsoft's SDK (azure-communication-email)
and azure-identity's managed identity credential, against local stand-ins that check the bearer
token, the API version and the message schema."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from sqlalchemy.engine import Engine

from tests.collaboration.helpers import comment
from tests.email.conftest import TlsFiles
from tests.email.helpers import deliveries
from tests.issues.helpers import new_issue
from tests.support.acs_email import LocalAcsEmail, LocalManagedIdentity
from tests.support.api import Api
from trackly.config import Settings, get_settings
from trackly.email import sender
from trackly.email.transport import AcsTransport, SendFailed

SENDER = "DoNotReply@0f1e2d3c.azurecomm.net"


@pytest.fixture
def acs(certificate: TlsFiles, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalAcsEmail]:
    identity = LocalManagedIdentity()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate.chain, certificate.key)
    service = LocalAcsEmail(context, identity, SENDER)
    # What App Service / Functions sets for a managed identity; azure-identity reads it.
    monkeypatch.setenv("IDENTITY_ENDPOINT", identity.endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", identity.secret)
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    yield service
    service.stop()
    identity.stop()


def _settings(acs: LocalAcsEmail, **values: Any) -> Settings:
    return get_settings().model_copy(
        update={
            "SMTP_HOST": "",
            "ACS_EMAIL_ENDPOINT": acs.endpoint,
            "EMAIL_FROM": f"Trackly <{SENDER}>",
            "EMAIL_INBOUND_DOMAIN": "reply.trackly.test",
            **values,
        }
    )


def _transport(acs: LocalAcsEmail, certificate: TlsFiles, **kwargs: Any) -> AcsTransport:
    return AcsTransport(_settings(acs), connection_verify=str(certificate.ca), **kwargs)


def test_a_notification_goes_out_through_the_sdk_with_managed_identity(  # noqa: PLR0917 (fixtures)
    acs: LocalAcsEmail,
    certificate: TlsFiles,
    as_reporter: Api,
    as_maintainer: Api,
    reporter: Any,
    engine: Engine,
) -> None:
    settings = _settings(acs)
    assert settings.email_transport == "acs"
    issue = new_issue(as_reporter, title="Through ACS")
    comment(as_maintainer, issue["id"], "Sent with **ACS**")
    run = sender.run(settings=settings, transport=_transport(acs, certificate))
    assert run.sent == 1, (run, acs.refused)
    [body] = acs.sent
    assert body["senderAddress"] == SENDER
    assert body["recipients"]["to"] == [{"address": reporter.email}]
    assert body["content"]["subject"] == f"[#{issue['id'][:8]}] Through ACS"
    assert "Sent with **ACS**" in body["content"]["plainText"]
    assert "<strong>ACS</strong>" in body["content"]["html"]
    assert body["headers"]["In-Reply-To"] == f"<issue.{issue['id']}@0f1e2d3c.azurecomm.net>"
    assert body["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert body["replyTo"][0]["address"].startswith("reply+")
    assert [d["status"] for d in deliveries(engine)] == ["sent"]


class _ForgedToken:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("not-issued-by-the-identity-endpoint", 4_000_000_000)


def _message() -> Any:
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = "rita@example.com"
    message["Subject"] = "Hello"
    message.set_content("Hi")
    return message


def test_the_stand_in_refuses_what_the_service_refuses(acs: LocalAcsEmail, certificate: TlsFiles) -> None:
    forged = _transport(acs, certificate, credential=_ForgedToken())
    with pytest.raises(SendFailed) as failed:
        forged.send(_message())
    assert failed.value.permanent is False and acs.refused[-1] == (401, "Unauthorized")

    old = _transport(acs, certificate, api_version="2021-10-01-preview")
    with pytest.raises(SendFailed):
        old.send(_message())
    assert acs.refused[-1] == (400, "InvalidApiVersion")

    wrong_sender = _message()
    del wrong_sender["From"]
    wrong_sender["From"] = "someone@elsewhere.example"
    with pytest.raises(SendFailed):
        _transport(acs, certificate).send(wrong_sender)
    assert acs.refused[-1] == (400, "DomainNotLinked")
    assert acs.sent == []


def test_an_undeliverable_address_is_a_permanent_refusal(acs: LocalAcsEmail, certificate: TlsFiles) -> None:
    acs.undeliverable.add("rita@example.com")
    with pytest.raises(SendFailed) as failed:
        _transport(acs, certificate).send(_message())
    assert failed.value.permanent is True
