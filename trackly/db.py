"""Database access: one lazily built engine per worker process, one Session per invocation.

Nothing here connects at import time. The engine is created on first use from Settings and
reused by every invocation the worker process serves.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Row, create_engine, event, exc
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.dml import UpdateBase

if TYPE_CHECKING:  # settings load with the first request (pydantic-settings is not cheap to import)
    from trackly.config import Settings

log = logging.getLogger(__name__)

_lock = threading.Lock()
_engine: Engine | None = None
_factory: sessionmaker[Session] | None = None

# Entra ID scope for Azure Database for PostgreSQL.
ENTRA_SCOPE = "https://ossrdbms-aad.database.windows.net/.default"

# SQLAlchemy's pool_pre_ping costs a round trip on every checkout, i.e. on every invocation.
# A connection used seconds ago is almost certainly alive, so only connections idle longer than
# DATABASE_PING_AFTER_IDLE_SECONDS are pinged. One dropped in between fails the request's first
# statement; the pool then discards its connections and the endpoint layer runs the request once
# more on a fresh one (`retry_on_fresh_connection`): nothing can have been written.
PING_AFTER_IDLE_SECONDS = 10.0

# The client-side deadline's message (see `_wait_with_deadline`): a stall, not a dead socket.
DEADLINE_MESSAGE = "no answer within"


def normalize_url(url: str) -> str:
    """Accept the URLs people actually paste (postgres://, postgresql://) and pick our driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


class EntraTokenSource:
    """Fetches and caches an Entra access token used as the PostgreSQL password.

    A fresh token is fetched shortly before the cached one expires, so every new pooled
    connection logs in with a valid token while existing connections keep working.
    """

    def __init__(self, fetch: Callable[[], tuple[str, float]] | None = None) -> None:
        self._fetch = fetch or self._fetch_with_default_credential
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    @staticmethod
    def _fetch_with_default_credential() -> tuple[str, float]:
        from azure.identity import DefaultAzureCredential  # heavy SDK: imported on first use

        token = DefaultAzureCredential().get_token(ENTRA_SCOPE)
        return token.token, float(token.expires_on)

    def token(self) -> str:
        with self._lock:
            if self._token is None or time.time() > self._expires_at - 300:
                self._token, self._expires_at = self._fetch()
            return self._token


def _wait_with_deadline(conn: Any) -> None:
    """psycopg2 wait callback: wait for the socket like libpq would, but never longer than the
    connection's `wait_seconds` (connections not built here wait without limit, as before).

    libpq has no client-side read timeout: a stalled network link or a frozen server would hold
    the request (and its pooled connection) until the OS gives up, minutes later. Raising here
    marks the connection broken, so SQLAlchemy invalidates it and the pool opens a fresh one.
    """
    import psycopg2
    from psycopg2 import extensions

    limit: float | None = getattr(conn, "wait_seconds", None)
    while True:
        state = conn.poll()
        if state == extensions.POLL_OK:
            return
        fd = conn.fileno()
        if state == extensions.POLL_READ:
            ready = select.select([fd], [], [], limit)[0]
        elif state == extensions.POLL_WRITE:
            ready = select.select([], [fd], [], limit)[1]
        else:
            raise psycopg2.OperationalError(f"unexpected poll state {state}")
        if not ready:
            # "could not receive data from server" is one of SQLAlchemy's disconnect messages.
            raise psycopg2.OperationalError(
                f"could not receive data from server: {DEADLINE_MESSAGE} {limit:g} s"
            )


def _timed_connection_class(connect_seconds: float, read_seconds: float) -> type[Any]:
    from psycopg2 import extensions

    class TimedConnection(extensions.connection):  # type: ignore[misc]
        """A psycopg2 connection whose waits are bounded by `_wait_with_deadline`."""

        def __init__(self, dsn: str, *args: Any, **kwargs: Any) -> None:
            self.wait_seconds = connect_seconds  # the handshake (libpq's connect_timeout is not
            super().__init__(dsn, *args, **kwargs)  # enforced in the callback's async mode)
            self.wait_seconds = read_seconds

    return TimedConnection


def session_options(settings: Settings) -> str:
    """The per-connection SET statements: a runaway query, a lock wait or a transaction left
    open by a stuck worker ends on the server instead of holding rows and connections."""
    return (
        f"SET statement_timeout = {settings.DATABASE_STATEMENT_TIMEOUT_MS};"
        f"SET lock_timeout = {settings.DATABASE_LOCK_TIMEOUT_MS};"
        f"SET idle_in_transaction_session_timeout = {settings.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS};"
    )


def connect_args(settings: Settings) -> dict[str, Any]:
    """libpq parameters: connect timeout and TCP keepalives, so a dead peer is noticed in seconds
    (keepalives while idle, tcp_user_timeout while data is unacknowledged)."""
    keepalive = settings.DATABASE_KEEPALIVE_SECONDS
    return {
        "connect_timeout": settings.DATABASE_CONNECT_TIMEOUT_SECONDS,
        "application_name": "trackly",
        "keepalives": 1,
        "keepalives_idle": keepalive,
        "keepalives_interval": max(1, keepalive // 2),
        "keepalives_count": 3,
        "tcp_user_timeout": int(settings.DATABASE_READ_TIMEOUT_SECONDS * 1000),
    }


def ping_idle_connections(
    engine: Engine,
    *,
    idle_seconds: float = PING_AFTER_IDLE_SECONDS,
    clock: Callable[[], float] = time.monotonic,
    ping_seconds: float | None = None,
) -> None:
    """Ping a pooled connection on checkout only when it sat idle longer than `idle_seconds`.

    A failed ping raises DisconnectionError, on which the pool replaces the connection and
    checks out again (SQLAlchemy's documented pessimistic-disconnect hook). The ping waits at
    most `ping_seconds` (the connect timeout), not the read timeout: a live server answers it
    in milliseconds, and a stalled one would otherwise cost the read timeout before the
    replacement connection even starts (and then its connect timeout on top).
    """

    @event.listens_for(engine.pool, "checkin")
    def _idle_from(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = clock()

    @event.listens_for(engine.pool, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or clock() - idle_since < idle_seconds:
            return  # a new connection, or one in use moments ago
        bounded = ping_seconds is not None and hasattr(dbapi_connection, "wait_seconds")
        if bounded:
            read_seconds, dbapi_connection.wait_seconds = dbapi_connection.wait_seconds, ping_seconds
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            raise exc.DisconnectionError(f"idle connection failed its ping: {error}") from error
        finally:
            if bounded:
                dbapi_connection.wait_seconds = read_seconds


def build_engine(
    settings: Settings,
    *,
    url: str | None = None,
    token_source: EntraTokenSource | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Engine:
    from psycopg2 import extensions

    # Process-wide, but it only bounds waits of connections that carry `wait_seconds`.
    if extensions.get_wait_callback() is not _wait_with_deadline:
        extensions.set_wait_callback(_wait_with_deadline)
    engine = create_engine(
        normalize_url(url or settings.DATABASE_URL),
        pool_size=settings.DATABASE_POOL_SIZE,
        max_overflow=2,
        pool_recycle=1800,
        pool_timeout=10,
        connect_args={
            **connect_args(settings),
            "connection_factory": _timed_connection_class(
                settings.DATABASE_CONNECT_TIMEOUT_SECONDS, settings.DATABASE_READ_TIMEOUT_SECONDS
            ),
        },
    )
    options = session_options(settings)

    @event.listens_for(engine, "connect")
    def _set_timeouts(dbapi_connection: Any, connection_record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(options)
        dbapi_connection.commit()  # a SET inside a transaction the pool rolls back would be undone

    if settings.DATABASE_AUTH == "entra":
        source = token_source or EntraTokenSource()

        @event.listens_for(engine, "do_connect")
        def _inject_token(dialect: Any, conn_rec: Any, cargs: Any, cparams: dict[str, Any]) -> None:
            cparams["password"] = source.token()

    ping_idle_connections(
        engine,
        idle_seconds=settings.DATABASE_PING_AFTER_IDLE_SECONDS,
        clock=clock,
        ping_seconds=settings.DATABASE_CONNECT_TIMEOUT_SECONDS,
    )
    event.listen(engine.pool, "checkin", _autocommit_off)
    event.listen(engine, "after_cursor_execute", _count_statement)
    return engine


# --- retrying a request whose connection was dead before anything ran -----------------------------


@dataclass
class StatementTally:
    """Statements that completed during one request (counted on every engine of the process)."""

    count: int = 0


_tally: ContextVar[StatementTally | None] = ContextVar("trackly_statement_tally", default=None)


def track_statements() -> StatementTally:
    """Start counting this request's completed statements (the endpoint layer, per attempt)."""
    tally = StatementTally()
    _tally.set(tally)
    return tally


def _count_statement(*_args: Any) -> None:
    tally = _tally.get()
    if tally is not None:
        tally.count += 1


def retry_on_fresh_connection(error: BaseException, tally: StatementTally) -> bool:
    """True when `error` is a pooled connection found dead by the request's very first statement:
    nothing of the request reached the database, so running it again on a fresh connection
    cannot write anything twice. Not for a stall (the client-side deadline): a retry would only
    double the wait, and the new connection would meet the same stalled server."""
    return (
        tally.count == 0
        and isinstance(error, exc.DBAPIError)
        and error.connection_invalidated
        and DEADLINE_MESSAGE not in str(error.orig)
    )


def get_engine() -> Engine:
    global _engine, _factory
    if _engine is None:
        with _lock:
            if _engine is None:
                from trackly.config import get_settings

                settings = get_settings()
                if not settings.DATABASE_URL:
                    from trackly.errors import ServiceUnavailable

                    raise ServiceUnavailable("The database is not configured (DATABASE_URL is empty).")
                _engine = build_engine(settings)
                _factory = sessionmaker(_engine, expire_on_commit=False)
                from trackly import telemetry

                telemetry.instrument_engine(_engine)  # statement spans, when telemetry is on
                event.listen(_factory, "before_flush", _refuse_flush)
                event.listen(_factory, "do_orm_execute", _refuse_dml)
    return _engine


def current_engine() -> Engine | None:
    """The engine if one was built (telemetry's pool gauges read it; never builds one)."""
    return _engine


def dispose_engine() -> None:
    """Drop the cached engine (tests, and the local host after changing DATABASE_URL)."""
    global _engine, _factory
    with _lock:
        if _engine is not None:
            _engine.dispose()
        _engine = None
        _factory = None


def new_session(*, read_only: bool = False) -> Session:
    """A Session; `read_only` runs each statement in its own implicit transaction (autocommit):
    no BEGIN and COMMIT round trips. Under READ COMMITTED every statement takes its own snapshot
    anyway, so a read sees the same rows either way. Writes through it are refused (nothing
    would roll them back)."""
    get_engine()
    assert _factory is not None
    session = _factory()
    if read_only:
        session.info[READ_ONLY] = True
        # Set on the driver directly: SQLAlchemy's isolation_level="AUTOCOMMIT" would send
        # `SET default_transaction_isolation` when it resets the connection at check-in, a round
        # trip that gives back one of the two this saves. `_autocommit_off` resets it for free.
        pooled = session.connection().connection
        pooled.info[AUTOCOMMIT] = True
        pooled.dbapi_connection.autocommit = True  # type: ignore[union-attr]
    return session


READ_ONLY = "read_only"
AUTOCOMMIT = "trackly_autocommit"


def execute_first(session: Session, statement: Any, params: dict[str, Any]) -> Sequence[Row[Any]]:
    """Run a request's first statement (authentication and the rate-limit count) committed on
    its own, before the request's transaction begins: the count survives a rollback of the
    request, and the counter row is not kept locked while the handler runs (which would queue a
    user's concurrent requests). psycopg2 switches autocommit without a round trip, so this
    costs nothing; the session's next statement starts the request's transaction as before."""
    connection = session.connection()
    pooled = connection.connection
    dbapi = pooled.dbapi_connection
    # A bare INSERT/UPDATE goes through the Connection: a read-only session's guard refuses DML
    # (this one commits by itself, so the guard's reason does not apply).
    runner: Any = connection if isinstance(statement, UpdateBase) else session
    if pooled.info.get(AUTOCOMMIT) or dbapi is None:  # a read-only session is autocommit already
        return runner.execute(statement, params).all()  # type: ignore[no-any-return,unused-ignore]
    dbapi.autocommit = True
    try:
        return runner.execute(statement, params).all()  # type: ignore[no-any-return,unused-ignore]
    finally:
        restore_transactions(dbapi)


def restore_transactions(dbapi: Any) -> None:
    """Back to transactions after an autocommit statement, unless the statement lost the
    connection (then the driver refuses, and the pool replaces the connection anyway)."""
    if not getattr(dbapi, "closed", False):
        try:
            dbapi.autocommit = False
        except Exception:  # a broken connection: its error is the one the caller reports
            log.debug("could not restore transactions on a broken connection", exc_info=True)


def _autocommit_off(dbapi_connection: Any, record: Any) -> None:
    """Pool check-in: a connection lent to a read-only session goes back to transactions."""
    if record.info.pop(AUTOCOMMIT, False) and dbapi_connection is not None:
        dbapi_connection.autocommit = False


class ReadOnlyViolation(RuntimeError):
    """A write through a read-only Session: a programming error (the endpoint's declaration)."""


def _refuse_flush(session: Session, flush_context: Any, instances: Any) -> None:
    if session.info.get(READ_ONLY) and (session.new or session.dirty or session.deleted):
        raise ReadOnlyViolation("this session is read-only: flushing changes is refused")


def _refuse_dml(state: Any) -> None:
    if state.session.info.get(READ_ONLY) and (state.is_insert or state.is_update or state.is_delete):
        raise ReadOnlyViolation("this session is read-only: INSERT, UPDATE and DELETE are refused")


def on_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` after the session's transaction commits (never if it rolls back)."""
    session.info.setdefault("after_commit", []).append(callback)


def run_after_commit(session: Session) -> None:
    callbacks: list[Callable[[], None]] = session.info.pop("after_commit", [])
    for callback in callbacks:
        try:
            callback()
        except Exception:  # side effects after commit are best effort by design
            log.exception("after-commit callback failed")


def discard(session: Session) -> None:
    """Roll back and close a session after a failure, dropping its after-commit work."""
    try:
        session.rollback()
    except Exception:  # the connection may be gone; the pool will replace it
        log.debug("rollback failed", exc_info=True)
    session.info.pop("after_commit", None)
    session.close()


@contextmanager
def session_scope() -> Iterator[Session]:
    """One transaction: commit on success, roll back on any exception, then run after-commit work."""
    session = new_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        session.info.pop("after_commit", None)
        raise
    finally:
        session.close()
    run_after_commit(session)
