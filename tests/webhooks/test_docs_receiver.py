"""The receiver example of docs/webhooks.md, run as written: it verifies real deliveries with
`standardwebhooks`, dedupes them, and fills a gap (events sent while the hook was off) from the
real catch-up feed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.support.api import Api
from tests.support.receiver import Receiver
from tests.webhooks.conftest import create_hook, make_issue, run_timer

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def example_code() -> str:
    text = DOC.read_text()
    section = text.split("A complete receiver in Python", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the receiver example is missing from docs/webhooks.md"
    return match.group(1)


def test_the_documented_receiver_misses_nothing(
    as_admin: Api, receiver: Receiver, local_targets: Any, live_server: str
) -> None:
    hook = create_hook(as_admin, receiver.url())
    code = example_code().replace('SECRET = "whsec_..."', f'SECRET = "{hook["secret"]}"')
    namespace: dict[str, Any] = {"__name__": "docs_receiver"}
    exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102 (our own documentation)
    processed: list[int] = []
    namespace["process"] = lambda event: processed.append(event["id"])

    make_issue(as_admin, "one")
    make_issue(as_admin, "two")
    run_timer()
    for got in receiver.requests:
        assert namespace["handle"](got.body, got.headers) == 204
    assert namespace["handle"](receiver.requests[0].body, receiver.requests[0].headers) == 204  # a repeat
    assert len(processed) == 2
    bad = dict(receiver.requests[0].headers, **{"webhook-signature": "v1,AAAA"})
    assert namespace["handle"](receiver.requests[0].body, bad) == 400

    # Missed while the hook was off: only the feed has it.
    as_admin.patch(f"webhooks/{hook['id']}", json={"active": False})
    make_issue(as_admin, "three")
    namespace["reconcile"](api=live_server, token=as_admin.token)
    feed = as_admin.get("events", params={"after": 0}).json()["events"]
    assert sorted(processed) == [e["id"] for e in feed]
    assert len(processed) == 3
