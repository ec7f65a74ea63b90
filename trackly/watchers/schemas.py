"""Response bodies of watching."""

from __future__ import annotations

import uuid
from datetime import datetime

from trackly import examples as ex
from trackly.models import Role
from trackly.schemas import Schema


class WatchOut(Schema):
    model_config = ex.examples({"issue_id": ex.ISSUE_ID, "watching": True})

    issue_id: uuid.UUID
    watching: bool


class WatcherOut(Schema):
    model_config = ex.examples(
        {
            "id": ex.MAINTAINER_ID,
            "full_name": ex.MAINTAINER_NAME,
            "role": "MAINTAINER",
            "since": ex.UPDATED_AT,
        }
    )

    id: uuid.UUID
    full_name: str
    role: Role
    since: datetime
