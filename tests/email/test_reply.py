"""Reply by email: real MIME replies (built with the `email` package) to a real received
notification email become comments with only the answer, once."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import requests
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.collaboration.helpers import comment
from tests.email.conftest import INBOUND_SECRET
from tests.email.helpers import run_timer
from tests.issues.helpers import new_issue
from tests.support.api import Api, assert_problem
from trackly.local.mail import LocalMailServer

ANSWER = "Yes, it happens on 2.4 too.\nSteps: open, export, count."


def _notification_email(
    mail: LocalMailServer, as_reporter: Api, as_maintainer: Api
) -> tuple[dict[str, Any], EmailMessage]:
    issue = new_issue(as_reporter)
    comment(as_maintainer, issue["id"], "Does it happen on 2.4?")
    run_timer()
    return issue, mail.wait_for(1)[0]


def _reply(
    original: EmailMessage, *, sender: str, to: str | None = None, message_id: str | None = None
) -> EmailMessage:
    quoted = "\n".join(f"> {line}" for line in original.get_body(("plain",)).get_content().splitlines())
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = to or str(original["Reply-To"])
    reply["Subject"] = "Re: " + str(original["Subject"])
    reply["Message-ID"] = message_id or make_msgid(domain="mail.example.com")
    reply["In-Reply-To"] = str(original["Message-ID"])
    reply.set_content(
        f"{ANSWER}\n\n-- \nRita\nSent from my phone\n\nOn Tue, 8 Dec 2026 at 10:00, Trackly wrote:\n{quoted}\n"
    )
    return reply


def _post(live_server: str, message: EmailMessage, secret: str = INBOUND_SECRET) -> requests.Response:
    return requests.post(
        f"{live_server}/inbound/email",
        data=message.as_bytes(),
        headers={"Content-Type": "message/rfc822", "X-Inbound-Secret": secret},
        timeout=20,
    )


def _comments(api: Api, issue_id: str) -> list[str]:
    return [c["body"] for c in api.get(f"issues/{issue_id}/comments").json()]


def test_a_reply_becomes_one_comment_with_only_the_answer(
    mail: LocalMailServer, live_server: str, as_reporter: Api, as_maintainer: Api, reporter: Any
) -> None:
    issue, original = _notification_email(mail, as_reporter, as_maintainer)
    reply = _reply(original, sender=f"Rita <{reporter.email.upper()}>")
    first = _post(live_server, reply)
    assert first.status_code == 200 and first.json()["accepted"] is True, first.text
    assert _comments(as_reporter, issue["id"]) == ["Does it happen on 2.4?", ANSWER]
    listed = as_reporter.get(f"issues/{issue['id']}/comments").json()[-1]
    assert listed["author_id"] == str(reporter.id)
    again = _post(live_server, reply)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert len(_comments(as_reporter, issue["id"])) == 2


def test_refused_replies_add_nothing(  # noqa: PLR0917 (fixtures)
    mail: LocalMailServer,
    live_server: str,
    as_reporter: Api,
    as_maintainer: Api,
    reporter: Any,
    engine: Engine,
) -> None:
    issue, original = _notification_email(mail, as_reporter, as_maintainer)
    token = str(original["Reply-To"]).split("+")[1].split("@")[0]
    forged = token[:-1] + ("a" if token[-1] != "a" else "b")
    cases = [
        _reply(original, sender=reporter.email, to=f"reply+{forged}@reply.trackly.test"),
        _reply(original, sender="mallory@example.com"),
    ]
    for reply in cases:
        response = _post(live_server, reply)
        assert response.status_code == 200 and response.json()["accepted"] is False
    assert_problem(_post(live_server, _reply(original, sender=reporter.email), secret="wrong"), 401)
    assert len(_comments(as_reporter, issue["id"])) == 1
    # Nobody unverified gets a bounce (no backscatter).
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM inbound_replies WHERE bounce_to IS NOT NULL")).scalar()
            == 0
        )


def test_a_reply_about_an_issue_no_longer_visible_is_refused_and_bounced(
    mail: LocalMailServer, live_server: str, as_reporter: Api, as_admin: Api, users: Any
) -> None:
    watcher = users("MAINTAINER", full_name="Wanda Watcher")
    watcher_api = as_admin.as_(users.token(watcher))
    issue = new_issue(as_reporter)
    watcher_api.put(
        "users/me/notification-settings",
        json={"email": "instant", "reasons": ["commented"], "time_zone": "UTC", "digest_hour": 8},
    )
    assert watcher_api.put(f"issues/{issue['id']}/watch").status_code == 200
    comment(as_admin, issue["id"], "Staff note")
    run_timer()
    [original] = [m for m in mail.wait_for(2) if m["To"].addresses[0].addr_spec == watcher.email]
    assert as_admin.patch(f"users/{watcher.id}", json={"role": "REPORTER"}).status_code == 200
    response = _post(live_server, _reply(original, sender=watcher.email))
    assert response.json()["accepted"] is False
    assert _comments(as_admin, issue["id"]) == ["Staff note"]
    # The short bounce goes out with the next timer run, to the user's own address.
    assert run_timer().bounced == 1
    bounce = [m for m in mail.wait_for(3) if m["Subject"] == "Your reply was not added to Trackly"]
    assert [b["To"] for b in bounce] == [watcher.email]
    assert bounce[0]["Auto-Submitted"] == "auto-replied"
    assert run_timer().bounced == 0


def test_the_local_mail_server_hands_replies_to_the_app(
    mail: LocalMailServer, as_reporter: Api, as_maintainer: Api, reporter: Any
) -> None:
    issue, original = _notification_email(mail, as_reporter, as_maintainer)
    with smtplib.SMTP("127.0.0.1", mail.port, timeout=10) as smtp:
        smtp.send_message(_reply(original, sender=reporter.email))
    assert mail.wait_for_handovers(1) == [200]
    assert _comments(as_reporter, issue["id"])[-1] == ANSWER
