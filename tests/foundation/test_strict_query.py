"""Unknown query parameters are refused (400 problem+json naming them) on every endpoint, so a
typo such as `?stauts=DONE` never quietly returns the unfiltered list; the cache buster `_` is
the one parameter every endpoint accepts (QUERY_ALLOWLIST)."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
from sqlalchemy import text
from sqlalchemy.engine import Engine

import function_app  # noqa: F401 (registers every endpoint)
from tests.support.api import Api, assert_problem
from trackly.http import REGISTRY
from trackly.http.endpoint import QUERY_ALLOWLIST, dispatch

# The OAuth redirect target: the identity provider writes its query string and may add
# parameters of its own, which RFC 6749 4.1.2 says to ignore.
LENIENT = {"microsoft_callback"}


def test_typos_in_the_issue_filters_are_refused_not_ignored(as_maintainer: Api) -> None:
    assert as_maintainer.post("issues", {"title": "open one"}).status_code == 201
    for query, named in (("stauts=DONE", "stauts"), ("assigne=me", "assigne")):
        problem = assert_problem(as_maintainer.get(f"issues?{query}"), 400, named)
        assert problem["errors"] == [
            {"loc": f"query.{named}", "msg": "This parameter is not known here.", "type": "unknown_parameter"}
        ]
        assert "'status'" in problem["detail"]  # says what is accepted
    both = assert_problem(as_maintainer.get("issues?limit=5&zeta=1&alpha=2"), 400)
    assert "'alpha', 'zeta'" in both["detail"]
    # Declared ones and the cache buster still work.
    listed = as_maintainer.get("issues?status=DONE&_=1700000000000")
    assert listed.status_code == 200, listed.text
    assert listed.json() == []
    assert len(as_maintainer.get("issues?skip=0&limit=10&_=").json()) == 1


def test_endpoints_without_a_query_model_refuse_parameters_too(as_maintainer: Api, engine: Engine) -> None:
    assert_problem(as_maintainer.get("auth/me?verbose=1"), 400, "verbose")
    assert as_maintainer.get("auth/me?_=123").status_code == 200
    created = as_maintainer.post("issues?notify=false", {"title": "refused"})
    assert_problem(created, 400, "notify")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM issues")).scalar_one() == 0


def test_every_declared_endpoint_refuses_an_unknown_parameter() -> None:
    """In process, for each endpoint of the registry: the refusal comes before authentication,
    path checks and the body, so it needs no data."""
    assert {"_"} == QUERY_ALLOWLIST
    checked = 0
    for spec in REGISTRY.values():
        route = spec.openapi_path.replace("{", "").replace("}", "")
        request = func.HttpRequest(
            method=spec.method, url=f"http://localhost/api{route}?zz_typo=1", body=b"", route_params={}
        )
        response = dispatch(spec, request, "test")
        if spec.name in LENIENT:
            assert "zz_typo" not in response.get_body().decode(), spec.name
            continue
        assert response.status_code == 400, (spec.name, response.status_code, response.get_body()[:300])
        body: dict[str, Any] = json.loads(response.get_body())
        assert "zz_typo" in body["detail"], (spec.name, body)
        assert response.headers["Content-Type"].startswith("application/problem+json")
        checked += 1
    assert checked >= 60
