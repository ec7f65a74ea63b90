"""ETags: If-None-Match on reads, If-Match on writes, and concurrent writers."""

from __future__ import annotations

import threading
from typing import Any

import requests
from sqlalchemy.engine import Engine

from tests.issues.helpers import events, new_issue
from tests.support.api import Api, assert_problem


def test_get_with_if_none_match(as_reporter: Api) -> None:
    issue = new_issue(as_reporter)
    url = f"issues/{issue['id']}"
    first = as_reporter.get(url)
    etag = first.headers["ETag"]
    assert etag.startswith(f'"{issue["id"]}-1-')  # version, then a digest of the representation
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        cached = as_reporter.get(url, headers={"If-None-Match": header})
        assert cached.status_code == 304, header
        assert cached.headers["ETag"] == etag
        assert cached.content == b""
    assert as_reporter.get(url, headers={"If-None-Match": '"stale"'}).status_code == 200
    as_reporter.patch(url, json={"title": "changed"})
    fresh = as_reporter.get(url, headers={"If-None-Match": etag})
    assert fresh.status_code == 200
    assert fresh.headers["ETag"].startswith(f'"{issue["id"]}-2-')


def test_if_match_on_patch_put_delete(as_admin: Api, engine: Engine) -> None:
    issue = new_issue(as_admin)
    url = f"issues/{issue['id']}"
    v1 = f'"{issue["id"]}-1"'
    ok = as_admin.patch(url, json={"title": "one"}, headers={"If-Match": v1})
    assert ok.status_code == 200
    v2 = ok.headers["ETag"]
    assert v2 != v1

    stale = as_admin.put(url, json={"title": "lost"}, headers={"If-Match": v1})
    assert_problem(stale, 412, "reload")
    # The current version's tag, so the client can refetch and retry.
    assert stale.headers["ETag"] == f'"{issue["id"]}-2"' and v2.startswith(f'"{issue["id"]}-2-')
    assert_problem(as_admin.patch(url, json={"title": "lost"}, headers={"If-Match": f"W/{v1}"}), 412)
    assert_problem(as_admin.delete(url, headers={"If-Match": v1}), 412)
    # A stale precondition also refuses a write that would change nothing.
    assert_problem(as_admin.patch(url, json={}, headers={"If-Match": v1}), 412)
    assert as_admin.get(url).json()["title"] == "one"
    assert len(events(engine, issue["id"])) == 2

    assert as_admin.put(url, json={"title": "two"}, headers={"If-Match": "*"}).status_code == 200
    assert as_admin.put(url, json={"title": "three"}).status_code == 200  # no If-Match: proceeds
    current = as_admin.get(url).headers["ETag"]
    assert as_admin.delete(url, headers={"If-Match": current}).status_code == 200


def _race(
    base_url: str, token: str, calls: list[tuple[str, str, dict[str, Any], dict[str, str]]]
) -> list[requests.Response]:
    """Send the calls at the same moment, each on its own connection."""
    barrier = threading.Barrier(len(calls))
    results: list[requests.Response | None] = [None] * len(calls)

    def run(i: int) -> None:
        client = Api(base_url, token)
        method, path, body, headers = calls[i]
        barrier.wait()
        results[i] = client.request(method, path, json=body, headers=headers)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def test_two_concurrent_patches_with_same_if_match(as_maintainer: Api, engine: Engine) -> None:
    token = as_maintainer.token
    assert token is not None
    for _round in range(5):
        issue = new_issue(as_maintainer)
        url = f"issues/{issue['id']}"
        tag = {"If-Match": f'"{issue["id"]}-1"'}
        results = _race(
            as_maintainer.base_url,
            token,
            [("PATCH", url, {"title": "from A", "severity": "HIGH"}, tag),
             ("PATCH", url, {"title": "from B", "status": "TRIAGED"}, tag)],
        )  # fmt: skip
        codes = sorted(r.status_code for r in results)
        assert codes == [200, 412], [r.text for r in results]
        winner = next(r for r in results if r.status_code == 200).json()
        final = as_maintainer.get(url).json()
        assert final["version"] == 2
        assert final["title"] == winner["title"]
        assert (final["severity"], final["status"]) == (winner["severity"], winner["status"])
        assert len(events(engine, issue["id"])) == 2


def test_concurrent_writes_without_if_match_lose_nothing(as_maintainer: Api, engine: Engine) -> None:
    token = as_maintainer.token
    assert token is not None
    issue = new_issue(as_maintainer)
    url = f"issues/{issue['id']}"
    results = _race(
        as_maintainer.base_url,
        token,
        [("PATCH", url, {"title": "new title"}, {}),
         ("PATCH", url, {"severity": "CRITICAL"}, {}),
         ("PUT", url, {"status": "TRIAGED"}, {}),
         ("PATCH", url, {"description": "more"}, {})],
    )  # fmt: skip
    assert [r.status_code for r in results] == [200] * 4
    final = as_maintainer.get(url).json()
    assert (final["title"], final["severity"], final["status"], final["description"]) == (
        "new title", "CRITICAL", "TRIAGED", "more",
    )  # fmt: skip
    assert final["version"] == 5
    assert sorted(r.json()["version"] for r in results) == [2, 3, 4, 5]
    assert len(events(engine, issue["id"])) == 5


def test_the_etag_covers_names_so_a_304_is_never_stale(
    as_reporter: Api, as_admin: Api, reporter: Any
) -> None:
    """Renaming the creator changes the representation (`created_by_name`) but not the issue's
    version: the old tag no longer earns a 304 (before: a stale 304 kept the old name), while an
    edit sent with it is still accepted (If-Match compares the version only)."""
    issue = new_issue(as_reporter)
    url = f"issues/{issue['id']}"
    etag = as_reporter.get(url).headers["ETag"]
    renamed = as_admin.patch(f"users/{reporter.id}", json={"full_name": "Renamed Reporter"})
    assert renamed.status_code == 200, renamed.text
    fresh = as_reporter.get(url, headers={"If-None-Match": etag})
    assert fresh.status_code == 200
    assert fresh.json()["created_by_name"] == "Renamed Reporter"
    assert fresh.headers["ETag"] != etag
    assert fresh.json()["version"] == issue["version"]
    edited = as_reporter.patch(url, json={"title": "still mine"}, headers={"If-Match": etag})
    assert edited.status_code == 200, edited.text
