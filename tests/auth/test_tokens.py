"""Access-token attacks: every forged, foreign, expired or misused token is a 401 with
`WWW-Authenticate: Bearer`, and a deactivated user's valid token stops working at once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.conftest import TEST_JWT_SECRET
from tests.support.api import Api, assert_problem


def _claims(user_id: uuid.UUID, sid: str, /, **overrides: Any) -> dict[str, Any]:
    """Well-formed access-token claims for the sign-in session `sid`, changed by `overrides`
    (None drops a claim)."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": "trackly",
        "aud": "trackly-api",
        "sub": str(user_id),
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(minutes=30),
        "jti": uuid.uuid4().hex,
        "typ": "access",
        "sid": sid,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(claims: dict[str, Any]) -> str:
    payload = {k: int(v.timestamp()) if isinstance(v, datetime) else v for k, v in claims.items()}
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(payload).encode())}."


def _rsa_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _sid(token: str) -> str:
    return str(jwt.decode(token, TEST_JWT_SECRET, algorithms=["HS256"], audience="trackly-api")["sid"])


def _forgeries(user_id: uuid.UUID, sid: str) -> dict[str, str]:
    """Tokens that differ from a valid one for `user_id` in the session `sid` in one way each."""
    key = _rsa_key()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    good = _claims(user_id, sid)

    def signed(**overrides: Any) -> str:
        return jwt.encode(_claims(user_id, sid, **overrides), TEST_JWT_SECRET, algorithm="HS256")

    return {
        "alg-none": _unsigned(good),
        "alg-none-no-dot": _unsigned(good).rstrip("."),
        "hs512-same-secret": jwt.encode(good, TEST_JWT_SECRET, algorithm="HS512"),
        "rs256-attacker-key": jwt.encode(good, key, algorithm="RS256"),
        # Algorithm confusion: an HMAC signed with a public key's bytes as the secret.
        "hs256-public-key-as-secret": _hs256_raw(good, public_pem),
        "bad-signature": jwt.encode(good, "another-secret-that-is-long-enough-000000", algorithm="HS256"),
        "tampered-payload": _tamper(jwt.encode(good, TEST_JWT_SECRET, algorithm="HS256"), user_id, sid),
        "wrong-issuer": signed(iss="someone-else"),
        "wrong-audience": signed(aud="other-api"),
        "no-audience": signed(aud=None),
        "expired": signed(
            iat=datetime.now(UTC) - timedelta(hours=2),
            nbf=datetime.now(UTC) - timedelta(hours=2),
            exp=datetime.now(UTC) - timedelta(hours=1),
        ),
        "refresh-typed-jwt": signed(typ="refresh"),
        "no-typ": signed(typ=None),
        "no-jti": signed(jti=None),
        "sub-not-uuid": signed(sub="admin"),
        "unknown-user": signed(sub=str(uuid.uuid4())),
        # Every access token names its sign-in session; without one there is nothing to check
        # logout or revocation against, so it is refused like any invalid token.
        "no-sid": signed(sid=None),
        "sid-not-uuid": signed(sid="session-1"),
        "unknown-sid": signed(sid=str(uuid.uuid4())),
        "garbage": "not-a-jwt",
    }


def _hs256_raw(claims: dict[str, Any], key: bytes) -> str:
    """HS256 by hand (PyJWT refuses PEM keys as HMAC secrets, an attacker does not)."""
    payload = {k: int(v.timestamp()) if isinstance(v, datetime) else v for k, v in claims.items()}
    signing_input = (
        _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + _b64(json.dumps(payload).encode())
    )
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _tamper(token: str, user_id: uuid.UUID, sid: str) -> str:
    header, _payload, signature = token.split(".")
    claims = {
        k: int(v.timestamp()) if isinstance(v, datetime) else v for k, v in _claims(user_id, sid).items()
    }
    claims["role"] = "ADMIN"
    return f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"


def _assert_bearer_401(response: Any) -> None:
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.filterwarnings("ignore:The HMAC key is")
def test_every_forged_or_misused_token_is_refused(api: Api, admin: Any, users: Any) -> None:
    genuine = users.token(admin)
    assert api.as_(genuine).get("auth/me").status_code == 200  # the genuine article
    sid = _sid(genuine)
    # The claims the forgeries start from, signed properly, are accepted: each forgery below is
    # refused for the one thing it changes.
    control = jwt.encode(_claims(admin.id, sid), TEST_JWT_SECRET, algorithm="HS256")
    assert api.as_(control).get("auth/me").status_code == 200
    for name, token in _forgeries(admin.id, sid).items():
        response = api.as_(token).get("auth/me")
        assert response.status_code == 401, (name, response.status_code, response.text)
        _assert_bearer_401(response)
        # An admin-only endpoint as well: nothing leaks through a forged admin token.
        assert api.as_(token).get("users").status_code == 401, name


def test_a_refresh_token_is_not_an_access_token(api: Api, users: Any) -> None:
    users(email="r@example.com", password="password123")
    tokens = api.post("auth/login", json={"email": "r@example.com", "password": "password123"}).json()[
        "tokens"
    ]
    _assert_bearer_401(api.as_(tokens["refresh_token"]).get("auth/me"))


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "bearer"])
def test_missing_or_malformed_authorization(api: Api, header: str) -> None:
    _assert_bearer_401(api.get("auth/me", headers={"Authorization": header} if header else {}))


def test_deactivated_user_is_refused_immediately(api: Api, users: Any, engine: Engine) -> None:
    user = users()
    token = users.token(user)
    assert api.as_(token).get("auth/me").status_code == 200
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET is_active = false WHERE id = :id"), {"id": user.id})
    _assert_bearer_401(api.as_(token).get("auth/me"))


def test_role_comes_from_the_database_on_each_request(api: Api, users: Any, engine: Engine) -> None:
    user = users("ADMIN")
    token = users.token(user)
    assert api.as_(token).get("users").status_code == 200
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET role = 'REPORTER' WHERE id = :id"), {"id": user.id})
    assert_problem(api.as_(token).get("users"), 403)


def test_access_token_claims(api: Api, users: Any) -> None:
    users(email="c@example.com", password="password123")
    tokens = api.post("auth/login", json={"email": "c@example.com", "password": "password123"}).json()[
        "tokens"
    ]
    header = jwt.get_unverified_header(tokens["access_token"])
    assert header["alg"] == "HS256"
    claims = jwt.decode(tokens["access_token"], TEST_JWT_SECRET, algorithms=["HS256"], audience="trackly-api")
    assert {"iss", "aud", "sub", "iat", "exp", "jti", "typ", "sid"} <= set(claims)
    assert claims["typ"] == "access"
    assert claims["exp"] - claims["iat"] == 30 * 60


def test_a_token_without_a_session_is_refused(api: Api, users: Any) -> None:
    """Even for an active user with an open sign-in session: a token that names no session
    could not be ended by logout, revocation or a password change, so it is not accepted."""
    user = users()
    genuine = users.token(user)
    assert api.as_(genuine).get("auth/me").status_code == 200
    sessionless = jwt.encode(_claims(user.id, _sid(genuine), sid=None), TEST_JWT_SECRET, algorithm="HS256")
    _assert_bearer_401(api.as_(sessionless).get("auth/me"))
    assert_problem(api.as_(sessionless).get("auth/me"), 401, "access token is invalid")


def test_the_test_helpers_tokens_end_with_their_session(api: Api, users: Any) -> None:
    """`users.token` signs in for real: its tokens take the production session check, so
    signing out everywhere ends them like any other."""
    user = users()
    first, second = users.token(user), users.token(user)
    assert _sid(first) != _sid(second)  # one sign-in session each
    assert api.as_(first).post("auth/logout-all").status_code == 204
    _assert_bearer_401(api.as_(first).get("auth/me"))
    _assert_bearer_401(api.as_(second).get("auth/me"))
