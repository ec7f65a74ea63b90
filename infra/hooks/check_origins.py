"""Refuse browser origins Azure would otherwise accept and the API would serve wrongly.

Run before every provision: azd's preprovision hook (azure.yaml) and deploy.yml's step before
`az deployment sub create`. Reads FRONTEND_URL and TRACKLY_ALLOWED_ORIGINS (comma-separated) from
the environment, as main.parameters.json and the workflow pass them to the Bicep:

- FRONTEND_URL is required: there is no localhost fallback for a deployment;
- each origin is trimmed; an empty entry (",,", a trailing comma) is refused;
- each must be an origin: https://host[:port], no path, query or trailing slash. http:// and
  loopback hosts are refused unless TRACKLY_ALLOW_LOCAL_ORIGINS=true (a personal environment
  that serves its front end from a laptop).

Exit 1 with one line per problem; exit 0 printing the origins the deployment will allow.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from urllib.parse import urlsplit

LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def origin_problem(origin: str, *, allow_local: bool) -> str | None:
    parts = urlsplit(origin)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"{origin!r} is not an origin (scheme://host[:port])"
    if parts.path or parts.query or parts.fragment or parts.username:
        return f"{origin!r} must be an origin only: no path (not even a trailing '/'), query or user"
    local = parts.hostname in LOOPBACK
    if (parts.scheme == "http" or local) and not allow_local:
        return (
            f"{origin!r}: a deployment serves https front ends "
            "(TRACKLY_ALLOW_LOCAL_ORIGINS=true allows http and loopback)"
        )
    return None


def check(environ: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """(origins, problems)."""
    allow_local = environ.get("TRACKLY_ALLOW_LOCAL_ORIGINS", "").strip().lower() == "true"
    problems = []
    frontend = environ.get("FRONTEND_URL", "").strip()
    if not frontend:
        problems.append(
            "FRONTEND_URL is not set: name the front end's origin, e.g. https://trackly.example.com"
        )
    origins = [frontend] if frontend else []
    extra = environ.get("TRACKLY_ALLOWED_ORIGINS", "")
    if extra.strip():
        for position, entry in enumerate(extra.split(","), start=1):
            if not entry.strip():
                problems.append(
                    f"TRACKLY_ALLOWED_ORIGINS entry {position} is empty (a stray comma?): {extra!r}"
                )
            elif entry.strip() not in origins:
                origins.append(entry.strip())
    problems += [p for p in (origin_problem(o, allow_local=allow_local) for o in origins) if p]
    return origins, problems


def main() -> int:
    origins, problems = check(os.environ)
    for problem in problems:
        print(f"check_origins: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"check_origins: browser origins {', '.join(origins)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
