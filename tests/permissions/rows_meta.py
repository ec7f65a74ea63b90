"""Permission rows for the public meta endpoints: health and the API documentation."""

from tests.permissions.framework import Row, expect

PUBLIC = expect(anonymous=200, reporter=200, maintainer=200, admin=200)

ROWS = [
    Row("health", PUBLIC),
    # The operator's readiness check: ADMIN only (or the READINESS_KEY, tests/operations). The
    # admin's answer is 200 or 503 (timers that never ran yet are late), never a 4xx.
    Row("health_ready", expect(anonymous=401, reporter=403, maintainer=403, admin=(200, 503))),
    Row("openapi_document", PUBLIC),
    Row("swagger_ui", PUBLIC),
    Row("redoc_ui", PUBLIC),
    Row("docs_asset", PUBLIC, path={"name": "swagger-init.js"}),
]
