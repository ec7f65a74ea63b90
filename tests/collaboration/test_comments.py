"""Comments: who may comment, edit and delete; Markdown; paging; idempotency; If-Match; tombstones."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.collaboration.helpers import comment, event_types, watcher_ids
from tests.issues.helpers import new_issue
from tests.support.api import Api, assert_problem

COMMENT_FIELDS = {
    "id", "issue_id", "author_id", "author_name", "body", "body_html", "created_at", "updated_at",
    "edited", "edited_at", "version",
}  # fmt: skip


def test_everyone_who_sees_the_issue_comments(  # noqa: PLR0917 (fixtures)
    as_reporter: Api, as_maintainer: Api, as_admin: Api, reporter: Any, maintainer: Any, engine: Engine
) -> None:
    issue = new_issue(as_reporter)
    response = as_reporter.post(
        f"issues/{issue['id']}/comments", json={"body": "  **Still** broken <script>x</script>  "}
    )
    assert response.status_code == 201, response.text
    mine = response.json()
    assert set(mine) == COMMENT_FIELDS
    assert mine["body"] == "**Still** broken <script>x</script>"
    assert mine["body_html"] == "<p><strong>Still</strong> broken &lt;script&gt;x&lt;/script&gt;</p>\n"
    assert mine["author_id"] == str(reporter.id) and mine["author_name"] == "Rita Reporter"
    assert mine["edited"] is False and mine["edited_at"] is None and mine["version"] == 1
    assert response.headers["Location"].endswith(f"/api/issues/{issue['id']}/comments/{mine['id']}")
    assert response.headers["ETag"] == f'"{mine["id"]}-1"'
    comment(as_maintainer, issue["id"], "On it.")
    comment(as_admin, issue["id"], "Thanks.")

    listed = as_reporter.get(f"issues/{issue['id']}/comments").json()
    assert [c["body"] for c in listed] == ["**Still** broken <script>x</script>", "On it.", "Thanks."]
    assert as_reporter.get(f"issues/{issue['id']}").json()["comment_count"] == 3
    assert as_maintainer.get(f"issues/{issue['id']}/comments/{mine['id']}").json() == mine
    assert event_types(engine, issue["id"]) == ["issue_created", *["comment_added"] * 3]
    history = as_reporter.get(f"issues/{issue['id']}/history").json()
    assert history[2]["type"] == "comment_added" and history[2]["changes"] == {"body": [None, "On it."]}
    assert maintainer.id in watcher_ids(engine, issue["id"])  # commenters watch


def test_a_reporter_never_sees_or_comments_on_another_reporters_issue(
    as_reporter: Api, as_other_reporter: Api, as_maintainer: Api
) -> None:
    issue = new_issue(as_reporter)
    secret = comment(as_maintainer, issue["id"], "Internal note")
    base = f"issues/{issue['id']}/comments"
    assert_problem(as_other_reporter.get(base), 404, "Issue not found")
    assert_problem(as_other_reporter.get(f"{base}/{secret['id']}"), 404)
    assert_problem(as_other_reporter.post(base, json={"body": "hi"}), 404)
    assert_problem(as_other_reporter.patch(f"{base}/{secret['id']}", json={"body": "x"}), 404)
    assert_problem(as_other_reporter.delete(f"{base}/{secret['id']}"), 404)
    assert as_other_reporter.get("issues").json() == []
    # A comment id under the wrong issue is not found either.
    other = new_issue(as_other_reporter)
    assert_problem(as_other_reporter.get(f"issues/{other['id']}/comments/{secret['id']}"), 404, "Comment")


@pytest.mark.parametrize(
    ("body", "where"),
    [({"body": ""}, "body.body"), ({"body": " \n "}, "body.body"), ({"body": "x" * 10_001}, "body.body"),
     ({}, "body.body"), ({"body": "ok", "author_id": "x"}, "body.author_id")],
)  # fmt: skip
def test_comment_validation(as_reporter: Api, engine: Engine, body: dict[str, Any], where: str) -> None:
    issue = new_issue(as_reporter)
    problem = assert_problem(as_reporter.post(f"issues/{issue['id']}/comments", json=body), 422)
    assert problem["errors"][0]["loc"] == where
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM comments")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM events")).scalar() == 1


def test_only_the_author_edits_and_the_comment_is_marked_edited(
    as_reporter: Api, as_maintainer: Api, as_admin: Api, engine: Engine
) -> None:
    issue = new_issue(as_reporter)
    mine = comment(as_reporter, issue["id"], "Frist")
    path = f"issues/{issue['id']}/comments/{mine['id']}"
    for api in (as_maintainer, as_admin):
        assert_problem(api.patch(path, json={"body": "hijacked"}), 403, "Only the author")
    edited = as_reporter.patch(path, json={"body": "First"}, headers={"If-Match": f'"{mine["id"]}-1"'})
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert body["body"] == "First" and body["edited"] is True and body["edited_at"] is not None
    assert body["version"] == 2 and edited.headers["ETag"] == f'"{mine["id"]}-2"'
    # Stale tag: 412 with the current tag; nothing written.
    stale = as_reporter.patch(path, json={"body": "Third"}, headers={"If-Match": f'"{mine["id"]}-1"'})
    assert_problem(stale, 412, "changed")
    assert stale.headers["ETag"] == f'"{mine["id"]}-2"'
    same = as_reporter.patch(path, json={"body": "First"})
    assert same.json()["version"] == 2
    assert event_types(engine, issue["id"]) == ["issue_created", "comment_added", "comment_edited"]
    history = as_reporter.get(f"issues/{issue['id']}/history").json()
    assert history[2]["changes"] == {"body": ["Frist", "First"]}


def test_concurrent_edits_with_if_match_one_wins(as_reporter: Api, engine: Engine) -> None:
    issue = new_issue(as_reporter)
    mine = comment(as_reporter, issue["id"], "v1")
    path = f"issues/{issue['id']}/comments/{mine['id']}"
    results: dict[str, int] = {}
    start = threading.Barrier(2)

    def edit(text_: str) -> None:
        start.wait()
        response = as_reporter.patch(path, json={"body": text_}, headers={"If-Match": f'"{mine["id"]}-1"'})
        results[text_] = response.status_code

    threads = [threading.Thread(target=edit, args=(t,)) for t in ("edit A", "edit B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == [200, 412], results
    winner = next(t for t, status in results.items() if status == 200)
    final = as_reporter.get(path).json()
    assert final["body"] == winner and final["version"] == 2
    assert event_types(engine, issue["id"]).count("comment_edited") == 1


def test_delete_by_author_or_moderator_leaves_a_redacted_tombstone(
    as_reporter: Api, as_maintainer: Api, as_admin: Api, maintainer: Any, engine: Engine
) -> None:
    issue = new_issue(as_reporter)
    mine = comment(as_reporter, issue["id"], "my own words")
    rude = comment(as_maintainer, issue["id"], "something rude")
    rude_path = f"issues/{issue['id']}/comments/{rude['id']}"
    as_maintainer.patch(rude_path, json={"body": "something ruder"})
    # The reporter may not delete the maintainer's comment, even on their own issue.
    assert_problem(as_reporter.delete(rude_path), 403, "Only the author")
    assert_problem(as_admin.delete(rude_path, headers={"If-Match": '"stale"'}), 412)
    deleted = as_admin.delete(rude_path)
    assert deleted.status_code == 200
    assert deleted.json() == {"id": rude["id"], "deleted": True, "message": "The comment was deleted."}
    assert_problem(as_admin.delete(rude_path), 404, "Comment not found")
    own = as_reporter.delete(f"issues/{issue['id']}/comments/{mine['id']}")
    assert own.status_code == 200
    assert as_reporter.get(f"issues/{issue['id']}/comments").json() == []
    assert as_reporter.get(f"issues/{issue['id']}").json()["comment_count"] == 0

    history = as_reporter.get(f"issues/{issue['id']}/history").json()
    assert [h["type"] for h in history] == [
        "issue_created", "comment_added", "comment_added", "comment_edited", "comment_deleted", "comment_deleted",
    ]  # fmt: skip
    assert history[2]["changes"] == {"body": [None, None]}  # redacted
    assert history[3]["changes"] == {"body": [None, None]}
    with engine.connect() as conn:
        payloads = conn.execute(
            text("SELECT payload::text FROM events WHERE issue_id = :i"), {"i": issue["id"]}
        )
        dump = " ".join(payloads.scalars())
    assert "rude" not in dump and "my own words" not in dump
    with engine.connect() as conn:
        tomb = conn.execute(
            text("SELECT actor_id, payload FROM events WHERE type = 'comment_deleted' ORDER BY id LIMIT 1")
        ).one()
    assert tomb.payload["comment"] == {"id": rude["id"], "author_id": str(maintainer.id), "moderated": True}


def test_keyset_paging_oldest_first(as_maintainer: Api, engine: Engine) -> None:
    issue = new_issue(as_maintainer)
    with engine.begin() as conn:  # 7 comments with distinct and equal timestamps
        conn.execute(
            text(
                "INSERT INTO comments (id, issue_id, body, created_at, updated_at) "
                "SELECT gen_random_uuid(), :i, 'c' || g, timestamp '2026-01-01' + (g / 2) * interval '1 s', now() "
                "FROM generate_series(1, 7) g"
            ),
            {"i": issue["id"]},
        )
    seen: list[str] = []
    url: str | None = f"issues/{issue['id']}/comments?limit=3"
    pages = 0
    while url is not None:
        response = as_maintainer.get(url)
        assert response.status_code == 200, response.text
        seen += [c["body"] for c in response.json()]
        link = response.headers.get("Link")
        url = link.split("/api/", 1)[1].split(">", 1)[0] if link else None
        pages += 1
    assert pages == 3
    assert len(seen) == 7 and set(seen) == {f"c{g}" for g in range(1, 8)}
    assert seen[0] == "c1" and seen[-1] in {"c6", "c7"}
    assert_problem(as_maintainer.get(f"issues/{issue['id']}/comments", params={"cursor": "garbage"}), 400)
    assert_problem(as_maintainer.get(f"issues/{issue['id']}/comments", params={"limit": 0}), 422)


def test_idempotent_create(as_reporter: Api, engine: Engine) -> None:
    issue = new_issue(as_reporter)
    path = f"issues/{issue['id']}/comments"
    first = as_reporter.post(path, json={"body": "once"}, headers={"Idempotency-Key": "k-1"})
    again = as_reporter.post(path, json={"body": "once"}, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert_problem(as_reporter.post(path, json={"body": "other"}, headers={"Idempotency-Key": "k-1"}), 422)
    assert len(as_reporter.get(path).json()) == 1
    assert event_types(engine, issue["id"]).count("comment_added") == 1
    # The key is bound to the path too: the same key and body on another issue is a 422, not a
    # replay of this issue's comment.
    other = new_issue(as_reporter)
    assert_problem(
        as_reporter.post(
            f"issues/{other['id']}/comments", json={"body": "once"}, headers={"Idempotency-Key": "k-1"}
        ),
        422,
    )
