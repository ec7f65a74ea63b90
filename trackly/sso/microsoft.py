"""Microsoft sign-in with MSAL: authorization code flow with PKCE, for Entra ID (single or
multi-tenant) and Entra External ID.

MSAL (`ConfidentialClientApplication`) builds the authorize URL with state, nonce and a PKCE
challenge, and redeems the code. Since MSAL 1.38 it no longer validates the ID token, so this
module does: RS256 signature against the authority's JWKS, issuer from the authority's OpenID
configuration (`{tenantid}` filled from the token's `tid` for multi-tenant authorities), audience
= MICROSOFT_CLIENT_ID, expiry, and the nonce of this very flow. With a multi-tenant authority
the email is used to match accounts only when `xms_edov` is true (see `validate_id_token`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from typing import Any

import jwt

from trackly.config import Settings
from trackly.errors import ServiceUnavailable
from trackly.sso import jwks
from trackly.sso.linking import MICROSOFT, ExternalIdentity

log = logging.getLogger(__name__)

# MSAL always adds openid, profile and offline_access; `email` asks for the email claim.
SCOPES = ["email"]
LEEWAY_SECONDS = 120
ALGORITHMS = ["RS256"]

# The callback is a GET redirect (response_mode=query): the code it carries is useless without
# the PKCE verifier kept in PostgreSQL and the client secret, works once, and the callback
# answers with Cache-Control: no-store and Referrer-Policy: no-referrer. form_post would need a
# form-encoded POST endpoint, which this API's JSON-only endpoint layer does not take.
warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended", category=UserWarning)

# Discovery responses (not tokens) shared by every MSAL app in this process; MSAL caches GETs 24 h.
_HTTP_CACHE: dict[Any, Any] = {}


class LoginFailed(Exception):
    """The provider did not vouch for anyone (cancelled, bad code, invalid ID token)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def configured(settings: Settings) -> bool:
    return bool(settings.MICROSOFT_CLIENT_ID and settings.MICROSOFT_CLIENT_SECRET)


def require_configured(settings: Settings) -> None:
    if not configured(settings):
        raise ServiceUnavailable(
            "Microsoft sign-in is not configured on this server "
            "(MICROSOFT_CLIENT_ID and MICROSOFT_CLIENT_SECRET are required)."
        )


def build_app(settings: Settings) -> Any:
    """A fresh MSAL app (its token cache is per request: we keep no Microsoft tokens)."""
    import msal  # heavy SDK: imported on first use only

    require_configured(settings)
    validate = settings.MICROSOFT_VALIDATE_AUTHORITY
    try:
        return msal.ConfidentialClientApplication(
            settings.MICROSOFT_CLIENT_ID,
            client_credential=settings.MICROSOFT_CLIENT_SECRET,
            authority=settings.MICROSOFT_AUTHORITY,
            validate_authority=validate,
            instance_discovery=None if validate else False,
            token_cache=msal.TokenCache(),
            http_cache=_HTTP_CACHE,
            timeout=(3, 10),  # connect, read: MSAL's default is to wait forever
        )
    except Exception as exc:  # discovery failed: network, TLS, or a wrong authority URL
        log.warning("MSAL authority %s unusable: %s", settings.MICROSOFT_AUTHORITY, exc)
        raise ServiceUnavailable(
            "Microsoft sign-in is unavailable right now (the identity provider could not be reached).",
            headers={"Retry-After": "30"},
        ) from None


def begin(*, redirect_uri: str, settings: Settings) -> dict[str, Any]:
    """MSAL's flow dict: `auth_uri` to send the browser to, plus state, nonce, code_verifier."""
    app = build_app(settings)
    flow: dict[str, Any] = app.initiate_auth_code_flow(scopes=SCOPES, redirect_uri=redirect_uri)
    return flow


def complete(flow: dict[str, Any], response: dict[str, str], *, settings: Settings) -> ExternalIdentity:
    """Redeem the authorization response for tokens and return the verified identity."""
    if response.get("error"):
        reason = "access_denied" if response["error"] == "access_denied" else "sso_failed"
        raise LoginFailed(reason, f"authority answered error={response['error'][:80]}")
    app = build_app(settings)
    try:
        result: dict[str, Any] = app.acquire_token_by_auth_code_flow(flow, response)
    except (ValueError, RuntimeError) as exc:  # state / nonce / auth_time checks inside MSAL
        raise LoginFailed("sso_failed", f"MSAL refused the response: {type(exc).__name__}: {exc}") from None
    except Exception as exc:  # network trouble talking to the token endpoint
        raise LoginFailed("sso_failed", f"token request failed: {type(exc).__name__}") from None
    if "error" in result:
        raise LoginFailed("sso_failed", f"token endpoint answered error={str(result['error'])[:80]}")
    id_token = result.get("id_token")
    if not isinstance(id_token, str):
        raise LoginFailed("sso_failed", "no ID token in the token response")
    claims = validate_id_token(id_token, nonce=str(flow.get("nonce", "")), app=app, settings=settings)
    return identity_from_claims(claims)


def openid_configuration(app: Any, settings: Settings) -> dict[str, Any]:
    url = settings.MICROSOFT_AUTHORITY.rstrip("/") + "/v2.0/.well-known/openid-configuration"
    resp = app.http_client.get(url)  # MSAL's HTTP client: cached, same TLS settings as MSAL
    if not 200 <= resp.status_code < 300:
        raise LoginFailed("sso_failed", f"OpenID configuration answered {resp.status_code}")
    config: dict[str, Any] = json.loads(resp.text)
    return config


def validate_id_token(id_token: str, *, nonce: str, app: Any, settings: Settings) -> dict[str, Any]:
    """The claims of a genuine ID token for this app and this flow; LoginFailed otherwise."""
    try:
        config = openid_configuration(app, settings)
        header = jwt.get_unverified_header(id_token)
        unverified = jwt.decode(id_token, options={"verify_signature": False})
        tid = str(unverified.get("tid", ""))
        issuer = str(config["issuer"]).replace("{tenantid}", tid)
        key = jwks.client_for(str(config["jwks_uri"])).get_signing_key(str(header.get("kid", "")))
        claims: dict[str, Any] = jwt.decode(
            id_token,
            key=key.key,
            algorithms=ALGORITHMS,
            audience=settings.MICROSOFT_CLIENT_ID,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except LoginFailed:
        raise
    except (jwt.PyJWTError, KeyError, ValueError) as exc:
        raise LoginFailed("sso_failed", f"ID token refused: {type(exc).__name__}: {exc}") from None
    # MSAL sends SHA-256(flow nonce) as the request's nonce; the ID token must echo it.
    expected = hashlib.sha256(nonce.encode("ascii")).hexdigest()
    if not nonce or claims.get("nonce") != expected:
        raise LoginFailed("sso_failed", "ID token nonce does not belong to this sign-in")
    if "{tenantid}" in str(config["issuer"]) and claims.get("xms_edov") not in (True, "true", "1", 1):
        # Multi-tenant authority (common / organizations): the administrator of *any* tenant can
        # put any address in a user's `email` (and guest `preferred_username`) - the nOAuth
        # account takeover. Such an email is trusted only when the token proves its domain owner
        # is verified (optional claim `xms_edov: true`); otherwise only an existing link signs in.
        claims = {**claims, "xms_edov": False}
    return claims


def identity_from_claims(claims: dict[str, Any]) -> ExternalIdentity:
    """`tid` + `oid` are Microsoft's stable ids; the email is `email`, else `preferred_username`.

    If the token says the email's domain is not verified (optional claim `xms_edov` false; for
    multi-tenant authorities also when the claim is missing, see `validate_id_token`), the email
    is not used to match or create accounts (only an existing link can sign in).
    """
    tid, oid = claims.get("tid"), claims.get("oid")
    if not isinstance(tid, str) or not isinstance(oid, str) or not tid or not oid:
        raise LoginFailed("sso_failed", "ID token has no tid/oid claims")
    email: str | None = None
    for name in ("email", "preferred_username"):
        value = claims.get(name)
        if isinstance(value, str) and "@" in value and len(value) <= 320:
            email = value.strip()
            break
    if claims.get("xms_edov") in (False, "false", "0", 0):
        email = None
    display = claims.get("name")
    return ExternalIdentity(
        provider=MICROSOFT,
        subject=f"{tid}:{oid}",
        email=email,
        name=display if isinstance(display, str) else None,
    )
