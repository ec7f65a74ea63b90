"""GET /api/realtime/negotiate: a client URL whose token carries exactly the caller and their groups."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from tests.support.api import Api, assert_problem
from trackly.local.webpubsub import LocalWebPubSub


def _claims(body: dict[str, Any], service: LocalWebPubSub, hub: str = "trackly") -> dict[str, Any]:
    url = urlsplit(body["url"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"ws://127.0.0.1:{service.port}/client/hubs/{hub}"
    token = parse_qs(url.query)["access_token"][0]
    # Signed with the access key, for this hub's client endpoint: the service would accept it.
    claims: dict[str, Any] = jwt.decode(
        token,
        service.access_key.encode(),
        algorithms=["HS256"],
        audience=f"http://127.0.0.1:{service.port}/client/hubs/{hub}",
    )
    return claims


def test_reporter_gets_only_their_own_group_and_no_roles(
    webpubsub: LocalWebPubSub, as_reporter: Api, reporter: Any
) -> None:
    # Query parameters never decide identity or groups: they are refused outright.
    refused = as_reporter.get(
        "realtime/negotiate",
        params={"user_id": "someone-else", "groups": "staff", "role": "webpubsub.joinLeaveGroup"},
    )
    assert refused.status_code == 400, refused.text
    assert "'groups', 'role', 'user_id'" in refused.json()["detail"]
    response = as_reporter.get("realtime/negotiate")
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"  # the URL carries an access token
    body = response.json()
    assert body["groups"] == [f"user.{reporter.id}"]
    claims = _claims(body, webpubsub)
    assert claims["sub"] == str(reporter.id)
    assert claims["webpubsub.group"] == [f"user.{reporter.id}"]
    assert "role" not in claims  # cannot join or leave groups, nor send to them
    assert claims["exp"] - claims["iat"] == 5 * 60  # REALTIME_TOKEN_MINUTES default: minutes, not an hour
    assert datetime.fromisoformat(body["expires_at"]) == datetime.fromtimestamp(claims["exp"], UTC)
    assert set(claims) == {"aud", "iat", "exp", "sub", "webpubsub.group"}


@pytest.mark.parametrize("role", ["MAINTAINER", "ADMIN"])
def test_staff_join_the_staff_group_and_their_own(
    webpubsub: LocalWebPubSub, api: Api, users: Any, role: str
) -> None:
    user = users(role)
    body = api.as_(users.token(user)).get("realtime/negotiate").json()
    assert body["groups"] == ["staff", f"user.{user.id}"]
    claims = _claims(body, webpubsub)
    assert claims["sub"] == str(user.id)
    assert claims["webpubsub.group"] == ["staff", f"user.{user.id}"]
    assert "role" not in claims


def test_token_lifetime_and_hub_come_from_settings(
    webpubsub: LocalWebPubSub, settings_env: Any, as_reporter: Api
) -> None:
    settings_env(REALTIME_TOKEN_MINUTES="15", WEBPUBSUB_HUB="otherhub")
    claims = _claims(as_reporter.get("realtime/negotiate").json(), webpubsub, hub="otherhub")
    assert claims["exp"] - claims["iat"] == 15 * 60


def test_503_when_web_pubsub_is_not_configured(as_reporter: Api) -> None:
    assert_problem(as_reporter.get("realtime/negotiate"), 503, "not configured")


def test_503_when_the_connection_string_is_malformed(settings_env: Any, as_reporter: Api) -> None:
    settings_env(WEBPUBSUB_CONNECTION_STRING="Endpoint=http://127.0.0.1:1;Version=1.0;")
    assert_problem(as_reporter.get("realtime/negotiate"), 503, "AccessKey")


def test_sign_in_required(webpubsub: LocalWebPubSub, api: Api) -> None:
    assert_problem(api.get("realtime/negotiate"), 401)
