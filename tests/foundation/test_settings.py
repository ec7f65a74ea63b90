"""Settings: typed, named errors, refuses weak secrets outside development."""

from __future__ import annotations

import pytest

from tests.support.api import Api, assert_problem
from trackly.config import (
    DEV_JWT_SECRET,
    SECRET_SETTINGS,
    Settings,
    SettingsError,
    get_settings,
    reset_settings,
)

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
        TRACKLY_ALLOWED_ORIGINS="",
    )
    assert settings.ALLOWED_CONTENT_TYPES == ["image/png", "application/pdf"]
    assert settings.cors_origins == ["https://app.example.com"]


def test_bad_configuration_answers_503_without_details(api: Api, settings_env) -> None:
    settings_env(TRACKLY_ENV="production", JWT_SECRET_KEY="short")
    body = assert_problem(api.get("health"), 503, "not configured correctly")
    assert "JWT_SECRET_KEY" not in body["detail"]


KEY_VAULT_REFERENCE = (
    "@Microsoft.KeyVault(SecretUri=https://kv-abc123.vault.azure.net/secrets/jwt-secret-key)"
)


@pytest.mark.parametrize("name", SECRET_SETTINGS)
@pytest.mark.parametrize("environment", ["production", "development"])
def test_an_unresolved_key_vault_reference_is_never_a_secret(
    monkeypatch: pytest.MonkeyPatch, name: str, environment: str
) -> None:
    """The platform passes the literal reference when it cannot resolve it; it must not become a key."""
    env = {"TRACKLY_ENV": environment, "JWT_SECRET_KEY": STRONG, "DATABASE_URL": "postgresql://x/y"}
    env[name] = (
        KEY_VAULT_REFERENCE
        if name != "JWT_SECRET_KEY"
        else "  @microsoft.keyvault(VaultName=kv;SecretName=x)"
    )
    with pytest.raises(SettingsError) as info:
        build(monkeypatch, **env)
    message = str(info.value)
    assert name in message and "Key Vault reference" in message
    assert "kv-abc123" not in message  # the reference text (vault, secret name) is not echoed


def test_a_secret_that_merely_mentions_key_vault_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "x" * 32 + "@Microsoft.KeyVault(SecretUri=https://kv/secrets/s)"
    settings = build(
        monkeypatch, TRACKLY_ENV="production", JWT_SECRET_KEY=secret, DATABASE_URL="postgresql://x/y"
    )
    assert settings.jwt_secret == secret


def test_unresolved_key_vault_reference_answers_503_and_logs_why(
    api: Api, settings_env, caplog: pytest.LogCaptureFixture
) -> None:
    settings_env(JWT_SECRET_KEY=KEY_VAULT_REFERENCE)
    with caplog.at_level("ERROR", logger="trackly.http"):
        body = assert_problem(api.get("health"), 503, "not configured correctly")
    assert "KeyVault" not in body["detail"] and "kv-abc123" not in str(body)
    logged = [r.getMessage() for r in caplog.records if r.name == "trackly.http"]
    assert any("JWT_SECRET_KEY" in m and "unresolved Key Vault reference" in m for m in logged), logged


def test_the_cors_setting_is_not_the_name_the_functions_host_overwrites(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On Linux Consumption / Flex the host writes CORS_ALLOWED_ORIGINS itself; the app ignores it."""
    settings = build(
        monkeypatch,
        TRACKLY_ENV="production",
        JWT_SECRET_KEY=STRONG,
        DATABASE_URL="postgresql://x/y",
        FRONTEND_URL="https://app.example.com",
        CORS_ALLOWED_ORIGINS='["https://portal.azure.com"]',
        TRACKLY_ALLOWED_ORIGINS="https://a.example.com, https://b.example.com",
    )
    assert settings.cors_origins == ["https://a.example.com", "https://b.example.com"]
    assert "CORS_ALLOWED_ORIGINS" not in Settings.model_fields
