"""Fixtures for the SSO tests: the OIDC provider (session-wide) and Google keys."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sso.harness import Browser, GoogleKeys, OidcProvider, TestCA, env_vars


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestCA]:
    ca = TestCA(tmp_path_factory.mktemp("sso-ca"))
    # MSAL and requests honour REQUESTS_CA_BUNDLE; urllib (PyJWKClient) honours SSL_CERT_FILE.
    with env_vars(REQUESTS_CA_BUNDLE=str(ca.ca_file), SSL_CERT_FILE=str(ca.ca_file)):
        yield ca


@pytest.fixture(scope="session")
def oidc_provider(
    test_ca: TestCA, live_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OidcProvider]:
    provider = OidcProvider(
        Path(tmp_path_factory.mktemp("oidc")), test_ca, redirect_uri=f"{live_server}/auth/microsoft/callback"
    )
    yield provider
    provider.stop()


@pytest.fixture
def microsoft(oidc_provider: OidcProvider, settings_env: Callable[..., None]) -> Iterator[OidcProvider]:
    """Microsoft sign-in configured against the local provider; clean provider state."""
    from trackly.sso import jwks

    settings_env(
        MICROSOFT_CLIENT_ID=OidcProvider.CLIENT_ID,
        MICROSOFT_CLIENT_SECRET=OidcProvider.CLIENT_SECRET,
        MICROSOFT_AUTHORITY=oidc_provider.authority,
        MICROSOFT_VALIDATE_AUTHORITY="false",
        MICROSOFT_REDIRECT_URI=oidc_provider.redirect_uri,
    )
    oidc_provider.reset()
    jwks.reset()
    yield oidc_provider
    oidc_provider.reset()


@pytest.fixture
def browser(microsoft: OidcProvider) -> Browser:
    return Browser(microsoft)


@pytest.fixture(scope="session")
def google_keys() -> Iterator[GoogleKeys]:
    keys = GoogleKeys()
    yield keys
    keys.stop()


@pytest.fixture
def google(google_keys: GoogleKeys, settings_env: Callable[..., None]) -> Iterator[GoogleKeys]:
    from trackly.sso import jwks

    settings_env(GOOGLE_CLIENT_ID=GoogleKeys.CLIENT_ID, GOOGLE_JWKS_URL=google_keys.jwks_url)
    jwks.reset()
    yield google_keys
    jwks.reset()


@pytest.fixture
def provisioning(settings_env: Callable[..., None]) -> Callable[..., Any]:
    def enable(*domains: str) -> None:
        settings_env(SSO_AUTO_PROVISION_DOMAINS=",".join(domains))

    return enable
