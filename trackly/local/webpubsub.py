"""A local Azure Web PubSub service on 127.0.0.1: what `make run` and the tests use instead of Azure.

Development only: `python -m trackly serve` starts it when no Web PubSub is configured, and the
tests start their own. function_app.py never imports it (the Function App talks to the real
service through the SDK). One port serves both sides of the service, like the real one:

Server side (REST, what `azure-messaging-webpubsubservice` calls). Every call needs
`?api-version=` (400) and an `Authorization: Bearer` HS256 JWT signed with the AccessKey (its
UTF-8 bytes) whose `aud` is the exact request URL including the query string and whose `exp` is
in the future (401 otherwise):

    POST   /api/hubs/{hub}/:send                                 -> 202  to every connection
    POST   /api/hubs/{hub}/groups/{group}/:send                  -> 202  to a group
    POST   /api/hubs/{hub}/users/{user}/:send                    -> 202  to a user's connections
    POST   /api/hubs/{hub}/connections/{id}/:send                -> 202  to one connection
    PUT    /api/hubs/{hub}/users/{user}/groups/{group}           -> 200  user joins (now and later)
    DELETE /api/hubs/{hub}/users/{user}/groups/{group}           -> 204
    DELETE /api/hubs/{hub}/users/{user}/groups                   -> 204  user leaves every group
    PUT    /api/hubs/{hub}/groups/{group}/connections/{id}       -> 200 / 404
    DELETE /api/hubs/{hub}/groups/{group}/connections/{id}       -> 200
    HEAD   /api/hubs/{hub}/groups/{group}                        -> 200 (has connections) / 404
    HEAD   /api/hubs/{hub}/users/{user}                          -> 200 (connected) / 404
    HEAD   /api/hubs/{hub}/connections/{id}                      -> 200 / 404
    DELETE /api/hubs/{hub}/connections/{id}                      -> 204  close one connection
    POST   /api/hubs/{hub}/:closeConnections                     -> 204  close all (`excluded`)
    POST   /api/hubs/{hub}/users/{user}/:closeConnections        -> 204  close a user's
    POST   /api/hubs/{hub}/groups/{group}/:closeConnections      -> 204  close a group's

Sends honour `excluded=<connection id>` and an OData `filter` over `userId`, `connectionId` and
`groups` (`eq`, `ne`, `'<group>' in groups`, `not`, `and`, `or`, parentheses; anything else is 400).
Bodies: application/json, text/plain or application/octet-stream (415 otherwise).

Client side: `ws://host:port/client/hubs/{hub}?access_token=<jwt>` (or `Authorization: Bearer`).
The token must be signed with the AccessKey, have `aud` = `<endpoint>/client/hubs/{hub}` and an
unexpired `exp`, or the handshake is refused with HTTP 401 (as the service does). The connection
joins the groups of the `webpubsub.group` claim; `sub` is its user id; `role` its permissions.
Subprotocols `json.reliable.webpubsub.azure.v1` and `json.webpubsub.azure.v1`:

- on connect: `{"type":"system","event":"connected","userId","connectionId"}` (+ `reconnectionToken`
  with the reliable protocol);
- messages: `{"type":"message","from":"group","group","fromUserId"?,"dataType","data"}` or
  `"from":"server"`; the reliable protocol adds `sequenceId` (1, 2, ...) and keeps each message
  until the client's `{"type":"sequenceAck","sequenceId"}` covers it;
- `joinGroup`/`leaveGroup` need role `webpubsub.joinLeaveGroup[.<group>]`, `sendToGroup` needs
  `webpubsub.sendToGroup[.<group>]`, otherwise the `ack` says `Forbidden`; a repeated `ackId`
  is acked with `Duplicate`; `ping` gets `pong`; `event` is acked with an error (no upstream
  event handler exists here);
- a dropped reliable connection can be recovered for RECOVERY_SECONDS with
  `awps_connection_id` + `awps_reconnection_token`: unacknowledged messages, including those
  sent while it was away, are sent again in order; an unknown or expired one is closed with 1008;
- the service closing a connection (REST) sends `{"type":"system","event":"disconnected",
  "message"}` and closes with 1008, so clients negotiate again instead of recovering.

Without a subprotocol the connection is a simple WebSocket client: it receives only the data
(a text frame for json/text, a binary frame for binary).

Test hooks: `fail_with(status)`/`recover()` for REST calls, `refuse_clients(status)`/
`accept_clients()` for new WebSocket connections, `drop_connections(user_id)` (the TCP connection
goes away without a close frame, like a network cut); the same over HTTP under `/_local/`
(`GET /_local/messages` lists every accepted REST message).

Standalone: `python -m trackly.local.webpubsub --port 7081`.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import json
import logging
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt

from trackly.local.loopback import PortTaken, port_is_free

if TYPE_CHECKING:
    from websockets.sync.connection import Connection

log = logging.getLogger(__name__)

# A well-known development key, like Azurite's: the service listens on loopback only.
DEFAULT_ACCESS_KEY = "local-webpubsub-access-key-0123456789abcdefghijklmnopqrstuvwxyz"
DEFAULT_PORT = 7081
RELIABLE = "json.reliable.webpubsub.azure.v1"
JSON = "json.webpubsub.azure.v1"
SUBPROTOCOLS = (RELIABLE, JSON)
RECOVERY_SECONDS = 60.0  # clients retry recovery for about a minute, then reconnect from scratch
POLICY_VIOLATION = 1008

_H = r"(?P<hub>[^/]+)"
_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (verb, re.compile("^/api/hubs/" + _H + pattern + "$"), name)
    for verb, pattern, name in [
        ("POST", r"/:send", "send_all"),
        ("POST", r"/groups/(?P<group>[^/]+)/:send", "send_group"),
        ("POST", r"/users/(?P<user>[^/]+)/:send", "send_user"),
        ("POST", r"/connections/(?P<connection>[^/]+)/:send", "send_connection"),
        ("PUT", r"/users/(?P<user>[^/]+)/groups/(?P<group>[^/]+)", "add_user"),
        ("DELETE", r"/users/(?P<user>[^/]+)/groups/(?P<group>[^/]+)", "remove_user"),
        ("DELETE", r"/users/(?P<user>[^/]+)/groups", "remove_user_everywhere"),
        ("PUT", r"/groups/(?P<group>[^/]+)/connections/(?P<connection>[^/]+)", "add_connection"),
        ("DELETE", r"/groups/(?P<group>[^/]+)/connections/(?P<connection>[^/]+)", "remove_connection"),
        ("HEAD", r"/groups/(?P<group>[^/]+)", "group_exists"),
        ("HEAD", r"/users/(?P<user>[^/]+)", "user_exists"),
        ("HEAD", r"/connections/(?P<connection>[^/]+)", "connection_exists"),
        ("DELETE", r"/connections/(?P<connection>[^/]+)", "close_connection"),
        ("POST", r"/:closeConnections", "close_all"),
        ("POST", r"/users/(?P<user>[^/]+)/:closeConnections", "close_user"),
        ("POST", r"/groups/(?P<group>[^/]+)/:closeConnections", "close_group"),
    ]
]
_CLIENT_PATH = re.compile(r"^/client/hubs/(?P<hub>[^/]+)/?$")
_SEND_KINDS = {"send_all": "all", "send_group": "group", "send_user": "user", "send_connection": "connection"}


@dataclass
class Received:
    """One message the REST API accepted."""

    hub: str
    kind: str  # "all", "group", "user" or "connection"
    target: str | None
    content_type: str
    body: Any
    at: float = field(default_factory=time.time)
    filter: str | None = None  # the OData `filter` query parameter of the send, if any


@dataclass
class ClientConnection:
    """One client connection (a session, which outlives its socket while it can be recovered)."""

    id: str
    hub: str
    user_id: str | None
    roles: frozenset[str]
    subprotocol: str | None
    groups: set[str] = field(default_factory=set)
    reconnection_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    socket: Connection | None = None
    detached_at: float | None = None
    next_sequence: int = 1
    unacked: dict[int, str] = field(default_factory=dict)  # sequence id -> frame (reliable only)
    ack_ids: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    closed_by_service: bool = False

    @property
    def reliable(self) -> bool:
        return self.subprotocol == RELIABLE

    def deliver(self, envelope: dict[str, Any], raw: str | bytes) -> None:
        """Send one message: the envelope on a subprotocol, the bare data to a simple client."""
        with self.lock:
            if self.subprotocol is None:
                self._send(raw)
                return
            if self.reliable:
                envelope = {**envelope, "sequenceId": self.next_sequence}
                frame = json.dumps(envelope)
                self.unacked[self.next_sequence] = frame
                self.next_sequence += 1
            else:
                frame = json.dumps(envelope)
            self._send(frame)

    def send_frame(self, frame: str) -> None:
        with self.lock:
            self._send(frame)

    def acknowledge(self, sequence_id: int) -> None:
        with self.lock:
            for seq in [s for s in self.unacked if s <= sequence_id]:
                del self.unacked[seq]

    def attach_locked(self, ws: Connection, connected: str) -> None:
        """Bind a (new) socket, with `self.lock` held: the connected message first (a simple
        client gets none), then whatever is unacknowledged."""
        self.socket, self.detached_at = ws, None
        if self.subprotocol is not None:
            self._send(connected)
        for seq in sorted(self.unacked):
            self._send(self.unacked[seq])

    def _send(self, data: str | bytes) -> None:
        ws = self.socket
        if ws is None:
            return  # away: a reliable connection gets it again from `unacked` when it recovers
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed, OSError):
            ws.send(data)


class LocalWebPubSub:
    """`with LocalWebPubSub() as service: ...` or `start()`/`stop()`."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        access_key: str = DEFAULT_ACCESS_KEY,
        audience_endpoint: str | None = None,
        echo: bool = False,
        recovery_seconds: float = RECOVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.access_key = access_key
        self.echo = echo
        self.recovery_seconds = recovery_seconds
        self._clock = clock
        self._lock = threading.RLock()
        self.received: list[Received] = []
        self.closed_users: list[str] = []  # users whose connections the app closed
        self.rejected: list[tuple[int, str]] = []  # (status, reason) of refused REST calls
        self.refused_clients: list[tuple[int, str]] = []  # (status, reason) of refused handshakes
        self.calls = 0
        self._failure: tuple[int, str | None] | None = None
        self._client_failure: int | None = None
        self._connections: dict[str, ClientConnection] = {}
        self._user_groups: dict[tuple[str, str], set[str]] = {}  # (hub, user) -> groups (REST)
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self.host = host
        self.port = self._server.server_address[1]
        self.endpoint = f"http://{host}:{self.port}"
        # The endpoint token audiences must name (a production-shaped one when the SDK is used
        # with reverse_proxy_endpoint pointing here).
        self.audience_endpoint = (audience_endpoint or self.endpoint).rstrip("/")
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------
    @property
    def connection_string(self) -> str:
        return f"Endpoint={self.endpoint};AccessKey={self.access_key};Version=1.0;"

    def start(self) -> LocalWebPubSub:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="local-webpubsub", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._close_where(lambda c: True, "The service is stopping.")
        self._server.server_close()

    def __enter__(self) -> LocalWebPubSub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- test hooks ----------------------------------------------------------------------------
    def fail_with(self, status: int, *, group: str | None = None) -> None:
        """Answer every REST call (or only sends to `group`) with `status` until `recover()`."""
        with self._lock:
            self._failure = (status, group)

    def recover(self) -> None:
        with self._lock:
            self._failure = None

    def refuse_clients(self, status: int = 503) -> None:
        """Refuse new WebSocket connections with `status` until `accept_clients()`."""
        with self._lock:
            self._client_failure = status

    def accept_clients(self) -> None:
        with self._lock:
            self._client_failure = None

    def drop_connections(self, user_id: str | None = None) -> int:
        """Cut the TCP connection of every socket (of `user_id`) with no close frame, as a network
        failure would. Reliable connections stay recoverable. Returns how many were cut."""
        with self._lock:
            sockets = [
                c.socket
                for c in self._connections.values()
                if c.socket is not None and (user_id is None or c.user_id == user_id)
            ]
        for ws in sockets:
            with contextlib.suppress(OSError):
                ws.socket.shutdown(socket.SHUT_RDWR)
        return len(sockets)

    def reset(self) -> None:
        """Forget what was received and close every client connection."""
        self._close_where(lambda c: True, "The service was reset.")
        with self._lock:
            self.received.clear()
            self.closed_users.clear()
            self.rejected.clear()
            self.refused_clients.clear()
            self._connections.clear()
            self._user_groups.clear()
            self._failure = None
            self._client_failure = None
            self.calls = 0

    # --- what was received -------------------------------------------------------------------
    def group_messages(self, group: str) -> list[Any]:
        with self._lock:
            return [r.body for r in self.received if r.kind == "group" and r.target == group]

    def group_ids(self, group: str) -> list[int]:
        return [m["id"] for m in self.group_messages(group)]

    def delivered_to(self, group: str, user_id: str) -> list[int]:
        """Ids of the messages to `group` that a connection of `user_id` in it would receive
        (the send's filter applied)."""
        with self._lock:
            sent = [r for r in self.received if r.kind == "group" and r.target == group]
        probe = ClientConnection(id="probe", hub="", user_id=user_id, roles=frozenset(), subprotocol=None)
        probe.groups.add(group)
        return [r.body["id"] for r in sent if r.filter is None or ODataFilter(r.filter).matches(probe)]

    def groups_received(self) -> set[str]:
        with self._lock:
            return {r.target for r in self.received if r.kind == "group" and r.target}

    def connections(self, *, user_id: str | None = None) -> list[ClientConnection]:
        """Live and recoverable connections (of one user)."""
        with self._lock:
            self._expire()
            return [c for c in self._connections.values() if user_id is None or c.user_id == user_id]

    # --- delivery ----------------------------------------------------------------------------
    def _targets(
        self, hub: str, kind: str, target: str | None, excluded: set[str], odata: ODataFilter | None
    ) -> list[ClientConnection]:
        with self._lock:
            self._expire()
            found = []
            for c in self._connections.values():
                if c.hub != hub or c.id in excluded or (odata is not None and not odata.matches(c)):
                    continue
                if (
                    kind == "all"
                    or (kind == "group" and target in c.groups)
                    or (kind == "user" and c.user_id == target)
                    or (kind == "connection" and c.id == target)
                ):
                    found.append(c)
            return found

    def _publish(
        self,
        hub: str,
        kind: str,
        target: str | None,
        data_type: str,
        data: Any,
        *,
        excluded: set[str] = frozenset(),  # type: ignore[assignment]
        from_user: str | None = None,
        odata: ODataFilter | None = None,
    ) -> None:
        if data_type == "binary":
            wire: Any = base64.b64encode(data).decode()
            raw: str | bytes = data
        else:
            wire = data
            raw = json.dumps(data) if data_type == "json" else data
        envelope: dict[str, Any] = {"type": "message"}
        if kind == "group":
            envelope.update({"from": "group", "group": target})
            if from_user is not None:
                envelope["fromUserId"] = from_user
        else:
            envelope["from"] = "server"
        envelope.update({"dataType": data_type, "data": wire})
        for connection in self._targets(hub, kind, target, excluded, odata):
            connection.deliver(envelope, raw)

    def _close_where(self, predicate: Callable[[ClientConnection], bool], reason: str) -> int:
        """Close matching connections as the service does: a disconnected message, then 1008.
        They are gone (not recoverable)."""
        with self._lock:
            doomed = [c for c in self._connections.values() if predicate(c)]
            for c in doomed:
                c.closed_by_service = True
                self._connections.pop(c.id, None)
        for c in doomed:
            if c.subprotocol is not None:
                c.send_frame(json.dumps({"type": "system", "event": "disconnected", "message": reason}))
            ws = c.socket
            if ws is not None:
                with contextlib.suppress(Exception):  # already gone
                    ws.close(POLICY_VIOLATION, reason[:120])
        return len(doomed)

    def _expire(self) -> None:
        """Forget reliable connections that were not recovered in time (call with the lock)."""
        now = self._clock()
        for cid in [
            c.id
            for c in self._connections.values()
            if c.detached_at is not None and now - c.detached_at > self.recovery_seconds
        ]:
            del self._connections[cid]

    # --- REST ----------------------------------------------------------------------------------
    def _handle_rest(self, method: str, raw_path: str, headers: Any, raw: bytes) -> tuple[int, bytes]:
        with self._lock:
            self.calls += 1
            failure = self._failure
        parts = urlsplit(raw_path)
        route = next(
            ((name, m) for verb, rx, name in _ROUTES if verb == method and (m := rx.match(parts.path))),
            None,
        )
        if route is None:
            return self._refuse(404, f"No such operation: {method} {parts.path}")
        name, match = route
        reason = self._check_server_token(headers.get("Authorization"), raw_path)
        if reason:
            return self._refuse(401, reason)
        query = parse_qs(parts.query)
        if "api-version" not in query:
            return self._refuse(400, "The api-version query parameter is required.")
        params = {k: unquote(v) for k, v in match.groupdict().items()}
        if failure is not None and (failure[1] is None or failure[1] == params.get("group")):
            return self._refuse(failure[0], "Failing on purpose (fail_with).")
        hub = params["hub"]
        excluded = set(query.get("excluded", []))
        if name in _SEND_KINDS:
            raw_filter = query["filter"][0] if "filter" in query else None
            try:
                odata = ODataFilter(raw_filter) if raw_filter is not None else None
            except ValueError as exc:
                return self._refuse(400, f"Invalid filter {raw_filter!r}: {exc}")
            ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
            body: Any
            if ctype == "application/json":
                try:
                    body = json.loads(raw)
                except ValueError:
                    return self._refuse(400, "The body is not valid JSON.")
                data_type = "json"
            elif ctype == "text/plain":
                body, data_type = raw.decode("utf-8", "replace"), "text"
            elif ctype == "application/octet-stream":
                body, data_type = raw, "binary"
            else:
                return self._refuse(415, f"Unsupported content type {ctype!r}.")
            kind = _SEND_KINDS[name]
            target = params.get("group") or params.get("user") or params.get("connection")
            with self._lock:
                self.received.append(Received(hub, kind, target, ctype, body, filter=raw_filter))
            if self.echo:
                print(f"[web pubsub] {kind} {target or hub}: {_summary(body)}", flush=True)
            self._publish(hub, kind, target, data_type, body, excluded=excluded, odata=odata)
            return 202, b""
        return self._manage(name, hub, params, query, excluded)

    def _manage(
        self, name: str, hub: str, params: dict[str, str], query: dict[str, list[str]], excluded: set[str]
    ) -> tuple[int, bytes]:
        user, group, cid = params.get("user"), params.get("group"), params.get("connection")
        reason = (query.get("reason") or ["Closed by the server."])[0]
        with self._lock:
            self._expire()
            connection = self._connections.get(cid or "")
            if name == "add_user":
                self._user_groups.setdefault((hub, user or ""), set()).add(group or "")
                for c in self._connections.values():
                    if c.hub == hub and c.user_id == user:
                        c.groups.add(group or "")
                return 200, b""
            if name in ("remove_user", "remove_user_everywhere"):
                mine = self._user_groups.get((hub, user or ""), set())
                for c in self._connections.values():
                    if c.hub == hub and c.user_id == user:
                        if group is None:
                            c.groups.clear()
                        else:
                            c.groups.discard(group)
                if group is None:
                    mine.clear()
                else:
                    mine.discard(group)
                return 204, b""
            if name == "add_connection":
                if connection is None or connection.hub != hub:
                    return self._refuse(404, f"There is no connection {cid}.")
                connection.groups.add(group or "")
                return 200, b""
            if name == "remove_connection":
                if connection is not None and connection.hub == hub:
                    connection.groups.discard(group or "")
                return 200, b""
            if name == "group_exists":
                found = any(c.hub == hub and group in c.groups for c in self._connections.values())
                return (200 if found else 404), b""
            if name == "user_exists":
                found = any(c.hub == hub and c.user_id == user for c in self._connections.values())
                return (200 if found else 404), b""
            if name == "connection_exists":
                return (200 if connection is not None and connection.hub == hub else 404), b""
            if name == "close_user":
                self.closed_users.append(user or "")
        if name == "close_connection":
            self._close_where(lambda c: c.hub == hub and c.id == cid, reason)
        elif name == "close_all":
            self._close_where(lambda c: c.hub == hub and c.id not in excluded, reason)
        elif name == "close_user":
            self._close_where(lambda c: c.hub == hub and c.user_id == user and c.id not in excluded, reason)
        elif name == "close_group":
            self._close_where(lambda c: c.hub == hub and group in c.groups and c.id not in excluded, reason)
        return 204, b""

    def _refuse(self, status: int, reason: str) -> tuple[int, bytes]:
        with self._lock:
            self.rejected.append((status, reason))
        return status, json.dumps({"code": str(status), "message": reason}).encode()

    def _check_server_token(self, authorization: str | None, raw_path: str) -> str | None:
        """None when the bearer token is valid for this exact URL, otherwise why not."""
        if not authorization or not authorization.startswith("Bearer "):
            return "A bearer token is required."
        token = authorization[len("Bearer ") :].strip()
        return self._check_token(token, self.audience_endpoint + raw_path)[1]

    def _check_token(self, token: str, audience: str) -> tuple[dict[str, Any], str | None]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.access_key.encode("utf-8"),
                algorithms=["HS256"],
                audience=audience,
                options={"require": ["exp", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            return {}, "The token has expired."
        except jwt.InvalidAudienceError:
            return {}, f"The token audience is not {audience}."
        except jwt.InvalidTokenError as exc:
            return {}, f"The token is not valid: {exc}."
        return claims, None

    # --- WebSocket clients ---------------------------------------------------------------------
    def _open_client(self, handler: BaseHTTPRequestHandler, hub: str) -> None:
        """The client endpoint: check the token, complete the handshake (websockets' Sans-I/O
        protocol on the socket the HTTP server accepted), then serve the connection."""
        from websockets.http11 import Request, Response
        from websockets.server import ServerProtocol
        from websockets.sync.connection import Connection
        from websockets.typing import Subprotocol

        def choose(_: ServerProtocol, offered: Sequence[Subprotocol]) -> Subprotocol | None:
            # Ours first; anything else (or nothing) makes a simple WebSocket client.
            return next((Subprotocol(s) for s in SUBPROTOCOLS if s in offered), None)

        protocol = ServerProtocol(
            subprotocols=[Subprotocol(s) for s in SUBPROTOCOLS], select_subprotocol=choose, max_size=1 << 20
        )
        head = f"{handler.requestline}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in handler.headers.items())
        protocol.receive_data((head + "\r\n").encode("latin-1"))
        request = protocol.events_received()[0]
        assert isinstance(request, Request)  # the head just fed in is a complete request
        query = parse_qs(urlsplit(handler.path).query)
        status, reason, claims = self._admit(hub, query, request.headers)
        sock = handler.connection
        handler.close_connection = True

        def answer(response: Response) -> None:
            protocol.send_response(response)
            sock.sendall(b"".join(protocol.data_to_send()))

        if status != 101:
            with self._lock:
                self.refused_clients.append((status, reason))
            answer(protocol.reject(status, reason + "\n"))
            return
        response = protocol.accept(request)
        subprotocol = str(response.headers.get("Sec-WebSocket-Protocol") or "") or None
        # The session joins its groups before the client sees 101, and its lock is held until the
        # socket is bound: a message published the moment the handshake completes is delivered
        # (after the connected message), never dropped.
        connection = self._session_for(hub, query, claims, subprotocol)
        if connection is None:  # a recovery that cannot succeed
            answer(response)
            ws = Connection(sock, protocol, ping_interval=None, close_timeout=2)
            ws.close(POLICY_VIOLATION, "The connection cannot be recovered; connect again.")
            return
        connected: dict[str, Any] = {
            "type": "system",
            "event": "connected",
            "userId": connection.user_id,
            "connectionId": connection.id,
        }
        if connection.reliable:
            connected["reconnectionToken"] = connection.reconnection_token
        with connection.lock:
            answer(response)
            ws = Connection(sock, protocol, ping_interval=None, close_timeout=2)
            connection.attach_locked(ws, json.dumps(connected))
        self._serve_client(connection, ws)

    def _admit(self, hub: str, query: dict[str, list[str]], headers: Any) -> tuple[int, str, dict[str, Any]]:
        with self._lock:
            refuse = self._client_failure
        if refuse is not None:
            return refuse, "Refusing connections on purpose (refuse_clients).", {}
        token = (query.get("access_token") or [""])[0]
        authorization = headers.get("Authorization") or ""
        if not token and authorization.startswith("Bearer "):
            token = authorization[len("Bearer ") :].strip()
        if not token:
            return 401, "An access token is required.", {}
        claims, reason = self._check_token(token, f"{self.audience_endpoint}/client/hubs/{hub}")
        if reason:
            return 401, reason, {}
        return 101, "", claims

    def _session_for(
        self, hub: str, query: dict[str, list[str]], claims: dict[str, Any], subprotocol: str | None
    ) -> ClientConnection | None:
        recover_id = (query.get("awps_connection_id") or [""])[0]
        with self._lock:
            self._expire()
            if recover_id:
                token = (query.get("awps_reconnection_token") or [""])[0]
                found = self._connections.get(recover_id)
                if (
                    found is None
                    or not found.reliable
                    or found.hub != hub
                    or not secrets.compare_digest(found.reconnection_token, token)
                ):
                    return None
                old = found.socket
                found.socket = None
                if old is not None:
                    old.socket.close()
                return found
            user_id = str(claims["sub"]) if claims.get("sub") is not None else None
            connection = ClientConnection(
                id=uuid.uuid4().hex,
                hub=hub,
                user_id=user_id,
                roles=frozenset(_as_list(claims.get("role"))),
                subprotocol=subprotocol,
                groups=set(_as_list(claims.get("webpubsub.group")))
                | self._user_groups.get((hub, user_id or ""), set()),
            )
            self._connections[connection.id] = connection
            return connection

    def _serve_client(self, connection: ClientConnection, ws: Connection) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            for message in ws:
                if connection.subprotocol is None or not isinstance(message, str):
                    continue  # a simple client cannot send to anyone (no event handler here)
                self._on_client_message(connection, message)
        except ConnectionClosed:
            pass
        finally:
            self._detach(connection, ws)

    def _detach(self, connection: ClientConnection, ws: Connection) -> None:
        from websockets.frames import CloseCode

        with self._lock:
            if connection.socket is not ws:
                return  # replaced by a recovery
            connection.socket = None
            rcvd = ws.protocol.close_rcvd
            normal = rcvd is not None and rcvd.code == CloseCode.NORMAL_CLOSURE
            if connection.closed_by_service or normal or not connection.reliable:
                self._connections.pop(connection.id, None)
            else:
                connection.detached_at = self._clock()

    def _on_client_message(self, connection: ClientConnection, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        kind = message.get("type")
        ack_id = message.get("ackId")
        if kind == "sequenceAck" and connection.reliable and isinstance(message.get("sequenceId"), int):
            connection.acknowledge(message["sequenceId"])
            return
        if kind == "ping":
            connection.send_frame(json.dumps({"type": "pong"}))
            return
        if kind not in ("joinGroup", "leaveGroup", "sendToGroup", "event"):
            return  # forward compatible, as the service is
        if isinstance(ack_id, int):
            with connection.lock:
                duplicate = ack_id in connection.ack_ids
                connection.ack_ids.add(ack_id)
            if duplicate:
                self._ack(
                    connection, ack_id, "Duplicate", "The message with this ackId was already processed."
                )
                return
        group = message.get("group")
        if kind == "event":
            self._ack(
                connection, ack_id, "InternalServerError", "No event handler is configured for this hub."
            )
            return
        if not isinstance(group, str) or not group:
            self._ack(connection, ack_id, "BadRequest", "A group name is required.")
            return
        needed = (
            "webpubsub.joinLeaveGroup" if kind in ("joinGroup", "leaveGroup") else "webpubsub.sendToGroup"
        )
        if needed not in connection.roles and f"{needed}.{group}" not in connection.roles:
            self._ack(
                connection, ack_id, "Forbidden", f"The connection does not have permission to {kind} {group}."
            )
            return
        if kind == "joinGroup":
            with self._lock:
                connection.groups.add(group)
        elif kind == "leaveGroup":
            with self._lock:
                connection.groups.discard(group)
        else:
            data_type = str(message.get("dataType") or "json")
            data = message.get("data")
            if data_type == "binary" and isinstance(data, str):
                data = base64.b64decode(data)
            excluded = {connection.id} if message.get("noEcho") else set()
            self._publish(
                connection.hub,
                "group",
                group,
                data_type,
                data,
                excluded=excluded,
                from_user=connection.user_id,
            )
        self._ack(connection, ack_id, None, None)

    @staticmethod
    def _ack(connection: ClientConnection, ack_id: Any, error: str | None, detail: str | None) -> None:
        if not isinstance(ack_id, int):
            return
        ack: dict[str, Any] = {"type": "ack", "ackId": ack_id, "success": error is None}
        if error is not None:
            ack["error"] = {"name": error, "message": detail}
        connection.send_frame(json.dumps(ack))

    # --- HTTP ----------------------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                client = _CLIENT_PATH.match(path)
                if client and "websocket" in (self.headers.get("Upgrade") or "").lower():
                    service._open_client(self, unquote(client.group("hub")))
                    return
                if path in ("/_local/messages", "/_double/messages"):
                    with service._lock:
                        body = json.dumps([asdict(r) for r in service.received], default=_jsonable).encode()
                    self._reply(200, body)
                    return
                if path == "/_local/connections":
                    body = json.dumps(
                        [
                            {
                                "id": c.id,
                                "user_id": c.user_id,
                                "groups": sorted(c.groups),
                                "live": c.socket is not None,
                            }
                            for c in service.connections()
                        ]
                    ).encode()
                    self._reply(200, body)
                    return
                self._rest("GET")

            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                if parts.path.startswith("/_local/"):
                    self._control(parts.path, parse_qs(parts.query))
                    return
                self._rest("POST")

            def do_PUT(self) -> None:
                self._rest("PUT")

            def do_HEAD(self) -> None:
                self._rest("HEAD")

            def do_DELETE(self) -> None:
                self._rest("DELETE")

            def _control(self, path: str, query: dict[str, list[str]]) -> None:
                self._body()
                if path == "/_local/refuse-clients":
                    service.refuse_clients(int((query.get("status") or ["503"])[0]))
                    self._reply(200, b"{}")
                elif path == "/_local/accept-clients":
                    service.accept_clients()
                    self._reply(200, b"{}")
                elif path == "/_local/drop":
                    dropped = service.drop_connections((query.get("user") or [""])[0] or None)
                    self._reply(200, json.dumps({"dropped": dropped}).encode())
                else:
                    self._reply(404, json.dumps({"message": f"No such control {path}"}).encode())

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _rest(self, method: str) -> None:
                raw = self._body()
                status, body = service._handle_rest(method, self.path, self.headers, raw)
                self._reply(status, body)

            def _reply(self, status: int, body: bytes = b"") -> None:
                self.send_response(status)
                if body:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body and self.command != "HEAD":
                    self.wfile.write(body)

        return Handler


_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<word>[A-Za-z]+)|(?P<punct>[()]))")


class ODataFilter:
    """The subset of Web PubSub's OData filter syntax this service evaluates:
    `userId|connectionId eq|ne '<text>'`, `'<group>' in groups`, `not`, `and`, `or`, parentheses.
    Anything else raises ValueError (the service answers 400)."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None or match.end() == pos:
                if text[pos:].strip() == "":
                    break
                raise ValueError(f"unexpected text at {pos}")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            pos = match.end()
        self._i = 0
        self._tree = self._or()
        if self._i != len(self.tokens):
            raise ValueError("unexpected text after the expression")

    def matches(self, connection: ClientConnection) -> bool:
        return bool(self._eval(self._tree, connection))

    # recursive descent: or -> and -> not -> atom
    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self._i] if self._i < len(self.tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise ValueError("the expression ends too early")
        self._i += 1
        return token

    def _word(self, word: str) -> bool:
        token = self._peek()
        if token is not None and token[0] == "word" and token[1].lower() == word:
            self._i += 1
            return True
        return False

    def _or(self) -> Any:
        node = self._and()
        while self._word("or"):
            node = ("or", node, self._and())
        return node

    def _and(self) -> Any:
        node = self._not()
        while self._word("and"):
            node = ("and", node, self._not())
        return node

    def _not(self) -> Any:
        if self._word("not"):
            return ("not", self._not())
        return self._atom()

    def _atom(self) -> Any:
        kind, value = self._take()
        if (kind, value) == ("punct", "("):
            node = self._or()
            if self._take() != ("punct", ")"):
                raise ValueError("a parenthesis is not closed")
            return node
        if kind == "str":
            if not self._word("in") or self._take()[1] != "groups":
                raise ValueError("a string must be followed by `in groups`")
            return ("in", value[1:-1].replace("''", "'"))
        if kind == "word" and value in ("userId", "connectionId"):
            op = self._take()[1].lower()
            literal_kind, literal = self._take()
            if op not in ("eq", "ne") or literal_kind != "str":
                raise ValueError(f"{value} takes eq or ne and a quoted string")
            return (op, value, literal[1:-1].replace("''", "'"))
        raise ValueError(f"{value!r} is not supported here")

    def _eval(self, node: Any, c: ClientConnection) -> bool:
        op = node[0]
        if op == "or":
            return self._eval(node[1], c) or self._eval(node[2], c)
        if op == "and":
            return self._eval(node[1], c) and self._eval(node[2], c)
        if op == "not":
            return not self._eval(node[1], c)
        if op == "in":
            return bool(node[1] in c.groups)
        actual = c.user_id if node[1] == "userId" else c.id
        return bool((actual == node[2]) == (op == "eq"))


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _summary(body: Any) -> str:
    """One short line per message for the console: `issue_created #12 "title"` for an event."""
    if isinstance(body, dict) and "type" in body and "id" in body:
        title = ((body.get("data") or {}).get("issue") or {}).get("title")
        return f"{body['type']} #{body['id']}" + (f' "{str(title)[:60]}"' if title else "")
    if isinstance(body, bytes):
        return f"<{len(body)} bytes>"
    return json.dumps(body)[:120]


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(type(value).__name__)


def start_for_local_host(*, port: int | None = None) -> LocalWebPubSub | None:
    """What `python -m trackly serve` calls: when neither WEBPUBSUB_CONNECTION_STRING nor
    WEBPUBSUB_ENDPOINT is set, start the service on 127.0.0.1, point WEBPUBSUB_CONNECTION_STRING
    at it and stop it when the process exits. `port`: None picks 7081, or a free one when 7081 is
    taken; 0 any free port; another number exactly that port (PortTaken when it is in use)."""
    import os

    from trackly.config import get_settings, reset_settings
    from trackly.realtime.client import reset_client

    if get_settings().webpubsub_configured:
        return None
    if port is None:
        port = DEFAULT_PORT if port_is_free(DEFAULT_PORT) else 0
    elif port and not port_is_free(port):
        raise PortTaken(f"The local Web PubSub service cannot listen on 127.0.0.1:{port}: it is in use.")
    service = LocalWebPubSub(port=port, echo=True).start()
    atexit.register(service.stop)
    os.environ["WEBPUBSUB_CONNECTION_STRING"] = service.connection_string
    reset_settings()
    reset_client()
    print(
        f"Web PubSub   {service.endpoint} (local service; clients connect to ws://127.0.0.1:{service.port}/client/hubs/...)"
    )
    print(f'             WEBPUBSUB_CONNECTION_STRING="{service.connection_string}"')
    return service


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a local Web PubSub service on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--access-key", default=DEFAULT_ACCESS_KEY)
    args = parser.parse_args()
    service = LocalWebPubSub(port=args.port, access_key=args.access_key, echo=True)
    print("Local Web PubSub listening. Set:", flush=True)
    print(f'  WEBPUBSUB_CONNECTION_STRING="{service.connection_string}"', flush=True)
    print(f"Received messages: {service.endpoint}/_local/messages   (Ctrl+C to stop)", flush=True)
    try:
        service._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        service._server.server_close()


if __name__ == "__main__":
    main()
