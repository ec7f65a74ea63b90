"""Building the emails: one per notification (instant) or one digest per user (daily).

Every email has a plain-text part and an HTML part; text written by users (comments,
descriptions) goes through the same Markdown renderer and sanitizer as issue descriptions, and
everything else is escaped. Emails about one issue share a thread: each has its own Message-ID,
and In-Reply-To/References name the issue's stable id, so mail clients group them.
"""

from __future__ import annotations

import html
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any

from trackly.config import Settings
from trackly.email import tokens
from trackly.issues import markdown
from trackly.notifications.reasons import DESCRIPTIONS, Reason


@dataclass(frozen=True)
class Recipient:
    id: uuid.UUID
    email: str
    full_name: str


@dataclass(frozen=True)
class Item:
    """One notification as an email shows it."""

    notification_id: int
    reason: str
    event_type: str
    payload: dict[str, Any]
    created_at: datetime
    issue_id: uuid.UUID
    issue_title: str


def short_id(issue_id: uuid.UUID) -> str:
    return str(issue_id)[:8]


def _domain(settings: Settings) -> str:
    address = parseaddr(settings.EMAIL_FROM)[1]
    return address.rpartition("@")[2] or "trackly.invalid"


def thread_id(issue_id: uuid.UUID, settings: Settings) -> str:
    """The stable per-issue id every email about the issue replies to."""
    return f"<issue.{issue_id}@{_domain(settings)}>"


def issue_link(issue_id: uuid.UUID, settings: Settings) -> str:
    return f"{settings.FRONTEND_URL}/issues/{issue_id}"


def unsubscribe_link(user_id: uuid.UUID, settings: Settings) -> str:
    token = tokens.unsubscribe_token(user_id, key=settings.email_token_key)
    return f"{settings.API_PUBLIC_URL}/notifications/unsubscribe?token={token}"


def reply_address(notification_id: int, settings: Settings) -> str | None:
    if not settings.EMAIL_INBOUND_DOMAIN:
        return None
    token = tokens.reply_token(notification_id, key=settings.email_token_key)
    return f"reply+{token}@{settings.EMAIL_INBOUND_DOMAIN}"


def _change(item: Item) -> tuple[str, str | None]:
    """(a line saying what happened, Markdown written by a user or None)."""
    p = item.payload
    actor = p.get("actor_name") or "Someone"
    changes: dict[str, list[Any]] = p.get("changes") or {}
    if item.event_type == "comment_added":
        return f"{actor} commented:", str((changes.get("body") or [None, ""])[1] or "")
    if item.event_type == "comment_edited":
        return f"{actor} edited a comment:", str((changes.get("body") or [None, ""])[1] or "")
    if item.event_type == "issue_status_changed":
        old, new = changes.get("status", [None, None])
        return f"{actor} changed the status from {old} to {new}.", None
    if item.event_type == "issue_assigned" or "assignee_id" in changes:
        return (
            (
                f"{actor} assigned the issue to you."
                if item.reason == Reason.ASSIGNED
                else f"{actor} changed the assignee."
            ),
            None,
        )
    if item.event_type == "issue_created":
        return f"{actor} created the issue.", None
    fields = ", ".join(sorted(changes)) or item.event_type.replace("_", " ")
    return f"{actor} changed: {fields}.", None


def _why(item: Item) -> str:
    try:
        return f"You got this email because {DESCRIPTIONS[Reason(item.reason)]}."
    except ValueError:
        return "You got this email because you watch this issue."


def _common(message: EmailMessage, recipient: Recipient, settings: Settings) -> str:
    domain = _domain(settings)
    message["From"] = settings.EMAIL_FROM
    message["To"] = formataddr((recipient.full_name, recipient.email))
    message["Message-ID"] = f"<{secrets.token_hex(12)}@{domain}>"
    # RFC 3834: an automatic message; auto-responders must not answer it.
    message["Auto-Submitted"] = "auto-generated"
    unsubscribe = unsubscribe_link(recipient.id, settings)
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return unsubscribe


def instant(item: Item, recipient: Recipient, *, settings: Settings, now: datetime) -> EmailMessage:
    message = EmailMessage()
    unsubscribe = _common(message, recipient, settings)
    message["Subject"] = f"[#{short_id(item.issue_id)}] {item.issue_title}"[:200]
    message["Date"] = format_datetime(now)
    message["In-Reply-To"] = thread_id(item.issue_id, settings)
    message["References"] = thread_id(item.issue_id, settings)
    message["X-Trackly-Reason"] = item.reason
    reply_to = reply_address(item.notification_id, settings)
    if reply_to:
        message["Reply-To"] = reply_to
    line, body = _change(item)
    link = issue_link(item.issue_id, settings)
    answer = "Reply to this email to comment on the issue.\n" if reply_to else ""
    parts = [line, body, f"Open the issue: {link}", f"{answer}{_why(item)}\nStop these emails: {unsubscribe}"]
    message.set_content("\n\n".join(p for p in parts if p) + "\n")
    body_html = markdown.render(body) if body else ""
    message.add_alternative(
        _page(
            f"<p>{html.escape(line)}</p>{body_html}"
            f'<p><a href="{html.escape(link)}">Open #{short_id(item.issue_id)} in Trackly</a></p>',
            footer=_why(item),
            unsubscribe=unsubscribe,
        ),
        subtype="html",
    )
    return message


def digest(items: list[Item], recipient: Recipient, *, settings: Settings, now: datetime) -> EmailMessage:
    """One email with every notification since the last digest, grouped by issue."""
    message = EmailMessage()
    unsubscribe = _common(message, recipient, settings)
    issues: dict[uuid.UUID, list[Item]] = {}
    for item in items:
        issues.setdefault(item.issue_id, []).append(item)
    updates = f"{len(items)} update{'s' * (len(items) != 1)}"
    message["Subject"] = f"Trackly digest: {updates} on {len(issues)} issue{'s' * (len(issues) != 1)}"
    message["Date"] = format_datetime(now)
    text_parts, html_parts = [], []
    for issue_id, group in issues.items():
        link = issue_link(issue_id, settings)
        title = f"#{short_id(issue_id)} {group[0].issue_title}"
        text_parts.append(f"{title}\n{link}")
        html_parts.append(f'<h3><a href="{html.escape(link)}">{html.escape(title)}</a></h3><ul>')
        for item in group:
            line, body = _change(item)
            text_parts.append(f"- {line}" + (f"\n  {body}" if body else ""))
            html_parts.append(f"<li>{html.escape(line)}{markdown.render(body) if body else ''}</li>")
        html_parts.append("</ul>")
        text_parts.append("")
    footer = "You get this digest once a day at the hour you chose."
    message.set_content("\n".join(text_parts) + f"\n{footer}\nStop these emails: {unsubscribe}\n")
    message.add_alternative(
        _page("".join(html_parts), footer=footer, unsubscribe=unsubscribe), subtype="html"
    )
    return message


def _page(content: str, *, footer: str, unsubscribe: str) -> str:
    return (
        '<!doctype html><html><body style="font-family:sans-serif">'
        f'{content}<hr><p style="color:#666;font-size:12px">{html.escape(footer)} '
        f'<a href="{html.escape(unsubscribe)}">Unsubscribe</a></p></body></html>'
    )


def bounce(to: str, *, reason: str, settings: Settings, in_reply_to: str | None) -> EmailMessage:
    """A short answer to a reply by email that could not become a comment."""
    message = EmailMessage()
    message["From"] = settings.EMAIL_FROM
    message["To"] = to
    message["Subject"] = "Your reply was not added to Trackly"
    message["Message-ID"] = f"<{secrets.token_hex(12)}@{_domain(settings)}>"
    message["Auto-Submitted"] = "auto-replied"
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    message.set_content(
        f"Your email was not added as a comment: {reason}\n\nOpen Trackly: {settings.FRONTEND_URL}\n"
    )
    return message
