"""The HTTP layer: endpoint declarations, problem+json, ETags, OpenAPI, routing."""

from trackly.http.endpoint import (
    REGISTRY,
    Call,
    EndpointSpec,
    QueryModel,
    Reply,
    RequestModel,
    endpoint,
)
from trackly.http.etag import make_etag, matches, parse_tags

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
