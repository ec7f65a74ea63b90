"""OpenAPI 3.1 document, Swagger UI and ReDoc, all served by the app with no CDN."""

from __future__ import annotations

import re
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from pydantic import TypeAdapter

from tests.support.api import Api
from trackly.http.endpoint import REGISTRY


def test_openapi_document_is_valid_and_complete(api: Api) -> None:
    r = api.get("openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    validate(doc)  # raises on an invalid OpenAPI document
    operations = {(path, method) for path, item in doc["paths"].items() for method in item}
    for spec in REGISTRY.values():
        assert (spec.openapi_path, spec.method.lower()) in operations, spec.name
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert "Problem" in doc["components"]["schemas"]


def test_every_operation_documents_its_errors_as_problems(api: Api) -> None:
    doc = api.get("openapi.json").json()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert "500" in op["responses"], (path, method)
            problem = op["responses"]["500"]["content"]["application/problem+json"]
            assert problem["schema"]["$ref"].endswith("/Problem")
            if op.get("security"):
                assert {"401", "403"} <= set(op["responses"]), (path, method)


def _assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def test_swagger_ui_and_redoc_render_from_local_assets(api: Api) -> None:
    for page in ("docs", "redoc"):
        r = api.get(page)
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/html")
        assets = _assets(r.text)
        assert assets, page
        for url in assets:
            assert url.startswith("/api/docs/assets/"), url  # same origin, no CDN
            asset = api.get(url.removeprefix("/api/"))
            assert asset.status_code == 200, url
            assert len(asset.content) > 0
    init = api.get("docs/assets/swagger-init.js")
    assert init.status_code == 200 and "'/api/openapi.json'" in init.text
    assert 'spec-url="/api/openapi.json"' in api.get("redoc").text


def test_unknown_asset_is_404_and_no_path_traversal(api: Api) -> None:
    assert api.get("docs/assets/nope.js").status_code == 404
    assert api.get("docs/assets/..%2F..%2Fconfig.py").status_code == 404


# The document itself has no fixed shape to give an example of.
_NO_EXAMPLE = {"openapi_document"}


def _check_example(doc: dict[str, Any], media: dict[str, Any], where: str) -> None:
    assert "example" in media, f"{where}: no example"
    # The schema is checked with the document's components in reach of its `$ref`s.
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema", **media["schema"]}
    root["components"] = doc["components"]
    validator = Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(media["example"])
    ]
    assert not errors, f"{where}: example does not match its schema: {errors}"


def test_every_json_body_has_an_example_that_matches_its_schema(api: Api) -> None:
    doc = api.get("openapi.json").json()
    checked = 0
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if op["operationId"] in _NO_EXAMPLE:
                continue
            where = f"{method.upper()} {path}"
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                _check_example(doc, body, where + " request")
                checked += 1
            for code, response in op["responses"].items():
                media = response.get("content", {}).get("application/json")
                if int(code) < 400 and media is not None:  # the success answer (errors are problems)
                    _check_example(doc, media, f"{where} {code}")
                    checked += 1
    assert checked > 60  # every JSON body of the API, not a handful


def test_an_example_that_breaks_its_schema_is_caught(api: Api) -> None:
    doc = api.get("openapi.json").json()
    media = doc["paths"]["/labels"]["post"]["responses"]["201"]["content"]["application/json"]
    broken = {**media, "example": {**media["example"], "id": "not-a-uuid"}}
    with pytest.raises(AssertionError, match="does not match"):
        _check_example(doc, broken, "POST /labels")
    with pytest.raises(AssertionError, match="no example"):
        _check_example(doc, {"schema": media["schema"]}, "POST /labels")


def test_every_example_is_accepted_by_the_model_it_documents(api: Api) -> None:
    """Beyond the published schema: the request examples pass the API's own validation, and the
    response examples are what the response model would produce."""
    doc = api.get("openapi.json").json()
    for spec in REGISTRY.values():
        op = doc["paths"][spec.openapi_path][spec.method.lower()]
        if spec.body_model is not None:
            example = op["requestBody"]["content"]["application/json"]["example"]
            spec.body_model.model_validate(example)  # raises when the API would refuse it
        media = op["responses"][str(spec.status)].get("content", {}).get("application/json")
        if media is not None and spec.name not in _NO_EXAMPLE:
            adapter: TypeAdapter[Any] = TypeAdapter(spec.response)
            assert (
                adapter.dump_python(adapter.validate_python(media["example"]), mode="json")
                == media["example"]
            ), spec.name
