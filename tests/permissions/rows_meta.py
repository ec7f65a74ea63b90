"""Permission rows for the public meta endpoints: health and the API documentation."""

from tests.permissions.framework import Row, expect

PUBLIC = expect(anonymous=200, reporter=200, maintainer=200, admin=200)

ROWS = [
    Row("health", PUBLIC),
    Row("openapi_document", PUBLIC),
    Row("swagger_ui", PUBLIC),
    Row("redoc_ui", PUBLIC),
    Row("docs_asset", PUBLIC, path={"name": "swagger-init.js"}),
]
