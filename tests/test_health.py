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


def test_the_documented_example_names_the_migration_head() -> None:
    """The OpenAPI example of /health shows the head this build ships (update it with a migration)."""
    from trackly.health.service import Health, migration_head

    example = Health.model_config["json_schema_extra"]["examples"][0]  # type: ignore[index]
    assert example["migrations"] == {"current": migration_head(), "head": migration_head()}


def test_health_is_503_when_migrations_are_behind(api: Api, engine) -> None:
    from sqlalchemy import text

    with engine.begin() as conn:
        head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        conn.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    try:
        response = api.get("health")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "degraded"
        assert body["database"] == "ok"
        assert body["migrations"] == {"current": "older", "head": head}
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
    assert api.get("health").status_code == 200


def test_health_is_503_when_the_database_is_unreachable(api: Api, settings_env) -> None:
    from trackly import db

    settings_env(DATABASE_URL="postgresql://postgres@127.0.0.1:1/nowhere")
    db.dispose_engine()
    try:
        response = api.get("health")
        assert response.status_code == 503
        assert response.json()["database"] == "unreachable"
    finally:
        db.dispose_engine()  # the next request rebuilds the engine from the restored settings
