"""The API's own documentation: OpenAPI 3.1, Swagger UI and ReDoc, served with no CDN."""

import json
from functools import lru_cache
from pathlib import Path

import azure.functions as func

import trackly
from trackly.errors import NotFound
from trackly.http import Call, Reply, endpoint
from trackly.http.openapi import build_openapi
from trackly.ratelimit.policies import Policy
from trackly.schemas import Schema

bp = func.Blueprint()

DESCRIPTION = (
    "Issues & insights tracker API. Sign in with `POST /auth/login`, then send "
    "`Authorization: Bearer <access_token>`. Errors are RFC 9457 problem+json documents."
)


@lru_cache(maxsize=1)
def _document() -> bytes:
    doc = build_openapi(title="Trackly API", version=trackly.__version__, description=DESCRIPTION)
    return json.dumps(doc).encode()


def _asset_dirs() -> dict[str, Path]:
    from openapi_ui_bundles import redoc, swagger_ui  # imported on first docs request only

    return {"swagger": swagger_ui.static_path, "redoc": redoc.static_path}


_ASSETS = {
    "swagger-ui.css": ("swagger", "text/css; charset=utf-8"),
    "swagger-ui-bundle.js": ("swagger", "application/javascript; charset=utf-8"),
    "swagger-ui-standalone-preset.js": ("swagger", "application/javascript; charset=utf-8"),
    "favicon-32x32.png": ("swagger", "image/png"),
    "redoc.standalone.js": ("redoc", "application/javascript; charset=utf-8"),
}

# Asset URLs are absolute: relative ones would resolve against /api/ from the /api/docs page.
_SWAGGER_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Trackly API - Swagger UI</title>
<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css">
<link rel="icon" href="/api/docs/assets/favicon-32x32.png"></head>
<body><div id="swagger-ui"></div>
<script src="/api/docs/assets/swagger-ui-bundle.js"></script>
<script src="/api/docs/assets/swagger-ui-standalone-preset.js"></script>
<script src="/api/docs/assets/swagger-init.js"></script>
</body></html>"""

_SWAGGER_INIT = """window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({
    url: '/api/openapi.json', dom_id: '#swagger-ui', deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: 'StandaloneLayout', persistAuthorization: false
  });
});"""

_REDOC_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Trackly API - ReDoc</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><redoc spec-url="/api/openapi.json"></redoc>
<script src="/api/docs/assets/redoc.standalone.js"></script>
</body></html>"""

_HTML = "text/html; charset=utf-8"
_CACHE = {"Cache-Control": "public, max-age=3600"}
# The pages load only same-origin scripts; nothing from a CDN. A token pasted into Swagger UI
# stays in that page's memory (persistAuthorization: false): not in localStorage, not framed by
# another site (clickjacking), not sent on in a Referer.
_CSP = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; worker-src 'self' blob:; script-src 'self' blob:; "
    "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class AssetPath(Schema):
    name: str


@endpoint(
    bp,
    "GET",
    "openapi.json",
    auth=False,
    rate_limit=Policy.PUBLIC,
    summary="OpenAPI 3.1 document",
    tags=["meta"],
    response=dict,
)
def openapi_document(call: Call[None, None, None]) -> Reply:
    return Reply(_document(), content_type="application/json", headers=_CACHE)


@endpoint(
    bp,
    "GET",
    "docs",
    auth=False,
    rate_limit=Policy.PUBLIC,
    summary="Swagger UI",
    tags=["meta"],
    response=str,
    response_content_type="text/html",
)
def swagger_ui(call: Call[None, None, None]) -> Reply:
    return Reply(_SWAGGER_HTML, content_type=_HTML, headers=_CSP)


@endpoint(
    bp,
    "GET",
    "redoc",
    auth=False,
    rate_limit=Policy.PUBLIC,
    summary="ReDoc",
    tags=["meta"],
    response=str,
    response_content_type="text/html",
)
def redoc_ui(call: Call[None, None, None]) -> Reply:
    return Reply(_REDOC_HTML, content_type=_HTML, headers=_CSP)


@endpoint(
    bp,
    "GET",
    "docs/assets/{name}",
    auth=False,
    rate_limit=Policy.PUBLIC,
    path=AssetPath,
    summary="Docs asset",
    tags=["meta"],
    response=str,
    response_content_type="application/octet-stream",
    errors=(404,),
)
def docs_asset(call: Call[AssetPath, None, None]) -> Reply:
    name = call.path.name
    if name == "swagger-init.js":
        return Reply(_SWAGGER_INIT, content_type="application/javascript; charset=utf-8", headers=_CACHE)
    if name not in _ASSETS:  # an allowlist: no path is ever built from user input
        raise NotFound(f"There is no documentation asset called '{name[:80]}'.")
    bundle, ctype = _ASSETS[name]
    data = (_asset_dirs()[bundle] / name).read_bytes()
    return Reply(data, content_type=ctype, headers=_CACHE)
