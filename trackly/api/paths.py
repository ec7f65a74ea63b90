"""Path parameters shared by the blueprints that address one issue (issues, comments, watchers)."""

import uuid

from trackly.schemas import Schema


class IssuePath(Schema):
    issue_id: uuid.UUID
