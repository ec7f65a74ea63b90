"""Replies by email: a raw MIME message becomes a comment by the user its reply token names.

Checks, in order: a Message-ID (the idempotency key: the same one twice adds nothing), a
`reply+<token>@EMAIL_INBOUND_DOMAIN` recipient whose token verifies, a sender address equal to
that user's, not an automatic message (RFC 3834), the user active and still allowed to comment
on the issue (the comment service checks visibility and the policy with their current role).
Quoted text and signatures are removed with `mail-parser-reply`. A refusal adds no comment; when
the sender is the token's own user a short bounce is queued for the email timer (never to an
unverified address, which would be backscatter).
"""

from __future__ import annotations

import email
import email.policy
import hmac
import logging
import re
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from trackly import clock
from trackly.comments import service as comments
from trackly.comments.schemas import CommentCreate
from trackly.config import Settings
from trackly.email import tokens
from trackly.email.schemas import InboundOut
from trackly.errors import TracklyError, Unauthorized, UnsupportedMediaType
from trackly.models import Event, InboundReply, Notification, User

log = logging.getLogger("trackly.email")

MAX_COMMENT = 10_000


def check_secret(given: str | None, *, settings: Settings) -> None:
    secret = settings.EMAIL_INBOUND_SECRET
    if not secret or not given or not hmac.compare_digest(given.encode(), secret.encode()):
        raise Unauthorized("Send the inbound secret (EMAIL_INBOUND_SECRET) in the X-Inbound-Secret header.")


def _parse(raw: bytes, content_type: str | None) -> EmailMessage:
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype not in ("message/rfc822", "application/octet-stream", "text/plain", ""):
        raise UnsupportedMediaType("Send the raw email as message/rfc822.")
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _token(message: EmailMessage, settings: Settings) -> str | None:
    domain = settings.EMAIL_INBOUND_DOMAIN.lower()
    fields = [
        str(v) for name in ("To", "Cc", "Delivered-To", "X-Original-To") for v in message.get_all(name, [])
    ]
    for _, address in getaddresses(fields):
        local, _, host = address.lower().rpartition("@")
        if domain and host == domain and local.startswith("reply+"):
            return local[len("reply+") :]
    return None


def answer_text(message: EmailMessage) -> str:
    """The new text of a reply: its plain part (or the HTML's text) without quotes and signature."""
    from mailparser_reply import EmailReplyParser

    part = message.get_body(("plain",))
    if part is not None:
        text = str(part.get_content())
    else:
        part = message.get_body(("html",))
        text = re.sub(r"<[^>]+>", " ", str(part.get_content())) if part is not None else ""
    text = text.replace("\r\n", "\n")
    replies = EmailReplyParser(languages=["en", "de", "fr", "nl", "es"]).read(text).replies
    answer = replies[0].body if replies else text
    return answer.strip()[:MAX_COMMENT]


def _refuse(message_id: str, detail: str, *, bounce_to: str | None, session: Session) -> InboundOut:
    session.execute(
        update(InboundReply)
        .where(InboundReply.message_id == message_id)
        .values(outcome="refused", detail=detail[:300], bounce_to=bounce_to)
    )
    log.info("reply by email refused: %s", detail)
    return InboundOut(accepted=False, duplicate=False, comment_id=None, detail=detail)


def receive(raw: bytes, *, content_type: str | None, session: Session, settings: Settings) -> InboundOut:
    message = _parse(raw, content_type)
    message_id = str(message.get("Message-ID", "")).strip()[:300]
    if not message_id:
        return InboundOut(
            accepted=False, duplicate=False, comment_id=None, detail="The email has no Message-ID."
        )
    claimed = session.execute(
        insert(InboundReply)
        .values(message_id=message_id, outcome="pending", created_at=clock.now())
        .on_conflict_do_nothing(index_elements=[InboundReply.message_id])
        .returning(InboundReply.message_id)
    ).first()
    if claimed is None:
        done = session.get(InboundReply, message_id)
        return InboundOut(
            accepted=bool(done and done.outcome == "comment"),
            duplicate=True,
            comment_id=done.comment_id if done else None,
            detail="This email was handled before; nothing was added.",
        )
    if str(message.get("Auto-Submitted", "no")).strip().lower() != "no":
        return _refuse(
            message_id, "Automatic replies are not added as comments.", bounce_to=None, session=session
        )
    token = _token(message, settings)
    notification_id = tokens.read_reply_token(token, key=settings.email_token_key) if token else None
    if notification_id is None:
        return _refuse(message_id, "The reply address is not valid.", bounce_to=None, session=session)
    row = session.execute(
        select(User, Event.issue_id)
        .join(Notification, Notification.user_id == User.id)
        .join(Event, Event.id == Notification.event_id)
        .where(Notification.id == notification_id)
    ).first()
    if row is None:
        return _refuse(
            message_id, "The email this answers no longer exists.", bounce_to=None, session=session
        )
    user, issue_id = row
    sender = parseaddr(str(message.get("From", "")))[1].lower()
    if not user.email or sender != user.email.lower():
        return _refuse(
            message_id,
            "The reply was not sent from the address the email went to.",
            bounce_to=None,
            session=session,
        )
    if not user.is_active or issue_id is None:
        return _refuse(
            message_id, "You can no longer comment on this issue.", bounce_to=user.email, session=session
        )
    body = answer_text(message)
    if not body:
        return _refuse(
            message_id, "The reply has no text above the quoted email.", bounce_to=user.email, session=session
        )
    try:
        with session.begin_nested():  # a refused comment leaves nothing behind
            comment = comments.create_comment(issue_id, CommentCreate(body=body), actor=user, session=session)
    except TracklyError as exc:
        log.info("reply by email not added: %s", exc.detail)
        return _refuse(
            message_id, "You can no longer comment on this issue.", bounce_to=user.email, session=session
        )
    session.execute(
        update(InboundReply)
        .where(InboundReply.message_id == message_id)
        .values(outcome="comment", comment_id=comment.id)
    )
    return InboundOut(accepted=True, duplicate=False, comment_id=comment.id, detail="Added as a comment.")
