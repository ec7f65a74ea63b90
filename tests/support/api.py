"""A small HTTP client for tests: real requests against the local host over loopback."""

from __future__ import annotations

import json
from typing import Any

import requests
from requests.adapters import HTTPAdapter


class _SourceAddressAdapter(HTTPAdapter):
    """Connect from a chosen loopback address (127.0.0.0/8 all reach the server on Linux)."""

    def __init__(self, source_ip: str):
        self.source_ip = source_ip
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.source_ip, 0)
        super().init_poolmanager(*args, **kwargs)


def session_from(source_ip: str) -> requests.Session:
    """A requests session whose connections come from `source_ip` (a distinct client address)."""
    http = requests.Session()
    adapter = _SourceAddressAdapter(source_ip)
    http.mount("http://", adapter)
    return http


class Api:
    """`api.get("issues")` -> requests.Response for http://127.0.0.1:PORT/api/issues.

    `api.as_(token)` returns a client that sends `Authorization: Bearer <token>`.
    """

    def __init__(self, base_url: str, token: str | None = None, session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._http = session or requests.Session()

    def as_(self, token: str | None) -> Api:
        return Api(self.base_url, token, self._http)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        headers = dict(kw.pop("headers", None) or {})
        if self.token and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {self.token}"
        kw.setdefault("timeout", 30)
        kw.setdefault("allow_redirects", False)
        return self._http.request(method, self.url(path), headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> requests.Response:
        return self.request("POST", path, json=json, **kw)

    def put(self, path: str, json: Any = None, **kw: Any) -> requests.Response:
        return self.request("PUT", path, json=json, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> requests.Response:
        return self.request("PATCH", path, json=json, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)


def assert_problem(
    response: requests.Response, status: int, detail_contains: str | None = None
) -> dict[str, Any]:
    """Check an error is a readable problem+json document with the expected status."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["Content-Type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = json.loads(response.text)
    assert body["status"] == status
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert "Traceback" not in response.text
    assert "psycopg2" not in response.text
    if detail_contains is not None:
        assert detail_contains.lower() in body["detail"].lower(), body["detail"]
    return body
