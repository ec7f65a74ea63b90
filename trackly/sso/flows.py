"""Server-side state of an in-flight authorization-code flow, in PostgreSQL.

Functions scale out, so the callback may reach another instance than the login did. The row
holds MSAL's flow dict (state, nonce, PKCE code_verifier, redirect URI) and the frontend path to
return to. It is deleted when the callback takes it, so a replayed callback finds nothing;
abandoned flows (the user never came back) are deleted by `trackly.housekeeping`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from trackly import clock
from trackly.models import AuthFlow

FLOW_TTL = timedelta(minutes=10)


# Kept next to MSAL's keys in the stored flow: the browser binding (trackly.sso.binding).
_BINDING_KEY = "trackly_browser"


@dataclass(frozen=True)
class PendingFlow:
    flow: dict[str, Any]
    return_to: str
    browser_hash: str | None = None  # SHA-256 of the nonce in the starting browser's cookie
    secure_cookie: bool = True


def save_flow(
    provider: str,
    flow: dict[str, Any],
    return_to: str,
    *,
    browser_hash: str,
    secure_cookie: bool,
    session: Session,
) -> None:
    now = clock.now()
    session.add(
        AuthFlow(
            state=str(flow["state"]),
            provider=provider,
            flow={**flow, _BINDING_KEY: {"hash": browser_hash, "secure": secure_cookie}},
            return_to=return_to,
            created_at=now,
            expires_at=now + FLOW_TTL,
        )
    )
    session.flush()


def take_flow(provider: str, state: str, *, session: Session) -> PendingFlow | None:
    """Remove and return the flow for `state`; None when unknown, already used or expired."""
    row = session.execute(
        delete(AuthFlow)
        .where(AuthFlow.state == state, AuthFlow.provider == provider)
        .returning(AuthFlow.flow, AuthFlow.return_to, AuthFlow.expires_at)
    ).one_or_none()
    if row is None or row.expires_at <= clock.now():
        return None
    flow = dict(row.flow)
    binding = flow.pop(_BINDING_KEY, None) or {}  # MSAL gets its own keys only
    return PendingFlow(
        flow=flow,
        return_to=row.return_to,
        browser_hash=binding.get("hash"),
        secure_cookie=bool(binding.get("secure", True)),
    )
