"""The bases of every pydantic request, query and response model (`trackly/<domain>/schemas.py`).

Shared by the domains and the HTTP layer, so a domain never imports `trackly.http`.

Not to be confused with `trackly/schema.py`, which migrates the database.
"""

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class Schema(BaseModel):
    # Validators and serializers are built on first use, not when the class is defined: every new
    # Function App instance imports every model, while a request uses only a few of them.
    model_config = ConfigDict(defer_build=True)


class RequestModel(Schema):
    """Base for request bodies: unknown fields are refused (e.g. `role` on signup)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class QueryModel(Schema):
    """Base for query strings. The endpoint layer refuses parameters a query model does not
    declare (400, naming them), so `?stauts=DONE` never quietly returns the unfiltered list;
    only the cache busters in `trackly.http.endpoint.QUERY_ALLOWLIST` pass everywhere."""

    model_config = ConfigDict(extra="ignore")
    # False only where a third party composes the query string and may add parameters we do not
    # know (an OAuth redirect: RFC 6749 4.1.2 says the client must ignore unknown ones).
    refuse_unknown: ClassVar[bool] = True
