"""The status workflow: the one transition table that the API, the docs and the tests read.

    OPEN        -> TRIAGED, DONE
    TRIAGED     -> IN_PROGRESS, OPEN, DONE
    IN_PROGRESS -> DONE, TRIAGED
    DONE        -> OPEN            (reopen)

Setting the current status again is a no-op, not an error.
"""

from __future__ import annotations

from trackly.errors import Conflict
from trackly.models import Status

TRANSITIONS: dict[Status, tuple[Status, ...]] = {
    Status.OPEN: (Status.TRIAGED, Status.DONE),
    Status.TRIAGED: (Status.IN_PROGRESS, Status.OPEN, Status.DONE),
    Status.IN_PROGRESS: (Status.DONE, Status.TRIAGED),
    Status.DONE: (Status.OPEN,),
}

INITIAL_STATUS = Status.OPEN


def allowed_next(current: Status) -> list[Status]:
    """The statuses an issue in `current` may move to (the current one is always a no-op)."""
    return list(TRANSITIONS[current])


def can_move(current: Status, target: Status) -> bool:
    return target == current or target in TRANSITIONS[current]


def check_transition(current: Status, target: Status) -> None:
    """Raise 409 (with the allowed next statuses in the problem's `allowed` field) if illegal."""
    if can_move(current, target):
        return
    allowed = [s.value for s in allowed_next(current)]
    raise Conflict(
        f"An issue cannot move from {current.value} to {target.value}; "
        f"from {current.value} it may move to {', '.join(allowed)}.",
        allowed=allowed,
        current_status=current.value,
    )


def markdown_table() -> str:
    """The table as Markdown (used by the README section and checked by a test)."""
    lines = ["| From | May move to |", "|---|---|"]
    for source, targets in TRANSITIONS.items():
        lines.append(f"| {source.value} | {', '.join(t.value for t in targets)} |")
    return "\n".join(lines)
