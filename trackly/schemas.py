"""The bases of every pydantic request, query and response model (`trackly/<domain>/schemas.py`).

Shared by the domains and the HTTP layer, so a domain never imports `trackly.http`.

Not to be confused with `trackly/schema.py`, which migrates the database.
"""

from pydantic import BaseModel, ConfigDict


class Schema(BaseModel):
    # Validators and serializers are built on first use, not when the class is defined: every new
    # Function App instance imports every model, while a request uses only a few of them.
    model_config = ConfigDict(defer_build=True)


class RequestModel(Schema):
    """Base for request bodies: unknown fields are refused (e.g. `role` on signup)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class QueryModel(Schema):
    """Base for query strings: unknown parameters are ignored, as browsers and proxies add some."""

    model_config = ConfigDict(extra="ignore")
