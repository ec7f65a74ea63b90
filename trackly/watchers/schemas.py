"""Response bodies of watching."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from trackly.models import Role


class WatchOut(BaseModel):
    issue_id: uuid.UUID
    watching: bool


class WatcherOut(BaseModel):
    id: uuid.UUID
    full_name: str
    role: Role
    since: datetime
