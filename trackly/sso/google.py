"""Google sign-in: verify an ID token from Google Identity Services.

The browser gets the token (`credential`) from the Google button and posts it; we check its
RS256 signature against Google's published keys (GOOGLE_JWKS_URL), the audience
(GOOGLE_CLIENT_ID), the issuer (GOOGLE_ISSUERS), the expiry and `email_verified`. The client
secret is not needed for this flow.
"""

from __future__ import annotations

import logging
from typing import Any

import jwt

from trackly.config import Settings
from trackly.errors import ServiceUnavailable, Unauthorized
from trackly.sso import jwks
from trackly.sso.linking import GOOGLE, ExternalIdentity

log = logging.getLogger(__name__)

LEEWAY_SECONDS = 60
ALGORITHMS = ["RS256"]

REFUSED = "Google sign-in failed: the credential could not be verified. Please sign in with Google again."


def verify_credential(credential: str, *, settings: Settings) -> ExternalIdentity:
    """The identity in a genuine, current Google ID token for this app; otherwise 401."""
    if not settings.GOOGLE_CLIENT_ID:
        raise ServiceUnavailable(
            "Google sign-in is not configured on this server (GOOGLE_CLIENT_ID is empty)."
        )
    try:
        header = jwt.get_unverified_header(credential)
    except jwt.PyJWTError:
        raise Unauthorized(REFUSED) from None
    if header.get("alg") not in ALGORITHMS or not isinstance(header.get("kid"), str):
        raise Unauthorized(REFUSED)
    try:
        key = jwks.client_for(settings.GOOGLE_JWKS_URL).get_signing_key(header["kid"])
    except jwt.PyJWKClientConnectionError:
        log.warning("Google JWKS unreachable at %s", settings.GOOGLE_JWKS_URL)
        raise ServiceUnavailable(
            "Google sign-in is unavailable right now (its signing keys could not be fetched). "
            "Try again shortly.",
            headers={"Retry-After": "30"},
        ) from None
    except jwt.PyJWKClientError:  # no key with this kid, even after a refetch
        raise Unauthorized(REFUSED) from None
    try:
        claims: dict[str, Any] = jwt.decode(
            credential,
            key=key.key,
            algorithms=ALGORITHMS,
            audience=settings.GOOGLE_CLIENT_ID,
            issuer=list(settings.GOOGLE_ISSUERS),
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError as exc:
        log.info("Google ID token refused: %s", type(exc).__name__)
        raise Unauthorized(REFUSED) from None
    if claims.get("email_verified") not in (True, "true"):
        log.info("Google ID token refused: email not verified")
        raise Unauthorized(REFUSED)
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise Unauthorized(REFUSED)
    name = claims.get("name")
    return ExternalIdentity(
        provider=GOOGLE,
        subject=str(claims["sub"]),
        email=email,
        name=name if isinstance(name, str) else None,
    )
