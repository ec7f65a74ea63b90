"""When a user lost staff access: `users.staff_revoked_at`.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 10:00:00.000000

Messages to the Web PubSub `staff` group exclude users who may still hold a negotiate token
listing `staff` although they are no longer staff. That list used to be guessed from
`updated_at` and the current role, which also matched every new or edited reporter; the column
records the fact itself, set in the same transaction as the demotion or deactivation. The
partial index serves the publisher's "revoked within a token's lifetime" lookup.

Rows from before the column cannot tell a demotion from a new reporter, so the backfill applies
the old guess once: users not active staff now and changed within the last hour (longer than any
sensible REALTIME_TOKEN_MINUTES) get `staff_revoked_at = updated_at`. A demotion made just before
the deploy stays excluded; the extra rows expire with the window. Every other row starts NULL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("staff_revoked_at", sa.DateTime(timezone=True), nullable=True))
    # lock-reviewed: users has hundreds of rows, not millions; a partial index on a column that is NULL everywhere builds in milliseconds
    op.create_index(
        "ix_users_staff_revoked_at",
        "users",
        ["staff_revoked_at"],
        postgresql_where=sa.text("staff_revoked_at IS NOT NULL"),
    )
    # lock-reviewed: touches only users changed in the last hour (a handful of rows), not a table-wide backfill
    op.execute(
        "UPDATE users SET staff_revoked_at = updated_at"
        " WHERE (role = 'REPORTER' OR NOT is_active) AND updated_at >= now() - interval '1 hour'"
    )


def downgrade() -> None:
    op.drop_index("ix_users_staff_revoked_at", table_name="users")
    op.drop_column("users", "staff_revoked_at")
