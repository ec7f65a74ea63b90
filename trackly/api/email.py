"""HTTP functions for email notifications: preferences, the organisation default, one-click
unsubscribe, replies by email, and the `send_notifications` timer (docs/email.md)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import azure.functions as func

from trackly.auth.policy import Action
from trackly.email.schemas import InboundOut, UnsubscribeOut, UnsubscribeQuery
from trackly.http import Call, Reply, endpoint
from trackly.http.timers import Run, scheduled
from trackly.lazy import lazy
from trackly.notifications.preferences_schemas import DefaultOut, PreferencesIn, PreferencesOut, RolePath
from trackly.ratelimit.policies import Policy

if TYPE_CHECKING:
    from trackly.email import inbound, sender, unsubscribe
    from trackly.notifications import preferences
else:  # imported by the first request that needs them
    preferences = lazy("trackly.notifications.preferences")
    sender = lazy("trackly.email.sender")
    unsubscribe = lazy("trackly.email.unsubscribe")
    inbound = lazy("trackly.email.inbound")

log = logging.getLogger("trackly.email")

bp = func.Blueprint()

TAGS = ["notifications"]
NO_STORE = {"Cache-Control": "no-store"}


@endpoint(
    bp,
    "GET",
    "users/me/notification-settings",
    summary="Your email notification settings",
    tags=TAGS,
    action=Action.NOTIFICATION_SETTINGS,
    response=PreferencesOut,
)
def get_notification_settings(call: Call[None, None, None]) -> Reply:
    """What decides your emails: `email` (off, instant, daily), the `reasons` that send one, your
    time zone, the digest hour and quiet hours. Until you save your own, the organisation's
    default for your role applies (`source`)."""
    out = preferences.get_mine(call.user, session=call.session, settings=call.settings)
    return Reply(out, headers=NO_STORE)


@endpoint(
    bp,
    "PUT",
    "users/me/notification-settings",
    summary="Choose your email notification settings",
    tags=TAGS,
    action=Action.NOTIFICATION_SETTINGS,
    body=PreferencesIn,
    response=PreferencesOut,
    errors=(422,),
)
def put_notification_settings(call: Call[None, None, PreferencesIn]) -> PreferencesOut:
    """Replaces your settings (all fields). Emails still waiting for a digest or the end of quiet
    hours are decided again with the new settings by the next run."""
    return preferences.put_mine(call.body, user=call.user, session=call.session, settings=call.settings)


@endpoint(
    bp,
    "GET",
    "notification-settings/defaults",
    summary="The organisation's notification defaults",
    tags=TAGS,
    action=Action.NOTIFICATION_DEFAULTS,
    response=list[DefaultOut],
)
def list_notification_defaults(call: Call[None, None, None]) -> list[DefaultOut]:
    """ADMIN: the default for each role (the organisation's, or the built-in one)."""
    return preferences.list_defaults(session=call.session, settings=call.settings)


@endpoint(
    bp,
    "PUT",
    "notification-settings/defaults/{role}",
    summary="Set the organisation's notification default for a role",
    tags=TAGS,
    action=Action.NOTIFICATION_DEFAULTS,
    path=RolePath,
    body=PreferencesIn,
    response=DefaultOut,
    errors=(422,),
)
def put_notification_default(call: Call[RolePath, None, PreferencesIn]) -> DefaultOut:
    """ADMIN: applies to every user of `role` who has not chosen their own settings."""
    return preferences.put_default(call.path.role, call.body, session=call.session, settings=call.settings)


@endpoint(
    bp,
    "GET",
    "notifications/unsubscribe",
    summary="Confirm stopping email notifications",
    tags=TAGS,
    auth=False,
    rate_limit=Policy.PUBLIC,  # mail clients and the inbound provider call from few shared addresses
    query=UnsubscribeQuery,
    response_content_type="text/html",
    errors=(403, 422),
)
def unsubscribe_form(call: Call[None, UnsubscribeQuery, None]) -> Reply:
    """The link in every email: shows a form that POSTs the same URL. A GET changes nothing, so
    a link scanner following it cannot unsubscribe anyone. 403 for a tampered token."""
    page = unsubscribe.confirmation_page(call.query.token, settings=call.settings)
    return Reply(page, content_type="text/html; charset=utf-8", headers=NO_STORE)


@endpoint(
    bp,
    "POST",
    "notifications/unsubscribe",
    summary="Stop email notifications (one click, RFC 8058)",
    tags=TAGS,
    auth=False,
    rate_limit=Policy.PUBLIC,  # mail clients and the inbound provider call from few shared addresses
    query=UnsubscribeQuery,
    response=UnsubscribeOut,
    errors=(403, 422),
    raw_body=(
        "application/x-www-form-urlencoded",
        {"type": "object", "properties": {"List-Unsubscribe": {"type": "string", "enum": ["One-Click"]}}},
    ),
)
def unsubscribe_now(call: Call[None, UnsubscribeQuery, None]) -> UnsubscribeOut:
    """What a mail client's one-click unsubscribe sends (`List-Unsubscribe=One-Click`), without
    sign-in: the signed token names the user. Switches their email off; idempotent."""
    return unsubscribe.unsubscribe(call.query.token, session=call.session, settings=call.settings)


@endpoint(
    bp,
    "POST",
    "inbound/email",
    summary="Receive a reply by email (raw MIME)",
    tags=TAGS,
    auth=False,
    rate_limit=Policy.PUBLIC,  # mail clients and the inbound provider call from few shared addresses
    response=InboundOut,
    errors=(401, 413, 415),
    # Documented as octet-stream (what OpenAPI tools can send); message/rfc822 is accepted as well.
    raw_body=("application/octet-stream", {"type": "string", "format": "binary"}),
)
def receive_email(call: Call[None, None, None]) -> InboundOut:
    """For the inbound mail provider (or the local mail server): the raw message (`message/rfc822`
    or `application/octet-stream`), with the shared
    secret EMAIL_INBOUND_SECRET in `X-Inbound-Secret` (401 otherwise). A reply to a notification
    email becomes a comment by its user when the token, the sender and their right to comment
    still hold; quoted text and signatures are dropped. The same Message-ID twice adds one comment.
    A refused reply answers 200 with `accepted: false` (the provider must not retry it)."""
    inbound.check_secret(call.header("X-Inbound-Secret"), settings=call.settings)
    return inbound.receive(
        call.raw_body, content_type=call.header("Content-Type"), session=call.session, settings=call.settings
    )


@scheduled(bp, "send_notifications", schedule="%EMAIL_SCHEDULE%")
def send_notifications(timer: Run) -> None:
    """Email pending notifications (at most once each); nothing when email is off."""
    run = sender.run(settings=timer.settings)
    if run.claimed:
        log.info(
            "email: claimed %d, sent %d, waiting %d, skipped %d, retry %d, failed %d",
            run.claimed,
            run.sent,
            run.waiting,
            run.skipped,
            run.retried,
            run.failed,
        )
