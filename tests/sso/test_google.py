"""POST /auth/google: only a genuine Google ID token for this app signs anyone in."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import jwt as pyjwt
import pytest
from sqlalchemy import text

from tests.sso.harness import GoogleKeys, _rsa
from tests.support.api import Api, assert_problem

REFUSED = "could not be verified"


def test_valid_credential_signs_in_and_links(api: Api, google: GoogleKeys, users: Any, engine: Any) -> None:
    user = users("MAINTAINER", email="Gina@Example.com")
    resp = api.post("auth/google", json={"credential": google.token("gina@example.com", sub="g-1")})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["user"]["id"] == str(user.id)
    assert body["tokens"]["access_token"] and body["tokens"]["refresh_token"]
    assert resp.headers["Cache-Control"] == "no-store"  # it carries tokens
    with engine.connect() as conn:
        link = conn.execute(text("SELECT provider, subject FROM sso_links")).one()
    assert (link.provider, link.subject) == ("google", "g-1")


def test_email_is_matched_like_password_sign_in(api: Api, google: GoogleKeys, users: Any) -> None:
    """PostgreSQL lower() on both sides, as in the unique index: Python's 'İ'.lower() is not 'i'."""
    user = users("REPORTER", email="İnci@example.com")
    resp = api.post("auth/google", json={"credential": google.token("İnci@example.com", sub="g-2")})
    assert resp.status_code == 200, resp.text
    assert resp.json()["user"]["id"] == str(user.id)


def test_original_insecure_body_is_refused(api: Api, google: GoogleKeys, users: Any) -> None:
    users("ADMIN", email="admin@trackly.com")
    resp = api.post("auth/google", json={"email": "admin@trackly.com", "name": "Admin"})
    body = assert_problem(resp, 422)
    locs = {e["loc"] for e in body["errors"]}
    assert {"body.credential", "body.email", "body.name"} <= locs


@cache
def foreign_key() -> Any:
    """A key Google never published (one per run: RSA generation is slow)."""
    return _rsa()


def _bad_token(keys: GoogleKeys, case: str) -> str:
    makers: dict[str, Callable[[], str]] = {
        "forged": lambda: keys.token(key=foreign_key()),  # right kid, wrong key
        "expired": lambda: keys.token(issued_ago=7200, expires_in=3600),
        "wrong_audience": lambda: keys.token(aud="someone-elses-app.apps.googleusercontent.com"),
        "wrong_issuer": lambda: keys.token(iss="https://evil.example.com"),
        "email_not_verified": lambda: keys.token(email_verified=False),
        "email_verified_string_false": lambda: keys.token(email_verified="false"),
        "email_verified_missing": lambda: keys.token(email_verified=None),
        "unknown_kid": lambda: keys.token(kid="no-such-kid", key=foreign_key()),
        "hs256": lambda: pyjwt.encode(
            {
                "iss": "https://accounts.google.com",
                "aud": keys.CLIENT_ID,
                "sub": "x",
                "email": "gina@example.com",
            },
            "shared-secret-shared-secret-shared-secret",
            algorithm="HS256",
            headers={"kid": keys.current},
        ),
        "alg_none": lambda: pyjwt.encode({"sub": "x"}, None, algorithm="none"),  # type: ignore[arg-type]
        "garbage": lambda: "not-a-jwt",
        "no_expiry": lambda: keys.token(exp=None),
    }
    return makers[case]()


@pytest.mark.parametrize(
    "case",
    [
        "forged",
        "expired",
        "wrong_audience",
        "wrong_issuer",
        "email_not_verified",
        "email_verified_string_false",
        "email_verified_missing",
        "unknown_kid",
        "hs256",
        "alg_none",
        "garbage",
        "no_expiry",
    ],
)
def test_bad_credentials_are_refused_alike(
    api: Api, google: GoogleKeys, users: Any, engine: Any, case: str
) -> None:
    users("ADMIN", email="gina@example.com")
    token = _bad_token(google, case)
    body = assert_problem(api.post("auth/google", json={"credential": token}), 401, REFUSED)
    # One message for every failure: nothing tells an attacker which check failed or who exists.
    assert (
        body["detail"]
        == assert_problem(api.post("auth/google", json={"credential": google.token(aud="x")}), 401)["detail"]
    )
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM refresh_tokens")).scalar() == 0


def test_exp_none_claim_helper_really_omits_nothing(google: GoogleKeys) -> None:
    """Guard for the test above: the 'no_expiry' token really has exp null."""
    claims = pyjwt.decode(google.token(exp=None), options={"verify_signature": False})
    assert claims["exp"] is None


def test_issuer_without_scheme_is_accepted(api: Api, google: GoogleKeys, users: Any) -> None:
    users("REPORTER", email="gina@example.com")
    resp = api.post("auth/google", json={"credential": google.token(iss="accounts.google.com")})
    assert resp.status_code == 200, resp.text


def test_unknown_user_gets_403_without_auto_provisioning(
    api: Api, google: GoogleKeys, provisioning: Any, engine: Any
) -> None:
    provisioning("trackly.dev")
    assert_problem(
        api.post("auth/google", json={"credential": google.token("who@example.com")}),
        403,
        "no trackly account",
    )
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM users")).scalar() == 0


def test_auto_provisioning_by_domain(api: Api, google: GoogleKeys, provisioning: Any, engine: Any) -> None:
    provisioning("example.com", "trackly.dev")
    resp = api.post("auth/google", json={"credential": google.token("New.Person@example.com")})
    assert resp.status_code == 200, resp.text
    assert resp.json()["user"]["role"] == "REPORTER"
    assert resp.json()["user"]["full_name"] == "Gina Google"
    # A look-alike domain is not a listed domain.
    assert_problem(
        api.post("auth/google", json={"credential": google.token("x@evil-example.com")}), 403, "administrator"
    )
    with engine.connect() as conn:
        assert conn.execute(text("SELECT password_hash FROM users")).scalar() is None


def test_second_sign_in_uses_sub_even_if_email_changed(api: Api, google: GoogleKeys, users: Any) -> None:
    user = users("REPORTER", email="first@example.com")
    assert api.post("auth/google", json={"credential": google.token("first@example.com", sub="g-7")}).ok
    resp = api.post("auth/google", json={"credential": google.token("renamed@example.com", sub="g-7")})
    assert resp.json()["user"]["id"] == str(user.id)


def test_deactivated_user_is_refused(api: Api, google: GoogleKeys, users: Any) -> None:
    users("REPORTER", email="gina@example.com", is_active=False)
    assert_problem(api.post("auth/google", json={"credential": google.token()}), 403, "deactivated")


def test_not_configured_answers_503(api: Api, settings_env: Any, google_keys: GoogleKeys) -> None:
    settings_env(GOOGLE_CLIENT_ID=None)
    assert_problem(api.post("auth/google", json={"credential": google_keys.token()}), 503, "not configured")


def test_jwks_unreachable_answers_503(api: Api, google: GoogleKeys, settings_env: Any) -> None:
    settings_env(GOOGLE_JWKS_URL="http://127.0.0.1:9/certs")
    assert_problem(api.post("auth/google", json={"credential": google.token()}), 503, "unavailable")


def test_rotated_key_is_fetched_on_unknown_kid(
    api: Api, google: GoogleKeys, users: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trackly.sso import jwks

    monkeypatch.setattr(jwks, "REFRESH_COOLDOWN_SECONDS", 0.0)
    jwks.reset()
    users("REPORTER", email="gina@example.com")
    assert api.post("auth/google", json={"credential": google.token()}).status_code == 200
    fetched = google.fetches
    new_kid = google.rotate()
    resp = api.post("auth/google", json={"credential": google.token(kid=new_kid)})
    assert resp.status_code == 200, resp.text
    assert google.fetches == fetched + 1
    # Known keys come from the cache.
    assert api.post("auth/google", json={"credential": google.token(kid=new_kid)}).status_code == 200
    assert google.fetches == fetched + 1


def test_random_kids_do_not_hammer_the_jwks_endpoint(api: Api, google: GoogleKeys, users: Any) -> None:
    users("REPORTER", email="gina@example.com")
    assert api.post("auth/google", json={"credential": google.token()}).status_code == 200
    fetched = google.fetches
    for i in range(5):
        forged = google.token(kid=f"random-{i}", key=foreign_key())
        assert_problem(api.post("auth/google", json={"credential": forged}), 401)
    assert google.fetches == fetched  # within the cooldown no refetch happens


def test_provisioned_user_has_no_password_login(api: Api, google: GoogleKeys, provisioning: Any) -> None:
    provisioning("example.com")
    signed_in = api.post("auth/google", json={"credential": google.token("nopass@example.com")})
    assert signed_in.status_code == 200, signed_in.text
    me = api.as_(signed_in.json()["tokens"]["access_token"]).get("auth/me")
    assert me.status_code == 200 and me.json()["email"] == "nopass@example.com"
    for password in ("", "None"):
        resp = api.post("auth/login", json={"email": "nopass@example.com", "password": password})
        assert resp.status_code in (401, 422), resp.text
    assert_problem(
        api.post("auth/login", json={"email": "nopass@example.com", "password": "password123"}), 401
    )
