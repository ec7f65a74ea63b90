"""No two registered routes can match the same request.

The Functions host hands a request to the first registered function whose route template matches;
the local host's router (werkzeug) prefers literal segments. A path that two templates can both
match would then reach different functions locally and on Azure. So: for every pair of HTTP
functions sharing a method, their templates must be disjoint (segment by segment, literal text
compared case-insensitively as the host does, constraints such as `guid` and `int` honoured).
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Callable

import pytest

import function_app
from trackly.http.router import HttpFunction, discover

_PARAM = re.compile(r"^\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?(\?)?\}$")

# Values probed against two parameter constraints: if one value satisfies both, they overlap.
_PROBES = ["x", "abc", "123", "-1", str(uuid.UUID(int=7)), "a" * 32, "0" * 32, "1.5", "a-b"]


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _fits_int(value: str, bits: int) -> bool:
    return bool(re.fullmatch(r"-?\d+", value)) and -(2 ** (bits - 1)) <= int(value) < 2 ** (bits - 1)


CONSTRAINTS: dict[str | None, Callable[[str], bool]] = {
    None: bool,
    "alpha": str.isalpha,
    "int": lambda v: _fits_int(v, 32),
    "long": lambda v: _fits_int(v, 64),
    "guid": _is_guid,
}


class Segment:
    def __init__(self, text: str) -> None:
        match = _PARAM.match(text)
        self.literal = None if match else text.lower()
        self.catch_all = bool(match and match.group(1))
        self.optional = bool(match and match.group(4))
        constraint = match.group(3) if match else None
        if constraint not in CONSTRAINTS:
            raise AssertionError(f"route constraint {constraint!r} is not known to this test; add it")
        self.accepts = CONSTRAINTS[constraint]

    def matches(self, value: str) -> bool:
        return value == self.literal if self.literal is not None else self.accepts(value)


def _segments(route: str) -> list[Segment]:
    return [Segment(part) for part in route.strip("/").split("/") if part]


def _expand_optional(segments: list[Segment]) -> list[list[Segment]]:
    """A template with a trailing optional parameter stands for two lengths."""
    if segments and segments[-1].optional:
        return [segments, segments[:-1]]
    return [segments]


def can_overlap(a: str, b: str) -> bool:
    for left, right in itertools.product(_expand_optional(_segments(a)), _expand_optional(_segments(b))):
        if _same_shape(left, right):
            return True
    return False


def _same_shape(left: list[Segment], right: list[Segment]) -> bool:
    for x, y in itertools.zip_longest(left, right):
        if (x is not None and x.catch_all) or (y is not None and y.catch_all):
            # A catch-all swallows the rest: overlap if the other side still has a compatible segment.
            return _segment_pair(x, y) if x is not None and y is not None else True
        if x is None or y is None:
            return False
        if not _segment_pair(x, y):
            return False
    return True


def _segment_pair(x: Segment, y: Segment) -> bool:
    if x.literal is not None and y.literal is not None:
        return x.literal == y.literal
    if x.literal is not None:
        return y.matches(x.literal)
    if y.literal is not None:
        return x.matches(y.literal)
    return any(x.matches(p) and y.matches(p) for p in _PROBES)


def _http_functions() -> list[HttpFunction]:
    http, _ = discover(function_app.app)
    return http


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ("issues/{issue_id:guid}", "issues/stats", False),
        ("issues/{issue_id}", "issues/stats", True),
        ("issues/{issue_id:int}", "issues/{issue_id:alpha}", False),
        ("issues/{issue_id:int}", "issues/{issue_id:guid}", True),  # 32 zeros are both
        ("Issues/Stats", "issues/stats", True),  # the host compares literal text case-insensitively
        ("files/{*path}", "files/a/b", True),
        ("users/{user_id:guid}/role", "users/me/role", False),
        ("issues", "issues/{issue_id?}", True),
        ("a/{x:alpha}", "a/{y:guid}", True),  # 32 hex letters are both
    ],
)
def test_the_overlap_rule_itself(a: str, b: str, overlap: bool) -> None:
    assert can_overlap(a, b) is overlap
    assert can_overlap(b, a) is overlap


def test_no_two_registered_routes_can_match_the_same_request() -> None:
    functions = _http_functions()
    assert len(functions) > 20  # the real app, not an empty discovery
    clashes = [
        f"{a.name} {a.route} <-> {b.name} {b.route} ({', '.join(sorted(set(a.methods) & set(b.methods)))})"
        for a, b in itertools.combinations(functions, 2)
        if set(a.methods) & set(b.methods) and can_overlap(a.route, b.route)
    ]
    assert not clashes, "routes the host could resolve differently:\n" + "\n".join(clashes)
