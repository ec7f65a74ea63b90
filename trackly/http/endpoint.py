"""The endpoint decorator: one declaration drives validation, auth, errors and OpenAPI.

    @endpoint(bp, "GET", "issues/{issue_id:guid}", path=IssuePath, response=IssueOut,
              action=Action.ISSUE_READ, summary="Get one issue", tags=["issues"])
    def get_issue(call: Call[IssuePath, None, None]) -> Reply: ...

The decorated handler receives a `Call` (validated path/query/body, the signed-in user and a
lazily opened Session) and returns a pydantic model, a list, a dict, None (204) or a `Reply`.
The endpoint layer commits the Session when the handler returns and rolls it back on error,
then runs after-commit work (publishing live updates).
"""

import json
import logging
import time
import typing
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import parse_qs, urlsplit

import azure.functions as func
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from trackly import db, telemetry
from trackly.auth.policy import Action, require
from trackly.auth.tokens import AccessClaims
from trackly.errors import (
    BadRequest,
    Forbidden,
    PayloadTooLarge,
    TracklyError,
    Unprocessable,
    UnsupportedMediaType,
    UriTooLong,
)
from trackly.etag import if_match_tags
from trackly.http.problems import PROBLEM_CONTENT_TYPE, problem_body
from trackly.http.strict import body_type_errors, query_type_errors
from trackly.ratelimit.policies import Policy
from trackly.schemas import QueryModel, RequestModel

if TYPE_CHECKING:  # the ORM and pydantic-settings load with the first request, not at import
    from trackly.config import Settings
    from trackly.models import User
    from trackly.ratelimit.budget import Budget

log = logging.getLogger("trackly.http")

P = TypeVar("P")
Q = TypeVar("Q")
B = TypeVar("B")

MAX_URL_LENGTH = 8192
# Query parameters every endpoint accepts and ignores: cache busters that libraries add to GET
# URLs (jQuery's and many others' `_=<timestamp>`). Anything else undeclared is refused (400).
QUERY_ALLOWLIST = frozenset({"_"})
UNKNOWN_PARAMETER = "This parameter is not known here."
# Every answer: a browser must never guess a type other than the declared one.
NOSNIFF = {"X-Content-Type-Options": "nosniff"}
JSON_CONTENT_TYPE = "application/json"


@dataclass
class Reply:
    """A response with a status or headers other than the declared defaults."""

    body: Any = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None  # set for non-JSON bodies (bytes or str)


@dataclass
class EndpointSpec:
    name: str
    method: str
    route: str
    summary: str
    description: str | None
    tags: list[str]
    auth: bool
    action: Action | None
    path_model: type[BaseModel] | None
    query_model: type[BaseModel] | None
    body_model: type[BaseModel] | None
    body_required: bool
    response: Any
    status: int
    errors: tuple[int, ...]
    response_headers: dict[str, str]
    response_content_type: str
    extra_responses: dict[int, str]
    idempotency_key_header: bool = False
    conditional: str | None = None  # "read" (If-None-Match) or "write" (If-Match)
    # On a "write": REQUIRE_IF_MATCH makes If-Match mandatory here (428 without it).
    if_match_required_by_setting: bool = False
    # The handler writes nothing: its session runs without BEGIN/COMMIT (see db.new_session).
    read_only: bool = False
    handler: Callable[..., Any] | None = None
    # A non-JSON request body the handler parses itself (e.g. multipart/form-data), documented
    # with this OpenAPI schema, and its own size limit (instead of MAX_REQUEST_BYTES).
    raw_body: tuple[str, dict[str, Any]] | None = None
    max_body_bytes: "Callable[[Settings], int] | None" = None
    # Which budget the request draws from (trackly.ratelimit.budget).
    rate_limit: Policy = Policy.USER
    # False on endpoints that manage sign-in itself (password, logout, creating tokens): a
    # personal access token is refused there (403); a session token is needed.
    tokens: bool = True

    def body_limit(self, settings: "Settings") -> int:
        return self.max_body_bytes(settings) if self.max_body_bytes else settings.MAX_REQUEST_BYTES

    @property
    def openapi_path(self) -> str:
        return "/" + strip_constraints(self.route)


# Every declared endpoint, in registration order: the source of the OpenAPI document.
REGISTRY: dict[str, EndpointSpec] = {}


def strip_constraints(route: str) -> str:
    """`issues/{issue_id:guid}` -> `issues/{issue_id}` (OpenAPI has no route constraints)."""
    out = []
    for part in route.split("/"):
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1].split(":", 1)[0].lstrip("*").rstrip("?")
            out.append("{" + name + "}")
        else:
            out.append(part)
    return "/".join(out)


class Call(Generic[P, Q, B]):
    """One invocation as a handler sees it."""

    def __init__(
        self,
        request: func.HttpRequest,
        *,
        spec: EndpointSpec,
        request_id: str,
        settings: "Settings",
        path: Any,
        query: Any,
        body: Any,
    ) -> None:
        self.request = request
        self.spec = spec
        self.request_id = request_id
        self.settings = settings
        self.path: P = path
        self.query: Q = query
        self.body: B = body
        self._session: Session | None = None
        self._user: User | None = None
        self.claims: AccessClaims | None = None  # the verified session token, on endpoints with auth
        self.token_id: uuid.UUID | None = None  # the personal access token, when one was used
        self.budget: Budget | None = None  # this request's rate-limit count (None: limits off)
        self.raw_body: bytes = b""
        self._if_match: list[str] | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = db.new_session(read_only=self.spec.read_only)
        return self._session

    @property
    def user(self) -> "User":
        """The signed-in user (only on endpoints declared with auth)."""
        if self._user is None:
            raise RuntimeError(f"endpoint {self.spec.name} is not declared with auth")
        return self._user

    @property
    def if_match(self) -> list[str] | None:
        """The If-Match tags of a `conditional="write"` endpoint (None: no header), read before
        the handler runs, so a 428 under REQUIRE_IF_MATCH comes before anything is read."""
        if self.spec.conditional != "write":
            raise RuntimeError(f"endpoint {self.spec.name} is not declared with conditional='write'")
        return self._if_match

    def header(self, name: str) -> str | None:
        value = self.request.headers.get(name)
        return None if value is None else str(value)

    @property
    def client_ip(self) -> str:
        return client_ip(self.request)

    def url_for(self, path: str) -> str:
        """An absolute URL for `path` (relative to the API root, e.g. `issues/123`)."""
        parts = urlsplit(self.request.url)
        return f"{parts.scheme}://{parts.netloc}/api/{path.lstrip('/')}"


Handler = Callable[[Call[Any, Any, Any]], Any]


def client_ip(req: func.HttpRequest) -> str:
    forwarded = req.headers.get("X-Forwarded-For")
    if forwarded:
        # The platform's front end (and the local host) append the address they saw; entries
        # to the left of it were sent by the client and cannot be trusted.
        return _strip_port(str(forwarded).split(",")[-1].strip()) or "unknown"
    # No other header is trusted: anything else here would be chosen by the client.
    return "unknown"


def _strip_port(address: str) -> str:
    """`1.2.3.4:5678` -> `1.2.3.4`; `[2001:db8::1]:443` -> `2001:db8::1`; bare IPv6 unchanged."""
    if address.startswith("["):
        return address[1:].split("]", 1)[0]
    if address.count(":") == 1:
        return address.split(":", 1)[0]
    return address


def endpoint(
    bp: func.Blueprint,
    method: str,
    route: str,
    *,
    summary: str,
    tags: list[str],
    auth: bool = True,
    action: Action | None = None,
    path: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    body_required: bool = True,
    response: Any = None,
    status: int = 200,
    errors: tuple[int, ...] = (),
    response_headers: dict[str, str] | None = None,
    response_content_type: str = JSON_CONTENT_TYPE,
    extra_responses: dict[int, str] | None = None,
    idempotency_key_header: bool = False,
    conditional: str | None = None,
    if_match_required_by_setting: bool | None = None,
    read_only: bool = False,
    name: str | None = None,
    raw_body: tuple[str, dict[str, Any]] | None = None,
    max_body_bytes: "Callable[[Settings], int] | None" = None,
    rate_limit: Policy | None = None,
    tokens: bool = True,
) -> Callable[[Handler], Handler]:
    """Declare an HTTP function. See the module docstring. An endpoint with auth names its
    Action (and so its token scope, `policy.SCOPES`); `rate_limit` defaults to the user budget
    with auth and the anonymous one without."""

    def decorate(handler: Handler) -> Handler:
        fname = name or handler.__name__
        if fname in REGISTRY:
            raise ValueError(f"duplicate endpoint name {fname}")
        if if_match_required_by_setting and conditional != "write":
            raise ValueError(f"{fname}: if_match_required_by_setting needs conditional='write'")
        if if_match_required_by_setting is False and conditional == "write":
            # REQUIRE_IF_MATCH promises no write without a precondition: no exceptions.
            raise ValueError(f"{fname}: every conditional write honours REQUIRE_IF_MATCH")
        if auth and action is None:
            raise ValueError(f"{fname}: an endpoint with auth names its Action (and so its token scope)")
        has_auth = auth or action is not None
        policy = rate_limit or (Policy.USER if has_auth else Policy.ANONYMOUS)
        if (policy is Policy.USER) != has_auth:
            raise ValueError(f"{fname}: the user budget is for endpoints with auth, and only for them")
        spec = EndpointSpec(
            name=fname,
            method=method.upper(),
            route=route,
            summary=summary,
            description=(handler.__doc__ or "").strip() or None,
            tags=tags,
            auth=has_auth,
            action=action,
            path_model=path,
            query_model=query,
            body_model=body,
            body_required=body_required,
            response=response,
            status=status,
            errors=errors,
            response_headers=response_headers or {},
            response_content_type=response_content_type,
            extra_responses=extra_responses or {},
            idempotency_key_header=idempotency_key_header,
            conditional=conditional,
            if_match_required_by_setting=conditional == "write",
            read_only=read_only,
            handler=handler,
            raw_body=raw_body,
            max_body_bytes=max_body_bytes,
            rate_limit=policy,
            tokens=tokens,
        )
        REGISTRY[fname] = spec

        def function(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
            return dispatch(
                spec, req, getattr(context, "invocation_id", None), trace_parent=_trace_parent(context)
            )

        # Real classes, not strings: the Functions worker inspects these annotations.
        function.__annotations__ = {
            "req": func.HttpRequest,
            "context": func.Context,
            "return": func.HttpResponse,
        }
        function.__name__ = function.__qualname__ = fname
        function.__doc__ = summary
        built = bp.route(route=route, methods=[spec.method], auth_level=func.AuthLevel.ANONYMOUS)(function)
        bp.function_name(fname)(built)
        return handler

    return decorate


# --- dispatch -----------------------------------------------------------------------------------


def _trace_parent(context: Any) -> str | None:
    """The host's W3C traceparent for this invocation (`context.trace_context`, Python worker)."""
    value = getattr(getattr(context, "trace_context", None), "trace_parent", None)
    return str(value) if value else None


def dispatch(
    spec: EndpointSpec, req: func.HttpRequest, invocation_id: str | None, *, trace_parent: str | None = None
) -> func.HttpResponse:
    request_id = _request_id(req, invocation_id)
    with telemetry.invocation(
        spec.name,
        trigger="http",
        request_id=request_id,
        invocation_id=invocation_id,
        trace_parent=trace_parent,
        route=strip_constraints(spec.route),
        method=spec.method,
        headers=req.headers,
    ) as inv:
        response = _dispatch(spec, req, request_id)
        inv.status_code = response.status_code
    return response


def _dispatch(spec: EndpointSpec, req: func.HttpRequest, request_id: str) -> func.HttpResponse:
    from trackly.config import get_settings  # here, not at import: keeps pydantic-settings out of cold start

    started = time.perf_counter()
    for attempt in (1, 2):
        tally = db.track_statements()
        try:
            response = _attempt(spec, req, request_id, get_settings())
            break
        except Exception as failure:  # every failure becomes a problem document
            call, exc = (failure.call, failure.error) if isinstance(failure, _Failed) else (None, failure)
            if call is not None and call._session is not None:
                db.discard(call._session)
            if attempt == 1 and db.retry_on_fresh_connection(exc, tally):
                # A pooled connection died while idle (reset, server restart) and the request's
                # first statement found out: nothing ran, so it runs again once on a fresh
                # connection (the failure invalidated the pool's older connections too).
                log.warning(
                    "database connection was dead before the first statement; retrying on a fresh one",
                    extra={"request_id": request_id, "function": spec.name},
                )
                continue
            response = _with_budget(call, error_response(exc, req, request_id))  # logs the traceback
            break
    _expose_headers(req, response)
    log.info(
        "%s %s -> %s in %.1f ms",
        req.method,
        urlsplit(req.url).path,
        response.status_code,
        (time.perf_counter() - started) * 1000,
        extra={"request_id": request_id, "function": spec.name},
    )
    return response


class _Failed(Exception):
    """An attempt's failure, with the Call whose session must be discarded."""

    def __init__(self, call: "Call[Any, Any, Any] | None", error: Exception) -> None:
        super().__init__(str(error))
        self.call = call
        self.error = error


def _attempt(
    spec: EndpointSpec,
    req: func.HttpRequest,
    request_id: str,
    settings: "Settings",
) -> func.HttpResponse:
    """One run of an invocation: parse, authenticate, authorize, handle, commit, render."""
    call: Call[Any, Any, Any] | None = None
    try:
        call = Call(
            req, spec=spec, request_id=request_id, settings=settings, path=None, query=None, body=None
        )
        # A malformed URL or query string is refused before anything else (no database, not
        # counted); then the caller is identified and counted, so every later answer (a 404 or
        # 422 too) carries the budget headers.
        _refuse_malformed_url(spec, req)
        _admit(spec, call, settings)
        _parse_into(call, settings)
        if spec.conditional == "write":
            call._if_match = if_match_tags(
                call.header("If-Match"),
                required=spec.if_match_required_by_setting and settings.REQUIRE_IF_MATCH,
            )
        assert spec.handler is not None
        result = spec.handler(call)
        if call.budget is not None and isinstance(result, Reply) and result.status == 304:
            from trackly.ratelimit.budget import refund

            call.budget = refund(call.budget, session=call.session)  # revalidation is not counted
        if call._session is not None:
            call._session.commit()
            session, call._session = call._session, None
            session.close()
            db.run_after_commit(session)
        return _with_budget(call, _render(spec, result, request_id))
    except Exception as exc:  # every failure becomes a problem document (in dispatch)
        raise _Failed(call, exc) from exc


def _with_budget(call: "Call[Any, Any, Any] | None", response: func.HttpResponse) -> func.HttpResponse:
    """The rate-limit headers, on every answer whose request was counted."""
    if call is not None and call.budget is not None:
        for name, value in call.budget.headers().items():
            response.headers[name] = value
    return response


# Response headers a browser script may read. The Functions host's CORS (the site's CORS list)
# only answers preflights and adds Access-Control-Allow-Origin; it never sends
# Access-Control-Expose-Headers, so the app does, for the origins it allows.
EXPOSED_HEADERS = (
    "ETag, Location, Link, X-Total-Count, Retry-After, X-Request-Id, RateLimit-Policy, RateLimit"
)


def _expose_headers(req: func.HttpRequest, response: func.HttpResponse) -> None:
    from trackly.config import SettingsError, get_settings

    origin = req.headers.get("Origin")
    try:
        allowed = bool(origin) and origin in get_settings().cors_origins
    except SettingsError:
        allowed = False
    if allowed:
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    # The answer depends on Origin, so caches must keep one copy per origin.
    vary = response.headers.get("Vary")
    if not vary:
        response.headers["Vary"] = "Origin"
    elif "origin" not in [v.strip().lower() for v in vary.split(",")]:
        response.headers["Vary"] = f"{vary}, Origin"


def _admit(spec: EndpointSpec, call: Call[Any, Any, Any], settings: "Settings") -> None:
    """Identify the caller and count the request (one statement, trackly.auth.current), then
    refuse it when the budget is used up (429), the credential is bad (401), the credential is a
    personal access token where sign-in itself is managed, or scope and role do not allow the
    declared action (403)."""
    from trackly.auth.current import identify

    caller = identify(
        call.header("Authorization"),
        policy=spec.rate_limit,
        auth=spec.auth,
        client_ip=call.client_ip,
        session=lambda: call.session,  # opened only when a credential is checked
        settings=settings,
    )
    call.budget = caller.budget
    if caller.budget is not None and caller.budget.exhausted:
        raise caller.budget.refuse()
    if caller.error is not None:
        raise caller.error
    if spec.auth:
        assert caller.user is not None
        call._user, call.claims, call.token_id = caller.user, caller.claims, caller.token_id
        if caller.token_id is not None and not spec.tokens:
            raise Forbidden(
                "This endpoint manages sign-in itself; a personal access token cannot be used "
                "here. Sign in and use the session's access token."
            )
        if spec.action is not None:
            require(call._user, spec.action)


def _refuse_malformed_url(spec: EndpointSpec, req: func.HttpRequest) -> None:
    if len(req.url) > MAX_URL_LENGTH:
        raise UriTooLong(f"The request URL is longer than {MAX_URL_LENGTH} characters.")
    _query_dict(spec.query_model, req)  # unknown parameters, bad encoding, NUL: 400


def _parse_into(call: Call[Any, Any, Any], settings: "Settings") -> None:
    built = _build_call(call.spec, call.request, call.request_id, settings)
    call.path, call.query, call.body, call.raw_body = built.path, built.query, built.body, built.raw_body


def _request_id(req: func.HttpRequest, invocation_id: str | None) -> str:
    supplied = req.headers.get("X-Request-Id")
    if supplied and len(supplied) <= 128 and all(c.isalnum() or c in "-_.:" for c in supplied):
        return str(supplied)
    return invocation_id or uuid.uuid4().hex


def _build_call(
    spec: EndpointSpec, req: func.HttpRequest, request_id: str, settings: "Settings"
) -> Call[Any, Any, Any]:
    if len(req.url) > MAX_URL_LENGTH:
        raise UriTooLong(f"The request URL is longer than {MAX_URL_LENGTH} characters.")
    errors: list[dict[str, Any]] = []
    route_params = dict(req.route_params or {})
    if any("\x00" in str(v) for v in route_params.values()):
        raise BadRequest("The URL may not contain the NUL character (U+0000).")
    path = _validate(spec.path_model, route_params, "path", errors)
    query_data = _query_dict(spec.query_model, req)
    wrong_query = query_type_errors(spec.query_model, query_data) if spec.query_model and query_data else []
    errors.extend(wrong_query)
    query = None if wrong_query else _validate(spec.query_model, query_data, "query", errors)
    body: Any = None
    raw = req.get_body() or b""
    limit = spec.body_limit(settings)
    if len(raw) > limit:
        raise PayloadTooLarge(f"The request body is {len(raw)} bytes; the limit is {limit} bytes.")
    if spec.body_model is not None:
        # An absent optional body means "all defaults"; a JSON `null` body is invalid like any
        # other non-object.
        data = _parse_json(req, raw, required=spec.body_required) if raw.strip() or spec.body_required else {}
        wrong_types = body_type_errors(spec.body_model, data)
        errors.extend(wrong_types)
        body = None if wrong_types else _validate(spec.body_model, data, "body", errors)
    elif raw.strip() and spec.method in ("POST", "PUT", "PATCH") and spec.raw_body is None:
        raise BadRequest("This endpoint takes no request body.")
    if errors:
        raise Unprocessable(_summarize(errors), errors=errors)
    call: Call[Any, Any, Any] = Call(
        req, spec=spec, request_id=request_id, settings=settings, path=path, query=query, body=body
    )
    call.raw_body = raw
    return call


def _query_dict(model: type[BaseModel] | None, req: func.HttpRequest) -> dict[str, Any]:
    """The declared parameters of `model` from the query string; any other parameter (outside
    QUERY_ALLOWLIST) is refused with 400, on endpoints without a query model too."""
    query = urlsplit(req.url).query
    try:
        parsed = parse_qs(query, keep_blank_values=True, errors="strict", max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("The query string is not valid (bad encoding or too many parameters).") from None
    if not parsed and req.params:
        parsed = {k: [v] for k, v in req.params.items()}
    if any("\x00" in v for values in parsed.values() for v in values):
        raise BadRequest("Query parameters may not contain the NUL character (U+0000).")
    fields = model.model_fields if model is not None else {}
    if getattr(model, "refuse_unknown", True):
        _refuse_unknown(parsed, {info.alias or name for name, info in fields.items()})
    out: dict[str, Any] = {}
    for name, info in fields.items():
        key = info.alias or name
        if key not in parsed:
            continue
        values = parsed[key]
        out[key] = values if _is_list(info.annotation) else values[0]
    return out


def _refuse_unknown(parsed: dict[str, list[str]], declared: set[str]) -> None:
    unknown = sorted(set(parsed) - declared - QUERY_ALLOWLIST)
    if not unknown:
        return
    shown = ", ".join(f"'{name[:50]}'" for name in unknown[:5]) + (
        f" (and {len(unknown) - 5} more)" if len(unknown) > 5 else ""
    )
    accepted = ", ".join(f"'{name}'" for name in sorted(declared)) or "none"
    raise BadRequest(
        f"Unknown query parameter{'s' if len(unknown) > 1 else ''} {shown}: this endpoint accepts "
        f"{accepted} (and the cache buster '_').",
        errors=[
            {"loc": f"query.{name[:50]}", "msg": UNKNOWN_PARAMETER, "type": "unknown_parameter"}
            for name in unknown[:20]
        ],
    )


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return True
    return any(_is_list(arg) for arg in typing.get_args(annotation)) if origin is not None else False


def _parse_json(req: func.HttpRequest, raw: bytes, *, required: bool) -> Any:
    if not raw.strip():
        if required:
            raise Unprocessable(
                "A JSON request body is required.",
                errors=[{"loc": "body", "msg": "A JSON body is required.", "type": "missing"}],
            )
        return None
    ctype = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype and ctype != JSON_CONTENT_TYPE and not ctype.endswith("+json"):
        raise UnsupportedMediaType(f"Send the request body as application/json (got '{ctype[:100]}').")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("The request body is not valid UTF-8.") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"The request body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None
    except RecursionError:
        raise BadRequest("The request body is nested too deeply.") from None
    except ValueError:
        # Python refuses to convert integers longer than sys.get_int_max_str_digits() (4,300).
        raise BadRequest("The request body contains a number with too many digits.") from None
    # PostgreSQL text cannot hold U+0000; refuse it here instead of failing in the driver.
    if "\\u0000" in text and _contains_nul(data):
        raise Unprocessable(
            "Text in the request body may not contain the NUL character (U+0000).",
            errors=[{"loc": "body", "msg": "NUL (U+0000) is not allowed in text.", "type": "nul_character"}],
        )
    return data


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(v) for v in value)
    return False


def _validate(model: type[BaseModel] | None, data: Any, where: str, errors: list[dict[str, Any]]) -> Any:
    if model is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors.extend(field_errors(exc, where))
        return None
    except RecursionError:
        raise BadRequest("The request body is nested too deeply.") from None


def field_errors(exc: ValidationError, where: str) -> list[dict[str, Any]]:
    out = []
    for item in exc.errors(include_url=False, include_input=False):
        loc = ".".join([where, *(str(p) for p in item["loc"])])
        msg = item["msg"]
        if item["type"] == "extra_forbidden":
            msg = "This field is not allowed here."
        elif item["type"] == "missing":
            msg = "This field is required."
        out.append({"loc": loc, "msg": msg, "type": item["type"]})
    return out


def _summarize(errors: list[dict[str, Any]]) -> str:
    first = "; ".join(f"{e['loc']}: {e['msg']}" for e in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return f"The request is not valid: {first}{more}"


# --- rendering ----------------------------------------------------------------------------------

_adapters: dict[Any, TypeAdapter[Any]] = {}


def _to_json(value: Any, declared: Any) -> bytes:
    if isinstance(value, BaseModel):
        return value.model_dump_json().encode()
    if declared is not None and not isinstance(value, (dict, str, bytes)):
        adapter = _adapters.get(declared)
        if adapter is None:
            adapter = _adapters[declared] = TypeAdapter(declared)
        return adapter.dump_json(value)
    from pydantic_core import to_json

    return to_json(value)


def _render(spec: EndpointSpec, result: Any, request_id: str) -> func.HttpResponse:
    reply = result if isinstance(result, Reply) else Reply(body=result)
    status = reply.status or (204 if reply.body is None and spec.status == 200 else spec.status)
    headers = {"X-Request-Id": request_id, **NOSNIFF, **reply.headers}
    if spec.auth and spec.method == "GET" and "Cache-Control" not in headers:
        # Per-user data: a shared cache must not keep it, and the browser must revalidate.
        headers["Cache-Control"] = "private, no-cache"
    if status in (204, 304) or (reply.body is None and reply.content_type is None):
        # No body, but a Content-Type all the same: the Python worker adds `text/plain` to any
        # response without one, so name the type this endpoint's representation has.
        headers.setdefault("Content-Type", reply.content_type or spec.response_content_type)
        return func.HttpResponse(status_code=status, headers=headers)
    if reply.content_type is not None:
        body = reply.body.encode() if isinstance(reply.body, str) else reply.body
        headers["Content-Type"] = reply.content_type
        return func.HttpResponse(body=body, status_code=status, headers=headers, mimetype=None)
    headers["Content-Type"] = JSON_CONTENT_TYPE
    return func.HttpResponse(body=_to_json(reply.body, spec.response), status_code=status, headers=headers)


def problem_response(
    status: int,
    detail: str,
    *,
    request_id: str,
    instance: str | None = None,
    slug: str | None = None,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> func.HttpResponse:
    body = problem_body(
        status,
        detail,
        slug=slug,
        title=title,
        instance=instance,
        request_id=request_id,
        errors=errors,
        extra=extra,
    )
    all_headers = {"Content-Type": PROBLEM_CONTENT_TYPE, "X-Request-Id": request_id, **NOSNIFF}
    all_headers.update(headers or {})
    return func.HttpResponse(body=body, status_code=status, headers=all_headers)


def error_response(exc: BaseException, req: func.HttpRequest, request_id: str) -> func.HttpResponse:
    from trackly.config import SettingsError

    instance = urlsplit(req.url).path
    if isinstance(exc, TracklyError):
        if exc.status >= 500:
            log.warning("%s: %s", type(exc).__name__, exc.detail, extra={"request_id": request_id})
        return problem_response(
            exc.status,
            exc.detail,
            request_id=request_id,
            instance=instance,
            slug=exc.slug,
            title=exc.title,
            errors=exc.errors,
            headers=exc.headers,
            extra=exc.extra,
        )
    if isinstance(exc, SettingsError):
        log.error("configuration error: %s", exc, extra={"request_id": request_id})
        return problem_response(
            503,
            "The service is not configured correctly; an operator has to fix its settings.",
            request_id=request_id,
            instance=instance,
            slug="misconfigured",
        )
    if isinstance(exc, sa_exc.DataError):
        # PostgreSQL refused a value the validation let through (class 22: out of range, bad
        # date-time...): the request's fault, and the transaction was rolled back.
        log.warning("database refused a value: %s", exc.orig, extra={"request_id": request_id})
        return problem_response(
            400,
            "A value in the request is outside what the database accepts; nothing was changed.",
            request_id=request_id,
            instance=instance,
            slug="value-out-of-range",
        )
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)) or (
        isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated
    ):
        log.warning("database unavailable: %s", type(exc).__name__, extra={"request_id": request_id})
        return problem_response(
            503,
            "The database is unavailable right now; nothing was changed. Try again shortly.",
            request_id=request_id,
            instance=instance,
            slug="database-unavailable",
            headers={"Retry-After": "5"},
        )
    log.exception("unhandled error (request %s)", request_id, extra={"request_id": request_id})
    return problem_response(
        500,
        f"Something went wrong on our side. Quote request id {request_id} if you report it.",
        request_id=request_id,
        instance=instance,
        slug="internal-error",
    )


__all__ = [
    "REGISTRY",
    "Call",
    "EndpointSpec",
    "QueryModel",
    "Reply",
    "RequestModel",
    "dispatch",
    "endpoint",
    "error_response",
    "problem_response",
]
