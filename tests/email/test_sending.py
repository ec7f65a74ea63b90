"""The send_notifications timer against the real local SMTP server: what is sent, to whom,
when, and never twice."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.collaboration.helpers import comment
from tests.email.helpers import choose, deliveries, run_timer
from tests.issues.helpers import new_issue
from tests.support.api import Api
from trackly import clock, db
from trackly.config import get_settings
from trackly.email import sender
from trackly.local.mail import LocalMailServer


def test_a_staff_comment_emails_the_reporter_once_with_threading_and_both_parts(
    mail: LocalMailServer, as_reporter: Api, as_maintainer: Api, reporter: Any, engine: Engine
) -> None:
    issue = new_issue(as_reporter, title="Export drops the last row")
    comment(
        as_maintainer, issue["id"], "Fixed in **2.4**. <script>alert(1)</script> [x](javascript:alert(1))"
    )
    run = run_timer()
    assert (run.sent, run.claimed) == (1, 1)
    [message] = mail.wait_for(1)
    short = issue["id"][:8]
    assert message["Subject"] == f"[#{short}] Export drops the last row"
    assert message["To"].addresses[0].addr_spec == reporter.email
    thread = f"<issue.{issue['id']}@trackly.test>"
    assert message["In-Reply-To"] == thread and message["References"] == thread
    assert message["Message-ID"].endswith("@trackly.test>")
    assert message["List-Unsubscribe"].startswith("<http://127.0.0.1:")
    assert "/notifications/unsubscribe?token=" in message["List-Unsubscribe"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["X-Trackly-Reason"] == "commented"
    assert message["Reply-To"].startswith("reply+") and message["Reply-To"].endswith("@reply.trackly.test")
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    link = f"http://localhost:5173/issues/{issue['id']}"
    assert link in plain and f'href="{link}"' in html
    assert "Fixed in **2.4**" in plain and "because someone commented" in plain
    assert "<strong>2.4</strong>" in html
    assert "<script" not in html and "&lt;script&gt;" in html  # shown as text, never run
    assert 'href="javascript' not in html

    # A second change to the same issue: a new Message-ID in the same thread; nothing resent.
    as_maintainer.patch(f"issues/{issue['id']}", json={"status": "DONE"})
    assert run_timer().sent == 1
    second = mail.wait_for(2)[1]
    assert second["References"] == thread and second["Message-ID"] != message["Message-ID"]
    assert second["X-Trackly-Reason"] == "status_changed"
    assert run_timer().claimed == 0
    assert [d["status"] for d in deliveries(engine)] == ["sent", "sent"]
    assert len(mail.messages) == 2
    assert len(list(mail.directory.glob("*.eml"))) == 2


def test_role_defaults_choose_what_is_emailed(  # noqa: PLR0917 (fixtures)
    mail: LocalMailServer,
    as_reporter: Api,
    as_maintainer: Api,
    as_admin: Api,
    maintainer: Any,
    engine: Engine,
) -> None:
    issue = new_issue(as_reporter)
    comment(as_maintainer, issue["id"], "Looking")  # maintainer now watches
    as_reporter.patch(f"issues/{issue['id']}", json={"title": "Renamed"})  # maintainer: watching
    as_admin.patch(f"issues/{issue['id']}", json={"assignee_id": str(maintainer.id)})  # maintainer: assigned
    run = run_timer()
    messages = mail.wait_for(2)
    reasons = sorted((m["To"].addresses[0].addr_spec, m["X-Trackly-Reason"]) for m in messages)
    # The reporter: the staff comment (not the assignment: 'watching'); the maintainer: the assignment.
    assert reasons == sorted(
        [(maintainer.email, "assigned"), (as_reporter_email(engine, issue["id"]), "commented")]
    )
    assert run.sent == 2 and run.skipped == 2
    skipped = {d["reason"]: d["detail"] for d in deliveries(engine) if d["status"] == "skipped"}
    assert skipped == {"watching": "reason watching not chosen"}


def as_reporter_email(engine: Engine, issue_id: str) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT u.email FROM issues i JOIN users u ON u.id = i.created_by WHERE i.id = :i"),
                {"i": issue_id},
            ).scalar_one()
        )


def test_read_in_the_app_first_is_not_emailed(
    mail: LocalMailServer, as_reporter: Api, as_maintainer: Api, engine: Engine
) -> None:
    issue = new_issue(as_reporter)
    comment(as_maintainer, issue["id"], "One")
    newest = as_reporter.get("notifications").json()["items"][0]["id"]
    assert as_reporter.post("notifications/read", json={"up_to": newest}).status_code == 200
    comment(as_maintainer, issue["id"], "Two")
    assert run_timer().sent == 1
    [message] = mail.wait_for(1)
    assert "Two" in message.get_body(("plain",)).get_content()
    assert {d["detail"] for d in deliveries(engine)} == {"read in the app", None}


def test_exactly_once_under_two_concurrent_claims_in_two_sessions(
    mail: LocalMailServer, as_reporter: Api, as_maintainer: Api, engine: Engine
) -> None:
    issue = new_issue(as_reporter)
    for i in range(6):
        comment(as_maintainer, issue["id"], f"note {i}")
    settings = get_settings()
    first, second = db.new_session(), db.new_session()
    try:
        a = sender.claim(session=first, settings=settings)  # holds its row locks, not committed
        b = sender.claim(session=second, settings=settings)  # skips the locked rows
        assert a.rows == 6 and b.rows == 0
        first.commit()
        # After the commit the rows are recorded: a run that starts now finds nothing to do.
        assert sender.claim(session=second, settings=settings).rows == 0
        second.commit()
        # The unique sent record: writing a 'sending' decision again for a claimed row takes nothing.
        again = sender._upsert(
            second,
            [
                {
                    "notification_id": a.outgoing[0].notification_ids[0],
                    "channel": "email",
                    "status": "sending",
                    "due_at": None,
                    "detail": None,
                    "message_id": None,
                    "attempts": 1,
                    "updated_at": clock.now(),
                }
            ],
        )
        assert again == set()
        second.commit()
    finally:
        first.close()
        second.close()


def test_two_timer_runs_at_once_send_each_email_once(
    mail: LocalMailServer, as_reporter: Api, as_maintainer: Api, engine: Engine
) -> None:
    issue = new_issue(as_reporter)
    for i in range(20):
        comment(as_maintainer, issue["id"], f"note {i}")
    settings = get_settings().model_copy(update={"EMAIL_BATCH_SIZE": 3})
    start = threading.Barrier(2)
    runs: list[sender.EmailRun] = []

    def timer() -> None:
        start.wait(timeout=30)
        runs.append(sender.run(settings=settings))

    threads = [threading.Thread(target=timer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(runs) == 2
    # Until both finished nothing is left; run once more to be sure the rest is picked up.
    while run_timer().claimed:
        pass
    messages = mail.wait_for(20)
    bodies = sorted(re.search(r"note \d+", m.get_body(("plain",)).get_content()).group() for m in messages)  # type: ignore[union-attr]
    assert bodies == sorted(f"note {i}" for i in range(20))
    assert len(mail.messages) == 20
    assert [d["status"] for d in deliveries(engine)] == ["sent"] * 20


def test_visibility_is_checked_again_at_send(
    mail: LocalMailServer, as_reporter: Api, as_admin: Api, users: Any, engine: Engine
) -> None:
    demoted = users("MAINTAINER", full_name="Demi Oted")
    leaver = users("MAINTAINER", full_name="Lee Ver")
    issue = new_issue(as_reporter)
    for person in (demoted, leaver):
        api = as_admin.as_(users.token(person))
        assert api.put(f"issues/{issue['id']}/watch").status_code == 200
        choose(api)
    # Rows written while both may see the issue; then one is demoted and one deactivated.
    comment(as_admin, issue["id"], "Staff only know this yet")
    assert as_admin.patch(f"users/{demoted.id}", json={"role": "REPORTER"}).status_code == 200
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET is_active = false WHERE id = :u"), {"u": leaver.id})
    run_timer()
    sent_to = {m["To"].addresses[0].addr_spec for m in mail.wait_for(1)}
    assert demoted.email not in sent_to and leaver.email not in sent_to
    details = {d["user_id"]: d["detail"] for d in deliveries(engine)}
    assert details[demoted.id] == "issue not visible"
    assert details[leaver.id] == "user deactivated"


def test_daily_digest_at_the_local_hour(
    mail: LocalMailServer, as_reporter: Api, as_maintainer: Api, engine: Engine
) -> None:
    choose(as_reporter, email="daily", digest_hour=8, time_zone="Europe/Amsterdam")
    issue = new_issue(as_reporter, title="Digest me")
    other = new_issue(as_reporter, title="And me")
    with clock.frozen(datetime(2026, 12, 8, 6, 30, tzinfo=UTC)):  # 07:30 in Amsterdam
        comment(as_maintainer, issue["id"], "first")
        comment(as_maintainer, other["id"], "second")
        comment(as_maintainer, issue["id"], "read before the digest")
        newest = as_reporter.get("notifications").json()["items"][0]["id"]
        run = run_timer()
        assert (run.sent, run.waiting) == (0, 3)
    as_reporter.post("notifications/read", json={"up_to": newest})
    with engine.begin() as conn:  # only the newest was read: mark_read reads all older too, undo that
        conn.execute(text("UPDATE notifications SET read_at = NULL WHERE id < :n"), {"n": newest})
    with clock.frozen(datetime(2026, 12, 8, 6, 59, tzinfo=UTC)):
        assert run_timer().claimed == 0  # not due yet
    with clock.frozen(datetime(2026, 12, 8, 7, 0, tzinfo=UTC)):  # 08:00 in Amsterdam
        run = run_timer()
    assert run.sent == 2 and run.skipped == 1
    [digest] = mail.wait_for(1)
    assert digest["Subject"] == "Trackly digest: 2 updates on 2 issues"
    plain = digest.get_body(("plain",)).get_content()
    assert "first" in plain and "second" in plain and "read before" not in plain
    assert "Digest me" in plain and "And me" in plain
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_quiet_hours_hold_instant_email_until_they_end(
    mail: LocalMailServer, as_reporter: Api, as_maintainer: Api
) -> None:
    choose(as_reporter, time_zone="America/New_York", quiet_hours={"start": "22:00", "end": "07:00"})
    issue = new_issue(as_reporter)
    with clock.frozen(datetime(2026, 12, 9, 4, 0, tzinfo=UTC)):  # 23:00 in New York
        comment(as_maintainer, issue["id"], "late night answer")
        assert run_timer().waiting == 1
    with clock.frozen(datetime(2026, 12, 9, 11, 59, tzinfo=UTC)):  # 06:59
        assert run_timer().claimed == 0
    with clock.frozen(datetime(2026, 12, 9, 12, 0, tzinfo=UTC)):  # 07:00
        assert run_timer().sent == 1
    assert "late night answer" in mail.wait_for(1)[0].get_body(("plain",)).get_content()


def test_changing_to_daily_moves_a_held_email_into_the_digest(
    mail: LocalMailServer, as_reporter: Api, as_maintainer: Api
) -> None:
    choose(as_reporter, quiet_hours={"start": "00:00", "end": "12:00"})
    issue = new_issue(as_reporter)
    with clock.frozen(datetime(2026, 12, 9, 3, 0, tzinfo=UTC)):
        comment(as_maintainer, issue["id"], "held")
        assert run_timer().waiting == 1
        choose(as_reporter, email="off")
        assert run_timer().skipped == 1
    assert mail.messages == []


def test_a_permanent_refusal_switches_email_off_and_says_so_in_the_app(
    mail: LocalMailServer, as_reporter: Api, as_maintainer: Api, reporter: Any, engine: Engine
) -> None:
    mail.refuse.add(reporter.email.lower())
    issue = new_issue(as_reporter)
    comment(as_maintainer, issue["id"], "bounces")
    run = run_timer()
    assert run.failed == 1 and run.sent == 0
    assert [d["status"] for d in deliveries(engine)] == ["failed"]
    settings = as_reporter.get("users/me/notification-settings").json()
    assert settings["email"] == "off" and settings["email_refused_at"] is not None
    notice = as_reporter.get("notifications").json()["email_notice"]
    assert "refused your address" in notice and "550" in notice
    # Choosing email again clears the notice.
    choose(as_reporter)
    assert as_reporter.get("notifications").json()["email_notice"] is None


def test_an_unreachable_server_is_retried_later(
    mail: LocalMailServer, settings_env: Any, as_reporter: Api, as_maintainer: Api, engine: Engine
) -> None:
    issue = new_issue(as_reporter)
    comment(as_maintainer, issue["id"], "try again")
    mail.stop()
    with clock.frozen(datetime(2026, 12, 9, 12, 0, tzinfo=UTC)):
        # The notification is older than now: give it a fresh age so it is still eligible.
        with engine.begin() as conn:
            conn.execute(text("UPDATE notifications SET created_at = :t"), {"t": clock.now()})
        run = run_timer()
    assert run.retried == 1
    [row] = deliveries(engine)
    assert row["status"] == "retry" and row["attempts"] == 1
    mail.start()
    with clock.frozen(datetime(2026, 12, 9, 12, 0, 30, tzinfo=UTC)):
        assert run_timer().claimed == 0  # backing off
    with clock.frozen(datetime(2026, 12, 9, 12, 1, 0, tzinfo=UTC)):
        assert run_timer().sent == 1
    assert len(mail.wait_for(1)) == 1


def test_email_is_off_when_no_transport_is_configured(
    settings_env: Any, as_reporter: Api, as_maintainer: Api, engine: Engine
) -> None:
    settings_env(SMTP_HOST=None, ACS_EMAIL_ENDPOINT=None)
    issue = new_issue(as_reporter)
    comment(as_maintainer, issue["id"], "nobody mails this")
    assert run_timer().disabled is True
    assert deliveries(engine) == []


def test_a_service_account_has_no_mailbox_and_is_never_emailed(
    mail: LocalMailServer, as_reporter: Api, as_admin: Api, engine: Engine
) -> None:
    bot = as_admin.post("users", {"kind": "service", "name": "Triage bot", "role": "MAINTAINER"})
    assert bot.status_code == 201, bot.text
    issue = new_issue(as_reporter)
    assigned = as_admin.patch(f"issues/{issue['id']}", json={"assignee_id": bot.json()["id"]})
    assert assigned.status_code == 200, assigned.text
    run = run_timer()
    mine = [d for d in deliveries(engine) if str(d["user_id"]) == bot.json()["id"]]
    assert [(d["status"], d["detail"], d["reason"]) for d in mine] == [
        ("skipped", "no email address", "assigned")
    ]
    assert run.sent == 0 and mail.messages == []
