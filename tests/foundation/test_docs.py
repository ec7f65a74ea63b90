"""OpenAPI 3.1 document, Swagger UI and ReDoc, all served by the app with no CDN."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

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
