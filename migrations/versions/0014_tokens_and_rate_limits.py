"""Personal access tokens, service accounts and rate-limit counters.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 00:40:00.000000

- `users.kind`: "human" or "service". A service account has no email and no password (check
  constraints), so it can never sign in; it authenticates only with its tokens. Existing rows
  are humans; `email` becomes nullable for service accounts only.
- `api_tokens`: personal access tokens, stored as SHA-256 hashes, with scopes and a required
  expiry.
- `rate_limit_counters`: one row per (subject, fixed window), incremented by an upsert in the
  statement that authenticates each request. UNLOGGED, so counting adds no WAL flush to a read.

Downgrading drops every token; service accounts become deactivated accounts with a placeholder
email on the reserved `.invalid` domain (their issues, comments and events keep them).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users", sa.Column("kind", sa.String(16), nullable=False, server_default=sa.text("'human'"))
    )
    op.alter_column("users", "email", existing_type=sa.String(320), nullable=True)
    # Every existing row is a human with an email (the column was NOT NULL until now), so the
    # constraints hold already: NOT VALID skips the scan of users under the table lock, and new
    # and changed rows are checked from here on.
    op.create_check_constraint(
        op.f("ck_users_kind"), "users", "kind IN ('human', 'service')", postgresql_not_valid=True
    )
    op.create_check_constraint(
        op.f("ck_users_human_has_email"),
        "users",
        "kind = 'service' OR email IS NOT NULL",
        postgresql_not_valid=True,
    )
    op.create_check_constraint(
        op.f("ck_users_service_no_sign_in"),
        "users",
        "kind = 'human' OR (email IS NULL AND password_hash IS NULL)",
        postgresql_not_valid=True,
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.String(32)), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_api_tokens_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_index("ix_api_tokens_user_id_created_at", "api_tokens", ["user_id", "created_at"])
    op.create_table(
        "rate_limit_counters",
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("subject", "window_start", name="pk_rate_limit_counters"),
        prefixes=["UNLOGGED"],  # no WAL: see trackly.models.users.RateLimitCounter
    )
    op.create_index("ix_rate_limit_counters_window_start", "rate_limit_counters", ["window_start"])


def downgrade() -> None:
    op.drop_index("ix_rate_limit_counters_window_start", table_name="rate_limit_counters")
    op.drop_table("rate_limit_counters")
    op.drop_index("ix_api_tokens_user_id_created_at", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_constraint(op.f("ck_users_service_no_sign_in"), "users", type_="check")
    op.drop_constraint(op.f("ck_users_human_has_email"), "users", type_="check")
    op.drop_constraint(op.f("ck_users_kind"), "users", type_="check")
    op.execute(
        "UPDATE users SET email = 'service-' || id || '@service.invalid', is_active = false"
        " WHERE kind = 'service'"
    )
    op.alter_column("users", "email", existing_type=sa.String(320), nullable=False)
    op.drop_column("users", "kind")
