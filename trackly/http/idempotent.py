"""The Idempotency-Key flow of a create endpoint, in one place (the rules and the table are in
trackly.issues.idempotency): validate the key, fingerprint the request, claim the key or replay
the first answer, and store the answer in the same transaction as the work.

    return once(call, lambda: (reply, body_to_store), replay=lambda body: body)
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from trackly.http.endpoint import Call, Reply, strip_constraints
from trackly.lazy import lazy

if TYPE_CHECKING:
    from trackly.issues import idempotency
else:  # imported by the first request that sends a key: keeps the ORM out of cold start
    idempotency = lazy("trackly.issues.idempotency")


def operation(call: Call[Any, Any, Any]) -> str:
    """What the key is bound to besides the body: the method and the resolved route
    (`POST issues`, `POST issues/<id>/comments`), so one key cannot replay another resource."""
    path = call.path.model_dump() if call.path is not None else {}
    return f"{call.spec.method} {strip_constraints(call.spec.route).format(**path)}"


def once(
    call: Call[Any, Any, Any],
    work: Callable[[], tuple[Reply, Any]],
    *,
    replay: Callable[[Any], Any] = lambda body: body,
) -> Reply:
    """Run `work` (which answers the reply and the JSON body to keep for a retry) at most once
    per key and request; a retry gets the kept answer, passed through `replay` (e.g. to sign a
    link afresh), marked with the Idempotent-Replayed header. Without the header: just `work`."""
    if not call.spec.idempotency_key_header:
        # The declaration documents the header; an endpoint that honours it must declare it.
        raise RuntimeError(f"endpoint {call.spec.name} is not declared with idempotency_key_header")
    raw_key = call.header(idempotency.HEADER)
    if raw_key is None:
        return work()[0]
    key = idempotency.validate_key(raw_key)
    user_id = call.user.id
    fingerprint = idempotency.request_hash(operation(call), _json(call.body))
    stored = idempotency.claim(user_id, key, fingerprint, session=call.session)
    if stored is not None:
        return Reply(
            replay(stored.body),
            status=stored.status,
            headers={**stored.headers, idempotency.REPLAYED_HEADER: "true"},
        )
    reply, body = work()
    idempotency.store(
        user_id,
        key,
        status=reply.status or call.spec.status,
        body=body,
        headers=reply.headers,
        session=call.session,
    )
    return reply


def _json(body: Any) -> Any:
    return body.model_dump(mode="json") if body is not None else None
