"""Request and response bodies of labels."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints, field_validator
from pydantic.json_schema import SkipJsonSchema

from trackly import examples as ex
from trackly import text
from trackly.schemas import RequestModel, Schema

NAME_MAX = 50
DESCRIPTION_MAX = 200
DEFAULT_COLOR = "#6b7280"

LabelName = Annotated[
    str,
    StringConstraints(
        # `\s*`: the value is trimmed before the pattern applies, and the document must say so
        # (a leading tab is accepted, so the published pattern may not refuse it).
        strip_whitespace=True,
        min_length=1,
        max_length=NAME_MAX,
        pattern=r"^\s*[^\x00-\x1f\x7f]*\S",
    ),
    AfterValidator(lambda value: text.visible(value, what="The label name")),
    Field(
        description="1-50 characters after trimming, at least one visible, no control characters; "
        "unique regardless of case.",
        examples=["bug"],
    ),
]
Color = Annotated[
    str,
    StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$"),
    AfterValidator(str.lower),
    Field(description="A `#rrggbb` colour (stored in lower case).", examples=["#d73a4a"]),
]
LabelDescription = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=DESCRIPTION_MAX),
    Field(examples=["Something is broken"]),
]


class LabelCreate(RequestModel):
    model_config = ex.examples({"name": "bug", "color": "#d73a4a", "description": "Something is broken"})

    name: LabelName
    color: Color = DEFAULT_COLOR
    description: LabelDescription = ""


class LabelUpdate(RequestModel):
    """Changed fields only."""

    model_config = ex.examples({"color": "#b60205", "description": "Something is broken for users"})

    name: LabelName | SkipJsonSchema[None] = None
    color: Color | SkipJsonSchema[None] = None
    description: LabelDescription | SkipJsonSchema[None] = None

    @field_validator("name", "color", "description", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("This field cannot be null; leave it out to keep the current value.")
        return value


class LabelOut(Schema):
    model_config = ex.examples(
        {**ex.LABEL, "description": "Something is broken", "created_at": "2026-11-02T08:30:00Z"}
    )

    id: uuid.UUID
    name: str
    color: str
    description: str
    created_at: datetime


class IssueLabelOut(Schema):
    """A label as an issue carries it."""

    model_config = ex.examples(ex.LABEL)

    id: uuid.UUID
    name: str
    color: str


class LabelCountOut(Schema):
    model_config = ex.examples({**ex.LABEL, "issues": 14, "open_issues": 5})

    id: uuid.UUID
    name: str
    color: str
    issues: int = Field(description="Issues the caller can see that carry this label.")
    open_issues: int = Field(description="Of those, the ones not DONE.")


class IssuesByLabel(Schema):
    model_config = ex.examples(
        {
            "issues_by_label": [
                {**ex.LABEL, "issues": 14, "open_issues": 5},
                {
                    "id": "9c8b7a6f-5e4d-4c3b-a2a1-908f7e6d5c4b",
                    "name": "ux",
                    "color": "#0e8a16",
                    "issues": 0,
                    "open_issues": 0,
                },
            ]
        }
    )

    issues_by_label: list[LabelCountOut] = Field(description="Every label, zeros included, by name.")
