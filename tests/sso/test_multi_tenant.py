"""nOAuth: with a multi-tenant Microsoft authority (`common`, `organizations`; the default), the
admin of any Entra tenant can set a user's email to someone else's address. Such an email must
not match (and so take over) an existing Trackly account unless the token proves the domain
owner is verified (`xms_edov: true`)."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

import jwt as pyjwt
import pytest

from tests.sso.harness import GoogleKeys

CLIENT_ID = "multi-tenant-app"
MULTI_TENANT_ISSUER = "https://login.example.test/{tenantid}/v2.0"
NONCE = "flow-nonce"


class _Response:
    def __init__(self, body: dict[str, Any]) -> None:
        self.status_code = 200
        self.text = json.dumps(body)


class _HttpClient:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def get(self, url: str, **_: Any) -> _Response:
        return _Response(self.config)


class _App:
    """The part of an MSAL app `validate_id_token` uses: its HTTP client for discovery."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.http_client = _HttpClient(config)


@pytest.fixture
def validate(google_keys: GoogleKeys, settings_env: Any) -> Any:
    from trackly.config import get_settings
    from trackly.sso import jwks
    from trackly.sso import microsoft as ms

    jwks.reset()
    settings = get_settings().model_copy(
        update={"MICROSOFT_CLIENT_ID": CLIENT_ID, "MICROSOFT_AUTHORITY": "https://login.example.test/common"}
    )
    app = _App({"issuer": MULTI_TENANT_ISSUER, "jwks_uri": google_keys.jwks_url})

    def run(**claims: Any) -> Any:
        tid = str(uuid.uuid4())  # the attacker's own tenant
        now = int(time.time())
        body = {
            "iss": MULTI_TENANT_ISSUER.replace("{tenantid}", tid),
            "aud": CLIENT_ID,
            "sub": "s",
            "tid": tid,
            "oid": "attacker",
            "iat": now,
            "exp": now + 600,
            "nonce": hashlib.sha256(NONCE.encode()).hexdigest(),
            **claims,
        }
        kid = google_keys.current
        token = pyjwt.encode(body, google_keys.keys[kid], algorithm="RS256", headers={"kid": kid})
        return ms.identity_from_claims(ms.validate_id_token(token, nonce=NONCE, app=app, settings=settings))

    yield run
    jwks.reset()


def test_email_without_xms_edov_is_not_trusted(validate: Any) -> None:
    assert validate(email="admin@trackly.com").email is None
    assert validate(preferred_username="admin@trackly.com").email is None


def test_email_with_verified_domain_owner_is_used(validate: Any) -> None:
    identity = validate(email="Admin@trackly.com", xms_edov=True)
    assert identity.email == "Admin@trackly.com"
    assert identity.subject.endswith(":attacker")
