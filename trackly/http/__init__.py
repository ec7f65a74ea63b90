"""The HTTP layer: endpoint declarations, problem+json, ETags, OpenAPI, routing."""

from trackly.etag import make_etag, matches, parse_tags
from trackly.http.endpoint import (
    REGISTRY,
    Call,
    EndpointSpec,
    QueryModel,
    Reply,
    RequestModel,
    endpoint,
)

__all__ = [
    "REGISTRY",
    "Call",
    "EndpointSpec",
    "QueryModel",
    "Reply",
    "RequestModel",
    "endpoint",
    "make_etag",
    "matches",
    "parse_tags",
]
