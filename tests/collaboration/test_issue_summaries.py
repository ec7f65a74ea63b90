"""The labels and comment count each issue row carries (kept by migration 0007's triggers) stay
exact: through the API, under bulk SQL, and when two transactions change one issue at once.

"Exact" is checked against the source tables, read here independently of the triggers' own
functions."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.engine import Engine

from tests.collaboration.helpers import comment, label
from tests.issues.helpers import new_issue
from tests.support.api import Api
from tests.support.locks import LOCK_WAIT_LIMIT_S, wait_for_lock_wait
from trackly import schema


def stored(engine: Engine, issue_id: str) -> tuple[list[dict[str, Any]], int]:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT labels, comment_count FROM issues WHERE id = :i"), {"i": issue_id}
        ).one()
    return list(row[0]), int(row[1])


def truth(engine: Engine, issue_id: str) -> tuple[list[dict[str, Any]], int]:
    with engine.connect() as conn:
        labels = conn.execute(
            text(
                "SELECT l.id, l.name, l.color FROM issue_labels il JOIN labels l ON l.id = il.label_id "
                "WHERE il.issue_id = :i"
            ),
            {"i": issue_id},
        ).all()
        count = conn.execute(
            text("SELECT count(*) FROM comments WHERE issue_id = :i"), {"i": issue_id}
        ).scalar()
    ordered = sorted(labels, key=lambda r: (r[1].lower(), str(r[0])))
    return [{"id": str(i), "name": n, "color": c} for i, n, c in ordered], int(count or 0)


def assert_exact(engine: Engine, *issue_ids: str) -> None:
    for issue_id in issue_ids:
        assert stored(engine, issue_id) == truth(engine, issue_id), issue_id


def listed(api: Api, issue_id: str) -> dict[str, Any]:
    items = api.get("issues", params={"limit": 100}).json()
    return next(item for item in items if item["id"] == issue_id)


def row_version(engine: Engine, issue_id: str) -> str:
    """The row's xmin: changes whenever anything rewrites the row."""
    with engine.connect() as conn:
        return str(
            conn.execute(text("SELECT xmin::text FROM issues WHERE id = :i"), {"i": issue_id}).scalar()
        )


def test_the_list_shows_labels_and_comments_as_they_change(
    as_admin: Api, as_maintainer: Api, as_reporter: Api, engine: Engine
) -> None:
    issue = new_issue(as_reporter)
    other = new_issue(as_reporter)
    bug, ui = label(as_admin, "bug"), label(as_admin, "UI", "#0000ff")
    assert stored(engine, issue["id"]) == ([], 0)

    for each in (bug, ui):
        assert as_maintainer.put(f"issues/{issue['id']}/labels/{each['id']}").status_code == 200
    assert as_maintainer.put(f"issues/{other['id']}/labels/{bug['id']}").status_code == 200
    assert [x["name"] for x in listed(as_reporter, issue["id"])["labels"]] == ["bug", "UI"]

    # A rename or a new colour shows on every carrier at once; a new description rewrites no issue.
    before = row_version(engine, issue["id"])
    assert as_admin.patch(f"labels/{ui['id']}", json={"description": "Screens"}).status_code == 200
    assert row_version(engine, issue["id"]) == before
    assert (
        as_admin.patch(f"labels/{bug['id']}", json={"name": "Defect", "color": "#00ff00"}).status_code == 200
    )
    assert listed(as_reporter, issue["id"])["labels"] == [
        {"id": bug["id"], "name": "Defect", "color": "#00ff00"},
        {"id": ui["id"], "name": "UI", "color": "#0000ff"},
    ]
    assert listed(as_reporter, other["id"])["labels"] == [
        {"id": bug["id"], "name": "Defect", "color": "#00ff00"}
    ]
    assert as_maintainer.get(f"issues/{other['id']}").json()["labels"][0]["name"] == "Defect"

    first = comment(as_reporter, issue["id"])
    comment(as_maintainer, issue["id"], "On it.")
    assert listed(as_reporter, issue["id"])["comment_count"] == 2
    assert as_reporter.delete(f"issues/{issue['id']}/comments/{first['id']}").status_code == 200
    assert listed(as_reporter, issue["id"])["comment_count"] == 1
    assert as_reporter.get(f"issues/{issue['id']}").json()["comment_count"] == 1

    assert as_maintainer.delete(f"issues/{issue['id']}/labels/{ui['id']}").status_code == 200
    assert as_admin.delete(f"labels/{bug['id']}").status_code == 200
    assert listed(as_reporter, issue["id"])["labels"] == []
    assert listed(as_reporter, other["id"])["labels"] == []
    assert_exact(engine, issue["id"], other["id"])


def test_bulk_statements_keep_every_issue_exact(as_admin: Api, as_reporter: Api, engine: Engine) -> None:
    issues = [new_issue(as_reporter)["id"] for _ in range(3)]
    names = [label(as_admin, name)["id"] for name in ("b", "A", "c")]
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO issue_labels (issue_id, label_id) SELECT i, l FROM unnest(CAST(:i AS uuid[])) i, "
                 "unnest(CAST(:l AS uuid[])) l"),
            {"i": issues, "l": names},
        )  # fmt: skip
        conn.execute(
            text("INSERT INTO comments (id, issue_id, body) SELECT gen_random_uuid(), i, 'x' "
                 "FROM unnest(CAST(:i AS uuid[])) i, generate_series(1, 3)"),
            {"i": issues[:2]},
        )  # fmt: skip
    assert_exact(engine, *issues)
    assert [x["name"] for x in stored(engine, issues[0])[0]] == ["A", "b", "c"]
    assert stored(engine, issues[2])[1] == 0

    with engine.begin() as conn:
        # Move one label from an issue to another (an UPDATE of issue_labels touches both).
        conn.execute(
            text("DELETE FROM issue_labels WHERE issue_id = :i AND label_id = :l"),
            {"i": issues[2], "l": names[0]},
        )
        conn.execute(
            text("UPDATE issue_labels SET issue_id = :to WHERE issue_id = :frm AND label_id = :l"),
            {"to": issues[2], "frm": issues[1], "l": names[0]},
        )
        conn.execute(
            text("UPDATE comments SET issue_id = :to WHERE issue_id = :frm"),
            {"to": issues[2], "frm": issues[0]},
        )
        conn.execute(text("UPDATE labels SET name = upper(name)"))
    assert_exact(engine, *issues)
    assert stored(engine, issues[2])[1] == 3 and stored(engine, issues[0])[1] == 0

    with engine.begin() as conn:
        conn.execute(text("TRUNCATE comments"))
        conn.execute(text("TRUNCATE issue_labels"))
    assert_exact(engine, *issues)
    assert all(stored(engine, i) == ([], 0) for i in issues)


def _backend_pid(conn: Connection) -> int:
    return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _race(engine: Engine, first: Callable[[Connection], None], second: Callable[[Connection], None]) -> None:
    """Run `first` in an open transaction, start `second` in another while it is open, wait until
    `second` is blocked on the row `first` locked, then commit `first`, then `second`."""
    errors: list[BaseException] = []
    done = threading.Event()
    with engine.connect() as a, engine.connect() as b:
        first(a)
        pid = _backend_pid(b)

        def run_second() -> None:
            try:
                second(b)
                b.commit()
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)
            finally:
                done.set()

        worker = threading.Thread(target=run_second)
        worker.start()
        wait_for_lock_wait(engine, pid=pid, done=done)
        assert not done.is_set(), "the second transaction did not wait for the first"
        a.commit()
        worker.join(LOCK_WAIT_LIMIT_S)
        assert not worker.is_alive()
    assert not errors, errors


def test_concurrent_comments_on_one_issue_are_both_counted(as_reporter: Api, engine: Engine) -> None:
    issue = new_issue(as_reporter)["id"]

    def add(conn: Connection) -> None:
        conn.execute(
            text("INSERT INTO comments (id, issue_id, body) VALUES (:id, :i, 'x')"),
            {"id": str(uuid.uuid4()), "i": issue},
        )

    _race(engine, add, add)
    assert stored(engine, issue) == ([], 2)


def test_concurrent_labels_on_one_issue_are_both_kept(
    as_admin: Api, as_reporter: Api, engine: Engine
) -> None:
    issue = new_issue(as_reporter)["id"]
    a, b = label(as_admin, "a")["id"], label(as_admin, "b")["id"]

    def put(label_id: str) -> Callable[[Connection], None]:
        def run(conn: Connection) -> None:
            conn.execute(
                text("INSERT INTO issue_labels (issue_id, label_id) VALUES (:i, :l)"),
                {"i": issue, "l": label_id},
            )

        return run

    _race(engine, put(a), put(b))
    assert [x["name"] for x in stored(engine, issue)[0]] == ["a", "b"]
    assert_exact(engine, issue)


def test_labelling_during_a_rename_shows_the_new_name(
    as_admin: Api, as_maintainer: Api, as_reporter: Api, engine: Engine
) -> None:
    """The label is locked before the issue: an issue labelled while the label is being renamed
    gets the name that wins, and neither side deadlocks (the rename also locks every carrier)."""
    carrier, issue = new_issue(as_reporter)["id"], new_issue(as_reporter)["id"]
    bug = label(as_admin, "bug")["id"]
    assert as_maintainer.put(f"issues/{carrier}/labels/{bug}").status_code == 200
    responses: list[Any] = []
    done = threading.Event()

    def label_it() -> None:
        try:
            responses.append(as_maintainer.put(f"issues/{issue}/labels/{bug}"))
        finally:
            done.set()

    with engine.connect() as rename:
        rename.execute(text("UPDATE labels SET name = 'defect' WHERE id = :l"), {"l": bug})
        worker = threading.Thread(target=label_it)
        worker.start()
        wait_for_lock_wait(engine, like="%FROM labels%", done=done)
        assert not done.is_set(), "labelling did not wait for the rename"
        rename.commit()
        worker.join(LOCK_WAIT_LIMIT_S)
    assert responses[0].status_code == 200, responses[0].text
    assert [x["name"] for x in responses[0].json()["labels"]] == ["defect"]
    assert [x["name"] for x in stored(engine, issue)[0]] == ["defect"]
    assert_exact(engine, issue, carrier)


def test_migration_fills_the_summaries_and_downgrades_cleanly(empty_database: str) -> None:
    engine = create_engine(empty_database)
    try:
        schema.upgrade(empty_database, "0006")
        owner, issues = uuid.uuid4(), [uuid.uuid4() for _ in range(3)]
        labels = {uuid.uuid4(): name for name in ("zeta", "Alpha")}
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (id, email, full_name, role) VALUES (:id, 'o@example.com', 'O', 'REPORTER')"
                ),
                {"id": owner},
            )
            for issue in issues:
                conn.execute(
                    text(
                        "INSERT INTO issues (id, title, severity, status, created_by) "
                        "VALUES (:id, 'Old', 'LOW', 'OPEN', :owner)"
                    ),
                    {"id": issue, "owner": owner},
                )
            for label_id, name in labels.items():
                conn.execute(
                    text("INSERT INTO labels (id, name, color) VALUES (:id, :name, '#123456')"),
                    {"id": label_id, "name": name},
                )
                conn.execute(
                    text("INSERT INTO issue_labels (issue_id, label_id) VALUES (:i, :l)"),
                    {"i": issues[0], "l": label_id},
                )
            conn.execute(
                text(
                    "INSERT INTO comments (id, issue_id, body) SELECT gen_random_uuid(), :i, 'x' FROM generate_series(1, 4)"
                ),
                {"i": issues[1]},
            )
        schema.upgrade(empty_database)
        assert [x["name"] for x in stored(engine, str(issues[0]))[0]] == ["Alpha", "zeta"]
        assert stored(engine, str(issues[1])) == ([], 4)
        assert stored(engine, str(issues[2])) == ([], 0)
        assert_exact(engine, *(str(i) for i in issues))

        schema.downgrade(empty_database, "0006")
        engine.dispose()
        assert {"labels", "comment_count"}.isdisjoint(
            c["name"] for c in inspect(engine).get_columns("issues")
        )
        with engine.begin() as conn:  # no trigger left behind to write a dropped column
            conn.execute(text("DELETE FROM comments"))
            conn.execute(text("DELETE FROM issue_labels"))
            conn.execute(text("UPDATE labels SET name = upper(name)"))
            left = conn.execute(
                text("SELECT count(*) FROM pg_proc WHERE proname LIKE 'issue\\_%' AND proname <> 'issue_counts_maintain' "
                     "AND proname <> 'issue_counts_truncate'")
            ).scalar()  # fmt: skip
        assert left == 0
    finally:
        engine.dispose()
