"""OpenAPI 3.1 document generated from the endpoint registry (so docs cannot drift from code)."""

from __future__ import annotations

import typing
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, models_json_schema

from trackly.auth.policy import SCOPES
from trackly.http.endpoint import REGISTRY, EndpointSpec
from trackly.http.problems import PROBLEM_CONTENT_TYPE, Problem

REF = "#/components/schemas/{model}"

# On every answer (trackly.ratelimit.budget): the quota policy and the state of its budget.
RATE_LIMIT_HEADERS: dict[str, Any] = {
    "RateLimit-Policy": {
        "description": 'The quota policy, e.g. `"user";q=5000;w=3600` (5000 requests per hour).',
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": 'What is left of it, e.g. `"user";r=4990;t=1800` (4990 more, renewed in 1800 s).',
        "schema": {"type": "string"},
    },
}

# Errors every endpoint can answer, plus the ones implied by its declaration (400: a query
# parameter the endpoint does not declare, on every endpoint).
_ALWAYS = (400, 500, 503)
_WITH_AUTH = (401, 403)
_WITH_INPUT = (400, 413, 415, 422)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def build_openapi(*, title: str, version: str, description: str = "") -> dict[str, Any]:
    specs = list(REGISTRY.values())

    inputs: set[type[BaseModel]] = set()
    outputs: set[type[BaseModel]] = {Problem}
    for spec in specs:
        if spec.body_model is not None:
            inputs.add(spec.body_model)
        outputs.update(_models_in(spec.response))
    keyed: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (m, "validation") for m in sorted(inputs, key=lambda m: m.__name__)
    ] + [(m, "serialization") for m in sorted(outputs, key=lambda m: m.__name__)]
    refs, top = models_json_schema(keyed, ref_template=REF, schema_generator=_Generator)
    components: dict[str, Any] = dict(top.get("$defs", {}))

    paths: dict[str, dict[str, Any]] = {}
    for spec in specs:
        paths.setdefault(spec.openapi_path, {})[spec.method.lower()] = _operation(spec, refs, components)

    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "servers": [{"url": "/api"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A sign-in session's access token (POST /auth/login): every scope.",
                },
                "personalAccessToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "trk_",
                    "description": (
                        "A personal access token (POST /auth/tokens). The requirement of each "
                        "operation lists the one scope that opens it (see docs/tokens.md)."
                    ),
                },
            },
        },
        "tags": sorted(({"name": t} for t in {t for s in specs for t in s.tags}), key=lambda t: t["name"]),
    }
    _drop_impossible_null_defaults(doc)
    for name in {spec.body_model.__name__ for spec in specs if spec.body_model is not None}:
        _no_nul_in_text(components.get(name))
    for ops in paths.values():
        for op in ops.values():
            for param in op["parameters"]:
                if param["in"] == "query":
                    _no_nul_in_text(param["schema"])
    return doc


# Text may not contain U+0000 (PostgreSQL cannot store it; the endpoint layer refuses it).
NO_NUL = "^[^\\u0000]*$"


def _no_nul_in_text(node: Any) -> None:
    """State the NUL rule on free-text strings of request bodies and query parameters (strings
    with a pattern, format or enum already exclude it or are checked by them)."""
    if isinstance(node, dict):
        if node.get("type") == "string" and not {"pattern", "format", "enum", "const"} & node.keys():
            node["pattern"] = NO_NUL
        for value in node.values():
            _no_nul_in_text(value)
    elif isinstance(node, list):
        for value in node:
            _no_nul_in_text(value)


class _Generator(GenerateJsonSchema):
    """Strings that are trimmed before their length is checked (`strip_whitespace`) are published
    as a pattern on the trimmed part: `maxLength` would refuse what the code accepts (a 200
    character title with a space around it)."""

    def str_schema(self, schema: Any) -> dict[str, Any]:
        out: dict[str, Any] = super().str_schema(schema)
        if not schema.get("strip_whitespace") or "max_length" not in schema:
            return out
        low, high = int(schema.get("min_length") or 0), int(schema["max_length"])
        out.pop("maxLength", None)
        out.pop("minLength", None)
        if low >= 2:
            core = rf"\S[\s\S]{{{low - 2},{high - 2}}}\S"
        else:
            core = rf"(?:\S|\S[\s\S]{{0,{high - 2}}}\S)" + ("" if low else "?")
        trimmed = rf"^\s*{core}\s*$"
        if "pattern" in out:
            out["allOf"] = [{"pattern": trimmed}]
        else:
            out["pattern"] = trimmed
        return out


def _allows_null(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(
        isinstance(s, dict) and _allows_null(s) for key in ("anyOf", "oneOf") for s in schema.get(key, [])
    )


def _drop_impossible_null_defaults(node: Any) -> None:
    """`x: int | SkipJsonSchema[None] = None` documents `default: null` on a non-null type, which
    OpenAPI validators reject; "absent" is already expressed by the field not being required."""
    if isinstance(node, dict):
        if "default" in node and node["default"] is None and "type" in node and not _allows_null(node):
            del node["default"]
        for value in node.values():
            _drop_impossible_null_defaults(value)
    elif isinstance(node, list):
        for value in node:
            _drop_impossible_null_defaults(value)


def _schema_for(annotation: Any, refs: dict[Any, Any], components: dict[str, Any]) -> dict[str, Any]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return dict(refs[(annotation, "serialization")])
    schema = TypeAdapter(annotation).json_schema(ref_template=REF, mode="serialization")
    components.update(schema.pop("$defs", {}))
    return schema


def _parameters(spec: EndpointSpec) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for where, model in (("path", spec.path_model), ("query", spec.query_model)):
        if model is None:
            continue
        schema = model.model_json_schema(ref_template=REF)
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        for name, raw_prop in props.items():
            prop = dict(raw_prop)
            description = prop.pop("description", None)
            prop.pop("title", None)
            param: dict[str, Any] = {
                "name": name,
                "in": where,
                "required": where == "path" or name in required,
                "schema": prop,
            }
            if description:
                param["description"] = description
            if prop.get("type") == "array":
                param["style"] = "form"
                param["explode"] = True
            params.append(param)
    if spec.conditional == "read":
        params.append(_header("If-None-Match", "Answer 304 when the entity tag still matches."))
    if spec.conditional == "write":
        description = "Refuse the write (412) unless the entity tag matches."
        if spec.if_match_required_by_setting:
            description += " Required (428 without it) when the server sets REQUIRE_IF_MATCH."
        params.append(_header("If-Match", description))
    if spec.idempotency_key_header:
        params.append(
            _header(
                "Idempotency-Key",
                "Repeat a request safely: the same key and body within 24 h return the first response.",
                max_length=255,
                pattern=r"^[\x21-\x7e]{1,255}$",  # visible ASCII, as the idempotency module checks
            )
        )
    return params


def _header(
    name: str, description: str, max_length: int | None = None, pattern: str | None = None
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if max_length:
        schema["maxLength"] = max_length
    if pattern:
        schema["pattern"] = pattern
    return {"name": name, "in": "header", "required": False, "description": description, "schema": schema}


def _example(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """The first example a model declares (`json_schema_extra={"examples": [...]}`); a list of
    models gets a one-item list of it. None when the model declares none."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        examples = components.get(ref.rsplit("/", 1)[1], {}).get("examples")
        return examples[0] if examples else None
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        item = _example(schema["items"], components)
        return None if item is None else [item]
    return None


def _media(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    # Shown as the request/response sample by Swagger UI and ReDoc (the media type's `example`
    # wins over one they would otherwise make up from the schema).
    media: dict[str, Any] = {"schema": schema}
    example = _example(schema, components)
    if example is not None:
        media["example"] = example
    return media


def _operation(spec: EndpointSpec, refs: dict[Any, Any], components: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": spec.name,
        "summary": spec.summary,
        "tags": spec.tags,
        "parameters": _parameters(spec),
        "responses": {},
    }
    if spec.description:
        op["description"] = spec.description
    if spec.auth:
        assert spec.action is not None  # the endpoint decorator refuses auth without an Action
        scope = SCOPES[spec.action].value
        op["x-token-scope"] = scope
        op["security"] = [{"bearerAuth": []}]
        if spec.tokens:
            op["security"].append({"personalAccessToken": [scope]})
        else:
            op["x-token-scope"] = None  # a personal access token is refused here
    if spec.body_model is not None:
        body_schema = dict(refs[(spec.body_model, "validation")])
        op["requestBody"] = {
            "required": spec.body_required,
            "content": {"application/json": _media(body_schema, components)},
        }
    elif spec.raw_body is not None:
        media_type, schema = spec.raw_body
        op["requestBody"] = {"required": True, "content": {media_type: {"schema": schema}}}

    ok: dict[str, Any] = {"description": HTTPStatus(spec.status).phrase, "headers": dict(RATE_LIMIT_HEADERS)}
    if spec.status != 204 and spec.response is not None:
        if spec.response_content_type == "application/json":
            ok["content"] = {
                "application/json": _media(_schema_for(spec.response, refs, components), components)
            }
        else:  # one media type, or several separated by commas (e.g. CSV or NDJSON)
            media_types = [media.strip() for media in spec.response_content_type.split(",")]
            ok["content"] = {media: {"schema": {"type": "string"}} for media in media_types}
    ok["headers"].update(
        {h: {"description": d, "schema": {"type": "string"}} for h, d in spec.response_headers.items()}
    )
    op["responses"][str(spec.status)] = ok
    for code, text in spec.extra_responses.items():
        op["responses"][str(code)] = {"description": text}

    problem = {PROBLEM_CONTENT_TYPE: {"schema": dict(refs[(Problem, "serialization")])}}
    codes = set(spec.errors) | set(_ALWAYS) | {429}
    if spec.auth:
        codes |= set(_WITH_AUTH)
    if spec.path_model or spec.query_model or spec.body_model or spec.raw_body:
        codes |= {400, 422}
    if spec.body_model is not None or spec.raw_body is not None:
        codes |= set(_WITH_INPUT)
    codes.add(414)
    for code in sorted(codes):
        if str(code) in op["responses"]:
            continue
        op["responses"][str(code)] = {"description": HTTPStatus(code).phrase, "content": problem}
    too_many = op["responses"]["429"]
    too_many["headers"] = {
        **too_many.get("headers", {}),
        **RATE_LIMIT_HEADERS,
        "Retry-After": {"description": "Seconds until the budget is renewed.", "schema": {"type": "string"}},
    }
    return op
