"""The original SvelteKit client's network behaviour, replayed in Python.

What it does (facts about its source, from issue 13 and docs/frontend.md): every call goes
through one helper that sends `Authorization: Bearer <access>` and a JSON body, refreshes once on
a 401 with the first refresh token it ever got (it ignores rotated ones), retries, treats any
non-2xx as a failure whose text is the response body, and ends with `response.json()` - also for
DELETE. It never sends If-Match. The upload is `multipart/form-data` with one part `file`. The
issue page renders `file_url` as a plain link, opened with no Authorization header.

It runs in a browser on http://localhost:5173, so every call is cross-origin: the browser sends a
preflight (the bearer header makes every call non-simple) and lets the page read an answer only
when it carries `Access-Control-Allow-Origin` for that origin. This replay checks both.
"""

from __future__ import annotations

import json
from typing import Any

import requests

ORIGIN = "http://localhost:5173"


class ClientFailure(Exception):
    """What the page shows as an error toast (the client shows the status and body text)."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"{status}: {text}")
        self.status = status
        self.text = text


class OriginalClient:
    def __init__(self, api_base: str, *, origin: str = ORIGIN) -> None:
        self.base = api_base.rstrip("/")  # VITE_API_BASE_URL
        self.origin = origin
        self.http = requests.Session()
        self.access_token: str | None = None
        self.refresh_token: str | None = None
        self.calls: list[tuple[str, str, int]] = []

    # --- the browser's part --------------------------------------------------------------------
    def _preflight(self, method: str, url: str, headers: str) -> None:
        resp = self.http.options(
            url,
            headers={
                "Origin": self.origin,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": headers,
            },
            timeout=30,
        )
        if resp.status_code >= 300 or resp.headers.get("Access-Control-Allow-Origin") != self.origin:
            raise ClientFailure(0, f"CORS preflight refused for {method} {url}: {resp.status_code}")

    def _readable(self, resp: requests.Response) -> None:
        if resp.headers.get("Access-Control-Allow-Origin") != self.origin:
            raise ClientFailure(0, f"CORS: the browser hides this answer ({resp.status_code})")

    # --- the client's helper -------------------------------------------------------------------
    def call(self, method: str, path: str, body: Any = None, *, _retry: bool = True) -> Any:
        url = f"{self.base}{path}"
        headers = {"Content-Type": "application/json", "Origin": self.origin}
        if self.access_token:
            headers["Authorization"] = f"Bearer {self.access_token}"
        self._preflight(method, url, "authorization,content-type")
        resp = self.http.request(
            method, url, data=None if body is None else json.dumps(body), headers=headers, timeout=60
        )
        self.calls.append((method, path, resp.status_code))
        self._readable(resp)
        if resp.status_code == 401 and _retry and self.refresh_token:
            self.refresh()
            return self.call(method, path, body, _retry=False)
        if not resp.ok:
            raise ClientFailure(resp.status_code, resp.text)
        return resp.json()  # also for DELETE: an empty body would throw here

    def refresh(self) -> None:
        data = self.call("POST", "/auth/refresh", {"refresh_token": self.refresh_token}, _retry=False)
        self.access_token = data["access_token"]  # a rotated refresh_token, if any, is ignored

    def login(self, email: str, password: str) -> dict[str, Any]:
        data: dict[str, Any] = self.call("POST", "/auth/login", {"email": email, "password": password})
        self.access_token = data["tokens"]["access_token"]
        self.refresh_token = data["tokens"]["refresh_token"]
        return data

    def upload(self, filename: str, content: bytes, content_type: str) -> dict[str, Any]:
        """fetch(`${base}/files/upload`, {method: 'POST', body: formData, headers: {Authorization}})"""
        url = f"{self.base}/files/upload"
        self._preflight("POST", url, "authorization")
        resp = self.http.post(
            url,
            files={"file": (filename, content, content_type)},
            headers={"Authorization": f"Bearer {self.access_token}", "Origin": self.origin},
            timeout=60,
        )
        self.calls.append(("POST", "/files/upload", resp.status_code))
        self._readable(resp)
        if not resp.ok:
            raise ClientFailure(resp.status_code, f"Upload failed: {resp.status_code}")
        data: dict[str, Any] = resp.json()
        return data

    @staticmethod
    def open_link(url: str) -> requests.Response:
        """A click on `<a href={file_url} target=_blank>`: a plain navigation, no token."""
        return requests.get(url, timeout=60)
