"""Request bodies and query strings of user administration."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field, model_validator

from trackly import examples as ex
from trackly.auth.schemas import Email, FullName, NewPassword, NoNul
from trackly.models import Role
from trackly.schemas import QueryModel, RequestModel, Schema


class UserPath(Schema):
    user_id: uuid.UUID


class UserListQuery(QueryModel):
    skip: int = Field(default=0, ge=0, le=1_000_000, description="How many users to skip.")
    limit: int = Field(default=50, ge=1, le=100, description="Page size (at most 100).")
    q: Annotated[str, NoNul] | None = Field(
        default=None, max_length=200, description="Search in name and email."
    )
    role: Role | None = Field(default=None, description="Only users with this role.")
    include_inactive: bool = Field(
        default=False,
        description="Also list deactivated (deleted) users; they carry `is_active: false`.",
    )


class UserCreateIn(RequestModel):
    """A person (`kind` "human", the default): `email`, `password` and `full_name`. A service
    account (`kind` "service"): only `name` and `role`; it has no email or password, cannot
    sign in, and works with the tokens an admin creates for it (POST /users/{id}/tokens)."""

    model_config = ex.examples(
        {
            "email": "max@trackly.com",
            "password": "a long initial passphrase",
            "full_name": ex.MAINTAINER_NAME,
            "role": "MAINTAINER",
        },
        {"kind": "service", "name": "CI bot", "role": "REPORTER"},
    )

    kind: Literal["human", "service"] = "human"
    email: Email | None = None
    password: NewPassword | None = None
    full_name: FullName | None = None
    name: FullName | None = Field(default=None, description="A service account's name (kind service).")
    role: Role = Role.REPORTER

    @model_validator(mode="after")
    def _fields_of_kind(self) -> UserCreateIn:
        if self.kind == "service":
            extra = [f for f in ("email", "password", "full_name") if getattr(self, f) is not None]
            if extra or self.name is None:
                raise ValueError(
                    "a service account takes only name and role (no email, password or full_name)"
                )
        else:
            missing = [f for f in ("email", "password", "full_name") if getattr(self, f) is None]
            if missing or self.name is not None:
                raise ValueError(
                    "a person's account needs email, password and full_name (name is for service accounts)"
                )
        return self


class UserUpdateIn(RequestModel):
    """Fields to change; omitted fields stay as they are (PUT and PATCH both work this way).

    Anyone may change their own `full_name`. Only an ADMIN may change `role` and `is_active`,
    and never their own role. Sending your own current role unchanged is accepted as a no-op
    (the original frontend sends `{full_name, role}`).
    """

    model_config = ex.examples({"full_name": "Rita Q. Reporter", "role": "MAINTAINER"})

    full_name: FullName | None = None
    role: Role | None = None
    is_active: bool | None = None
