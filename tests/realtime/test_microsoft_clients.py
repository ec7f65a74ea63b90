"""Microsoft's own Web PubSub clients, connected with the URL /api/realtime/negotiate returns,
receive what the API publishes from the local service: staff everything, a reporter only their
own issues, and nobody can join a group the token did not give them.

- PyPI `azure-messaging-webpubsubclient` (in this process);
- npm `@azure/web-pubsub-client`, driven by tests/realtime/clients/subscribe.mjs under node.

Both use the `json.reliable.webpubsub.azure.v1` subprotocol (their default)."""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import Api
from trackly.local.webpubsub import LocalWebPubSub

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).parent / "clients" / "subscribe.mjs"
HANG_GUARD = 20.0  # seconds: only stops a broken run from hanging; not a speed requirement


def wait_until(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + HANG_GUARD
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture
def people(api: Api, users: Any) -> dict[str, tuple[Any, Api]]:
    made = {"staff": users("MAINTAINER"), "alice": users("REPORTER"), "bob": users("REPORTER")}
    return {name: (user, api.as_(users.token(user))) for name, user in made.items()}


def negotiate(client: Api) -> str:
    response = client.get("realtime/negotiate")
    assert response.status_code == 200, response.text
    return str(response.json()["url"])


def create_issues(people: dict[str, tuple[Any, Api]]) -> dict[str, str]:
    """Bob's issue first, then Alice's: a connection that got Alice's and not Bob's before it
    never gets Bob's (the service writes to each socket in order, before the API call returns)."""
    ids = {}
    for owner in ("bob", "alice"):
        response = people[owner][1].post("issues", json={"title": f"{owner}'s printer", "severity": "HIGH"})
        assert response.status_code == 201, response.text
        ids[owner] = response.json()["id"]
    return ids


def test_python_client_receives_by_role_and_cannot_join_staff(
    webpubsub: LocalWebPubSub, people: dict[str, tuple[Any, Api]]
) -> None:
    from azure.messaging.webpubsubclient import WebPubSubClient, WebPubSubClientCredential
    from azure.messaging.webpubsubclient.models import CallbackType, SendMessageError

    received: dict[str, list[dict[str, Any]]] = {name: [] for name in people}
    clients = []
    try:
        for name, (_user, client) in people.items():
            url = negotiate(client)
            # No retries of a refused joinGroup (the refusal is the point). The sync client can miss
            # an ack that arrives before it starts waiting (notify before wait) and then sleeps out
            # ack_timeout (30 s by default) before reading the ack it did record; 5 s keeps that short.
            ws = WebPubSubClient(
                credential=WebPubSubClientCredential(lambda url=url: url),
                message_retry_total=0,
                ack_timeout=5,
            )
            ws.subscribe(
                CallbackType.GROUP_MESSAGE,
                lambda e, name=name: received[name].append({"group": e.group, **e.data}),
            )
            ws.open()
            clients.append((name, ws))
        for name, ws in clients:
            if name != "staff":
                with pytest.raises(SendMessageError) as refused:
                    ws.join_group("staff")
                assert refused.value.error_detail is not None
                assert refused.value.error_detail.name == "Forbidden"

        ids = create_issues(people)
        wait_until(lambda: {m["issue_id"] for m in received["staff"]} >= set(ids.values()), "staff events")
        wait_until(lambda: len(received["alice"]) >= 1 and len(received["bob"]) >= 1, "reporter events")
    finally:
        for _name, ws in clients:
            ws.close()

    staff_ids = [m["issue_id"] for m in received["staff"] if m["type"] == "issue_created"]
    assert sorted(staff_ids) == sorted(ids.values())
    assert {m["group"] for m in received["staff"]} <= {"staff", f"user.{people['staff'][0].id}"}
    assert [(m["type"], m["issue_id"]) for m in received["alice"]] == [("issue_created", ids["alice"])]
    assert [(m["type"], m["issue_id"]) for m in received["bob"]] == [("issue_created", ids["bob"])]
    created = received["alice"][0]
    assert created["user_id"] == str(people["alice"][0].id)
    assert created["data"]["issue"]["title"] == "alice's printer"


@pytest.fixture
def node_clients() -> Iterator[Callable[[dict[str, str]], Any]]:
    processes: list[subprocess.Popen[str]] = []

    def start(urls: dict[str, str]) -> Any:
        process = subprocess.Popen(
            ["node", str(SCRIPT), *(f"{name}={url}" for name, url in urls.items())],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        processes.append(process)
        lines: queue.Queue[dict[str, Any]] = queue.Queue()
        output: list[str] = []

        def pump() -> None:
            assert process.stdout is not None
            for raw in process.stdout:
                output.append(raw)
                if raw.startswith("{"):
                    lines.put(json.loads(raw))

        threading.Thread(target=pump, daemon=True).start()
        return lines, output

    yield start
    for process in processes:
        if process.stdin:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_javascript_client_receives_by_role_and_cannot_join_staff(
    webpubsub: LocalWebPubSub, people: dict[str, tuple[Any, Api]], node_clients: Any
) -> None:
    lines, output = node_clients({name: negotiate(client) for name, (_u, client) in people.items()})
    seen: list[dict[str, Any]] = []

    def collect_until(predicate: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + HANG_GUARD
        while not predicate():
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"timed out waiting for {what}; node printed:\n{''.join(output)}"
            with contextlib.suppress(queue.Empty):
                seen.append(lines.get(timeout=remaining))

    collect_until(lambda: any(line.get("event") == "ready" for line in seen), "the node clients to start")
    joins = {line["name"]: line for line in seen if line.get("event") == "join"}
    assert joins["alice"] == {"name": "alice", "event": "join", "ok": False, "error": "Forbidden"}
    assert joins["bob"]["ok"] is False and joins["bob"]["error"] == "Forbidden"
    connected = {line["name"]: line for line in seen if line.get("event") == "connected"}
    assert connected["alice"]["userId"] == str(people["alice"][0].id)

    ids = create_issues(people)

    def messages(name: str) -> list[dict[str, Any]]:
        return [line for line in seen if line.get("event") == "message" and line["name"] == name]

    collect_until(
        lambda: (
            {m["data"]["issue_id"] for m in messages("staff")} >= set(ids.values())
            and bool(messages("alice"))
            and bool(messages("bob"))
        ),
        "the issue_created messages",
    )
    assert sorted(m["data"]["issue_id"] for m in messages("staff")) == sorted(ids.values())
    assert [(m["group"], m["data"]["issue_id"]) for m in messages("alice")] == [
        (f"user.{people['alice'][0].id}", ids["alice"])
    ]
    assert [m["data"]["issue_id"] for m in messages("bob")] == [ids["bob"]]
    assert all(isinstance(m["sequenceId"], int) for m in messages("staff"))  # the reliable protocol
