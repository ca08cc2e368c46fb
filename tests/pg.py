"""Fresh databases on the test PostgreSQL server (``GAPMAP_TEST_PG_URL``), made fast.

Each test that needs a server gets a database of its own. Migrating every one of them costs
about half a second; instead each test process migrates one *template* database (PostGIS
created by the superuser, then every store's Alembic head, as ``scripts/server.sh`` does)
and copies it (``CREATE DATABASE … TEMPLATE``), which PostgreSQL does file by file.
Tests of the migrations themselves ask for an empty database (``migrated=False``).
"""

from __future__ import annotations

import atexit
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

__all__ = ["PG_URL", "fresh_database"]

PG_URL = os.environ.get("GAPMAP_TEST_PG_URL", "")
"""e.g. ``postgresql+psycopg://postgres:…@127.0.0.1:5432/postgres`` (a superuser)."""

_template: str | None = None


def _admin() -> sa.Engine:
    return sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")


def _url(name: str) -> str:
    return sa.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def _drop(name: str) -> None:
    admin = _admin()
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def _migrated_template() -> str:
    global _template
    if _template is None:
        from layers.store import migrate

        name = f"gapmap_tmpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = _admin()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
        engine = sa.create_engine(_url(name))
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
            migrate.upgrade(engine)
        finally:
            engine.dispose()  # a template may have no open connection while it is copied
        atexit.register(_drop, name)
        _template = name
    return _template


@contextmanager
def fresh_database(*, migrated: bool = True, prefix: str = "gapmap_test") -> Iterator[str]:
    """Yield the URL of a new database (dropped afterwards).

    Parameters
    ----------
    migrated : bool
        A copy of the migrated template (PostGIS and every store at its head), or an empty
        database (to test the migrations themselves).
    prefix : str
        Start of the database's name.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    template = f' TEMPLATE "{_migrated_template()}"' if migrated else ""
    admin = _admin()
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"{template}')
    finally:
        admin.dispose()
    try:
        yield _url(name)
    finally:
        _drop(name)
