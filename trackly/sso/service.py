"""Single sign-on use cases: Microsoft login and callback, code exchange, Google, link admin."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy.orm import Session

from trackly.auth.schemas import LoginOut
from trackly.auth.sessions import start_session
from trackly.config import Settings
from trackly.errors import BadRequest, Unauthorized
from trackly.models import SsoLink, User
from trackly.sso import binding, codes, flows, google, linking, microsoft

log = logging.getLogger(__name__)


def frontend_url(return_to: str, fragment: str, *, settings: Settings) -> str:
    """`FRONTEND_URL + return_to + '#' + fragment` (return_to was validated as a plain path)."""
    return f"{settings.FRONTEND_URL}{return_to}#{fragment}"


@dataclass(frozen=True)
class LoginStart:
    authorize_url: str
    set_cookie: str  # binds the flow to this browser (trackly.sso.binding)


def start_microsoft_login(
    return_to: str, *, redirect_uri: str, session: Session, settings: Settings
) -> LoginStart:
    """Store a new flow bound to the browser and return where to send it, with its cookie."""
    microsoft.require_configured(settings)
    flow = microsoft.begin(redirect_uri=redirect_uri, settings=settings)
    nonce, nonce_hash = binding.new_nonce()
    secure = binding.secure_for(redirect_uri)
    flows.save_flow(
        linking.MICROSOFT, flow, return_to, browser_hash=nonce_hash, secure_cookie=secure, session=session
    )
    return LoginStart(
        authorize_url=str(flow["auth_uri"]),
        set_cookie=binding.set_cookie(str(flow["state"]), nonce, secure=secure),
    )


@dataclass(frozen=True)
class CallbackOutcome:
    location: str
    user_id: uuid.UUID | None  # set when a code was issued
    clear_cookie: str | None = None  # the flow's browser cookie is no longer needed


def finish_microsoft_login(
    response: dict[str, str], *, cookies: Mapping[str, str], session: Session, settings: Settings
) -> CallbackOutcome:
    """Complete the flow named by `state`. Unknown, used or expired state -> 400 problem; a
    browser without the flow's cookie (login CSRF: someone else's callback URL) -> 400 problem.

    Once the flow is taken, every outcome is a redirect to the frontend: `#code=<one-time code>`
    on success, `#error=<reason>` otherwise (the flow row is gone either way, so the same
    callback URL never works twice).
    """
    microsoft.require_configured(settings)
    state = response.get("state")
    if not state:
        raise BadRequest("The sign-in response has no 'state'. Start the sign-in again.")
    pending = flows.take_flow(linking.MICROSOFT, state, session=session)
    if pending is None:
        raise BadRequest(
            "This sign-in attempt is unknown, expired or already completed. Start the sign-in again."
        )
    secure = pending.secure_cookie
    if not binding.presented_by_browser(
        cookies, state=state, expected_hash=pending.browser_hash, secure=secure
    ):
        raise BadRequest(
            "This sign-in was not started in this browser (or its cookies are blocked). "
            "Start the sign-in again from the Trackly page."
        )
    outcome = _finish(pending, response, session=session, settings=settings)
    return CallbackOutcome(outcome.location, outcome.user_id, binding.clear_cookie(state, secure=secure))


def _finish(
    pending: flows.PendingFlow, response: dict[str, str], *, session: Session, settings: Settings
) -> CallbackOutcome:
    try:
        identity = microsoft.complete(pending.flow, response, settings=settings)
        user = linking.resolve_user(identity, session=session, settings=settings)
    except microsoft.LoginFailed as exc:
        log.warning("Microsoft sign-in failed (%s): %s", exc.reason, exc)
        return CallbackOutcome(
            frontend_url(pending.return_to, f"error={exc.reason}", settings=settings), None
        )
    except linking.SsoRefused as exc:
        log.info("Microsoft sign-in refused (%s)", exc.reason)
        return CallbackOutcome(
            frontend_url(pending.return_to, f"error={exc.reason}", settings=settings), None
        )
    code = codes.issue_code(user.id, session=session)
    return CallbackOutcome(
        frontend_url(pending.return_to, f"code={quote(code, safe='')}", settings=settings), user.id
    )


def exchange_code(code: str, *, session: Session, settings: Settings) -> LoginOut:
    user_id = codes.redeem_code(code, session=session)
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise Unauthorized("This sign-in code is invalid, expired or already used. Please sign in again.")
    return start_session(user, session=session, settings=settings)


def google_sign_in(credential: str, *, session: Session, settings: Settings) -> LoginOut:
    identity = google.verify_credential(credential, settings=settings)
    user = linking.resolve_user(identity, session=session, settings=settings)
    return start_session(user, session=session, settings=settings)


def list_links(user_id: uuid.UUID, *, session: Session) -> list[SsoLink]:
    return linking.list_links(user_id, session=session)


def remove_link(user_id: uuid.UUID, link_id: uuid.UUID, *, session: Session) -> None:
    linking.remove_link(user_id, link_id, session=session)
