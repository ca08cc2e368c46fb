"""Alembic environment of GapMap: runs on the connection :mod:`layers.store.migrate` passes in.

Revisions are written by hand (each store's tables, triggers and row-level security in its
own branch), so there is no autogenerate target.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only layers.store.migrate runs these scripts
    raise RuntimeError("run GapMap migrations with layers.store.migrate.upgrade(engine)")

context.configure(
    connection=connection,
    target_metadata=None,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
