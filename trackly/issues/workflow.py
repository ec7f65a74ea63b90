"""The status workflow: which status moves are allowed, chosen by the ISSUE_WORKFLOW setting.

Two presets (the API, the docs and the tests read these tables):

- `free` (the default): any status may move to any other, as the original client's dropdown
  offers and as GitHub's, Linear's and Jira's default workflows behave.
- `guided`: a triage-first table for teams that want it:

      OPEN        -> TRIAGED, IN_PROGRESS, DONE
      TRIAGED     -> IN_PROGRESS, OPEN, DONE
      IN_PROGRESS -> DONE, TRIAGED
      DONE        -> OPEN            (reopen)

Setting the current status again is a no-op, never an error. Who may change a status at all is
the role policy's business (`Action.ISSUE_TRIAGE`: maintainers and admins); `allowed_for`
combines both into the moves a given caller may make now.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Literal

from trackly.auth.policy import Action, Facts, allowed
from trackly.errors import Conflict
from trackly.models import Status

if TYPE_CHECKING:
    from trackly.models import User

Preset = Literal["free", "guided"]
DEFAULT_PRESET: Preset = "free"

PRESETS: dict[Preset, dict[Status, tuple[Status, ...]]] = {
    "free": {source: tuple(t for t in Status if t is not source) for source in Status},
    "guided": {
        Status.OPEN: (Status.TRIAGED, Status.IN_PROGRESS, Status.DONE),
        Status.TRIAGED: (Status.IN_PROGRESS, Status.OPEN, Status.DONE),
        Status.IN_PROGRESS: (Status.DONE, Status.TRIAGED),
        Status.DONE: (Status.OPEN,),
    },
}

INITIAL_STATUS = Status.OPEN


def active_preset() -> Preset:
    """The preset named by ISSUE_WORKFLOW (read lazily: importing this never reads settings)."""
    from trackly.config import get_settings

    return get_settings().ISSUE_WORKFLOW


def transitions(preset: Preset | None = None) -> dict[Status, tuple[Status, ...]]:
    return PRESETS[preset or active_preset()]


def allowed_next(current: Status, preset: Preset | None = None) -> list[Status]:
    """The statuses an issue in `current` may move to (the current one is always a no-op)."""
    return list(transitions(preset)[current])


def can_move(current: Status, target: Status, preset: Preset | None = None) -> bool:
    return target == current or target in transitions(preset)[current]


def check_transition(current: Status, target: Status, preset: Preset | None = None) -> None:
    """Raise 409 (with the allowed next statuses in the problem's `allowed` field) if illegal."""
    if can_move(current, target, preset):
        return
    allowed_targets = [s.value for s in allowed_next(current, preset)]
    raise Conflict(
        f"An issue cannot move from {current.value} to {target.value}; "
        f"from {current.value} it may move to {', '.join(allowed_targets)}.",
        allowed=allowed_targets,
        current_status=current.value,
    )


def allowed_for(
    actor: User, *, owner_id: uuid.UUID, current: Status, preset: Preset | None = None
) -> list[Status]:
    """The status moves `actor` may make on an issue now: none for a caller who may not change
    statuses (a REPORTER), otherwise the workflow's next statuses."""
    if not allowed(actor, Action.ISSUE_TRIAGE, Facts(owner_id=owner_id, issue_status=current)):
        return []
    return allowed_next(current, preset)


def markdown_table(preset: Preset) -> str:
    """One preset's table as Markdown (the README section and the OpenAPI text; checked by a test)."""
    lines = ["| From | May move to |", "|---|---|"]
    for source, targets in PRESETS[preset].items():
        lines.append(f"| {source.value} | {', '.join(t.value for t in targets)} |")
    return "\n".join(lines)


def markdown_presets() -> str:
    """Both presets, for the docs."""
    return "\n\n".join(
        f"`ISSUE_WORKFLOW={name}`{' (default)' if name == DEFAULT_PRESET else ''}:\n\n{markdown_table(name)}"
        for name in PRESETS
    )
