"""Response bodies of watching."""

from __future__ import annotations

import uuid
from datetime import datetime

from trackly.models import Role
from trackly.schemas import Schema


class WatchOut(Schema):
    issue_id: uuid.UUID
    watching: bool


class WatcherOut(Schema):
    id: uuid.UUID
    full_name: str
    role: Role
    since: datetime
