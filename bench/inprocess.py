"""Warm handler cost, queries per request and scaling, measured in-process through the FunctionApp.

Each request is a constructed `func.HttpRequest` handed to the user function that
`trackly.http.router.discover(function_app.app)` returns, exactly as the Functions host would.
The SQL each handler runs is captured with SQLAlchemy's `before_cursor_execute` event; the
baseline replays those statements with plain psycopg2 on one open connection and `json.dumps`
the rows, so the ratio is "what the framework, validation and rendering cost on top of the SQL".
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import psycopg2
import psycopg2.extras

from bench.common import BENCH_EMAIL_DOMAIN, BENCH_PASSWORD, apply_environment, summary

psycopg2.extras.register_uuid()


class _Context:
    def __init__(self, name: str) -> None:
        self.invocation_id = uuid.uuid4().hex
        self.function_name = name


class SqlRecorder:
    """Counts and keeps the statements the app's engine sends while `active`, and counts the
    other round trips a request costs: pool liveness pings, and per transaction the BEGIN
    (psycopg2 sends it before the first statement) and the COMMIT."""

    def __init__(self) -> None:
        self.active = False
        self.statements: list[tuple[str, Any, bool]] = []
        self.pings = 0
        self.begins = 0
        self.commits = 0
        self.autocommit = False
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        from trackly import db

        event.listen(Engine, "before_cursor_execute", self._before)
        event.listen(Engine, "begin", self._begin)
        event.listen(Engine, "commit", self._commit)
        # A ping is a round trip the statement events never see; count it where the pool sends it.
        dialect = db.get_engine().dialect
        real_ping = dialect.do_ping

        def ping(dbapi_connection: Any) -> bool:
            if self.active:
                self.pings += 1
            return bool(real_ping(dbapi_connection))

        dialect.do_ping = ping  # type: ignore[method-assign]

    def _before(self, *args: Any) -> None:
        # before_cursor_execute(conn, cursor, statement, parameters, context, executemany)
        if self.active:
            self.statements.append((args[2], args[3], args[5]))

    def _begin(self, *args: Any) -> None:
        if self.active:
            self.begins += 1

    def _commit(self, conn: Any) -> None:
        if not self.active:
            return
        if conn.connection.dbapi_connection.autocommit:
            # A read-only session (trackly.db.new_session): the driver sent neither BEGIN nor COMMIT.
            self.begins -= 1
            self.autocommit = True
        else:
            self.commits += 1

    def start(self) -> None:
        self.statements = []
        self.pings = self.begins = self.commits = 0
        self.autocommit = False
        self.active = True

    def stop(self) -> list[tuple[str, Any, bool]]:
        self.active = False
        return self.statements

    @property
    def round_trips(self) -> int:
        return len(self.statements) + self.pings + self.begins + self.commits


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class InProcessApp:
    def __init__(self) -> None:
        import azure.functions as func

        import function_app
        from trackly.http.router import Router, discover

        self.func = func
        http, self.timers = discover(function_app.app)
        self.router = Router(http)
        self.functions = http
        self.recorder = SqlRecorder()

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        params: list[tuple[str, str]] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        function, route_params = self.router.match(method, "/api/" + path.lstrip("/"))
        query = urlencode(params or [])
        url = f"http://127.0.0.1:7071/api/{path.lstrip('/')}" + (f"?{query}" if query else "")
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        raw = b""
        if body is not None:
            raw = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        req = self.func.HttpRequest(
            method=method,
            url=url,
            headers=h,
            params=dict(params or []),
            route_params=route_params,
            body=raw,
        )
        resp = function.user_function(req=req, context=_Context(function.name))
        return Response(resp.status_code, dict(resp.headers.items()), resp.get_body())


# --- fixtures from the seeded database -----------------------------------------------------------


@dataclass
class BenchUsers:
    admin: Any
    maintainer: Any
    heavy_reporter: Any
    light_reporter: Any
    tokens: dict[str, str] = field(default_factory=dict)


def bench_users() -> BenchUsers:
    from sqlalchemy import select

    from trackly import db
    from trackly.auth.sessions import start_session
    from trackly.config import get_settings
    from trackly.models import User

    def one(email: str) -> Any:
        with db.session_scope() as session:
            user = session.scalar(select(User).where(User.email == email))
        if user is None:
            raise SystemExit(f"{email} is missing: seed first (python -m bench.seed --issues 100000)")
        return user

    users = BenchUsers(
        admin=one(f"bench-admin-1@{BENCH_EMAIL_DOMAIN}"),
        maintainer=one(f"bench-maintainer-1@{BENCH_EMAIL_DOMAIN}"),
        heavy_reporter=one(f"bench-reporter-1@{BENCH_EMAIL_DOMAIN}"),
        light_reporter=one(f"bench-reporter-150@{BENCH_EMAIL_DOMAIN}"),
    )
    settings = get_settings()
    # A real sign-in session per user (as login starts one), so every timed request pays for
    # the same session check production does.
    with db.session_scope() as session:
        for role in ("admin", "maintainer", "heavy_reporter", "light_reporter"):
            user = session.get(User, getattr(users, role).id)
            assert user is not None
            users.tokens[role] = start_session(user, session=session, settings=settings).tokens.access_token
    return users


# --- timing ---------------------------------------------------------------------------------------


def interleaved(
    fns: list[Callable[[], Any]], repeat: int, warmup: int = 5, cpu: list[list[float]] | None = None
) -> list[list[float]]:
    """Time several callables in alternation, so load from other processes on the machine hits
    each of them alike (a ratio between them is then meaningful on a busy machine). With `cpu`,
    also collect this process's CPU time per call (the work our own layers do: unlike wall time,
    it does not grow while the process waits for a core or for the database)."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    out: list[list[float]] = [[] for _ in fns]
    cpu_out: list[list[float]] = cpu if cpu is not None else []
    cpu_out.extend([] for _ in fns)
    for _ in range(repeat):
        for samples, cpu_samples, fn in zip(out, cpu_out or [[] for _ in fns], fns, strict=True):
            t, c = time.perf_counter(), time.process_time()
            fn()
            samples.append((time.perf_counter() - t) * 1000)
            cpu_samples.append((time.process_time() - c) * 1000)
    return out


def timed(fn: Callable[[], Any], repeat: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


class RawReplay:
    """Replays captured statements with plain psycopg2 and json.dumps of every result set."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))

    def close(self) -> None:
        self.conn.close()

    def run(
        self,
        statements: list[tuple[str, Any, bool]],
        *,
        commit: bool = True,
        remap: dict[Any, Any] | None = None,
        autocommit: bool = False,
    ) -> int:
        """`remap` replaces captured values (e.g. point an UPDATE at a row of the replay's own);
        `autocommit` replays without BEGIN/COMMIT, as the app's read-only requests run."""
        remap = dict(remap or {})
        if self.conn.autocommit != autocommit:
            self.conn.autocommit = autocommit
        size = 0
        cur = self.conn.cursor()
        try:
            for statement, captured, many in statements:
                params = _remap(captured, remap) if remap else captured
                if statement.lstrip().upper().startswith("INSERT") and isinstance(params, dict):
                    # Fresh primary keys and unique hashes, so the replay can commit like the app.
                    old = params.get("id")
                    if isinstance(old, (uuid.UUID, str)) and _is_uuid(old):
                        new = uuid.uuid4()
                        remap[old] = new if isinstance(old, uuid.UUID) else str(new)
                        remap[str(old)] = str(new)
                    params = {k: _fresh_binary(v) for k, v in _remap(params, remap).items()}
                if many:
                    cur.executemany(statement, params)
                else:
                    cur.execute(statement, params)
                if cur.description is not None:
                    size += len(json.dumps(cur.fetchall(), default=str))
            if commit:
                self.conn.commit()
            else:
                self.conn.rollback()
        except Exception:
            self.conn.rollback()
            raise
        finally:
            cur.close()
        return size


def _fresh_binary(value: Any) -> Any:
    """A new random value in place of a bytes parameter (token and code hashes are unique)."""
    raw = getattr(value, "adapted", value)
    if isinstance(raw, (bytes, memoryview)):
        return psycopg2.Binary(os.urandom(len(raw)))
    return value


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _remap(params: Any, remap: dict[Any, Any]) -> Any:
    if isinstance(params, dict):
        return {k: _remap(v, remap) for k, v in params.items()}
    if isinstance(params, (list, tuple)):
        return type(params)(_remap(v, remap) for v in params)
    try:
        return remap.get(params, params)
    except TypeError:  # unhashable
        return params


# --- the scenarios ---------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    make: Callable[[], Callable[[], Response]]  # returns the request to time (setup done)
    expect: int = 200
    original_ms: float | None = None  # the original FastAPI server at 100k issues (reference doc)


def _id_remap(old: str, new: str) -> dict[Any, Any]:
    return {old: new, uuid.UUID(old): uuid.UUID(new)}


def _title(n: int) -> str:
    return f"Bench issue {n}: export to CSV times out when sorting by severity"


def handler_scenarios(app: InProcessApp, users: BenchUsers, sample_issue: str) -> list[Scenario]:
    tok = users.tokens
    counter = iter(range(10**9))
    state: dict[str, Any] = {}

    def list_issues() -> Callable[[], Response]:
        params = [("status", "OPEN"), ("status", "TRIAGED"), ("sort", "-severity"), ("limit", "20")]
        return lambda: app.request("GET", "issues", token=tok["maintainer"], params=params)

    def get_issue() -> Callable[[], Response]:
        return lambda: app.request("GET", f"issues/{sample_issue}", token=tok["maintainer"])

    def create_issue() -> Callable[[], Response]:
        return lambda: app.request(
            "POST",
            "issues",
            token=tok["heavy_reporter"],
            body={
                "title": _title(next(counter)),
                "description": "Steps: *open* the page.",
                "severity": "HIGH",
            },
        )

    def patch_issue() -> Callable[[], Response]:
        created = app.request(
            "POST", "issues", token=tok["maintainer"], body={"title": "Patch target", "severity": "LOW"}
        )
        state["patch_id"] = created.json()["id"]
        state["etag"] = created.headers.get("ETag")
        # The baseline replays the UPDATE on an issue of its own: replayed on the app's issue it
        # would change its version between two timed calls and turn them into 412s.
        twin = app.request(
            "POST", "issues", token=tok["maintainer"], body={"title": "Replay target", "severity": "LOW"}
        )
        state["replay_remap"] = _id_remap(state["patch_id"], twin.json()["id"])

        def call() -> Response:
            resp = app.request(
                "PATCH",
                f"issues/{state['patch_id']}",
                token=tok["maintainer"],
                body={"title": _title(next(counter))},
                headers={"If-Match": state["etag"]},
            )
            state["etag"] = resp.headers.get("ETag", state["etag"])
            return resp

        call.replay_remap = state["replay_remap"]  # type: ignore[attr-defined]
        return call

    def history() -> Callable[[], Response]:
        return lambda: app.request("GET", f"issues/{sample_issue}/history", token=tok["maintainer"])

    def stats_summary() -> Callable[[], Response]:
        return lambda: app.request("GET", "stats/summary", token=tok["maintainer"])

    def me() -> Callable[[], Response]:
        return lambda: app.request("GET", "auth/me", token=tok["maintainer"])

    return [
        Scenario("list issues (20, filtered, sorted)", list_issues, original_ms=87.0),
        Scenario("get issue", get_issue, original_ms=10.0),
        Scenario("create issue", create_issue, expect=201, original_ms=12.0),
        Scenario("patch issue (If-Match)", patch_issue, original_ms=19.5),
        Scenario("issue history", history),
        Scenario("stats summary", stats_summary),
        Scenario("auth/me", me),
    ]


def _has_route(app: InProcessApp, method: str, path: str) -> bool:
    try:
        app.router.match(method, "/api/" + path)
    except Exception:
        return False
    return True


def sample_issue_id(url: str) -> str:
    conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
    with conn, conn.cursor() as cur:
        # An issue with a full history (created + 3 status changes) and attachments.
        cur.execute(
            "SELECT i.id FROM issues i JOIN attachments a ON a.issue_id = i.id "
            "WHERE i.status = 'DONE' ORDER BY i.created_at DESC LIMIT 1"
        )
        row = cur.fetchone()
    conn.close()
    return str(row[0])


def handler_cost(url: str, repeat: int) -> dict[str, Any]:
    apply_environment(url)
    app = InProcessApp()
    users = bench_users()
    replay = RawReplay(url)
    out: dict[str, Any] = {"endpoints": [], "skipped": []}
    probes = {
        "list issues (20, filtered, sorted)": ("GET", "issues"),
        "get issue": ("GET", f"issues/{uuid.uuid4()}"),
        "create issue": ("POST", "issues"),
        "patch issue (If-Match)": ("PATCH", f"issues/{uuid.uuid4()}"),
        "issue history": ("GET", f"issues/{uuid.uuid4()}/history"),
        "stats summary": ("GET", "stats/summary"),
        "auth/me": ("GET", "auth/me"),
    }
    sample = sample_issue_id(url)
    for scenario in handler_scenarios(app, users, sample):
        method, path = probes[scenario.name]
        if not _has_route(app, method, path):
            out["skipped"].append(f"{scenario.name}: endpoint not present in this build")
            continue
        call = scenario.make()
        first = call()
        if first.status != scenario.expect:
            out["skipped"].append(
                f"{scenario.name}: answered {first.status} (expected {scenario.expect}): {first.body[:200]!r}"
            )
            continue
        app.recorder.start()
        call()
        statements = app.recorder.stop()
        round_trips = app.recorder.round_trips
        autocommit = app.recorder.autocommit
        unexpected: list[int] = []

        def checked(
            c: Callable[[], Response] = call, want: int = scenario.expect, bad: list[int] = unexpected
        ) -> None:
            status = c().status
            if status != want:
                bad.append(status)

        remap = getattr(call, "replay_remap", None)
        mode = "commit"
        try:
            replay.run(statements, remap=remap, autocommit=autocommit)
        except psycopg2.Error:
            mode = "rollback"  # a unique value in the captured statements cannot be replayed twice
        cpu: list[list[float]] = []
        app_ms, raw_ms = interleaved(
            [
                checked,
                lambda st=statements, m=mode, r=remap, a=autocommit: replay.run(
                    st, commit=m == "commit", remap=r, autocommit=a
                ),
            ],
            repeat,
            cpu=cpu,
        )
        app_s, raw_s = summary(app_ms), summary(raw_ms)
        out["endpoints"].append(
            {
                "name": scenario.name,
                "app": app_s,
                "raw_sql": raw_s,
                "ratio": app_s["median"] / raw_s["median"] if raw_s["median"] else None,
                "ratio_min": app_s["min"] / raw_s["min"] if raw_s["min"] else None,
                "app_cpu": summary(cpu[0]),
                "raw_cpu": summary(cpu[1]),
                "queries": len(statements),
                "round_trips": round_trips,
                # + BEGIN and COMMIT (or ROLLBACK), unless replayed in autocommit like the app
                "raw_round_trips": len(statements) + (0 if autocommit else 2),
                "replay": mode,
                "original_ms": scenario.original_ms,
                "unexpected_statuses": sorted(set(unexpected)),
            }
        )
    out["login"] = login_cost(app, users, replay, repeat=max(20, repeat // 2))
    replay.close()
    return out


def login_cost(app: InProcessApp, users: BenchUsers, replay: RawReplay, repeat: int) -> dict[str, Any]:
    if not _has_route(app, "POST", "auth/login"):
        return {"skipped": "auth/login not present"}
    from trackly.auth.passwords import hasher

    email = users.light_reporter.email

    def call() -> Response:
        return app.request("POST", "auth/login", body={"email": email, "password": BENCH_PASSWORD})

    first = call()
    if first.status != 200:
        return {"skipped": f"login answered {first.status}: {first.body[:200]!r}"}
    app.recorder.start()
    call()
    statements = app.recorder.stop()
    round_trips = app.recorder.round_trips
    unexpected: list[int] = []

    def checked() -> None:
        status = call().status
        if status != 200:
            unexpected.append(status)

    stored = users.light_reporter.password_hash
    # CPU time too: login minus argon2 is a difference of two large, noisy wall times, while
    # argon2id's CPU time (single-threaded, in this process) barely varies.
    cpu: list[list[float]] = []
    login_ms, argon_ms, raw_ms = interleaved(
        [checked, lambda: hasher().verify(stored, BENCH_PASSWORD), lambda: replay.run(statements)],
        repeat,
        warmup=2,
        cpu=cpu,
    )
    login_s, argon_s, raw_s = summary(login_ms), summary(argon_ms), summary(raw_ms)
    excl = login_s["median"] - argon_s["median"]
    return {
        "login": login_s,
        "argon2_verify": argon_s,
        "login_excluding_argon2_median": excl,
        "raw_sql": raw_s,
        "ratio_excluding_argon2": excl / raw_s["median"] if raw_s["median"] else None,
        "ratio_min_excluding_argon2": (
            (login_s["min"] - argon_s["min"]) / raw_s["min"] if raw_s["min"] else None
        ),
        "cpu_excluding_argon2": summary(cpu[0])["median"] - summary(cpu[1])["median"],
        "raw_cpu": summary(cpu[2]),
        "queries": len(statements),
        "round_trips": round_trips,
        "original_ms": 345.0,
        "unexpected_statuses": sorted(set(unexpected)),
    }


# --- queries per request ---------------------------------------------------------------------------


def queries_per_request(url: str) -> dict[str, Any]:
    """Statement counts for every endpoint we know how to call; list endpoints at limit 10 and 100."""
    apply_environment(url)
    app = InProcessApp()
    users = bench_users()
    tok = users.tokens
    sample = sample_issue_id(url)
    created = app.request("POST", "issues", token=tok["maintainer"], body={"title": "Counting queries"})
    new_id = created.json().get("id") if created.status == 201 else sample
    etag = created.headers.get("ETag", "*")
    cases: list[tuple[str, str, str, dict[str, Any]]] = [
        ("GET /health", "GET", "health", {}),
        ("GET /openapi.json", "GET", "openapi.json", {}),
        ("GET /auth/me", "GET", "auth/me", {"token": tok["maintainer"]}),
        ("GET /issues?limit=10", "GET", "issues", {"token": tok["maintainer"], "params": [("limit", "10")]}),
        (
            "GET /issues?limit=100",
            "GET",
            "issues",
            {"token": tok["maintainer"], "params": [("limit", "100")]},
        ),
        (
            "GET /issues?limit=10 (reporter)",
            "GET",
            "issues",
            {"token": tok["heavy_reporter"], "params": [("limit", "10")]},
        ),
        (
            "GET /issues?limit=100 (reporter)",
            "GET",
            "issues",
            {"token": tok["heavy_reporter"], "params": [("limit", "100")]},
        ),
        (
            "GET /issues?q=...",
            "GET",
            "issues",
            {"token": tok["maintainer"], "params": [("q", "safari crash")]},
        ),
        ("GET /issues/{id}", "GET", f"issues/{sample}", {"token": tok["maintainer"]}),
        ("GET /issues/{id}/history", "GET", f"issues/{sample}/history", {"token": tok["maintainer"]}),
        ("GET /issues/{id}/attachments", "GET", f"issues/{sample}/attachments", {"token": tok["maintainer"]}),
        ("GET /issues/stats/count", "GET", "issues/stats/count", {"token": tok["maintainer"]}),
        ("GET /issues/stats/by-status", "GET", "issues/stats/by-status", {"token": tok["maintainer"]}),
        ("GET /issues/stats/by-severity", "GET", "issues/stats/by-severity", {"token": tok["maintainer"]}),
        ("GET /stats/summary", "GET", "stats/summary", {"token": tok["maintainer"]}),
        (
            "GET /stats/daily?limit=30",
            "GET",
            "stats/daily",
            {"token": tok["maintainer"], "params": [("limit", "30")]},
        ),
        (
            "GET /stats/trends?days=30",
            "GET",
            "stats/trends",
            {"token": tok["maintainer"], "params": [("days", "30")]},
        ),
        ("GET /users?limit=10", "GET", "users", {"token": tok["admin"], "params": [("limit", "10")]}),
        ("GET /users?limit=100", "GET", "users", {"token": tok["admin"], "params": [("limit", "100")]}),
        ("GET /events?limit=10", "GET", "events", {"token": tok["maintainer"], "params": [("limit", "10")]}),
        (
            "GET /events?limit=100",
            "GET",
            "events",
            {"token": tok["maintainer"], "params": [("limit", "100")]},
        ),
        (
            "POST /issues",
            "POST",
            "issues",
            {"token": tok["maintainer"], "body": {"title": "Query count", "severity": "LOW"}},
        ),
        (
            "PATCH /issues/{id} (status)",
            "PATCH",
            f"issues/{new_id}",
            {"token": tok["maintainer"], "body": {"status": "TRIAGED"}, "headers": {"If-Match": etag}},
        ),
        ("DELETE /issues/{id}", "DELETE", f"issues/{new_id}", {"token": tok["admin"]}),
    ]
    rows = []
    for label, method, path, kw in cases:
        if not _has_route(app, method, path):
            rows.append({"endpoint": label, "queries": None, "status": "absent"})
            continue
        app.recorder.start()
        resp = app.request(method, path, **kw)
        statements = app.recorder.stop()
        rows.append(
            {
                "endpoint": label,
                "queries": len(statements),
                "round_trips": app.recorder.round_trips,
                "status": resp.status,
            }
        )
    known = {re.sub(r"\{[^}]*\}", "{}", r["endpoint"].split(" (")[0].split("?")[0]) for r in rows}
    uncounted = []
    for fn in app.functions:
        for m in fn.methods:
            template = "/" + re.sub(r"\{[^}]*\}", "{}", fn.route)
            if f"{m} {template}" not in known:
                uncounted.append(f"{m} {template}")
    growth = []
    for base in ("GET /issues", "GET /issues (reporter)", "GET /users", "GET /events"):
        small = next((r for r in rows if r["endpoint"] == _limit_label(base, 10)), None)
        large = next((r for r in rows if r["endpoint"] == _limit_label(base, 100)), None)
        if small and large and small["queries"] is not None and large["queries"] is not None:
            growth.append({"endpoint": base, "limit_10": small["queries"], "limit_100": large["queries"]})
    return {"rows": rows, "page_size_growth": growth, "not_measured": sorted(uncounted)}


def _limit_label(base: str, limit: int) -> str:
    if base.endswith(" (reporter)"):
        return f"{base[: -len(' (reporter)')]}?limit={limit} (reporter)"
    return f"{base}?limit={limit}"


# --- scaling ---------------------------------------------------------------------------------------


def _next_cursor(resp: Response) -> list[tuple[str, str]] | None:
    link = resp.headers.get("Link")
    if not link:
        return None
    m = re.search(r"<([^>]+)>;\s*rel=\"next\"", link)
    if not m:
        return None
    return parse_qsl(urlsplit(m.group(1)).query)


def scaling(url: str, repeat: int, deep_pages: int = 50) -> dict[str, Any]:
    apply_environment(url)
    app = InProcessApp()
    users = bench_users()
    tok = users.tokens
    out: dict[str, Any] = {}

    def measure(label: str, call: Callable[[], Response]) -> None:
        resp = call()
        if resp.status != 200:
            out[label] = {"error": f"HTTP {resp.status}: {resp.body[:200]!r}"}
            return
        out[label] = summary(timed(call, repeat, warmup=3))

    first = [("limit", "20")]
    measure("list first page", lambda: app.request("GET", "issues", token=tok["maintainer"], params=first))
    # Follow the cursor `deep_pages` pages of 100 deep, then time that page.
    params: list[tuple[str, str]] | None = [("limit", "100")]
    for _ in range(deep_pages):
        assert params is not None
        resp = app.request("GET", "issues", token=tok["maintainer"], params=params)
        nxt = _next_cursor(resp)
        if nxt is None:
            break
        params = nxt
    deep = params or [("limit", "100")]
    out["deep_rows"] = deep_pages * 100
    measure(
        f"list cursor page at row {deep_pages * 100}",
        lambda: app.request("GET", "issues", token=tok["maintainer"], params=deep),
    )
    offset = [("limit", "100"), ("skip", str(deep_pages * 100))]
    measure(
        f"list skip={deep_pages * 100} (offset)",
        lambda: app.request("GET", "issues", token=tok["maintainer"], params=offset),
    )
    measure(
        "reporter view (heaviest reporter)",
        lambda: app.request("GET", "issues", token=tok["heavy_reporter"], params=first),
    )
    measure(
        "reporter view (light reporter)",
        lambda: app.request("GET", "issues", token=tok["light_reporter"], params=first),
    )
    search = [("q", "safari crash"), ("limit", "20")]
    measure(
        "full-text search (staff)",
        lambda: app.request("GET", "issues", token=tok["maintainer"], params=search),
    )
    measure(
        "full-text search (reporter)",
        lambda: app.request("GET", "issues", token=tok["heavy_reporter"], params=search),
    )
    out.update(stats_jobs(url, repeat=max(3, repeat // 10)))
    return out


def stats_jobs(url: str, repeat: int) -> dict[str, Any]:
    """Statistics: a full backfill (every day since the first event, daily_stats emptied first)
    and the incremental timer run that follows it (today and unfinished days only)."""
    try:
        from trackly.stats import service as stats
    except ImportError:
        return {"stats": {"error": "trackly.stats.service is not present in this build"}}
    from trackly import db
    from trackly.config import get_settings

    settings = get_settings()
    conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
    conn.autocommit = True
    backfill, incremental, days = [], [], 0
    for _ in range(repeat):
        with conn.cursor() as cur:
            cur.execute("DELETE FROM daily_stats")
        t = time.perf_counter()
        with db.session_scope() as session:
            outcome = stats.run_scheduled(session=session, settings=settings, max_days=0)
        backfill.append((time.perf_counter() - t) * 1000)
        days = outcome.days
        t = time.perf_counter()
        with db.session_scope() as session:
            stats.run_scheduled(session=session, settings=settings)
        incremental.append((time.perf_counter() - t) * 1000)
    conn.close()
    return {
        f"stats backfill ({days} days)": summary(backfill),
        "stats incremental timer run": summary(incremental),
    }
