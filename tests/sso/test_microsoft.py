"""Microsoft sign-in end to end: the app's login redirect, a real OIDC provider's login and
consent forms, the callback through MSAL, and the one-time code exchange."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import text

from tests.sso.harness import TENANT_ID, Browser, OidcProvider
from tests.support.api import Api, assert_problem

FRONTEND = "http://localhost:5173"

# trackly.sso.microsoft silences this MSAL warning on purpose (see there); pytest resets filters.
pytestmark = pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended:UserWarning")


def login_redirect(api: Api, return_to: str | None = "/") -> str:
    params = {} if return_to is None else {"return_to": return_to}
    resp = api.get("auth/microsoft/login", params=params)
    assert resp.status_code == 302, resp.text
    assert resp.headers["Cache-Control"] == "no-store"
    return resp.headers["Location"]


def callback(url: str, api: Api) -> requests.Response:
    """The browser (api's cookie jar: it holds the login's flow cookie) follows `url`."""
    assert url.startswith(api.base_url + "/"), url
    return api.get(url[len(api.base_url) :])


def sign_in(api: Api, browser: Browser, login: str, return_to: str = "/") -> requests.Response:
    """Run the whole browser flow; returns the app's answer to the callback."""
    return callback(browser.authorize(login_redirect(api, return_to), login), api)


def fragment(resp: requests.Response) -> dict[str, str]:
    assert resp.status_code == 302, (resp.status_code, resp.text[:300])
    location = resp.headers["Location"]
    base, _, frag = location.partition("#")
    assert base.startswith(FRONTEND + "/"), location
    return {k: v[0] for k, v in parse_qs(frag).items()}


def code_of(resp: requests.Response) -> str:
    values = fragment(resp)
    assert "code" in values, values
    return values["code"]


def test_full_flow_signs_in_existing_user_by_email(
    api: Api, browser: Browser, users: Any, engine: Any
) -> None:
    user = users("MAINTAINER", email="Mia.Maintainer@Example.com")
    resp = sign_in(api, browser, "mia.maintainer@example.com", return_to="/issues?page=2")
    assert resp.headers["Location"].startswith(f"{FRONTEND}/issues?page=2#code=")
    out = api.post("auth/exchange", json={"code": code_of(resp)})
    assert out.status_code == 200, out.text
    body = out.json()
    assert body["user"]["id"] == str(user.id)
    assert body["user"]["role"] == "MAINTAINER"
    assert body["tokens"]["token_type"] == "bearer"
    me = api.as_(body["tokens"]["access_token"]).get("auth/me")
    assert me.status_code == 200 and me.json()["id"] == str(user.id)
    with engine.connect() as conn:
        link = conn.execute(text("SELECT provider, subject, email, user_id FROM sso_links")).one()
        flows = conn.execute(text("SELECT count(*) FROM auth_flows")).scalar()
    assert link.provider == "microsoft"
    assert link.subject == f"{TENANT_ID}:oid-mia.maintainer@example.com"
    assert link.user_id == user.id
    assert flows == 0


def test_login_redirect_carries_state_nonce_and_pkce(api: Api, microsoft: OidcProvider, engine: Any) -> None:
    location = login_redirect(api, "/dashboard")
    parts = urlsplit(location)
    assert location.startswith(microsoft.issuer + "/auth?")
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["client_id"] == OidcProvider.CLIENT_ID
    assert query["redirect_uri"] == microsoft.redirect_uri
    assert query["response_type"] == "code"
    assert query["code_challenge_method"] == "S256"
    assert query["code_challenge"] and query["nonce"] and query["state"]
    assert set(query["scope"].split()) >= {"openid", "profile", "email"}
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT provider, return_to, flow, expires_at - created_at AS ttl FROM auth_flows")
        ).one()
    assert row.provider == "microsoft"
    assert row.return_to == "/dashboard"
    assert row.flow["state"] == query["state"]
    assert row.flow["code_verifier"]
    assert row.ttl == timedelta(minutes=10)


def test_percent_encoded_return_to_round_trips(api: Api, browser: Browser, users: Any) -> None:
    users("REPORTER", email="pct@example.com")
    resp = sign_in(api, browser, "pct@example.com", return_to="/issues/caf%C3%A9?q=a%20b&x=1")
    assert resp.headers["Location"].startswith(f"{FRONTEND}/issues/caf%C3%A9?q=a%20b&x=1#code=")


def test_return_to_defaults_to_root(api: Api, microsoft: OidcProvider, engine: Any) -> None:
    login_redirect(api, None)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT return_to FROM auth_flows")).scalar() == "/"


@pytest.mark.parametrize(
    "return_to",
    [
        "//evil.com",
        "//evil.com/path",
        "/\\evil.com",
        "\\\\evil.com",
        "https://evil.com/",
        "http:/evil.com",
        "evil.com",
        "@evil.com",
        "/issues\\..\\x",
        "/a\nLocation: https://evil.com",
        "/a\tb",
        "/a b",
        "/a#code=stolen",
        "/caf\u00e9",
        "/\u2028x",
        "",
    ],
)
def test_open_redirect_attempts_are_refused(
    api: Api, microsoft: OidcProvider, engine: Any, return_to: str
) -> None:
    resp = api.get("auth/microsoft/login", params={"return_to": return_to})
    body = assert_problem(resp, 422, "return_to")
    assert "Location" not in resp.headers
    assert body["errors"][0]["loc"] == "query.return_to"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM auth_flows")).scalar() == 0


def test_not_configured_answers_503(api: Api, settings_env: Any) -> None:
    settings_env(MICROSOFT_CLIENT_ID=None, MICROSOFT_CLIENT_SECRET=None)
    assert_problem(api.get("auth/microsoft/login"), 503, "not configured")
    assert_problem(
        api.get("auth/microsoft/callback", params={"state": "x", "code": "y"}), 503, "not configured"
    )


def test_replayed_callback_is_refused(api: Api, browser: Browser, users: Any) -> None:
    users("REPORTER", email="rita@example.com")
    url = browser.authorize(login_redirect(api), "rita@example.com")
    first = callback(url, api)
    assert "code" in fragment(first)
    assert_problem(callback(url, api), 400, "already completed")


def test_unknown_or_missing_state_is_refused(api: Api, microsoft: OidcProvider) -> None:
    login_redirect(api)
    assert_problem(
        api.get("auth/microsoft/callback", params={"state": "forged", "code": "x"}), 400, "unknown"
    )
    assert_problem(api.get("auth/microsoft/callback", params={"code": "x"}), 400, "state")


def test_expired_flow_is_refused(api: Api, browser: Browser, users: Any) -> None:
    from datetime import UTC, datetime

    from trackly import clock

    users("REPORTER", email="late@example.com")
    url = browser.authorize(login_redirect(api), "late@example.com")
    with clock.frozen(datetime.now(UTC) + timedelta(minutes=11)):
        assert_problem(callback(url, api), 400, "expired")


def test_code_from_another_sign_in_fails_pkce(api: Api, browser: Browser, users: Any) -> None:
    """State mismatch: the code of attempt A presented with the state of attempt B."""
    users("REPORTER", email="eve@example.com")
    first = browser.authorize(login_redirect(api), "eve@example.com")
    second = browser.authorize(login_redirect(api), "eve@example.com")
    code_a = parse_qs(urlsplit(first).query)["code"][0]
    query_b = parse_qs(urlsplit(second).query)
    mixed = api.get("auth/microsoft/callback", params={"state": query_b["state"][0], "code": code_a})
    assert fragment(mixed) == {"error": "sso_failed"}


@pytest.mark.parametrize("defect", ["aud", "nonce", "iss", "exp", "forged"])
def test_invalid_id_tokens_are_refused(
    api: Api, browser: Browser, users: Any, engine: Any, defect: str
) -> None:
    users("ADMIN", email="ada@example.com")
    microsoft = browser.provider
    microsoft.tamper(defect)
    resp = sign_in(api, browser, "ada@example.com", return_to="/home")
    assert resp.headers["Location"] == f"{FRONTEND}/home#error=sso_failed"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sso_links")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM login_codes")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM auth_flows")).scalar() == 0


def test_nonce_check_of_our_own(microsoft: OidcProvider) -> None:
    """Even if MSAL stopped checking the nonce, validate_id_token refuses a foreign one."""
    import hashlib
    import json as jsonlib
    import time

    import jwt as pyjwt

    from trackly.config import get_settings
    from trackly.sso import microsoft as ms

    settings = get_settings()
    app = ms.build_app(settings)
    jwk = jsonlib.loads(jsonlib.dumps(microsoft_private_jwk(microsoft)))
    key = pyjwt.algorithms.RSAAlgorithm.from_jwk(jwk)
    now = int(time.time())
    claims = {
        "iss": microsoft.issuer,
        "aud": OidcProvider.CLIENT_ID,
        "sub": "s",
        "tid": TENANT_ID,
        "oid": "o",
        "iat": now,
        "exp": now + 600,
        "nonce": hashlib.sha256(b"other").hexdigest(),
    }
    token = pyjwt.encode(claims, key, algorithm="RS256", headers={"kid": jwk["kid"]})  # type: ignore[arg-type]
    with pytest.raises(ms.LoginFailed, match="nonce"):
        ms.validate_id_token(token, nonce="mine", app=app, settings=settings)
    assert ms.validate_id_token(token, nonce="other", app=app, settings=settings)["oid"] == "o"


def microsoft_private_jwk(provider: OidcProvider) -> dict[str, Any]:
    import json as jsonlib

    config = jsonlib.loads((provider.config_file).read_text())
    jwk: dict[str, Any] = config["jwk"]
    return jwk


def test_user_cancelled_at_provider(api: Api, microsoft: OidcProvider) -> None:
    state = parse_qs(urlsplit(login_redirect(api, "/x")).query)["state"][0]
    resp = api.get(
        "auth/microsoft/callback",
        params={"state": state, "error": "access_denied", "error_description": "User cancelled"},
    )
    assert resp.headers["Location"] == f"{FRONTEND}/x#error=access_denied"


def test_second_sign_in_uses_tid_oid_even_if_email_changed(
    api: Api, browser: Browser, microsoft: OidcProvider, users: Any, engine: Any
) -> None:
    user = users("REPORTER", email="old@example.com")
    microsoft.set_accounts(**{"acct-1": {"email": "old@example.com", "oid": "stable-oid-1"}})
    assert "code" in fragment(sign_in(api, browser, "acct-1"))
    # The person's email changes at Microsoft; another Trackly user now owns the old address.
    microsoft.set_accounts(**{"acct-1": {"email": "new@example.com", "oid": "stable-oid-1"}})
    users("REPORTER", email="new@example.com")
    out = api.post("auth/exchange", json={"code": code_of(sign_in(api, Browser(microsoft), "acct-1"))})
    assert out.json()["user"]["id"] == str(user.id)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT email FROM sso_links")).scalar() == "new@example.com"


def test_unknown_user_is_refused_without_auto_provisioning(
    api: Api, browser: Browser, engine: Any, provisioning: Any
) -> None:
    provisioning("other.org")
    resp = sign_in(api, browser, "stranger@example.com", return_to="/welcome")
    assert resp.headers["Location"] == f"{FRONTEND}/welcome#error=not_provisioned"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM users")).scalar() == 0


def test_auto_provisioning_creates_a_passwordless_reporter(
    api: Api, browser: Browser, engine: Any, provisioning: Any
) -> None:
    provisioning("Example.com")
    out = api.post("auth/exchange", json={"code": code_of(sign_in(api, browser, "Newbie@EXAMPLE.com"))})
    assert out.status_code == 200, out.text
    assert out.json()["user"]["role"] == "REPORTER"
    assert out.json()["user"]["full_name"] == "Test Newbie@EXAMPLE.com"
    with engine.connect() as conn:
        row = conn.execute(text("SELECT role, password_hash, email FROM users")).one()
    assert (row.role, row.password_hash, row.email) == ("REPORTER", None, "Newbie@EXAMPLE.com")


def test_unverified_email_domain_is_not_used_for_matching(
    api: Api, browser: Browser, microsoft: OidcProvider, users: Any, provisioning: Any
) -> None:
    """nOAuth: a token flagged `xms_edov: false` cannot claim an existing user's email."""
    provisioning("example.com")
    users("ADMIN", email="boss@example.com")
    microsoft.set_accounts(**{"intruder": {"email": "boss@example.com", "xms_edov": False}})
    assert fragment(sign_in(api, browser, "intruder")) == {"error": "email_missing"}


def test_email_already_linked_to_another_microsoft_identity(
    api: Api, browser: Browser, microsoft: OidcProvider, users: Any
) -> None:
    users("ADMIN", email="boss@example.com")
    microsoft.set_accounts(
        **{
            "real": {"email": "boss@example.com"},
            "other-tenant-user": {"email": "boss@example.com", "oid": "x"},
        }
    )
    assert "code" in fragment(sign_in(api, browser, "real"))
    refused = sign_in(api, Browser(microsoft), "other-tenant-user")
    assert fragment(refused) == {"error": "linked_elsewhere"}


def test_deactivated_user_is_refused(api: Api, browser: Browser, users: Any) -> None:
    users("REPORTER", email="gone@example.com", is_active=False)
    assert fragment(sign_in(api, browser, "gone@example.com")) == {"error": "account_disabled"}


# --- login CSRF: the flow is bound to the browser that started it (issue 16, item 3) -----------


def _count(engine: Any, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608


def test_login_csrf_attackers_callback_url_does_not_sign_in_the_victim(
    api: Api, browser: Browser, users: Any, engine: Any, live_server: str
) -> None:
    """The attacker starts a sign-in in their own browser, logs in at the (real) OIDC provider as
    themselves, and sends the callback URL to the victim instead of following it."""
    users("REPORTER", email="mallory@example.com")
    attacker = api
    url = browser.authorize(login_redirect(attacker), "mallory@example.com")

    victim = Api(live_server)  # another browser: its own cookie jar
    assert_problem(callback(url, victim), 400, "not started in this browser")
    login_redirect(victim)  # a victim with a sign-in of their own in progress fares no better
    assert_problem(callback(url, victim), 400, "not started in this browser")
    assert _count(engine, "login_codes") == 0
    assert _count(engine, "sso_links") == 0

    # The binding refuses only the other browser: the attacker's own browser still completes.
    assert "code" in fragment(callback(url, attacker))


def test_forged_flow_cookie_is_refused(api: Api, browser: Browser, users: Any, live_server: str) -> None:
    users("REPORTER", email="forge@example.com")
    url = browser.authorize(login_redirect(api), "forge@example.com")
    (name,) = [c.name for c in api._http.cookies if c.name.startswith("trackly-sso-")]
    forger = Api(live_server)
    forger._http.cookies.set(name, "a-guessed-nonce")
    assert_problem(callback(url, forger), 400, "not started in this browser")


def test_flow_cookie_attributes_on_plain_http_localhost(api: Api, microsoft: OidcProvider) -> None:
    resp = api.get("auth/microsoft/login")
    cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith("trackly-sso-")
    attributes = {a.strip() for a in cookie.split(";")[1:]}
    assert attributes == {"Path=/", "Max-Age=600", "HttpOnly", "SameSite=Lax"}


def test_flow_cookie_is_host_prefixed_and_secure_for_an_https_callback(
    api: Api, microsoft: OidcProvider, settings_env: Any
) -> None:
    settings_env(MICROSOFT_REDIRECT_URI="https://trackly.example.com/api/auth/microsoft/callback")
    resp = api.get("auth/microsoft/login")
    assert resp.status_code == 302, resp.text
    cookie = resp.headers["Set-Cookie"]
    name, _, rest = cookie.partition("=")
    assert name.startswith("__Host-trackly-sso-")
    attributes = {a.strip() for a in rest.split(";")[1:]}
    assert attributes == {"Path=/", "Max-Age=600", "HttpOnly", "SameSite=Lax", "Secure"}  # no Domain


def test_callback_deletes_the_flow_cookie(api: Api, browser: Browser, users: Any) -> None:
    users("REPORTER", email="tidy@example.com")
    resp = sign_in(api, browser, "tidy@example.com")
    assert "code" in fragment(resp)
    assert "Max-Age=0" in resp.headers["Set-Cookie"]
    assert not [c for c in api._http.cookies if c.name.startswith("trackly-sso-")]
