"""The local Web PubSub service checks what the real service checks and speaks its client protocols.

Tokens are minted by Microsoft's service SDK (as the app does); the raw protocol is driven with
the `websockets` client so every envelope can be asserted exactly."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import jwt
import pytest
import requests
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from trackly.local.webpubsub import JSON, RELIABLE, LocalWebPubSub

HUB = "trackly"


class FrozenClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def service(clock: FrozenClock) -> Iterator[LocalWebPubSub]:
    with LocalWebPubSub(clock=clock) as running:
        yield running


@pytest.fixture
def sdk(service: LocalWebPubSub) -> Any:
    from azure.messaging.webpubsubservice import WebPubSubServiceClient

    return WebPubSubServiceClient.from_connection_string(service.connection_string, hub=HUB, retry_total=0)


def url_for(
    sdk: Any, user: str = "u1", groups: list[str] | None = None, roles: list[str] | None = None
) -> str:
    token = sdk.get_client_access_token(user_id=user, groups=groups or [], roles=roles or [])
    return str(token["url"])


@pytest.fixture(autouse=True)
def _sockets() -> Iterator[None]:
    """Every client socket a test opens is closed at its end."""
    global _STACK
    with ExitStack() as stack:
        _STACK = stack
        yield


_STACK: ExitStack


def dial(url: str, subprotocol: str | None = JSON, **kwargs: Any) -> ClientConnection:
    protocols = [subprotocol] if subprotocol else None
    return _STACK.enter_context(connect(url, subprotocols=protocols, **kwargs))  # type: ignore[arg-type]


def receive(ws: ClientConnection) -> dict[str, Any]:
    """The next frame as JSON (10 s is a hang guard, not a speed requirement)."""
    frame = ws.recv(timeout=10)
    assert isinstance(frame, str), frame
    message: dict[str, Any] = json.loads(frame)
    return message


def open_client(url: str, subprotocol: str | None = JSON) -> tuple[ClientConnection, dict[str, Any]]:
    ws = dial(url, subprotocol)
    if subprotocol is None:
        return ws, {}
    return ws, receive(ws)


def wait_for(predicate: Any) -> None:
    """Wait for another thread's work to show (a hang guard, not a timing assertion)."""
    deadline = time.monotonic() + 10
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


# --- the client endpoint refuses what the service refuses ------------------------------------


def _refused(url: str) -> int:
    with pytest.raises(InvalidStatus) as refused:
        connect(url, subprotocols=[JSON])  # type: ignore[list-item]
    return int(refused.value.response.status_code)


def test_client_token_signed_with_another_key_is_refused_with_401(service: LocalWebPubSub) -> None:
    from azure.messaging.webpubsubservice import WebPubSubServiceClient

    other = WebPubSubServiceClient.from_connection_string(
        f"Endpoint={service.endpoint};AccessKey=not-the-key-0123456789abcdefghij;Version=1.0;", hub=HUB
    )
    assert _refused(url_for(other)) == 401
    assert "not valid" in service.refused_clients[-1][1]


def test_client_token_for_another_hub_or_expired_or_missing_is_refused(
    service: LocalWebPubSub, sdk: Any
) -> None:
    other_hub = url_for(sdk).replace(f"/client/hubs/{HUB}?", "/client/hubs/otherhub?")
    assert _refused(other_hub) == 401
    assert "audience" in service.refused_clients[-1][1]

    now = int(time.time())
    expired = jwt.encode(
        {"aud": f"{service.endpoint}/client/hubs/{HUB}", "iat": now - 120, "exp": now - 60, "sub": "u1"},
        service.access_key.encode(),
        algorithm="HS256",
    )
    assert _refused(f"ws://127.0.0.1:{service.port}/client/hubs/{HUB}?access_token={expired}") == 401
    assert "expired" in service.refused_clients[-1][1]

    assert _refused(f"ws://127.0.0.1:{service.port}/client/hubs/{HUB}") == 401
    assert service.connections() == []


def test_the_token_can_also_come_in_the_authorization_header(service: LocalWebPubSub, sdk: Any) -> None:
    token = sdk.get_client_access_token(user_id="u1", groups=["g"])["token"]
    ws = dial(
        f"ws://127.0.0.1:{service.port}/client/hubs/{HUB}",
        additional_headers={"Authorization": f"Bearer {token}"},
    )
    assert receive(ws)["event"] == "connected"


# --- json.webpubsub.azure.v1 ------------------------------------------------------------------


def test_connected_then_group_messages_of_the_token_groups_only(service: LocalWebPubSub, sdk: Any) -> None:
    ws, connected = open_client(url_for(sdk, "u1", ["staff"]))
    with ws:
        assert connected["type"] == "system" and connected["event"] == "connected"
        assert connected["userId"] == "u1" and connected["connectionId"]
        assert "reconnectionToken" not in connected  # only the reliable protocol has one
        assert ws.subprotocol == JSON
        sdk.send_to_group("other", {"id": 1}, content_type="application/json")
        sdk.send_to_group("staff", {"id": 2}, content_type="application/json")
        sdk.send_to_group("staff", "plain", content_type="text/plain")
        assert receive(ws) == {
            "type": "message",
            "from": "group",
            "group": "staff",
            "dataType": "json",
            "data": {"id": 2},
        }
        assert receive(ws) == {
            "type": "message",
            "from": "group",
            "group": "staff",
            "dataType": "text",
            "data": "plain",
        }
        sdk.send_to_user("u1", {"to": "user"}, content_type="application/json")
        assert receive(ws) == {
            "type": "message",
            "from": "server",
            "dataType": "json",
            "data": {"to": "user"},
        }
        sdk.send_to_all({"to": "all"}, content_type="application/json")
        assert receive(ws)["data"] == {"to": "all"}


def test_a_client_without_roles_cannot_join_leave_or_send_to_a_group(
    service: LocalWebPubSub, sdk: Any
) -> None:
    ws, _ = open_client(url_for(sdk, "u1", ["user.u1"]))
    with ws:
        ws.send(json.dumps({"type": "joinGroup", "group": "staff", "ackId": 1}))
        ack = receive(ws)
        assert ack["type"] == "ack" and ack["ackId"] == 1 and ack["success"] is False
        assert ack["error"]["name"] == "Forbidden"
        ws.send(
            json.dumps(
                {"type": "sendToGroup", "group": "user.u1", "dataType": "json", "data": {}, "ackId": 2}
            )
        )
        assert receive(ws)["error"]["name"] == "Forbidden"
        ws.send(json.dumps({"type": "leaveGroup", "group": "user.u1", "ackId": 3}))
        assert receive(ws)["error"]["name"] == "Forbidden"
        # Still not in staff, still in its own group.
        sdk.send_to_group("staff", {"id": 1}, content_type="application/json")
        sdk.send_to_group("user.u1", {"id": 2}, content_type="application/json")
        assert receive(ws)["data"] == {"id": 2}
    assert sdk.group_exists("staff") is False


def test_roles_allow_joining_and_sending_and_duplicate_ack_ids_are_flagged(
    service: LocalWebPubSub, sdk: Any
) -> None:
    sender, _ = open_client(
        url_for(sdk, "s", roles=["webpubsub.joinLeaveGroup.room", "webpubsub.sendToGroup"])
    )
    listener, _ = open_client(url_for(sdk, "l", ["room"]))
    with sender, listener:
        sender.send(json.dumps({"type": "joinGroup", "group": "other", "ackId": 1}))
        assert receive(sender)["error"]["name"] == "Forbidden"  # the role names one group only
        sender.send(json.dumps({"type": "joinGroup", "group": "room", "ackId": 2}))
        assert receive(sender) == {"type": "ack", "ackId": 2, "success": True}
        sender.send(
            json.dumps(
                {
                    "type": "sendToGroup",
                    "group": "room",
                    "dataType": "json",
                    "data": {"x": 1},
                    "ackId": 3,
                    "noEcho": True,
                }
            )
        )
        assert receive(sender) == {"type": "ack", "ackId": 3, "success": True}
        got = receive(listener)
        assert got == {
            "type": "message",
            "from": "group",
            "group": "room",
            "fromUserId": "s",
            "dataType": "json",
            "data": {"x": 1},
        }
        sender.send(
            json.dumps(
                {"type": "sendToGroup", "group": "room", "dataType": "json", "data": {"x": 1}, "ackId": 3}
            )
        )
        assert receive(sender)["error"]["name"] == "Duplicate"
        sender.send(
            json.dumps({"type": "event", "event": "hello", "dataType": "text", "data": "hi", "ackId": 4})
        )
        assert receive(sender)["success"] is False  # no upstream event handler here
        sender.send(json.dumps({"type": "ping"}))
        assert receive(sender) == {"type": "pong"}


def test_a_simple_websocket_client_gets_only_the_data(service: LocalWebPubSub, sdk: Any) -> None:
    ws, _ = open_client(url_for(sdk, "u1", ["staff"]), subprotocol=None)
    with ws:
        assert ws.subprotocol is None
        sdk.send_to_group("staff", {"id": 7}, content_type="application/json")
        assert json.loads(ws.recv(timeout=10)) == {"id": 7}


# --- json.reliable.webpubsub.azure.v1 ---------------------------------------------------------


def test_reliable_sequence_ids_and_recovery_resends_what_was_not_acked(
    service: LocalWebPubSub, sdk: Any
) -> None:
    url = url_for(sdk, "u1", ["staff"])
    ws, connected = open_client(url, RELIABLE)
    cid, reconnect = connected["connectionId"], connected["reconnectionToken"]
    assert reconnect
    for n in (1, 2, 3):
        sdk.send_to_group("staff", {"id": n}, content_type="application/json")
    assert [receive(ws)["sequenceId"] for _ in range(3)] == [1, 2, 3]
    ws.send(json.dumps({"type": "sequenceAck", "sequenceId": 2}))
    wait_for(lambda: list(service.connections()[0].unacked) == [3])

    assert service.drop_connections("u1") == 1  # the network goes away, no close frame
    wait_for(lambda: service.connections()[0].socket is None)
    sdk.send_to_group("staff", {"id": 4}, content_type="application/json")  # sent while away

    recovered, again = open_client(
        f"{url}&awps_connection_id={cid}&awps_reconnection_token={reconnect}", RELIABLE
    )
    with recovered:
        assert again["connectionId"] == cid
        resent = [receive(recovered) for _ in range(2)]
        assert [(m["sequenceId"], m["data"]) for m in resent] == [(3, {"id": 3}), (4, {"id": 4})]
    ws.close()


def test_recovery_with_a_wrong_token_or_after_the_window_is_closed_with_1008(
    service: LocalWebPubSub, sdk: Any, clock: FrozenClock
) -> None:
    url = url_for(sdk, "u1", ["staff"])
    ws, connected = open_client(url, RELIABLE)
    cid = connected["connectionId"]
    service.drop_connections("u1")
    wait_for(lambda: service.connections()[0].socket is None)

    bad = dial(f"{url}&awps_connection_id={cid}&awps_reconnection_token=guess", RELIABLE)
    with pytest.raises(ConnectionClosed) as closed:
        bad.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008

    clock.now += service.recovery_seconds + 1
    assert service.connections() == []  # forgotten: a late recovery cannot succeed either
    late = dial(
        f"{url}&awps_connection_id={cid}&awps_reconnection_token={connected['reconnectionToken']}", RELIABLE
    )
    with pytest.raises(ConnectionClosed) as closed:
        late.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    ws.close()


# --- the service side ---------------------------------------------------------------------------


def test_closing_a_users_connections_says_why_and_closes_with_1008(service: LocalWebPubSub, sdk: Any) -> None:
    mine, _ = open_client(url_for(sdk, "u1", ["staff"]), RELIABLE)
    theirs, _ = open_client(url_for(sdk, "u2", ["staff"]))
    with theirs:
        assert sdk.user_exists("u1") is True
        sdk.close_user_connections("u1", reason="Access changed; reconnect.")
        assert receive(mine) == {
            "type": "system",
            "event": "disconnected",
            "message": "Access changed; reconnect.",
        }
        with pytest.raises(ConnectionClosed) as closed:
            mine.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert service.closed_users == ["u1"]
        assert [c.user_id for c in service.connections()] == ["u2"]  # not recoverable, and u2 untouched
        assert sdk.user_exists("u1") is False


def test_rest_groups_users_and_connections(service: LocalWebPubSub, sdk: Any) -> None:
    ws, connected = open_client(url_for(sdk, "u1"))
    with ws:
        cid = connected["connectionId"]
        assert sdk.group_exists("room") is False
        sdk.add_user_to_group("room", "u1")
        assert sdk.group_exists("room") is True
        sdk.send_to_group("room", {"n": 1}, content_type="application/json")
        assert receive(ws)["data"] == {"n": 1}
        sdk.remove_user_from_group("room", "u1")
        assert sdk.group_exists("room") is False
        sdk.add_connection_to_group("room2", cid)
        sdk.send_to_group("room2", {"n": 2}, content_type="application/json", excluded=[cid])
        sdk.send_to_connection(cid, {"n": 3}, content_type="application/json")
        assert receive(ws)["data"] == {"n": 3}  # the excluded message never came
        assert sdk.connection_exists(cid) is True
        sdk.close_connection(cid, reason="bye")
        assert receive(ws)["event"] == "disconnected"
        assert sdk.connection_exists(cid) is False


def test_rest_calls_need_a_valid_signature_audience_and_api_version(service: LocalWebPubSub) -> None:
    base = f"{service.endpoint}/api/hubs/{HUB}/groups/staff/:send"

    def bearer(key: str, aud: str, exp_in: int = 60) -> dict[str, str]:
        now = int(time.time())
        token = jwt.encode({"aud": aud, "iat": now, "exp": now + exp_in}, key.encode(), algorithm="HS256")
        return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    url = f"{base}?api-version=2024-12-01"
    assert requests.post(url, data="{}", timeout=10).status_code == 401
    assert (
        requests.post(
            url, data="{}", headers=bearer("wrong-key-0123456789abcdefghijklmnop", url), timeout=10
        ).status_code
        == 401
    )
    assert (
        requests.post(url, data="{}", headers=bearer(service.access_key, base), timeout=10).status_code == 401
    )
    assert (
        requests.post(url, data="{}", headers=bearer(service.access_key, url, -30), timeout=10).status_code
        == 401
    )
    assert (
        requests.post(base, data="{}", headers=bearer(service.access_key, base), timeout=10).status_code
        == 400
    )
    good = bearer(service.access_key, url)
    assert requests.post(url, data="{nope", headers=good, timeout=10).status_code == 400
    assert (
        requests.post(url, data="{}", headers={**good, "Content-Type": "text/html"}, timeout=10).status_code
        == 415
    )
    assert requests.post(url, data='{"id": 1}', headers=good, timeout=10).status_code == 202
    assert service.group_messages("staff") == [{"id": 1}]
    assert [status for status, _ in service.rejected] == [401, 401, 401, 401, 400, 400, 415]


def test_refuse_and_drop_hooks_over_http(service: LocalWebPubSub, sdk: Any) -> None:
    assert (
        requests.post(f"{service.endpoint}/_local/refuse-clients?status=503", timeout=10).status_code == 200
    )
    assert _refused(url_for(sdk)) == 503
    requests.post(f"{service.endpoint}/_local/accept-clients", timeout=10)
    ws, _ = open_client(url_for(sdk, "u1"))
    dropped = requests.post(f"{service.endpoint}/_local/drop?user=u1", timeout=10).json()
    assert dropped == {"dropped": 1}
    with pytest.raises(ConnectionClosed):
        ws.recv(timeout=10)


def test_odata_filters_choose_the_receiving_connections(service: LocalWebPubSub, sdk: Any) -> None:
    u1, _ = open_client(url_for(sdk, "u1", ["staff"]))
    u2, _ = open_client(url_for(sdk, "u2", ["staff", "vip"]))
    sdk.send_to_group("staff", {"id": 1}, content_type="application/json", filter="userId ne 'u1'")
    sdk.send_to_group(
        "staff",
        {"id": 2},
        content_type="application/json",
        filter="not ('vip' in groups) or userId eq 'nobody'",
    )
    sdk.send_to_all({"id": 3}, content_type="application/json", filter="userId eq 'u2' and 'vip' in groups")
    assert receive(u1)["data"] == {"id": 2}
    assert receive(u2)["data"] == {"id": 1}
    assert receive(u2)["data"] == {"id": 3}
    assert service.delivered_to("staff", "u1") == [2]

    from azure.core.exceptions import HttpResponseError

    with pytest.raises(HttpResponseError) as refused:
        sdk.send_to_group("staff", {"id": 4}, content_type="application/json", filter="role eq 'x'")
    assert refused.value.status_code == 400
