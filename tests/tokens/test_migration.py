"""Migration 0014 down and up with data in it: tokens and counters go, service accounts stay
(deactivated, with a placeholder email) so their history keeps its actor."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, text

from trackly import schema


def test_down_and_up_with_service_accounts_and_tokens(empty_database: str) -> None:
    engine = create_engine(empty_database)
    try:
        schema.upgrade(empty_database)
        with engine.begin() as conn:
            bot = conn.execute(
                text(
                    "INSERT INTO users (id, kind, email, full_name, role) "
                    "VALUES (gen_random_uuid(), 'service', NULL, 'CI bot', 'REPORTER') RETURNING id"
                )
            ).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO issues (id, title, description, severity, status, created_by) "
                    "VALUES (gen_random_uuid(), 'by the bot', '', 'LOW', 'OPEN', :bot)"
                ),
                {"bot": bot},
            )
            conn.execute(
                text(
                    "INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, scopes, expires_at) "
                    "VALUES (gen_random_uuid(), :bot, 't', decode(repeat('ab', 32), 'hex'), 'trk_abcd', "
                    "ARRAY['issues:read'], now() + interval '1 day')"
                ),
                {"bot": bot},
            )
            conn.execute(text("INSERT INTO rate_limit_counters VALUES ('user:x', now(), 3)"))

        schema.downgrade(empty_database, "0013")
        engine.dispose()
        tables = set(inspect(engine).get_table_names())
        assert "api_tokens" not in tables and "rate_limit_counters" not in tables
        with engine.connect() as conn:
            email, active = conn.execute(
                text("SELECT email, is_active FROM users WHERE id = :bot"), {"bot": bot}
            ).one()
            assert email == f"service-{bot}@service.invalid" and active is False
            assert (
                conn.execute(
                    text("SELECT count(*) FROM issues WHERE created_by = :bot"), {"bot": bot}
                ).scalar()
                == 1
            )

        schema.upgrade(empty_database)
        engine.dispose()
        with engine.connect() as conn:
            assert (
                conn.execute(text("SELECT kind FROM users WHERE id = :bot"), {"bot": bot}).scalar() == "human"
            )
            assert conn.execute(text("SELECT count(*) FROM api_tokens")).scalar() == 0
    finally:
        engine.dispose()


def test_the_counter_table_is_unlogged(engine: object) -> None:
    from sqlalchemy.engine import Engine

    assert isinstance(engine, Engine)
    with engine.connect() as conn:
        persistence = conn.execute(
            text("SELECT relpersistence FROM pg_class WHERE relname = 'rate_limit_counters'")
        ).scalar_one()
    assert persistence == "u"
