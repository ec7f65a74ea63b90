"""HTTP functions for single sign-on: Microsoft (MSAL), Google ID tokens, and SSO link admin.

Handlers parse, authorize, call trackly.sso.service and render; the rules live in trackly/sso/.
"""

from typing import TYPE_CHECKING

import azure.functions as func

from trackly.auth.policy import Action
from trackly.auth.schemas import LoginOut
from trackly.http import Call, Reply, endpoint
from trackly.lazy import lazy
from trackly.ratelimit.policies import Policy
from trackly.sso.schemas import (
    ExchangeIn,
    GoogleIn,
    LinkPath,
    MicrosoftCallbackQuery,
    MicrosoftLoginQuery,
    SsoLinkOut,
    UserPath,
)

if TYPE_CHECKING:
    from trackly.sso import binding, service
else:  # imported by the first request that needs them: keeps the ORM out of cold start
    binding = lazy("trackly.sso.binding")
    service = lazy("trackly.sso.service")

bp = func.Blueprint()

TAGS = ["sso"]
CALLBACK_ROUTE = "auth/microsoft/callback"
# Redirects carry one-time values: never cache them, never leak them in a Referer.
NO_STORE = {"Cache-Control": "no-store"}  # answers that carry tokens
_REDIRECT_HEADERS = {**NO_STORE, "Referrer-Policy": "no-referrer"}


def _redirect(location: str, *, set_cookie: str | None = None) -> Reply:
    headers = {"Location": location, **_REDIRECT_HEADERS}
    if set_cookie is not None:
        headers["Set-Cookie"] = set_cookie
    return Reply(None, status=302, headers=headers)


@endpoint(
    bp,
    "GET",
    "auth/microsoft/login",
    auth=False,
    rate_limit=Policy.SIGN_IN,
    query=MicrosoftLoginQuery,
    status=302,
    response_headers={
        "Location": "The Microsoft authorize URL (state, nonce and PKCE challenge included)",
        "Set-Cookie": "`__Host-trackly-sso-<hash>`: binds the flow to this browser "
        "(HttpOnly, Secure, SameSite=Lax)",
    },
    summary="Start Microsoft sign-in",
    tags=TAGS,
    errors=(422, 503),
)
def microsoft_login(call: Call[None, MicrosoftLoginQuery, None]) -> Reply:
    """Redirects the browser to Microsoft and sets an HttpOnly cookie that binds the flow to this
    browser (the callback requires it). `return_to` must be a frontend path starting with a
    single `/` (no `//`, backslash, `#`, whitespace or control characters), otherwise 422.
    503 when MICROSOFT_CLIENT_ID / MICROSOFT_CLIENT_SECRET are not set."""
    settings = call.settings
    redirect_uri = settings.MICROSOFT_REDIRECT_URI or call.url_for(CALLBACK_ROUTE)
    start = service.start_microsoft_login(
        call.query.return_to, redirect_uri=redirect_uri, session=call.session, settings=settings
    )
    return _redirect(start.authorize_url, set_cookie=start.set_cookie)


@endpoint(
    bp,
    "GET",
    CALLBACK_ROUTE,
    auth=False,
    rate_limit=Policy.SIGN_IN,
    query=MicrosoftCallbackQuery,
    status=302,
    response_headers={
        "Location": "FRONTEND_URL + return_to + `#code=<one-time code>` on success, "
        "or `#error=<reason>` (access_denied, sso_failed, not_provisioned, account_disabled, "
        "linked_elsewhere, email_missing)"
    },
    summary="Microsoft sign-in callback",
    tags=TAGS,
    errors=(400, 503),
)
def microsoft_callback(call: Call[None, MicrosoftCallbackQuery, None]) -> Reply:
    """The redirect URI registered at Microsoft. Unknown, expired or already used `state` -> 400;
    a browser without the cookie the login set for this flow (login CSRF) -> 400.
    Otherwise always a 302 back to the frontend, with a one-time code (exchange it at
    POST /auth/exchange within 60 s) or an error reason in the URL fragment."""
    response = {k: v for k, v in call.query.model_dump().items() if v is not None}
    outcome = service.finish_microsoft_login(
        response,
        cookies=binding.parse_cookies(call.header("Cookie")),
        session=call.session,
        settings=call.settings,
    )
    return _redirect(outcome.location, set_cookie=outcome.clear_cookie)


@endpoint(
    bp,
    "POST",
    "auth/exchange",
    auth=False,
    rate_limit=Policy.SIGN_IN,
    body=ExchangeIn,
    response=LoginOut,
    summary="Exchange a one-time SSO code for tokens",
    tags=TAGS,
    errors=(401,),
)
def exchange_code(call: Call[None, None, ExchangeIn]) -> Reply:
    """A code works once, within 60 seconds of the sign-in; otherwise 401."""
    return Reply(
        service.exchange_code(call.body.code, session=call.session, settings=call.settings), headers=NO_STORE
    )


@endpoint(
    bp,
    "POST",
    "auth/google",
    auth=False,
    rate_limit=Policy.SIGN_IN,
    body=GoogleIn,
    response=LoginOut,
    summary="Sign in with a Google ID token",
    tags=TAGS,
    errors=(401, 403, 503),
)
def google_sign_in(call: Call[None, None, GoogleIn]) -> Reply:
    """`credential` is the ID token from Google Identity Services. It must be signed by Google,
    for GOOGLE_CLIENT_ID, unexpired, with a verified email; otherwise 401. A genuine Google user
    with no Trackly account (and no auto-provisioning for their domain) gets 403."""
    return Reply(
        service.google_sign_in(call.body.credential, session=call.session, settings=call.settings),
        headers=NO_STORE,
    )


@endpoint(
    bp,
    "GET",
    "users/{user_id:guid}/sso-links",
    action=Action.USER_MANAGE_SSO,
    path=UserPath,
    response=list[SsoLinkOut],
    summary="List a user's single sign-on links",
    tags=TAGS,
    errors=(404,),
)
def list_sso_links(call: Call[UserPath, None, None]) -> list[SsoLinkOut]:
    """ADMIN only."""
    links = service.list_links(call.path.user_id, session=call.session)
    return [SsoLinkOut.model_validate(link) for link in links]


@endpoint(
    bp,
    "DELETE",
    "users/{user_id:guid}/sso-links/{link_id:guid}",
    action=Action.USER_MANAGE_SSO,
    path=LinkPath,
    status=204,
    summary="Remove a single sign-on link",
    tags=TAGS,
    errors=(404,),
)
def delete_sso_link(call: Call[LinkPath, None, None]) -> None:
    """ADMIN only. The user can then sign in with that provider again only by a verified email
    match (which creates a new link)."""
    service.remove_link(call.path.user_id, call.path.link_id, session=call.session)
