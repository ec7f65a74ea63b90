"""Settings: typed, named errors, refuses weak secrets outside development."""

from __future__ import annotations

import pytest

from tests.support.api import Api, assert_problem
from trackly.config import DEV_JWT_SECRET, Settings, SettingsError, get_settings, reset_settings

STRONG = "s" * 40


def build(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key in ("TRACKLY_ENV", "JWT_SECRET_KEY", "DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    try:
        return get_settings()
    finally:
        reset_settings()


def test_production_refuses_short_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="JWT_SECRET_KEY.*32 bytes"):
        build(
            monkeypatch,
            TRACKLY_ENV="production",
            JWT_SECRET_KEY="short-secret",
            DATABASE_URL="postgresql://x/y",
        )


@pytest.mark.parametrize("secret", ["changeme", "secret", "your-secret-key", DEV_JWT_SECRET])
def test_production_refuses_placeholder_secret(monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    with pytest.raises(SettingsError, match="JWT_SECRET_KEY"):
        build(monkeypatch, TRACKLY_ENV="production", JWT_SECRET_KEY=secret, DATABASE_URL="postgresql://x/y")


def test_production_requires_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        build(monkeypatch, TRACKLY_ENV="production", JWT_SECRET_KEY=STRONG)


def test_invalid_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError) as info:
        build(monkeypatch, TRACKLY_ENV="development", ACCESS_TOKEN_EXPIRE_MINUTES="soon")
    assert "ACCESS_TOKEN_EXPIRE_MINUTES" in str(info.value)


def test_unknown_environment_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="TRACKLY_ENV"):
        build(monkeypatch, TRACKLY_ENV="staging")


def test_development_uses_a_local_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = build(monkeypatch, TRACKLY_ENV="development")
    assert settings.jwt_secret == DEV_JWT_SECRET
    assert settings.is_development


def test_lists_are_comma_separated_and_cors_defaults_to_frontend(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = build(
        monkeypatch,
        TRACKLY_ENV="production",
        JWT_SECRET_KEY=STRONG,
        DATABASE_URL="postgresql://x/y",
        ALLOWED_CONTENT_TYPES=" image/png , application/pdf ",
        FRONTEND_URL="https://app.example.com/",
        CORS_ALLOWED_ORIGINS="",
    )
    assert settings.ALLOWED_CONTENT_TYPES == ["image/png", "application/pdf"]
    assert settings.cors_origins == ["https://app.example.com"]


def test_bad_configuration_answers_503_without_details(api: Api, settings_env) -> None:
    settings_env(TRACKLY_ENV="production", JWT_SECRET_KEY="short")
    body = assert_problem(api.get("health"), 503, "not configured correctly")
    assert "JWT_SECRET_KEY" not in body["detail"]
