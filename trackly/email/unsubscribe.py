"""One-click unsubscribe (RFC 8058): the POST switches email off; the GET only shows a form."""

from __future__ import annotations

import html

from sqlalchemy.orm import Session

from trackly.config import Settings
from trackly.email import tokens
from trackly.email.schemas import UnsubscribeOut
from trackly.notifications import preferences


def confirmation_page(token: str, *, settings: Settings) -> str:
    tokens.read_unsubscribe_token(token, key=settings.email_token_key)  # 403 before any form
    action = html.escape(f"{settings.API_PUBLIC_URL}/notifications/unsubscribe?token={token}")
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>Unsubscribe</title></head><body>'
        "<h1>Stop email notifications?</h1>"
        "<p>You will still see notifications in Trackly, and can turn email on again in your settings.</p>"
        f'<form method="post" action="{action}">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form></body></html>'
    )


def unsubscribe(token: str, *, session: Session, settings: Settings) -> UnsubscribeOut:
    user_id = tokens.read_unsubscribe_token(token, key=settings.email_token_key)
    preferences.switch_off(user_id, detail=None, session=session, settings=settings)
    return UnsubscribeOut(unsubscribed=True, detail="You will get no more email notifications.")
