"""Test harness for single sign-on: a real OIDC provider over HTTPS and a local Google JWKS.

- `TestCA`: a throw-away certificate authority and a server certificate for 127.0.0.1.
- `OidcProvider`: runs tests/sso/oidc_provider.mjs (npm `oidc-provider`) on 127.0.0.1, shaped
  like an Entra tenant (issuer `https://127.0.0.1:PORT/tenant1/v2.0`, `tid`/`oid` claims).
- `Browser`: drives the provider's login and consent forms with plain HTTP.
- `GoogleKeys`: RSA keys, a JWKS served on 127.0.0.1, and ID tokens signed like Google's.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import jwt
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[2]
PROVIDER_SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
PREFIX = "/tenant1/v2.0"
TENANT_ID = "11111111-2222-3333-4444-555555555555"


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class TestCA:
    """A CA certificate (trusted by the tests via REQUESTS_CA_BUNDLE / SSL_CERT_FILE) and a
    server certificate for 127.0.0.1 and localhost signed by it."""

    __test__ = False

    def __init__(self, directory: Path) -> None:
        now = dt.datetime.now(dt.UTC)
        ca_key = _rsa()
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Trackly test CA")])
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        key = _rsa()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1")),
                        x509.DNSName("localhost"),
                    ]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        self.ca_file = directory / "ca.pem"
        self.cert_file = directory / "server.pem"
        self.key_file = directory / "server-key.pem"
        self.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        self.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        self.key_file.write_bytes(_pem(key))


def private_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    jwk.update(kid=kid, alg="RS256", use="sig")
    return jwk


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid=kid, alg="RS256", use="sig")
    return jwk


class OidcProvider:
    """The node process running oidc_provider.mjs, and a client for its control endpoints."""

    CLIENT_ID = "trackly-test-client"
    CLIENT_SECRET = "trackly-test-client-secret-0123456789"

    def __init__(self, directory: Path, ca: TestCA, redirect_uri: str) -> None:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is required for the SSO tests (npm oidc-provider)")
        self.ca = ca
        self.redirect_uri = redirect_uri
        config = {
            "port": 0,
            "cert": str(ca.cert_file),
            "key": str(ca.key_file),
            "prefix": PREFIX,
            "tenantId": TENANT_ID,
            "clientId": self.CLIENT_ID,
            "clientSecret": self.CLIENT_SECRET,
            "redirectUris": [redirect_uri],
            "jwk": private_jwk(_rsa(), kid=f"test-{uuid.uuid4().hex[:8]}"),
        }
        config_file = directory / "oidc-provider.json"
        config_file.write_text(json.dumps(config))
        self.config_file = config_file
        self.log_file = (directory / "oidc-provider.log").open("w")
        self.process = subprocess.Popen(
            [node, str(PROVIDER_SCRIPT), str(config_file)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self.log_file,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # blocks until READY or exit
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError(
                f"oidc-provider did not start: {line!r}; see {directory / 'oidc-provider.log'}"
            )
        self.port = int(line.split()[1])
        self.base = f"https://127.0.0.1:{self.port}"
        self.issuer = self.base + PREFIX
        self.authority = self.base + "/tenant1"  # MSAL appends /v2.0/.well-known/openid-configuration
        self.http = requests.Session()
        self.http.verify = str(ca.ca_file)

    def control(self, what: str, data: dict[str, Any] | None = None) -> None:
        resp = self.http.post(f"{self.base}/__control/{what}", json=data or {}, timeout=10)
        assert resp.status_code == 204, resp.text

    def set_accounts(self, **accounts: dict[str, Any]) -> None:
        self.control("accounts", accounts)

    def tamper(self, mode: str | None) -> None:
        self.control("tamper", {"mode": mode})

    def reset(self) -> None:
        self.control("reset")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.log_file.close()


_FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', re.S)
_INPUT = re.compile(r"<input\b([^>]*)>")
_ATTR = re.compile(r'(\w+)="([^"]*)"')


class Browser:
    """Follows the provider's redirects and submits its login and consent forms, like a user
    would, until the provider redirects to the app's callback URL (which it returns)."""

    def __init__(self, provider: OidcProvider) -> None:
        self.provider = provider
        self.http = requests.Session()
        self.http.verify = str(provider.ca.ca_file)

    def authorize(self, auth_uri: str, login: str, *, consent: bool = True) -> str:
        url, method, data = auth_uri, "GET", None
        for _ in range(12):
            resp = self.http.request(method, url, data=data, allow_redirects=False, timeout=15)
            if resp.is_redirect:
                location = urljoin(url, resp.headers["Location"])
                if location.startswith(self.provider.redirect_uri):
                    return location
                url, method, data = location, "GET", None
                continue
            assert resp.status_code == 200, (resp.status_code, resp.text[:500])
            form = _FORM.search(resp.text)
            assert form is not None, resp.text[:500]
            action = urljoin(url, unescape(form.group(1)))
            fields = {}
            for attrs in _INPUT.findall(form.group(2)):
                parsed = dict(_ATTR.findall(attrs))
                if "name" in parsed:
                    fields[parsed["name"]] = unescape(parsed.get("value", ""))
            if fields.get("prompt") == "login":
                fields.update(login=login, password="any-password")
            elif fields.get("prompt") == "consent" and not consent:
                raise AssertionError("consent requested")
            url, method, data = action, "POST", fields
        raise AssertionError("the provider never redirected back to the app")


class GoogleKeys:
    """Google-shaped ID tokens signed by test keys, with the public keys served as a JWKS on
    http://127.0.0.1:PORT/certs. `rotate()` publishes a new key (and counts JWKS fetches)."""

    CLIENT_ID = "1234567890-trackly.apps.googleusercontent.com"

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.current = self.add_key()
        self.fetches = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.fetches += 1
                body = json.dumps({"keys": [public_jwk(k, kid) for kid, k in owner.keys.items()]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.jwks_url = f"http://127.0.0.1:{self.server.server_port}/certs"

    def add_key(self) -> str:
        kid = uuid.uuid4().hex[:16]
        self.keys[kid] = _rsa()
        return kid

    def rotate(self) -> str:
        self.current = self.add_key()
        return self.current

    def token(
        self,
        email: str = "gina@example.com",
        *,
        sub: str | None = None,
        aud: str | None = None,
        iss: str = "https://accounts.google.com",
        email_verified: Any = True,
        expires_in: int = 3600,
        issued_ago: int = 0,
        key: rsa.RSAPrivateKey | None = None,
        kid: str | None = None,
        **extra: Any,
    ) -> str:
        now = int(time.time()) - issued_ago
        claims = {
            "iss": iss,
            "azp": aud or self.CLIENT_ID,
            "aud": aud or self.CLIENT_ID,
            "sub": sub or f"google-{email}",
            "email": email,
            "email_verified": email_verified,
            "name": "Gina Google",
            "iat": now,
            "exp": now + expires_in,
            **extra,
        }
        kid = kid or self.current
        return jwt.encode(claims, key or self.keys[kid], algorithm="RS256", headers={"kid": kid})

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def env_vars(**values: str) -> Iterator[None]:
    import os

    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
