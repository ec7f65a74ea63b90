"""GET /api/health over real HTTP."""

from tests.support.api import Api


def test_health_reports_database_and_migrations(api: Api) -> None:
    response = api.get("health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["migrations"]["current"] == body["migrations"]["head"] is not None
    assert body["version"]
