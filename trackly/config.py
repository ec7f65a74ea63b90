"""Typed application settings, read from environment variables (Function App settings).

`get_settings()` builds the object lazily and caches it, so importing this module never fails;
an invalid setting fails the first request (or CLI command) with a message naming the setting.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Values that mean "nobody set a real secret"; refused outside development.
_PLACEHOLDER_SECRETS = {
    "",
    "changeme",
    "change-me",
    "secret",
    "your-secret-key",
    "your-secret-key-here",
    "dev-secret",
    "development-secret-change-me-0123456789abcdef",
}
DEV_JWT_SECRET = "development-secret-change-me-0123456789abcdef"  # noqa: S105 (dev only)

DEFAULT_CONTENT_TYPES = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "text/csv",
    "application/json",
    "application/zip",
)

CsvList = Annotated[list[str], NoDecode]

# Settings that hold secrets (or a URL/connection string that may embed one). In Azure they are
# Key Vault references; when the platform cannot resolve a reference it passes the literal
# `@Microsoft.KeyVault(...)` text, which must never be used as a key.
SECRET_SETTINGS = (
    "JWT_SECRET_KEY",
    "DATABASE_URL",
    "GOOGLE_CLIENT_SECRET",
    "MICROSOFT_CLIENT_SECRET",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "WEBPUBSUB_CONNECTION_STRING",
    "SMTP_PASSWORD",
    "EMAIL_TOKEN_KEY",
    "EMAIL_INBOUND_SECRET",
    "WEBHOOK_SECRET_KEY",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "READINESS_KEY",
)
_KEY_VAULT_REFERENCE = re.compile(r"^\s*@Microsoft\.KeyVault\s*\(", re.IGNORECASE)


class SettingsError(RuntimeError):
    """Configuration is invalid; the message names the offending setting(s)."""


class Settings(BaseSettings):
    """Every setting the app reads. Names are the environment variable names."""

    # Built on the first get_settings(), not at import (cold start).
    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True, defer_build=True)

    # --- runtime ------------------------------------------------------------------------------
    TRACKLY_ENV: Literal["development", "test", "production"] = "production"
    LOG_LEVEL: str = "INFO"
    MAX_REQUEST_BYTES: int = Field(default=1024 * 1024, ge=1024)

    # --- database -----------------------------------------------------------------------------
    DATABASE_URL: str = ""
    DATABASE_AUTH: Literal["password", "entra"] = "password"
    DATABASE_POOL_SIZE: int = Field(default=4, ge=1, le=50)
    # Bounded waits (0 turns a PostgreSQL timeout off). The read timeout is enforced by the
    # client, so a stalled link or frozen server cannot hold a request past it.
    DATABASE_CONNECT_TIMEOUT_SECONDS: int = Field(default=5, ge=1, le=60)
    DATABASE_STATEMENT_TIMEOUT_MS: int = Field(default=15000, ge=0)
    DATABASE_LOCK_TIMEOUT_MS: int = Field(default=5000, ge=0)
    DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: int = Field(default=60000, ge=0)
    DATABASE_READ_TIMEOUT_SECONDS: float = Field(default=20, gt=0, le=600)
    DATABASE_KEEPALIVE_SECONDS: int = Field(default=10, ge=1, le=600)
    # A pooled connection idle longer than this is pinged before use (0: always).
    DATABASE_PING_AFTER_IDLE_SECONDS: float = Field(default=10, ge=0, le=3600)

    # --- tokens and sign-in -------------------------------------------------------------------
    JWT_SECRET_KEY: str = ""
    JWT_ISSUER: str = "trackly"
    JWT_AUDIENCE: str = "trackly-api"
    # Fractions allowed (0.1 = 6 s), so a test can let a token expire without waiting minutes.
    ACCESS_TOKEN_EXPIRE_MINUTES: float = Field(default=30, gt=0, le=24 * 60)
    REFRESH_TOKEN_EXPIRE_DAYS: int = Field(default=7, ge=1, le=365)
    REFRESH_TOKEN_ROTATION: bool = True
    REFRESH_TOKEN_REUSE_GRACE_SECONDS: int = Field(default=30, ge=0, le=300)
    LOGIN_MAX_FAILURES: int = Field(default=5, ge=1)
    LOGIN_FAILURE_WINDOW_MINUTES: int = Field(default=15, ge=1)
    SIGNUP_ENABLED: bool = False
    # Off for the original frontend, which never sends If-Match (see docs/issues.md).
    REQUIRE_IF_MATCH: bool = False

    # --- personal access tokens and rate limits (docs/tokens.md) -------------------------------
    TOKEN_MAX_DAYS: int = Field(default=365, ge=1, le=365)
    RATE_LIMIT_ENABLED: bool = True
    RATE_LIMIT_WINDOW_SECONDS: int = Field(default=3600, ge=1, le=24 * 3600)
    # Requests per window: per user (sessions and tokens together), and per client address for
    # anonymous calls, for sign-in calls (which also keep their failure throttle) and for public
    # resources (health, documentation, the browser module, signed file links).
    RATE_LIMIT_PER_USER: int = Field(default=5000, ge=1)
    RATE_LIMIT_ANONYMOUS: int = Field(default=60, ge=1)
    RATE_LIMIT_SIGN_IN: int = Field(default=1000, ge=1)
    RATE_LIMIT_PUBLIC: int = Field(default=3600, ge=1)

    # --- issues ------------------------------------------------------------------------------
    # `free`: any status to any other (the original client offers all four); `guided`: the
    # triage-first table in trackly/issues/workflow.py.
    ISSUE_WORKFLOW: Literal["free", "guided"] = "free"

    # --- web front end ------------------------------------------------------------------------
    FRONTEND_URL: str = "http://localhost:5173"
    # Not CORS_ALLOWED_ORIGINS: the Functions host reads and overwrites that name on Linux
    # Consumption and Flex Consumption (it mirrors the site's CORS list into it).
    TRACKLY_ALLOWED_ORIGINS: CsvList = Field(default_factory=list)

    # --- single sign-on -----------------------------------------------------------------------
    GOOGLE_CLIENT_ID: str = ""
    GOOGLE_CLIENT_SECRET: str = ""
    GOOGLE_JWKS_URL: str = "https://www.googleapis.com/oauth2/v3/certs"
    GOOGLE_ISSUERS: CsvList = Field(
        default_factory=lambda: ["https://accounts.google.com", "accounts.google.com"]
    )
    MICROSOFT_CLIENT_ID: str = ""
    MICROSOFT_CLIENT_SECRET: str = ""
    MICROSOFT_AUTHORITY: str = "https://login.microsoftonline.com/common"
    MICROSOFT_REDIRECT_URI: str = ""
    # Off only for a local OIDC provider in tests; Entra authorities are always validated.
    MICROSOFT_VALIDATE_AUTHORITY: bool = True
    SSO_AUTO_PROVISION_DOMAINS: CsvList = Field(default_factory=list)

    # --- attachments (Blob Storage) -----------------------------------------------------------
    AZURE_STORAGE_CONNECTION_STRING: str = ""
    AZURE_STORAGE_ACCOUNT_NAME: str = ""
    AZURE_STORAGE_ACCOUNT_KEY: str = ""
    AZURE_STORAGE_ACCOUNT_URL: str = ""
    AZURE_STORAGE_CONTAINER_NAME: str = "issue-files"
    # Longest wait for one answer from Blob Storage on a request path (one retry follows).
    AZURE_STORAGE_TIMEOUT_SECONDS: float = Field(default=5, gt=0, le=60)
    UPLOAD_SAS_MINUTES: int = Field(default=10, ge=1, le=60)
    DOWNLOAD_SAS_MINUTES: int = Field(default=5, ge=1, le=60)
    # Lifetime of the signed `file_url` links to files uploaded with POST /files/upload.
    FILE_LINK_MINUTES: int = Field(default=30, ge=1, le=24 * 60)
    MAX_ATTACHMENT_BYTES: int = Field(default=25 * 1024 * 1024, ge=1)
    MAX_ATTACHMENTS_PER_ISSUE: int = Field(default=20, ge=1)
    ALLOWED_CONTENT_TYPES: CsvList = Field(default_factory=lambda: list(DEFAULT_CONTENT_TYPES))
    ATTACHMENT_CLEANUP_SCHEDULE: str = "0 */15 * * * *"

    # --- export and import (docs/import-export.md) --------------------------------------------
    # GET /issues/export answers directly up to this many rows; above it, 413 (use POST /exports).
    EXPORT_MAX_ROWS: int = Field(default=10_000, ge=1, le=1_000_000)
    EXPORT_CHUNK_ROWS: int = Field(default=2_000, ge=10, le=50_000)
    EXPORT_LINK_MINUTES: int = Field(default=10, ge=1, le=60)
    EXPORT_SCHEDULE: str = "0 * * * * *"
    IMPORT_MAX_BYTES: int = Field(default=50 * 1024 * 1024, ge=1024)
    # Files sent as multipart/form-data to POST /imports (bigger ones go through the upload SAS).
    IMPORT_MULTIPART_MAX_BYTES: int = Field(default=4 * 1024 * 1024, ge=1024, le=90 * 1000 * 1000)
    IMPORT_MAX_ROWS: int = Field(default=100_000, ge=1)
    IMPORT_CHUNK_ROWS: int = Field(default=500, ge=10, le=50_000)
    IMPORT_SCHEDULE: str = "30 * * * * *"
    # A timer run of the export or import job stops taking new chunks after this long: under
    # host.json's functionTimeout (5 min) with room for the chunk in progress. The host never
    # starts a timer while its previous run is still going, and jobs are locked anyway.
    TRANSFER_RUN_SECONDS: float = Field(default=240, gt=0, le=540)

    # --- live updates (Web PubSub) ------------------------------------------------------------
    WEBPUBSUB_CONNECTION_STRING: str = ""
    WEBPUBSUB_ENDPOINT: str = ""
    WEBPUBSUB_HUB: str = "trackly"
    REALTIME_TOKEN_MINUTES: int = Field(default=5, ge=1, le=24 * 60)
    EVENT_RETENTION_DAYS: int = Field(default=90, ge=1)
    OUTBOX_SCHEDULE: str = "0 * * * * *"

    # --- email notifications (docs/email.md) --------------------------------------------------
    # `auto`: SMTP when SMTP_HOST is set, else Azure Communication Services when
    # ACS_EMAIL_ENDPOINT is set, else email is off.
    EMAIL_TRANSPORT: Literal["auto", "smtp", "acs", "off"] = "auto"
    EMAIL_FROM: str = ""
    EMAIL_SCHEDULE: str = "0 * * * * *"
    EMAIL_BATCH_SIZE: int = Field(default=200, ge=1, le=5000)
    # Notifications older than this when first seen are never emailed (email just turned on).
    EMAIL_MAX_AGE_HOURS: int = Field(default=48, ge=1, le=24 * 30)
    EMAIL_MAX_ATTEMPTS: int = Field(default=5, ge=1, le=20)
    EMAIL_DEFAULT_TIME_ZONE: str = "UTC"
    EMAIL_DEFAULT_DIGEST_HOUR: int = Field(default=8, ge=0, le=23)
    # Signs unsubscribe and reply tokens; empty: derived from JWT_SECRET_KEY.
    EMAIL_TOKEN_KEY: str = ""
    # Where links in emails point back to the API (List-Unsubscribe), e.g. https://x.azurewebsites.net/api
    API_PUBLIC_URL: str = "http://127.0.0.1:7071/api"
    # Replies by email: Reply-To is reply+<token>@EMAIL_INBOUND_DOMAIN; empty turns replies off.
    EMAIL_INBOUND_DOMAIN: str = ""
    EMAIL_INBOUND_SECRET: str = ""
    SMTP_HOST: str = ""
    SMTP_PORT: int = Field(default=587, ge=1, le=65535)
    SMTP_SECURITY: Literal["starttls", "tls", "none"] = "starttls"
    SMTP_USERNAME: str = ""
    SMTP_PASSWORD: str = ""
    SMTP_TIMEOUT_SECONDS: float = Field(default=10, gt=0, le=120)
    # Azure Communication Services Email, with the app's managed identity (AZURE_CLIENT_ID).
    ACS_EMAIL_ENDPOINT: str = ""
    # --- webhooks ------------------------------------------------------------------------------
    # The key that encrypts webhook signing secrets at rest (any string of 32+ bytes; a Key
    # Vault secret in Azure). Required in production; development and tests use a fixed one.
    # `new,old` while changing it: the first encrypts, any decrypts.
    WEBHOOK_SECRET_KEY: str = ""
    WEBHOOK_SCHEDULE: str = "*/10 * * * * *"
    # The whole of one attempt: name resolution, connection, TLS, request and reading the answer.
    WEBHOOK_TIMEOUT_SECONDS: float = Field(default=5, gt=0, le=30)
    # Loopback, private, link-local, ... targets. None: allowed in development only.
    WEBHOOK_ALLOW_PRIVATE_TARGETS: bool | None = None
    # None: https is required in production only.
    WEBHOOK_REQUIRE_HTTPS: bool | None = None
    # A hook is disabled after this many deliveries in a row failed (each after its retries).
    WEBHOOK_DISABLE_AFTER_FAILURES: int = Field(default=5, ge=1, le=1000)
    WEBHOOK_DELIVERY_RETENTION_DAYS: int = Field(default=30, ge=1)
    WEBHOOK_BATCH_SIZE: int = Field(default=100, ge=1, le=1000)
    # A PEM file of extra CAs to trust for receivers (empty: the platform's trust store).
    WEBHOOK_CA_BUNDLE: str = ""

    # --- statistics ---------------------------------------------------------------------------
    STATS_SCHEDULE: str = "0 */30 * * * *"
    STATS_BACKFILL_MAX_DAYS: int = Field(default=366, ge=1)

    # --- operations (docs/observability.md, docs/operations.md) --------------------------------
    # off: no OpenTelemetry at all; azure_monitor: Microsoft's distro to Application Insights;
    # console / file: the same spans, logs and metrics as JSON on stdout or in TELEMETRY_FILE.
    TELEMETRY_EXPORTER: Literal["off", "azure_monitor", "console", "file"] = "off"
    TELEMETRY_FILE: str = ".trackly/telemetry.jsonl"
    APPLICATIONINSIGHTS_CONNECTION_STRING: str = ""
    # GET /health/ready answers an ADMIN token or this key in X-Readiness-Key (empty: ADMIN only).
    READINESS_KEY: str = ""

    @field_validator(
        "TRACKLY_ALLOWED_ORIGINS",
        "GOOGLE_ISSUERS",
        "SSO_AUTO_PROVISION_DOMAINS",
        "ALLOWED_CONTENT_TYPES",
        mode="before",
    )
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("FRONTEND_URL", "API_PUBLIC_URL")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator(*SECRET_SETTINGS)
    @classmethod
    def _refuse_unresolved_key_vault_reference(cls, value: str) -> str:
        if _KEY_VAULT_REFERENCE.match(value):
            # Never echo the value: the vault and secret names are in it.
            raise ValueError(
                "is an unresolved Key Vault reference (the platform could not read the secret: "
                "check that it exists and that the app's identity has Key Vault Secrets User)"
            )
        return value

    @model_validator(mode="after")
    def _check_production(self) -> Settings:
        if self.DATABASE_STATEMENT_TIMEOUT_MS and (
            self.DATABASE_READ_TIMEOUT_SECONDS * 1000 <= self.DATABASE_STATEMENT_TIMEOUT_MS
        ):
            # Otherwise the client gives up on a slow query the server would still answer.
            raise ValueError(
                "DATABASE_READ_TIMEOUT_SECONDS must be longer than DATABASE_STATEMENT_TIMEOUT_MS"
            )
        if any(len(k.strip().encode()) < 32 for k in self.WEBHOOK_SECRET_KEY.split(",") if k.strip()):
            raise ValueError("WEBHOOK_SECRET_KEY: every key must be at least 32 bytes")
        if self.TRACKLY_ENV == "development":
            return self
        secret = self.JWT_SECRET_KEY
        if secret.strip().lower() in _PLACEHOLDER_SECRETS or secret == DEV_JWT_SECRET:
            raise ValueError("JWT_SECRET_KEY must be set to a real secret outside development")
        if len(secret.encode()) < 32:
            raise ValueError("JWT_SECRET_KEY must be at least 32 bytes outside development")
        if not self.DATABASE_URL and self.TRACKLY_ENV == "production":
            raise ValueError("DATABASE_URL is required outside development")
        return self

    # --- derived values -----------------------------------------------------------------------
    @property
    def is_development(self) -> bool:
        return self.TRACKLY_ENV == "development"

    @property
    def jwt_secret(self) -> str:
        return self.JWT_SECRET_KEY or DEV_JWT_SECRET

    @property
    def cors_origins(self) -> list[str]:
        """TRACKLY_ALLOWED_ORIGINS, or FRONTEND_URL; in development also its loopback twin
        (`localhost` <-> `127.0.0.1`), since a dev server is opened under either name."""
        if self.TRACKLY_ALLOWED_ORIGINS:
            return self.TRACKLY_ALLOWED_ORIGINS
        origins = [self.FRONTEND_URL]
        if self.is_development:
            for a, b in (("//localhost", "//127.0.0.1"), ("//127.0.0.1", "//localhost")):
                if a + ":" in self.FRONTEND_URL or self.FRONTEND_URL.endswith(a):
                    origins.append(self.FRONTEND_URL.replace(a, b, 1))
        return origins

    @property
    def storage_configured(self) -> bool:
        return bool(
            self.AZURE_STORAGE_CONNECTION_STRING
            or self.AZURE_STORAGE_ACCOUNT_URL
            or (self.AZURE_STORAGE_ACCOUNT_NAME and self.AZURE_STORAGE_ACCOUNT_KEY)
        )

    @property
    def email_transport(self) -> str | None:
        """`smtp`, `acs`, or None when email is off (nothing configured)."""
        if self.EMAIL_TRANSPORT == "off":
            return None
        if self.EMAIL_TRANSPORT != "auto":
            return self.EMAIL_TRANSPORT
        if self.SMTP_HOST:
            return "smtp"
        if self.ACS_EMAIL_ENDPOINT:
            return "acs"
        return None

    @property
    def email_token_key(self) -> bytes:
        import hashlib

        if self.EMAIL_TOKEN_KEY:
            return self.EMAIL_TOKEN_KEY.encode()
        # A key of its own, so an email token can never pass as an access token or the reverse.
        return hashlib.sha256(b"trackly-email-tokens:" + self.jwt_secret.encode()).digest()

    @property
    def webhook_private_targets_allowed(self) -> bool:
        if self.WEBHOOK_ALLOW_PRIVATE_TARGETS is None:
            return self.is_development
        return self.WEBHOOK_ALLOW_PRIVATE_TARGETS

    @property
    def webhook_https_required(self) -> bool:
        if self.WEBHOOK_REQUIRE_HTTPS is None:
            return self.TRACKLY_ENV == "production"
        return self.WEBHOOK_REQUIRE_HTTPS

    @property
    def webpubsub_configured(self) -> bool:
        return bool(self.WEBPUBSUB_CONNECTION_STRING or self.WEBPUBSUB_ENDPOINT)


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        name = ".".join(str(p) for p in item["loc"]) or "settings"
        parts.append(f"{name}: {item['msg']}")
    return "Invalid configuration: " + "; ".join(parts)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, built on first use."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


def reset_settings() -> None:
    """Forget the cached settings (tests and the local host change the environment)."""
    get_settings.cache_clear()
