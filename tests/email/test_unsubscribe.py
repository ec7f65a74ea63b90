"""One-click unsubscribe (RFC 8058) from a real received email: GET shows a form and changes
nothing, POST switches email off without sign-in, a tampered token answers 403."""

from __future__ import annotations

import requests

from tests.collaboration.helpers import comment
from tests.email.helpers import run_timer
from tests.issues.helpers import new_issue
from tests.support.api import Api, assert_problem
from trackly.local.mail import LocalMailServer


def _link(mail: LocalMailServer) -> str:
    [message] = mail.wait_for(1)
    return str(message["List-Unsubscribe"]).strip("<>")


def test_unsubscribe_round_trip(mail: LocalMailServer, as_reporter: Api, as_maintainer: Api) -> None:
    issue = new_issue(as_reporter)
    comment(as_maintainer, issue["id"], "Hello")
    run_timer()
    link = _link(mail)

    page = requests.get(link, timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert '<form method="post"' in page.text and 'value="One-Click"' in page.text
    assert (
        as_reporter.get("users/me/notification-settings").json()["email"] == "instant"
    )  # a GET changes nothing

    # What a mail client sends for one-click: no cookie, no token, just this body.
    done = requests.post(
        link,
        data="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert done.status_code == 200 and done.json()["unsubscribed"] is True
    assert as_reporter.get("users/me/notification-settings").json()["email"] == "off"
    comment(as_maintainer, issue["id"], "Still there?")
    assert run_timer().sent == 0
    assert len(mail.messages) == 1


def test_a_tampered_token_answers_403(mail: LocalMailServer, as_reporter: Api, as_maintainer: Api) -> None:
    issue = new_issue(as_reporter)
    comment(as_maintainer, issue["id"], "Hello")
    run_timer()
    link = _link(mail)
    head, token = link.split("token=")
    flipped = ("A" if token[0] != "A" else "B") + token[1:]
    for bad in (flipped, token[:-2], "nonsense"):
        assert_problem(requests.get(f"{head}token={bad}", timeout=10), 403)
        assert_problem(
            requests.post(f"{head}token={bad}", data="List-Unsubscribe=One-Click", timeout=10), 403
        )
    assert as_reporter.get("users/me/notification-settings").json()["email"] == "instant"
