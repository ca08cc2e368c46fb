"""Accounts: built-in users (argon2id hashes), their login sessions and the audit of logins.

Revision ID: accounts_0001
Revises:
Create Date: 2026-12-01

Tables (see :mod:`layers.store.accounts`):

- ``accounts`` — one row per user: role, scope, argon2id hash (never the password), lockout.
- ``auth_sessions`` — one row per login: the SHA-256 of the session token (never the token),
  sliding idle and absolute expiry, revocation (logout, disable, password change).
- ``auth_events`` — append-only audit: logins, failed logins with their reason, lockouts,
  logouts, password changes, account changes, refusals; who did it and from where.
"""

import sqlalchemy as sa
from alembic import op

revision = "accounts_0001"
down_revision = None
branch_labels = ("accounts",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the three tables."""
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(128), nullable=False, server_default=""),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("townships", sa.Text, nullable=False, server_default=""),
        sa.Column("department", sa.String(32), nullable=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("failed_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("first_failed_at", TS, nullable=True),
        sa.Column("locked_until", TS, nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("password_changed_at", TS, nullable=False),
        sa.CheckConstraint(
            "role IN ('admin', 'township', 'department', 'verifier', 'viewer')",
            name="accounts_role_known",
        ),
    )
    op.create_table(
        "auth_sessions",
        sa.Column("token_sha256", sa.String(64), primary_key=True),
        sa.Column(
            "username",
            sa.String(64),
            sa.ForeignKey("accounts.username", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("client", sa.String(255), nullable=False, server_default=""),
    )
    op.create_index("auth_sessions_username", "auth_sessions", ["username"])
    op.create_table(
        "auth_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("by", sa.String(64), nullable=False, server_default=""),
        sa.Column("reason", sa.String(64), nullable=False, server_default=""),
        sa.Column("detail", sa.Text, nullable=False, server_default=""),
        sa.Column("client", sa.String(255), nullable=False, server_default=""),
    )
    op.create_index("auth_events_username_at", "auth_events", ["username", "at"])


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_table("auth_events")
    op.drop_table("auth_sessions")
    op.drop_table("accounts")
