"""SSRF protection: in production settings every private, loopback, link-local, metadata or
embedded-private target is refused at creation and again at delivery, and nothing is sent;
redirects are never followed."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.support.api import Api
from tests.support.receiver import Receiver, Scripted, receiving
from tests.webhooks.conftest import TEST_KEY, create_hook, make_issue, run_timer
from trackly.webhooks import targets

PRODUCTION = {
    "TRACKLY_ENV": "production",
    "WEBHOOK_SECRET_KEY": TEST_KEY,
    "WEBHOOK_ALLOW_PRIVATE_TARGETS": None,
    "WEBHOOK_REQUIRE_HTTPS": None,
}

REFUSED_HOSTS = [
    "127.0.0.1",
    "localhost",  # a name that resolves to loopback
    "10.0.0.1",
    "192.168.1.1",
    "172.16.0.1",
    "169.254.169.254",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:169.254.169.254]",
    "[fd00:ec2::254]",
    "[fe80::1]",
    "[fc00::1]",
    "224.0.0.1",
    "0.0.0.0",  # noqa: S104 (a target refused, not a bind)
    "100.64.0.1",
    "168.63.129.16",
]


@pytest.fixture
def production(settings_env: Any) -> Any:
    settings_env(**PRODUCTION)
    return settings_env


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_private_targets_are_refused_at_creation(
    as_admin: Api, production: Any, host: str, engine: Engine
) -> None:
    resp = as_admin.post("webhooks", json={"url": f"https://{host}:8443/hook", "events": ["*"]})
    assert resp.status_code == 422, resp.text
    problem = resp.json()
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert "public addresses" in problem["detail"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM webhooks")).scalar() == 0


def test_http_is_refused_in_production(as_admin: Api, production: Any) -> None:
    resp = as_admin.post("webhooks", json={"url": "http://hooks.example.com/x", "events": ["*"]})
    assert resp.status_code == 422
    assert "https" in resp.json()["detail"]


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "https://user:pw@example.com/",
        "https://",
        "https://example.com/#frag",
        "not a url",
    ],
)
def test_malformed_urls_are_refused(as_admin: Api, local_targets: Any, url: str) -> None:
    resp = as_admin.post("webhooks", json={"url": url, "events": ["*"]})
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"])
def test_a_hook_made_private_later_is_refused_at_delivery_and_nothing_is_sent(
    as_admin: Api, receiver: Receiver, local_targets: Any, host: str
) -> None:
    # Created while private targets were allowed (development); production refuses to send.
    hook = create_hook(as_admin, receiver.url(host=host))
    make_issue(as_admin)
    local_targets(**{**PRODUCTION, "WEBHOOK_REQUIRE_HTTPS": "false"})
    run = run_timer()
    assert run.failed == 1
    assert receiver.requests == []
    local_targets(WEBHOOK_ALLOW_PRIVATE_TARGETS="true", TRACKLY_ENV="test")
    (delivery,) = as_admin.get(f"webhooks/{hook['id']}/deliveries").json()["items"]
    assert delivery["last_error"] == "refused_address"
    detail = as_admin.get(f"webhooks/{hook['id']}/deliveries/{delivery['id']}").json()
    assert "public addresses" in detail["attempts_log"][0]["response_excerpt"]


def test_a_name_resolving_to_a_private_address_is_refused_by_a_resolver_at_the_dns_layer() -> None:
    """Any resolver answer is checked, every address of it: one private address is enough."""
    answers = {"hooks.example.com": ["93.184.216.34", "10.1.2.3"], "ok.example.com": ["93.184.216.34"]}

    def resolver(host: str, port: int) -> list[str]:
        return answers[host]

    with pytest.raises(targets.TargetRefused, match="10.1.2.3"):
        targets.resolve(
            "https://hooks.example.com/", https_required=True, private_allowed=False, resolver=resolver
        )
    target = targets.resolve(
        "https://ok.example.com/x?y=1", https_required=True, private_allowed=False, resolver=resolver
    )
    assert target.addresses == ("93.184.216.34",) and target.path == "/x?y=1" and target.port == 443


@pytest.mark.parametrize(
    "address",
    [
        "::ffff:10.0.0.1",
        "2002:7f00:1::",
        "64:ff9b::a9fe:a9fe",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",
        "ff02::1",
    ],
)
def test_ipv6_forms_embedding_private_addresses_are_refused(address: str) -> None:
    assert targets.address_problem(ipaddress.ip_address(address)) is not None


def test_public_addresses_pass() -> None:
    for address in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:93.184.216.34"):
        assert targets.address_problem(ipaddress.ip_address(address)) is None


def test_a_redirect_is_not_followed(as_admin: Api, local_targets: Any) -> None:
    with receiving() as inner, receiving() as outer:
        outer.default = Scripted(302, headers={"Location": inner.url()})
        hook = create_hook(as_admin, outer.url())
        make_issue(as_admin)
        run = run_timer()
        assert run.failed == 1
        assert len(outer.requests) == 1
        assert inner.requests == []  # the Location was never visited
        (delivery,) = as_admin.get(f"webhooks/{hook['id']}/deliveries").json()["items"]
        assert delivery["last_status_code"] == 302


def test_the_answer_read_is_bounded(as_admin: Api, receiver: Receiver, local_targets: Any) -> None:
    receiver.default = Scripted(200, body=b"x" * (2 * 1024 * 1024))
    hook = create_hook(as_admin, receiver.url())
    make_issue(as_admin)
    assert run_timer().succeeded == 1
    (delivery,) = as_admin.get(f"webhooks/{hook['id']}/deliveries").json()["items"]
    detail = as_admin.get(f"webhooks/{hook['id']}/deliveries/{delivery['id']}").json()
    assert detail["attempts_log"][0]["response_excerpt"] == "x" * 1024
