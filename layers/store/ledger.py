"""The 整改台账's database: tables, engine, write transactions and the narrow queries.

Plain rows and frames in and out; the rules (states, permissions, diffs) live in
:mod:`geo.ledger`. The schema is made by the Alembic branch ``ledger``
(``migrations/versions/ledger_*.py``); the :class:`~sqlalchemy.Table` objects here describe
its head for queries only (they never create anything).

Tables
------
``snapshots``       one row per analysis run (time, user, dataset hash, settings).
``items``           the registry of item keys ever seen (indicator, unit, township).
``item_texts``      the problem data of an item as found (类型, 描述, 措施, 户数 …), stored
                    once per distinct content (``text_hash`` = SHA-256 of the values).
``snapshot_items``  which items each snapshot found: (snapshot, item, text_hash).
``snapshot_indicators`` each snapshot's county indicator rows (code, value, target, status).
``events``          every change to an item, the whole state after it, ``version`` 1, 2, …
``rejected``        edits refused for a version conflict.
``refusals``        writes refused by the role rules (who, which item, what, when).
``ledger_actors``   (PostgreSQL) each user's database role for row-level security.

Nothing is updated or deleted: triggers refuse UPDATE/DELETE (and TRUNCATE on PostgreSQL).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, event, func, select
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError

from layers.store import migrate
from layers.store.base import advisory_xact_lock, server_engine
from layers.store.errors import RETRYABLE, StoreError, StoreFault, classify, translate

__all__ = [
    "DEFAULT_FILENAME",
    "EVENT_FIELDS",
    "INDICATOR_COLUMNS",
    "ITEM_COLUMNS",
    "NUMERIC_COLUMNS",
    "TEXT_COLUMNS",
    "LedgerDB",
    "resolve_url",
    "text_hash",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_FILENAME = "gapmap_ledger.sqlite"
"""File name of the ledger when a folder is given."""

ITEM_COLUMNS: tuple[str, ...] = (
    "key",
    "indicator",
    "unit_kind",
    "unit_code",
    "township_code",
    "township_name",
    "admin_village_code",
    "admin_village_name",
    "village_code",
    "village_name",
    "problem_type",
    "description",
    "measure",
    "cause",
    "households",
    "population",
    "cost_wan",
    "lon",
    "lat",
)
"""The columns of a problem item (equal to :data:`geo.ledger.items.ITEM_COLUMNS`, by test)."""

NUMERIC_COLUMNS = ("households", "population", "cost_wan", "lon", "lat")
TEXT_COLUMNS: tuple[str, ...] = tuple(c for c in ITEM_COLUMNS if c != "key")
"""The columns of ``item_texts`` (everything an item row holds but its key)."""

EVENT_FIELDS: tuple[str, ...] = (
    "measure",
    "responsible_unit",
    "deadline",
    "project",
    "notes",
    "evidence",
    "reason",
    "closed_on",
)
"""The editable field columns of ``events``."""

metadata = MetaData()

ledger_meta = Table(
    "ledger_meta",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
snapshots = Table(
    "snapshots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", String(40), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("dataset_hash", String(128), nullable=False),
    Column("settings_profile", String(200), nullable=False),
    Column("settings_json", Text, nullable=False),  # "" since ledger_0005: settings_hash
    Column("n_items", Integer, nullable=False),
    Column("note", Text, nullable=False),
    Column("settings_hash", String(64), nullable=True),
)
settings_texts = Table(
    "settings_texts",
    metadata,
    Column("settings_hash", String(64), primary_key=True),
    Column("settings_json", Text, nullable=False),
)
"""The settings of snapshots, stored once per distinct content (SHA-256 of the JSON)."""
items = Table(
    "items",
    metadata,
    Column("item_key", String(300), primary_key=True),
    Column("indicator", String(64), nullable=False),
    Column("unit_kind", String(64), nullable=False),
    Column("unit_code", String(200), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("first_snapshot_id", Integer, nullable=False),
    Column("township_code", Text, nullable=True),
)
item_texts = Table(
    "item_texts",
    metadata,
    Column("text_hash", String(64), primary_key=True),
    *[Column(c, Float if c in NUMERIC_COLUMNS else Text, nullable=True) for c in TEXT_COLUMNS],
)
snapshot_indicators = Table(
    "snapshot_indicators",
    metadata,
    Column("snapshot_id", Integer, primary_key=True),
    Column("code", String(64), primary_key=True),
    Column("indicator", Text, nullable=False),
    Column("value", Float, nullable=True),
    Column("unit", Text, nullable=False),
    Column("target", Float, nullable=True),
    Column("comparison", String(8), nullable=False),
    Column("status", Text, nullable=False),
)
"""The county indicator rows of each snapshot (since ledger_0006; NULL value: 无数据)."""
INDICATOR_COLUMNS: tuple[str, ...] = (
    "code", "indicator", "value", "unit", "target", "comparison", "status",
)  # fmt: skip
"""Columns of a snapshot's stored county rows (:meth:`LedgerDB.indicators_of`)."""
snapshot_items = Table(
    "snapshot_items",
    metadata,
    Column("snapshot_id", Integer, primary_key=True),
    Column("item_key", String(300), primary_key=True),
    Column("text_hash", String(64), nullable=False),
)
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_key", String(300), nullable=False),
    Column("version", Integer, nullable=False),
    Column("at", String(40), nullable=False),
    Column("by_user", String(200), nullable=False),
    Column("action", String(32), nullable=False),
    Column("from_state", String(32), nullable=True),
    Column("state", String(32), nullable=False),
    Column("snapshot_id", Integer, nullable=True),
    *[Column(f, Text, nullable=True) for f in EVENT_FIELDS],
    Column("reopen_count", Integer, nullable=False),
    Column("changes", Text, nullable=False),
    Column("by_label", Text, nullable=True),
)
rejected = Table(
    "rejected",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_key", String(300), nullable=False),
    Column("at", String(40), nullable=False),
    Column("by_user", String(200), nullable=False),
    Column("action", String(32), nullable=False),
    Column("expected_version", Integer, nullable=False),
    Column("actual_version", Integer, nullable=True),
    Column("to_state", String(32), nullable=True),
    Column("changes", Text, nullable=False),
    Column("by_label", Text, nullable=True),
)
refusals = Table(
    "refusals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(40), nullable=False),
    Column("by_user", String(200), nullable=False),
    Column("by_label", Text, nullable=False),
    Column("role", String(32), nullable=False),
    Column("item_key", String(300), nullable=True),
    Column("action", String(32), nullable=False),
    Column("to_state", String(32), nullable=True),
    Column("changes", Text, nullable=False),
    Column("reason", Text, nullable=False),
)
ledger_actors = Table(
    "ledger_actors",
    metadata,
    Column("db_role", String(63), primary_key=True),
    Column("username", String(200), nullable=False, unique=True),
    Column("role", String(32), nullable=False),
    Column("townships", sa.ARRAY(Text), nullable=False),
    Column("indicators", sa.ARRAY(Text), nullable=False),
)


def text_hash(row: Mapping[str, Any]) -> str:
    """Return the content hash of an item's problem data (the ``item_texts`` key).

    The values of :data:`TEXT_COLUMNS` in order, JSON-encoded (None for blanks; numbers as
    floats), SHA-256 hex. Migration ``ledger_0002`` uses the same definition.
    """
    values = []
    for c in TEXT_COLUMNS:
        v = row.get(c)
        if v is None or (isinstance(v, float) and v != v):
            v = None
        elif c in NUMERIC_COLUMNS:
            v = float(v)
        else:
            v = str(v)
        values.append(v)
    return hashlib.sha256(json.dumps(values, ensure_ascii=False).encode()).hexdigest()


def resolve_url(url_or_path: str | os.PathLike[str] | URL) -> tuple[URL, Path | None]:
    """Return the SQLAlchemy URL of a ledger and its folder (None for a server).

    A folder means ``<folder>/gapmap_ledger.sqlite``; a path without suffix is a folder.
    """
    if isinstance(url_or_path, URL):
        url = url_or_path
    elif isinstance(url_or_path, str) and "://" in url_or_path:
        url = make_url(url_or_path)
    else:
        path = Path(url_or_path).expanduser()
        if path.is_dir() or not path.suffix:
            path.mkdir(parents=True, exist_ok=True)
            path = path / DEFAULT_FILENAME
        path.parent.mkdir(parents=True, exist_ok=True)
        url = URL.create("sqlite", database=str(path.resolve()))
    db = url.database
    folder = (
        Path(db).parent if url.get_backend_name() == "sqlite" and db and db != ":memory:" else None
    )
    return url, folder


def _sqlite_engine(url: URL, busy_timeout_s: float) -> Engine:
    engine = sa.create_engine(
        url, connect_args={"timeout": busy_timeout_s, "check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # SQLAlchemy emits BEGIN itself (below), so that reads are repeatable and writes
        # take the write lock up front (BEGIN IMMEDIATE) instead of failing on upgrade
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        if url.database not in (None, "", ":memory:"):
            mode = cur.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                logger.warning("ledger %s: journal mode %s, not WAL", url.database, mode)
        cur.execute("PRAGMA synchronous = FULL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("gapmap_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _frame(result: sa.CursorResult[Any], columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(result.mappings().all(), columns=list(columns))


class LedgerDB:
    """The ledger's database connection: engine, migrations, transactions, queries.

    Parameters
    ----------
    url : URL
    busy_timeout_s : float
        SQLite: how long a writer waits for another's lock.
    migrate_on_open : bool or None
        Bring the schema to the ``ledger`` head on open. None (default): always on SQLite;
        on PostgreSQL when the connecting role owns the schema (else the schema must be
        at head already: ``python -m scripts.db upgrade``).
    retries : int
        How often a write transaction that hit a deadlock or serialization failure is run
        again.
    """

    subject = "ledger"
    subject_zh = "台账"

    def __init__(
        self,
        url: URL,
        *,
        busy_timeout_s: float = 30.0,
        migrate_on_open: bool | None = None,
        retries: int = 5,
    ) -> None:
        self.url = url
        self.retries = retries
        if url.get_backend_name() == "sqlite":
            self.engine = _sqlite_engine(url, busy_timeout_s)
        else:
            self.engine = server_engine(url)
        self.dialect = self.engine.dialect.name
        try:
            self._migrate(migrate_on_open)
        except Exception as exc:
            self.engine.dispose()
            # a folder or file that cannot be opened or written (read-only, full, missing)
            # is a clear error at open, not a driver trace
            err = self.error(exc)
            if err is not None:
                raise err from exc
            raise

    # -- errors and transactions ----------------------------------------------------

    def error(self, exc: BaseException) -> StoreError | None:
        """Return the :class:`StoreError` for a database error (None if not a fault)."""
        return translate(exc, subject=self.subject, subject_zh=self.subject_zh)

    def write(
        self,
        body: Callable[[Connection], T],
        *,
        db_role: str | None = None,
        lock_keys: Iterable[str] = (),
    ) -> T:
        """Run ``body(conn)`` in one write transaction; commit on success.

        SQLite: ``BEGIN IMMEDIATE`` (writers queue). PostgreSQL: ``SET LOCAL ROLE db_role``
        (row-level security) when given, then transaction-scoped advisory locks on
        ``lock_keys`` **in sorted order**, so that multi-item edits never deadlock; a
        deadlock or serialization failure anyway re-runs the whole body (``retries``
        times, with a short random back-off).

        Raises
        ------
        StoreError
            For a database fault (disk full, read-only, busy, refused …).
        """
        keys = sorted(set(lock_keys))
        for attempt in range(self.retries + 1):
            try:
                with self.engine.connect() as conn:
                    conn.execution_options(gapmap_write=True)
                    with conn.begin():
                        if self.dialect == "postgresql":
                            if db_role:
                                conn.exec_driver_sql(f'SET LOCAL ROLE "{db_role}"')
                            for k in keys:
                                advisory_xact_lock(conn, k)
                        return body(conn)
            except DBAPIError as exc:
                fault = classify(exc)
                if fault in RETRYABLE and attempt < self.retries:
                    logger.info("ledger write: %s, retrying (%d)", fault, attempt + 1)
                    time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
                    continue
                err = self.error(exc)
                if err is None:
                    raise
                raise err from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def read(self, body: Callable[[Connection], T]) -> T:
        """Run ``body(conn)`` in one read transaction (a consistent view)."""
        try:
            with self.engine.connect() as conn, conn.begin():
                return body(conn)
        except DBAPIError as exc:
            err = self.error(exc)
            if err is None:
                raise
            raise err from exc

    # -- schema ------------------------------------------------------------------------

    def _migrate(self, migrate_on_open: bool | None) -> None:
        with self.engine.connect() as conn:
            conn.execution_options(gapmap_write=True)
            try:
                with conn.begin():
                    self._migrate_in(conn, migrate_on_open)
            except DBAPIError as exc:
                err = self.error(exc)
                if err is None:
                    raise
                raise err from exc

    def _migrate_in(self, conn: Connection, migrate_on_open: bool | None) -> None:
        insp = sa.inspect(conn)
        tables = set(insp.get_table_names())
        heads = migrate.current_heads(conn) if "alembic_version" in tables else set()
        ledger_heads = {h for h in heads if h.startswith("ledger_")}
        target = self.head()
        if ledger_heads == {target}:
            return
        if migrate_on_open is None:
            migrate_on_open = self.dialect == "sqlite" or self._owns_schema(conn)
        if not migrate_on_open:
            raise SchemaNotAtHeadError(sorted(ledger_heads) or ["empty"], target)
        if not ledger_heads and "ledger_meta" in tables and "snapshots" in tables:
            # a ledger made before Alembic (schema_version "1" in ledger_meta): the schema
            # of ledger_0001 exactly; record that, then upgrade from there
            from alembic import command

            command.stamp(migrate.config(conn), "ledger_0001")
            logger.info("ledger %s: schema version 1 adopted as ledger_0001", self)
        migrate.upgrade(conn, "ledger@head")

    @staticmethod
    def head() -> str:
        """Return the head revision of the ``ledger`` branch."""
        heads = [h for h in migrate.head_revisions() if h.startswith("ledger_")]
        return max(heads)

    def _owns_schema(self, conn: Connection) -> bool:
        return bool(
            conn.exec_driver_sql(
                "SELECT pg_has_role(current_user, n.nspowner, 'USAGE') "
                "FROM pg_namespace n WHERE n.nspname = current_schema()"
            ).scalar()
        )

    @property
    def row_security(self) -> bool:
        """True on PostgreSQL (row-level security and actor roles are in force)."""
        return self.dialect == "postgresql"

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"LedgerDB({self.url.render_as_string(hide_password=True)!r})"

    # -- queries ------------------------------------------------------------------------

    @staticmethod
    def latest_events(conn: Connection, keys: Sequence[str] | None) -> pd.DataFrame:
        """Return the latest event of each item (of ``keys``; None: every item)."""
        last = select(events.c.item_key, func.max(events.c.version).label("v")).group_by(
            events.c.item_key
        )
        if keys is not None:
            last = last.where(events.c.item_key.in_(list(keys)))
        last = last.subquery()
        q = select(events).join(
            last, sa.and_(events.c.item_key == last.c.item_key, events.c.version == last.c.v)
        )
        return _frame(conn.execute(q), events.c.keys())

    @staticmethod
    def latest_found(conn: Connection, keys: Sequence[str] | None) -> pd.DataFrame:
        """Return each item's data as its latest snapshot found it, and ``first_seen``."""
        last = select(
            snapshot_items.c.item_key,
            func.min(snapshot_items.c.snapshot_id).label("first_seen"),
            func.max(snapshot_items.c.snapshot_id).label("last_seen"),
        ).group_by(snapshot_items.c.item_key)
        if keys is not None:
            last = last.where(snapshot_items.c.item_key.in_(list(keys)))
        last = last.subquery()
        q = (
            select(
                snapshot_items.c.snapshot_id,
                snapshot_items.c.item_key,
                *[item_texts.c[c] for c in TEXT_COLUMNS],
                last.c.first_seen,
            )
            .join(
                last,
                sa.and_(
                    snapshot_items.c.item_key == last.c.item_key,
                    snapshot_items.c.snapshot_id == last.c.last_seen,
                ),
            )
            .join(item_texts, item_texts.c.text_hash == snapshot_items.c.text_hash)
        )
        return _frame(conn.execute(q), ["snapshot_id", "item_key", *TEXT_COLUMNS, "first_seen"])

    @staticmethod
    def found_in(conn: Connection, snapshot_id: int | None) -> pd.DataFrame:
        """Return the items one snapshot found: ``item_key`` and :data:`TEXT_COLUMNS`."""
        cols = ["snapshot_id", "item_key", *TEXT_COLUMNS]
        if snapshot_id is None:
            return pd.DataFrame(columns=cols)
        q = (
            select(
                snapshot_items.c.snapshot_id,
                snapshot_items.c.item_key,
                *[item_texts.c[c] for c in TEXT_COLUMNS],
            )
            .join(item_texts, item_texts.c.text_hash == snapshot_items.c.text_hash)
            .where(snapshot_items.c.snapshot_id == snapshot_id)
            .order_by(snapshot_items.c.item_key)
        )
        return _frame(conn.execute(q), cols)

    @staticmethod
    def insert_found(conn: Connection, snapshot_id: int, rows: list[dict[str, Any]]) -> None:
        """Store what a snapshot found: each distinct item text once, then the references."""
        if not rows:
            return
        texts: dict[str, dict[str, Any]] = {}
        refs = []
        for r in rows:
            h = text_hash(r)
            texts.setdefault(h, {c: r.get(c) for c in TEXT_COLUMNS})
            refs.append({"snapshot_id": snapshot_id, "item_key": r["key"], "text_hash": h})
        known: set[str] = set()
        hashes = list(texts)
        for i in range(0, len(hashes), 500):
            chunk = hashes[i : i + 500]
            known |= set(
                conn.execute(
                    select(item_texts.c.text_hash).where(item_texts.c.text_hash.in_(chunk))
                ).scalars()
            )
        fresh = [{"text_hash": h, **t} for h, t in texts.items() if h not in known]
        if fresh:
            if conn.dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert

                conn.execute(insert(item_texts).on_conflict_do_nothing(), fresh)
            else:
                conn.execute(item_texts.insert(), fresh)
        conn.execute(snapshot_items.insert(), refs)

    @staticmethod
    def insert_indicators(conn: Connection, snapshot_id: int, rows: list[dict[str, Any]]) -> None:
        """Store a snapshot's county indicator rows (:data:`INDICATOR_COLUMNS` each)."""
        if rows:
            values = [{c: r[c] for c in INDICATOR_COLUMNS} for r in rows]
            conn.execute(
                snapshot_indicators.insert(), [{"snapshot_id": snapshot_id, **v} for v in values]
            )

    @staticmethod
    def indicators_of(conn: Connection, snapshot_id: int) -> pd.DataFrame:
        """Return the county indicator rows one snapshot stored (empty before ledger_0006)."""
        q = (
            select(snapshot_indicators)
            .where(snapshot_indicators.c.snapshot_id == snapshot_id)
            .order_by(snapshot_indicators.c.code)
        )
        return _frame(conn.execute(q), ["snapshot_id", *INDICATOR_COLUMNS])

    @staticmethod
    def latest_indicator_snapshot(conn: Connection, *, other_than: str | None = None) -> int | None:
        """Return the latest snapshot with stored indicator rows (not of ``other_than`` data)."""
        q = select(func.max(snapshot_indicators.c.snapshot_id)).select_from(
            snapshot_indicators.join(snapshots, snapshots.c.id == snapshot_indicators.c.snapshot_id)
        )
        if other_than is not None:
            q = q.where(snapshots.c.dataset_hash != other_than)
        return conn.execute(q).scalar()

    @staticmethod
    def snapshot_counts(conn: Connection) -> list[tuple[int, int, int]]:
        """Return (snapshot id, declared n_items, stored rows) of every snapshot."""
        return [
            tuple(r)
            for r in conn.execute(
                select(snapshots.c.id, snapshots.c.n_items, func.count(snapshot_items.c.item_key))
                .select_from(
                    snapshots.outerjoin(
                        snapshot_items, snapshot_items.c.snapshot_id == snapshots.c.id
                    )
                )
                .group_by(snapshots.c.id, snapshots.c.n_items)
            ).all()
        ]

    # -- actors (PostgreSQL row-level security) ------------------------------------------

    @staticmethod
    def db_role_of(username: str) -> str:
        """Return the database role of a user: ``gapmap_u_`` + 16 hex of its SHA-256."""
        return "gapmap_u_" + hashlib.sha256(username.encode()).hexdigest()[:16]

    def register_actor(
        self,
        *,
        username: str,
        role: str,
        townships: Iterable[str],
        indicators: Iterable[str],
    ) -> str | None:
        """Create or update the user's NOLOGIN role (member of ``gapmap_<role>``); return it.

        The connecting role may then ``SET ROLE`` to it. No-op (None) on SQLite.
        """
        if not self.row_security:
            return None
        towns, inds = sorted(set(townships)), sorted(set(indicators))

        def body(conn: Connection) -> str:
            # the SECURITY DEFINER function of migration ledger_0004: the app's login needs
            # no CREATEROLE (on PostgreSQL 15 that would let it grant itself the owner)
            return conn.execute(
                sa.text("SELECT gapmap_register_actor(:u, :r, :t, :i)"),
                {"u": username, "r": role, "t": towns, "i": inds},
            ).scalar_one()

        return self.write(body)

    def actor_role(self, conn: Connection, username: str) -> tuple[str, str, list, list] | None:
        """Return (db_role, role, townships, indicators) of a registered user, or None."""
        row = conn.execute(
            select(ledger_actors).where(ledger_actors.c.username == username)
        ).first()
        if row is None:
            return None
        return row.db_role, row.role, list(row.townships), list(row.indicators)


class SchemaNotAtHeadError(StoreError):
    """The ledger's tables are not at the schema this GapMap needs and may not migrate."""

    def __init__(self, current: list[str], head: str) -> None:
        self.fault, self.code = StoreFault.DENIED, None
        self.current, self.head = current, head
        msg = (
            f"the ledger database is at {current}, this GapMap needs {head}; the app's role "
            "does not own the schema: run `python -m scripts.db upgrade` as the database owner"
        )
        zh = (
            f"台账数据库结构版本（{'、'.join(current)}）不是本软件所需的 {head}，且当前数据库账号"
            "无权升级：请由数据库管理员运行 `python -m scripts.db upgrade` 后再打开"
        )
        Exception.__init__(self, msg)
        self.zh = zh
