"""The endpoint layer refuses to be half-declared: If-Match and Idempotency-Key are honoured only
by endpoints whose declaration says so (so the OpenAPI document and the behaviour agree)."""

from __future__ import annotations

from typing import Any

import azure.functions as func
import pytest

import function_app  # noqa: F401 (registers every endpoint)
from trackly.http import REGISTRY, Call, Reply, endpoint
from trackly.http.idempotent import once


def _call(name: str) -> Call[Any, Any, Any]:
    request = func.HttpRequest(method="GET", url="http://localhost/api/issues", body=b"")
    return Call(
        request,
        spec=REGISTRY[name],
        request_id="r",
        settings=None,  # type: ignore[arg-type]
        path=None,
        query=None,
        body=None,
    )


def test_if_match_is_read_only_on_conditional_writes() -> None:
    with pytest.raises(RuntimeError, match="conditional='write'"):
        _ = _call("list_issues").if_match
    assert _call("update_issue").if_match is None
    assert REGISTRY["update_issue"].if_match_required_by_setting
    assert REGISTRY["add_issue_label"].if_match_required_by_setting
    # Every conditional write honours REQUIRE_IF_MATCH (comment edits and deletes, attachment
    # deletes included): none may opt out.
    writes = [spec for spec in REGISTRY.values() if spec.conditional == "write"]
    assert {"update_comment", "delete_comment", "delete_attachment"} <= {spec.name for spec in writes}
    assert all(spec.if_match_required_by_setting for spec in writes)


def test_requiring_if_match_needs_a_conditional_write() -> None:
    with pytest.raises(ValueError, match="conditional='write'"):
        endpoint(
            func.Blueprint(),
            "POST",
            "nowhere",
            summary="x",
            tags=["x"],
            name="guard_probe",
            if_match_required_by_setting=True,
        )(lambda call: None)
    assert "guard_probe" not in REGISTRY
    with pytest.raises(ValueError, match="REQUIRE_IF_MATCH"):
        endpoint(
            func.Blueprint(),
            "PATCH",
            "nowhere",
            summary="x",
            tags=["x"],
            name="guard_probe",
            conditional="write",
            if_match_required_by_setting=False,
        )(lambda call: None)
    assert "guard_probe" not in REGISTRY


def test_idempotency_only_on_endpoints_that_declare_the_header() -> None:
    with pytest.raises(RuntimeError, match="idempotency_key_header"):
        once(_call("list_issues"), lambda: (Reply(None), None))
    assert REGISTRY["create_issue"].idempotency_key_header
    assert REGISTRY["create_comment"].idempotency_key_header
