"""POST /auth/login: credentials, no account enumeration, hash upgrades, throttling in PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import requests
from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.support.api import Api, assert_problem, session_from
from tests.support.statements import app_statements
from trackly import clock
from trackly.auth import passwords

# The client address is the one the host saw (the test client connects from 127.0.0.1); a
# forged X-Forwarded-For is sent along to prove it changes nothing.
IP = {"X-Forwarded-For": "203.0.113.7"}


def login(api: Api, email: str, password: str, headers: dict[str, str] | None = None) -> requests.Response:
    return api.post("auth/login", json={"email": email, "password": password}, headers=headers or IP)


def test_login_returns_user_and_tokens_the_original_frontend_reads(api: Api, users: Any) -> None:
    user = users("MAINTAINER", email="Mia@Example.com", password="correct horse")
    response = login(api, "mia@example.COM", "correct horse")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["id"] == str(user.id)
    assert body["user"]["email"] == "Mia@Example.com"
    assert body["user"]["role"] == "MAINTAINER"
    assert {"id", "email", "full_name", "role", "created_at"} <= set(body["user"])
    tokens = body["tokens"]
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 30 * 60
    assert tokens["refresh_token"] and tokens["access_token"]
    assert response.headers["Cache-Control"] == "no-store"
    me = api.as_(tokens["access_token"]).get("auth/me")
    assert me.status_code == 200
    assert me.json()["id"] == str(user.id)


def test_unknown_email_wrong_password_sso_only_and_inactive_get_the_same_401(
    api: Api, users: Any, engine: Engine
) -> None:
    users(email="known@example.com", password="password123")
    users(email="gone@example.com", password="password123", is_active=False)
    sso = users(email="sso@example.com")
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET password_hash = NULL WHERE id = :id"), {"id": sso.id})
    details = set()
    for email, password in [
        ("nobody@example.com", "password123"),
        ("known@example.com", "wrong-password"),
        ("sso@example.com", "password123"),
        ("gone@example.com", "password123"),
    ]:
        body = assert_problem(login(api, email, password), 401)
        details.add(body["detail"])
    assert details == {"The email or password is incorrect."}


def test_password_limits_are_validated(api: Api) -> None:
    assert_problem(login(api, "a\u0000@example.com", "password123"), 422, "NUL")
    assert_problem(login(api, "a@example.com", "x" * 1025), 422, "password")
    assert_problem(api.post("auth/login", json={"email": "a@example.com"}, headers=IP), 422, "password")


def test_hash_is_upgraded_on_login(api: Api, users: Any, engine: Engine) -> None:
    user = users(email="old@example.com")
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("legacy-password")
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET password_hash = :h WHERE id = :id"), {"h": weak, "id": user.id})
    assert login(api, "old@example.com", "legacy-password").status_code == 200
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT password_hash FROM users WHERE id = :id"), {"id": user.id}
        ).scalar()
    assert stored != weak
    assert passwords.verify_password(stored, "legacy-password")
    assert not passwords.needs_rehash(stored)
    assert login(api, "old@example.com", "legacy-password").status_code == 200


def _rows(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        result = conn.execute(text("SELECT key, failures, locked_until, lockouts FROM login_throttle"))
        return {r.key: dict(r._mapping) for r in result}


def test_throttle_is_shared_state_in_postgresql(live_server: str, users: Any, engine: Engine) -> None:
    """Failures sent over two separate HTTP connections add up, the counters are rows in
    login_throttle, and deleting those rows (nothing in-process) lifts the lock at once."""
    users(email="victim@example.com", password="the-right-one")
    first, second = Api(live_server, session=requests.Session()), Api(live_server, session=requests.Session())
    for attempt in range(5):
        client = first if attempt % 2 == 0 else second
        assert_problem(login(client, "victim@example.com", f"guess-{attempt}"), 401)
    rows = _rows(engine)
    assert rows["account:victim@example.com"]["failures"] == 5
    assert rows["ip:127.0.0.1"]["failures"] == 5
    assert "ip:203.0.113.7" not in rows  # the forged header was ignored

    # The 6th attempt is refused without checking the password, even the right one.
    blocked = login(second, "victim@example.com", "the-right-one")
    assert_problem(blocked, 429, "too many")
    assert 55 <= int(blocked.headers["Retry-After"]) <= 60
    assert _rows(engine)["pair:victim@example.com|127.0.0.1"]["locked_until"] is not None
    assert _rows(engine)["account:victim@example.com"]["locked_until"] is None  # slowed only later
    assert login(first, "victim@example.com", "the-right-one").status_code == 429

    with engine.begin() as conn:
        conn.execute(text("DELETE FROM login_throttle"))
    assert login(first, "victim@example.com", "the-right-one").status_code == 200


def test_success_resets_the_account_counter(api: Api, users: Any, engine: Engine) -> None:
    users(email="forgetful@example.com", password="the-right-one")
    for _ in range(4):
        assert login(api, "forgetful@example.com", "nope-nope").status_code == 401
    assert login(api, "forgetful@example.com", "the-right-one").status_code == 200
    assert "account:forgetful@example.com" not in _rows(engine)
    for _ in range(5):
        assert login(api, "forgetful@example.com", "nope-nope").status_code == 401
    assert login(api, "forgetful@example.com", "nope-nope").status_code == 429


def test_unicode_case_variants_find_the_account_and_share_its_throttle(
    api: Api, users: Any, engine: Engine
) -> None:
    """Email matching is PostgreSQL's lower() on both sides (as in the unique index), and the
    account counter uses the same lower(): Python's 'İ'.lower() is 'i' + U+0307, which used to
    miss the account and would open a second throttle bucket for it."""
    users(email="İnci@example.com", password="the-right-one")
    assert login(api, "İnci@example.com", "the-right-one").status_code == 200
    assert login(api, "inci@EXAMPLE.com", "the-right-one").status_code == 200
    for attempt in range(5):
        spelling = "İNCI@example.com" if attempt % 2 else "inci@example.com"
        assert_problem(login(api, spelling, "wrong-guess"), 401)
    assert [key for key in _rows(engine) if key.startswith("account:")] == ["account:inci@example.com"]
    assert_problem(login(api, "İnci@example.com", "the-right-one"), 429)


def test_lockouts_back_off_exponentially(api: Api, users: Any) -> None:
    users(email="target@example.com", password="the-right-one")
    start = clock.now()
    with clock.frozen(start):
        for _ in range(5):
            assert login(api, "target@example.com", "bad-guess").status_code == 401
        first = login(api, "target@example.com", "bad-guess")
        assert first.status_code == 429
        assert int(first.headers["Retry-After"]) == 60
    later = start + timedelta(seconds=61)
    with clock.frozen(later):
        for _ in range(5):
            assert login(api, "target@example.com", "bad-guess").status_code == 401
        second = login(api, "target@example.com", "bad-guess")
        assert second.status_code == 429
        assert int(second.headers["Retry-After"]) == 120
    # A whole quiet window later the counters start over.
    with clock.frozen(later + timedelta(minutes=40)):
        assert login(api, "target@example.com", "the-right-one").status_code == 200


def test_throttle_per_client_ip(live_server: str, users: Any) -> None:
    """One address trying many accounts is stopped after 4 x LOGIN_MAX_FAILURES attempts, even
    when it forges a different X-Forwarded-For on every request."""
    users(email="real@example.com", password="the-right-one")
    attacker = Api(live_server, session=session_from("127.0.0.9"))
    for n in range(20):
        forged = {"X-Forwarded-For": f"198.51.100.{n}"}
        assert login(attacker, f"spray{n}@example.com", "password1", forged).status_code == 401
    assert_problem(login(attacker, "real@example.com", "the-right-one"), 429)
    # Someone else, from another address, is not affected.
    other = Api(live_server, session=session_from("127.0.0.2"))
    assert login(other, "real@example.com", "the-right-one").status_code == 200


def test_throttle_limit_is_configurable(api: Api, users: Any, settings_env: Any) -> None:
    settings_env(LOGIN_MAX_FAILURES="2")
    users(email="strict@example.com", password="the-right-one")
    assert login(api, "strict@example.com", "bad-guess").status_code == 401
    assert login(api, "strict@example.com", "bad-guess").status_code == 401
    assert login(api, "strict@example.com", "bad-guess").status_code == 429


def test_concurrent_guesses_cannot_overshoot_the_limit(live_server: str, users: Any) -> None:
    """Attempts are counted under a row lock before the password is checked, so a burst of
    parallel guesses gets exactly LOGIN_MAX_FAILURES password checks."""
    import threading

    users(email="burst@example.com", password="the-right-one")
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def guess(n: int) -> None:
        client = Api(live_server, session=requests.Session())
        barrier.wait()
        statuses.append(login(client, "burst@example.com", f"guess-{n}-xx").status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [401] * 5 + [429] * 3


def test_sign_in_costs_seven_statements(api: Api, users: Any) -> None:
    """The rate-limit count (one upsert, trackly.ratelimit), throttle reservation
    (insert-and-lock, count), user lookup, throttle release (2), new refresh token. A per-row
    write creeping back in shows up here."""
    users(email="counted@example.com", password="the-right-one")
    with app_statements() as statements:
        response = login(api, "counted@example.com", "the-right-one")
    assert response.status_code == 200
    assert len(statements) == 7, statements
    assert statements[0].startswith("INSERT INTO rate_limit_counters"), statements[0]


def test_the_throttle_upsert_is_compiled_once(api: Api, users: Any) -> None:
    """The reservation's insert-and-lock has one structure for every email and address, so
    SQLAlchemy compiles it once and takes it from its cache afterwards (a multi-row VALUES is
    never cached: it was compiled again on every sign-in)."""
    from sqlalchemy import event
    from sqlalchemy.engine.default import DefaultDialect

    from trackly import db

    users(email="first@example.com", password="the-right-one")
    users(email="second@example.com", password="the-right-one")
    inserts: list[Any] = []

    def record(*args: Any) -> None:  # conn, cursor, statement, parameters, context, executemany
        statement, context = args[2], args[4]
        if statement.lstrip().upper().startswith("INSERT INTO LOGIN_THROTTLE"):
            inserts.append(context.cache_hit)

    app_engine = db.get_engine()
    event.listen(app_engine, "after_cursor_execute", record)
    try:
        assert login(api, "first@example.com", "the-right-one").status_code == 200
        assert login(api, "second@example.com", "the-right-one").status_code == 200
        assert_problem(login(api, "second@example.com", "wrong"), 401)
    finally:
        event.remove(app_engine, "after_cursor_execute", record)
    assert len(inserts) == 3
    assert inserts[1:] == [DefaultDialect.CACHE_HIT, DefaultDialect.CACHE_HIT], inserts


def test_a_stranger_cannot_lock_the_owner_out(live_server: str, users: Any, engine: Engine) -> None:
    """Guessing from one address locks that address out of the account, not the owner at
    another address (before: one shared account counter, so five wrong guesses by anyone
    locked the owner out, for longer on every round)."""
    users(email="owner@example.com", password="the-right-one")
    stranger = Api(live_server, session=session_from("127.0.0.5"))
    for n in range(5):
        assert_problem(login(stranger, "owner@example.com", f"guess-{n}"), 401)
    assert_problem(login(stranger, "owner@example.com", "guess-x"), 429)
    owner = Api(live_server, session=session_from("127.0.0.6"))
    assert login(owner, "owner@example.com", "the-right-one").status_code == 200


def test_guessing_from_many_addresses_only_slows_the_account(live_server: str, users: Any) -> None:
    """Spread over many addresses, ACCOUNT_FACTOR x LOGIN_MAX_FAILURES guesses per window are
    allowed; then the whole account waits the base lock (60 s), and again only 60 s on the next
    round (no exponential growth for the account as a whole)."""
    from trackly.auth import throttle

    users(email="popular@example.com", password="the-right-one")
    limit = 5 * throttle.ACCOUNT_FACTOR
    owner = Api(live_server, session=session_from("127.0.200.1"))
    start = clock.now()
    for round_ in range(2):
        moment = start + timedelta(seconds=(throttle.BASE_LOCK_SECONDS + 1) * round_)
        with clock.frozen(moment):
            for n in range(limit):
                address = f"127.{1 + round_}.{1 + n // 4}.{10 + n % 4}"  # 4 guesses per address
                client = Api(live_server, session=session_from(address))
                assert_problem(login(client, "popular@example.com", f"guess-{n}"), 401)
            slowed = login(owner, "popular@example.com", "the-right-one")
            assert_problem(slowed, 429)
            assert int(slowed.headers["Retry-After"]) == throttle.BASE_LOCK_SECONDS
    with clock.frozen(start + timedelta(seconds=(throttle.BASE_LOCK_SECONDS + 1) * 2)):
        assert login(owner, "popular@example.com", "the-right-one").status_code == 200
