"""Stand-ins for the two Azure endpoints the ACS Email transport talks to, checking what the
real services check:

- `LocalManagedIdentity`: the App Service managed identity endpoint (IDENTITY_ENDPOINT): the
  `X-IDENTITY-HEADER` secret, `api-version=2019-08-01` and a `resource`; answers a token.
- `LocalAcsEmail`: HTTPS only (the SDK refuses bearer tokens over HTTP), `POST /emails:send`
  with a known `api-version`, `Authorization: Bearer <a token the identity endpoint issued for
  https://communication.azure.com>`, and a body matching the service's JSON schema; answers 202
  with `Operation-Location`, and the operation's status on GET. Refused recipients answer the
  operation as Failed, as the service reports an undeliverable address.
"""

from __future__ import annotations

import json
import secrets
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema

API_VERSIONS = {"2023-03-31", "2024-07-01-preview", "2025-09-01"}
RESOURCE = "https://communication.azure.com"

_ADDRESS = {
    "type": "object",
    "required": ["address"],
    "properties": {
        "address": {"type": "string", "format": "email", "minLength": 3},
        "displayName": {"type": "string"},
    },
    "additionalProperties": False,
}
MESSAGE_SCHEMA = {
    "type": "object",
    "required": ["senderAddress", "recipients", "content"],
    "additionalProperties": False,
    "properties": {
        "senderAddress": {"type": "string", "minLength": 3},
        "recipients": {
            "type": "object",
            "required": ["to"],
            "additionalProperties": False,
            "properties": {
                "to": {"type": "array", "items": _ADDRESS, "minItems": 1},
                "cc": {"type": "array", "items": _ADDRESS},
                "bcc": {"type": "array", "items": _ADDRESS},
            },
        },
        "content": {
            "type": "object",
            "required": ["subject"],
            "additionalProperties": False,
            "anyOf": [{"required": ["plainText"]}, {"required": ["html"]}],
            "properties": {
                "subject": {"type": "string", "minLength": 1},
                "plainText": {"type": "string"},
                "html": {"type": "string"},
            },
        },
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "replyTo": {"type": "array", "items": _ADDRESS},
        "attachments": {"type": "array"},
        "userEngagementTrackingDisabled": {"type": "boolean"},
    },
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True


def _serve(handler: type[BaseHTTPRequestHandler], context: ssl.SSLContext | None) -> tuple[_Server, int]:
    server = _Server(("127.0.0.1", 0), handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, int(server.server_address[1])


class LocalManagedIdentity:
    def __init__(self) -> None:
        self.secret = secrets.token_urlsafe(16)
        self.issued: dict[str, str] = {}  # token -> resource
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                if self.headers.get("X-IDENTITY-HEADER") != outer.secret:
                    return self._json(401, {"error": "missing or wrong X-IDENTITY-HEADER"})
                if query.get("api-version") != ["2019-08-01"] or not query.get("resource"):
                    return self._json(400, {"error": "api-version 2019-08-01 and resource are required"})
                resource = query["resource"][0].rstrip("/")
                token = secrets.token_urlsafe(24)
                outer.issued[token] = resource
                self._json(
                    200,
                    {
                        "access_token": token,
                        "expires_on": str(int(time.time()) + 3600),
                        "resource": resource,
                        "token_type": "Bearer",
                    },
                )

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server, self.port = _serve(Handler, None)
        self.endpoint = f"http://127.0.0.1:{self.port}/msi/token"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class LocalAcsEmail:
    def __init__(self, context: ssl.SSLContext, identity: LocalManagedIdentity, sender: str) -> None:
        self.identity = identity
        self.sender = sender
        self.sent: list[dict[str, Any]] = []
        self.refused: list[tuple[int, str]] = []  # requests answered with an error
        self.undeliverable: set[str] = set()
        self.operations: dict[str, dict[str, Any]] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _check(self) -> str | None:
                query = parse_qs(urlsplit(self.path).query)
                version = (query.get("api-version") or [""])[0]
                if version not in API_VERSIONS:
                    return self._error(400, "InvalidApiVersion", f"api-version {version!r} is not supported")
                auth = self.headers.get("Authorization", "")
                token = auth.removeprefix("Bearer ")
                if not auth.startswith("Bearer ") or outer.identity.issued.get(token) != RESOURCE:
                    return self._error(
                        401, "Unauthorized", "a bearer token for https://communication.azure.com is required"
                    )
                return version

            def do_POST(self) -> None:
                if urlsplit(self.path).path != "/emails:send":
                    return self._error(404, "NotFound", "no such operation")
                version = self._check()
                if version is None:
                    return
                if self.headers.get("Content-Type", "").split(";")[0] != "application/json":
                    return self._error(415, "UnsupportedMediaType", "send application/json")
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                try:
                    jsonschema.validate(body, MESSAGE_SCHEMA, format_checker=jsonschema.FormatChecker())
                except jsonschema.ValidationError as exc:
                    return self._error(400, "InvalidPayload", exc.message)
                if body["senderAddress"] != outer.sender:
                    return self._error(
                        400, "DomainNotLinked", "the sender's domain is not linked to this resource"
                    )
                op_id = self.headers.get("Operation-Id") or str(uuid.uuid4())
                addresses = {r["address"].lower() for r in body["recipients"]["to"]}
                failed = bool(addresses & outer.undeliverable)
                outer.operations[op_id] = {
                    "id": op_id,
                    "status": "Failed" if failed else "Succeeded",
                    **(
                        {
                            "error": {
                                "code": "EmailDroppedAllRecipientsSuppressed",
                                "message": "recipient refused",
                            }
                        }
                        if failed
                        else {}
                    ),
                }
                if not failed:
                    outer.sent.append(body)
                host = f"https://127.0.0.1:{outer.port}"
                self._json(
                    202,
                    {"id": op_id, "status": "Running"},
                    {
                        "Operation-Location": f"{host}/emails/operations/{op_id}?api-version={version}",
                        "Retry-After": "0",
                    },
                )

            def do_GET(self) -> None:
                if self._check() is None:
                    return
                op_id = urlsplit(self.path).path.rsplit("/", 1)[-1]
                if op_id not in outer.operations:
                    return self._error(404, "NotFound", "no such operation")
                self._json(200, outer.operations[op_id], {})

            def _error(self, status: int, code: str, message: str) -> None:
                outer.refused.append((status, code))
                self._json(status, {"error": {"code": code, "message": message}}, {})

            def _json(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self._server, self.port = _serve(Handler, context)
        self.endpoint = f"https://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
