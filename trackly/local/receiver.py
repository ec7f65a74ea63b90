"""A webhook receiver for trying webhooks locally: `python -m trackly webhook-receiver`.

It prints every delivery and, given the hook's secret (`--secret` or WEBHOOK_RECEIVER_SECRET),
verifies it with the independent `standardwebhooks` package (a development dependency), the way a
real receiver should. Development only: it listens on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default backlog of 5 drops concurrent connection attempts
    daemon_threads = True


def verifier(secret: str | None) -> Any:
    if not secret:
        return None
    from standardwebhooks.webhooks import Webhook

    return Webhook(secret)


def serve(port: int, secret: str | None, status: int = 200) -> None:
    check = verifier(secret or os.environ.get("WEBHOOK_RECEIVER_SECRET"))

    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True  # headers and body leave at once (no delayed-ACK stall)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            verdict = "not verified (no --secret)"
            if check is not None:
                try:
                    check.verify(body, headers)
                    verdict = "signature OK"
                except Exception as exc:  # any failure is the receiver's answer: 400
                    verdict = f"REJECTED: {exc}"
            try:
                payload = json.loads(body)
                summary = f"{payload.get('type')} id={payload.get('id')}"
            except ValueError:
                summary = f"{len(body)} bytes, not JSON"
            print(f"{headers.get('webhook-id')}  {summary}  [{verdict}]", flush=True)
            code = 400 if verdict.startswith("REJECTED") else status
            self.send_response(code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = _Server(("127.0.0.1", port), Handler)
    print(f"Webhook receiver on http://127.0.0.1:{server.server_port}/ (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
