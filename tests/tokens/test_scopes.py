"""Scopes come from the policy table: every Action has exactly one, every endpoint with auth
names an Action, and the OpenAPI document shows each operation's scope."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api
from trackly.auth.policy import RULES, SCOPES, Action, Scope


def test_every_action_has_exactly_one_scope_and_every_scope_is_used() -> None:
    assert set(SCOPES) == set(Action) == set(RULES)
    assert set(SCOPES.values()) == set(Scope)


def test_every_endpoint_with_auth_names_an_action() -> None:
    import function_app  # noqa: F401 (registers every endpoint)
    from trackly.http.endpoint import REGISTRY

    missing = [s.name for s in REGISTRY.values() if s.auth and s.action not in SCOPES]
    assert missing == []


def test_an_endpoint_cannot_be_declared_with_auth_but_without_an_action() -> None:
    import azure.functions as func

    from trackly.http import endpoint

    with pytest.raises(ValueError, match="names its Action"):
        endpoint(func.Blueprint(), "GET", "t/unscoped", summary="x", tags=["t"])(lambda call: None)


def test_the_openapi_document_shows_each_operations_scope(api: Api) -> None:
    import function_app  # noqa: F401
    from trackly.http.endpoint import REGISTRY

    doc: dict[str, Any] = api.get("openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["personalAccessToken"]["scheme"] == "bearer"
    for spec in REGISTRY.values():
        op = doc["paths"][spec.openapi_path][spec.method.lower()]
        if not spec.auth:
            assert "security" not in op, spec.name
            continue
        assert spec.action is not None
        scope = SCOPES[spec.action].value
        requirements = op["security"]
        assert {"bearerAuth": []} in requirements, spec.name
        if spec.tokens:
            assert {"personalAccessToken": [scope]} in requirements, spec.name
            assert op["x-token-scope"] == scope
        else:
            assert all("personalAccessToken" not in r for r in requirements), spec.name
        assert "429" in op["responses"] and "Retry-After" in op["responses"]["429"]["headers"]
    assert doc["paths"]["/issues"]["get"]["x-token-scope"] == "issues:read"
    assert doc["paths"]["/auth/tokens"]["post"]["x-token-scope"] is None


def test_the_docs_page_lists_every_scope_and_setting() -> None:
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "tokens.md").read_text()
    for scope in Scope:
        actions = [a.value for a, s in SCOPES.items() if s is scope]
        row = next(line for line in page.splitlines() if line.startswith(f"| `{scope.value}` |"))
        assert all(f"`{a}`" in row for a in actions), scope
    for name in (
        "TOKEN_MAX_DAYS",
        "RATE_LIMIT_ENABLED",
        "RATE_LIMIT_WINDOW_SECONDS",
        "RATE_LIMIT_PER_USER",
        "RATE_LIMIT_ANONYMOUS",
        "RATE_LIMIT_SIGN_IN",
        "RATE_LIMIT_PUBLIC",
    ):
        assert f"| `{name}` |" in page, name
