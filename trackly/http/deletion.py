"""The JSON answer of a DELETE.

The original client parses every 2xx answer with `response.json()`, so an empty 204 would make
it report a failure although the server did the work: deletes answer 200 with this document.
"""

from __future__ import annotations

import uuid

from pydantic import Field

from trackly import examples as ex
from trackly.schemas import Schema


class Deleted(Schema):
    model_config = ex.examples({"id": ex.COMMENT_ID, "deleted": True, "message": "The comment was deleted."})

    id: uuid.UUID = Field(description="The id of what was deleted.")
    deleted: bool = Field(default=True, description="Always true.")
    message: str = Field(description="A sentence a person can read.")
