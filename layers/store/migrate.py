"""The one schema migration runner of every store (Alembic, programmatic).

Each store keeps its tables in its own Alembic *branch* under ``migrations/versions/``
(``ledger``, ``accounts``, ``datasets``, ``region``): a revision file names its branch label and
``down_revision`` within that branch, so stores evolve independently and
:func:`upgrade` brings all of them to their heads in one transaction.

Local mode (SQLite) migrates on open; server mode (PostgreSQL/PostGIS) migrates once, as the
database owner, from ``scripts/server.sh`` (``python -m scripts.db upgrade``) — the app then
connects as a role that may not change the schema.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

__all__ = ["MIGRATIONS", "config", "current_heads", "head_revisions", "upgrade"]

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
"""The Alembic script folder (``env.py`` and ``versions/``)."""


def config(connection: Connection | None = None) -> Config:
    """Return an Alembic :class:`~alembic.config.Config` for the GapMap migrations.

    Parameters
    ----------
    connection : Connection, optional
        The connection the migrations run on (passed to ``env.py``).
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revisions() -> set[str]:
    """Return the head revision of every branch in the scripts."""
    return set(ScriptDirectory.from_config(config()).get_heads())


def current_heads(connection: Connection) -> set[str]:
    """Return the revisions a database is at (empty for a new database)."""
    return set(MigrationContext.configure(connection).get_current_heads())


def upgrade(bind: Engine | Connection, target: str = "heads") -> None:
    """Bring a database to ``target`` (default: every branch to its head), in one transaction.

    Parameters
    ----------
    bind : Engine or Connection
        An engine (a connection is opened and committed) or a connection inside the caller's
        transaction.
    target : str
        ``heads``, a branch head such as ``ledger@head``, or a revision id.
    """
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            _upgrade(conn, target)
    else:
        _upgrade(bind, target)


def _upgrade(conn: Connection, target: str) -> None:
    before = current_heads(conn)
    command.upgrade(config(conn), target)
    after = current_heads(conn)
    if after != before:
        logger.info("database migrated: %s → %s", sorted(before) or "empty", sorted(after))
