"""Where a webhook may send: the URL rules and the address check (SSRF protection).

A user-supplied URL could point the server at itself, at the private network or at the cloud
metadata service. So, unless WEBHOOK_ALLOW_PRIVATE_TARGETS (development only):

- the host name is resolved once, and *every* address it resolves to must be a public unicast
  address; IPv6 forms that embed an IPv4 address (IPv4-mapped, 6to4, NAT64, Teredo) are judged
  by the embedded address; the metadata and platform addresses are refused by name;
- the connection is then made to an address that was checked (trackly.webhooks.sender pins it),
  so a second, different DNS answer cannot slip in between the check and the connection.

The check runs when a hook is created or its URL changes, and again before every attempt.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from trackly.errors import Unprocessable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

# Cloud metadata and platform endpoints. 169.254.169.254 and fd00:ec2::254 are also link-local /
# unique-local; Azure's wire server 168.63.129.16 is in public space, so it needs naming.
_METADATA = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "168.63.129.16", "100.100.100.200")
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
MAX_URL_LENGTH = 2000


class TargetRefused(Exception):
    """The URL or one of its addresses may not be contacted; the message says why."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # the name as written (IDNA-encoded), sent as SNI and Host
    port: int
    path: str  # path and query, as sent in the request line
    addresses: tuple[str, ...]  # every address the name resolved to, all checked

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    seen: list[str] = []
    for *_, sockaddr in infos:
        address = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone id
        if address not in seen:
            seen.append(address)
    return seen


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_problem(address: IPAddress) -> str | None:
    """Why this address may not be contacted (None: it may)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            problem = address_problem(embedded)
            return f"embeds {embedded}, which {problem}" if problem else None
    if address in _METADATA:
        return "is a cloud metadata or platform address"
    if address.is_loopback:
        return "is a loopback address"
    if address.is_link_local:
        return "is a link-local address"
    if address.is_multicast:
        return "is a multicast address"
    if address.is_unspecified:
        return "is the unspecified address"
    if address.is_private:
        # Covers RFC 1918, unique-local fc00::/7, shared 100.64/10 (via is_global below), ...
        return "is a private address"
    if not address.is_global or address.is_reserved:
        return "is not a public address"
    return None


def parse(url: str, *, https_required: bool) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of an acceptable URL, or Unprocessable saying what is wrong."""
    if len(url) > MAX_URL_LENGTH:
        raise _bad(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _bad("The URL is not valid.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise _bad("The URL must start with https:// (or http:// outside production).")
    if https_required and scheme != "https":
        raise _bad("The URL must use https on this server.")
    if parts.username is not None or parts.password is not None:
        raise _bad("The URL must not carry a user name or password.")
    if parts.fragment:
        raise _bad("The URL must not have a #fragment.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise _bad("The URL has no host.")
    if any(ch.isspace() for ch in url):
        raise _bad("The URL must not contain spaces.")
    try:
        host = host if _is_ip(host) else host.encode("idna").decode("ascii")
    except UnicodeError:
        raise _bad("The URL's host name is not valid.") from None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, host, port or (443 if scheme == "https" else 80), path


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def resolve(
    url: str,
    *,
    https_required: bool,
    private_allowed: bool,
    resolver: Resolver = system_resolver,
) -> Target:
    """Parse, resolve once and check every address. Raises Unprocessable for a malformed URL
    and TargetRefused for a target that may not be contacted (or that does not resolve)."""
    scheme, host, port, path = parse(url, https_required=https_required)
    if _is_ip(host):
        addresses = [str(ipaddress.ip_address(host))]
    else:
        try:
            addresses = resolver(host, port)
        except (OSError, UnicodeError):
            raise TargetRefused(f"The host name {host} does not resolve.") from None
        if not addresses:
            raise TargetRefused(f"The host name {host} does not resolve.")
    if not private_allowed:
        for text in addresses:
            try:
                address = ipaddress.ip_address(text)
            except ValueError:
                raise TargetRefused(f"{host} resolved to something that is not an address.") from None
            problem = address_problem(address)
            if problem:
                shown = host if host == text else f"{host} ({text})"
                raise TargetRefused(f"{shown} {problem}; webhooks may only be sent to public addresses.")
    return Target(scheme=scheme, host=host, port=port, path=path, addresses=tuple(addresses))


def _bad(detail: str) -> Unprocessable:
    return Unprocessable(detail, errors=[{"loc": "body.url", "msg": detail, "type": "url"}])
