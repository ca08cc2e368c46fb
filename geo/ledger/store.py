"""The 整改台账 store: snapshots, problem items and their append-only history.

Storage model (SQLAlchemy Core; SQLite by default, PostgreSQL/PostGIS by URL later):

``snapshots``
    One row per analysis run: id, time (UTC ISO-8601), user, dataset hash, settings used.
``snapshot_items``
    The problem items of each snapshot (:func:`geo.ledger.items.problem_items`), as found.
``items``
    The registry of item keys ever seen, with the snapshot that first found each.
``events``
    Every change to an item, as a row with the item's whole state *after* the change
    (``created``, ``reopened``, ``transition``, ``update``), numbered ``version`` 1, 2, …
    per item. The current state of an item is its latest event; nothing is updated or
    deleted (database triggers refuse UPDATE and DELETE on every table, on SQLite and on
    PostgreSQL, where TRUNCATE is refused too).
``rejected``
    Edits refused because of a version conflict, kept for the audit trail.

Optimistic locking: every edit names the ``expected_version`` it was made on. Inside one
write transaction the store reads the latest event, refuses a stale version with
:class:`ConflictError`, and appends version + 1. A unique ``(item_key, version)``
constraint makes a lost race fail in the database too (PostgreSQL, READ COMMITTED), so two
editors in two processes can never both win. SQLite runs in WAL mode with a busy timeout;
write transactions start with ``BEGIN IMMEDIATE`` so concurrent writers queue instead of
failing, and a killed writer leaves the database as of its last commit.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy import (
    DDL,
    Column,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    func,
    select,
)
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from geo.ledger.items import ITEM_COLUMNS, make_items
from geo.ledger.states import (
    OPEN_STATES,
    REASON_REQUIRED,
    STATE_ZH,
    TRANSITIONS,
    ConflictError,
    IllegalTransitionError,
    ItemNotFoundError,
    LedgerError,
    State,
    parse_state,
    parse_states,
)

if TYPE_CHECKING:
    from geo.assessment import Assessment

__all__ = [
    "ACTION_ZH",
    "CHANGE_ZH",
    "CHINA_TZ",
    "DEFAULT_FILENAME",
    "FIELDS",
    "FIELDS_ZH",
    "Change",
    "Ledger",
    "SnapshotDiff",
    "parse_date",
]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
DEFAULT_FILENAME = "gapmap_ledger.sqlite"
"""File name of the ledger when a folder is given."""

CHINA_TZ = timezone(timedelta(hours=8), "CST")
"""China Standard Time (no DST): the calendar of 销号日期 defaults; event times stay UTC."""

FIELDS: tuple[str, ...] = (
    "measure",
    "responsible_unit",
    "deadline",
    "project",
    "notes",
    "evidence",
    "reason",
    "closed_on",
)
"""Fields a person edits: 整改措施, 责任单位, 完成时限 (date), 关联项目, 备注, 佐证材料
(attachment paths, one per line), 原因说明 (required for 暂缓/豁免), 销号日期 (date)."""

FIELDS_ZH: Mapping[str, str] = {
    "measure": "整改措施",
    "responsible_unit": "责任单位",
    "deadline": "完成时限",
    "project": "关联项目",
    "notes": "备注",
    "evidence": "佐证材料",
    "reason": "原因说明",
    "closed_on": "销号日期",
    "state": "整改状态",
}
"""Chinese names of the editable fields (and of ``state``)."""

ACTION_ZH: Mapping[str, str] = {
    "created": "新发现",
    "reopened": "销号后复发，重新打开",
    "transition": "状态变更",
    "update": "信息修改",
    "conflict": "修改冲突，未保存",
}
"""Chinese label of each event action."""

CHANGE_ZH: Mapping[str, str] = {
    "new": "新增问题",
    "persisting": "持续存在",
    "disappeared": "数据中已消失（建议验收销号）",
    "reopened": "销号后复发",
}
"""Chinese label of each kind of change between two snapshots."""

_DATE_FIELDS = ("deadline", "closed_on")
_DATE_RE = (
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T].*)?"
    r"|(\d{4})(\d{2})(\d{2})"
)

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
    Column("settings_json", Text, nullable=False),
    Column("n_items", Integer, nullable=False),
    Column("note", Text, nullable=False),
)

items_table = Table(
    "items",
    metadata,
    Column("item_key", String(300), primary_key=True),
    Column("indicator", String(64), nullable=False),
    Column("unit_kind", String(64), nullable=False),
    Column("unit_code", String(200), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("first_snapshot_id", Integer, ForeignKey("snapshots.id"), nullable=False),
)

_NUMERIC = ("households", "population", "cost_wan", "lon", "lat")
snapshot_items = Table(
    "snapshot_items",
    metadata,
    Column("snapshot_id", Integer, ForeignKey("snapshots.id"), primary_key=True),
    Column("item_key", String(300), ForeignKey("items.item_key"), primary_key=True),
    *[
        Column(c, Float if c in _NUMERIC else Text, nullable=True)
        for c in ITEM_COLUMNS
        if c != "key"
    ],
    sa.Index("ix_snapshot_items_key", "item_key", "snapshot_id"),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_key", String(300), ForeignKey("items.item_key"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("at", String(40), nullable=False),
    Column("by_user", String(200), nullable=False),
    Column("action", String(32), nullable=False),
    Column("from_state", String(32), nullable=True),
    Column("state", String(32), nullable=False),
    Column("snapshot_id", Integer, ForeignKey("snapshots.id"), nullable=True),
    *[Column(f, String(10) if f in _DATE_FIELDS else Text, nullable=True) for f in FIELDS],
    Column("reopen_count", Integer, nullable=False),
    Column("changes", Text, nullable=False),
    UniqueConstraint("item_key", "version", name="uq_events_item_version"),
    sa.CheckConstraint("version >= 1", name="ck_events_version"),
    sa.Index("ix_events_snapshot", "snapshot_id", "action"),
)

rejected = Table(
    "rejected",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_key", String(300), ForeignKey("items.item_key"), nullable=False),
    Column("at", String(40), nullable=False),
    Column("by_user", String(200), nullable=False),
    Column("action", String(32), nullable=False),
    Column("expected_version", Integer, nullable=False),
    Column("actual_version", Integer, nullable=True),
    Column("to_state", String(32), nullable=True),
    Column("changes", Text, nullable=False),
)

# Append-only in the database itself, not only in this code: UPDATE and DELETE (and, on
# PostgreSQL, TRUNCATE) on any ledger table are refused by triggers.
event.listen(
    metadata,
    "before_create",
    DDL(
        "CREATE OR REPLACE FUNCTION gapmap_append_only() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'the GapMap ledger is append-only (%% on %%)', TG_OP, TG_TABLE_NAME; "
        "END $$"
    ).execute_if(dialect="postgresql"),
)
for _table in metadata.sorted_tables:
    for _op in ("UPDATE", "DELETE"):
        event.listen(
            _table,
            "after_create",
            DDL(
                f"CREATE TRIGGER IF NOT EXISTS {_table.name}_no_{_op.lower()} "
                f"BEFORE {_op} ON {_table.name} "
                "BEGIN SELECT RAISE(ABORT, 'the GapMap ledger is append-only'); END"
            ).execute_if(dialect="sqlite"),
        )
    event.listen(
        _table,
        "after_create",
        DDL(
            f"CREATE TRIGGER {_table.name}_append_only BEFORE UPDATE OR DELETE ON "
            f"{_table.name} FOR EACH ROW EXECUTE FUNCTION gapmap_append_only(); "
            f"CREATE TRIGGER {_table.name}_no_truncate BEFORE TRUNCATE ON {_table.name} "
            "FOR EACH STATEMENT EXECUTE FUNCTION gapmap_append_only()"
        ).execute_if(dialect="postgresql"),
    )


# --------------------------------------------------------------------------- values


def parse_date(value: object, *, field_name: str = "date") -> str | None:
    """Return an ISO date ``YYYY-MM-DD`` from a date, datetime or text, or None if blank.

    Text may be ``2026-06-30``, ``2026/6/30``, ``2026.6.30``, ``20260630`` or
    ``2026年6月30日`` (a time part after the date is ignored).

    Raises
    ------
    LedgerError
        For anything that is not a calendar date.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        if pd.isna(value):
            return None
        return value.date().isoformat()
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    if not text:
        return None
    m = re.fullmatch(_DATE_RE, text)
    try:
        if m is None:
            raise ValueError(text)
        y, mo, d = (g for g in m.groups() if g is not None)
        return date(int(y), int(mo), int(d)).isoformat()
    except ValueError:
        zh = FIELDS_ZH.get(field_name, field_name)
        raise LedgerError(
            f"{field_name}: {value!r} is not a date; write it as YYYY-MM-DD",
            zh=f"{zh}“{value}”不是有效日期，请按 2026-06-30 的格式填写",
        ) from None


def _clean_fields(fields: Mapping[str, Any]) -> dict[str, str | None]:
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise LedgerError(
            f"unknown ledger field(s) {unknown}; editable fields are {list(FIELDS)} "
            "(change the state with transition())",
            zh=f"无法修改的字段：{'、'.join(unknown)}",
        )
    out: dict[str, str | None] = {}
    for name, value in fields.items():
        if name in _DATE_FIELDS:
            out[name] = parse_date(value, field_name=name)
        elif name == "evidence" and isinstance(value, list | tuple):
            paths = [str(p).strip() for p in value if str(p).strip()]
            out[name] = "\n".join(paths) or None
        elif value is None or (isinstance(value, float) and np.isnan(value)):
            out[name] = None
        else:
            out[name] = str(value).strip() or None
    return out


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with NaN → None (for the database)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _settings_json(settings: Any) -> tuple[str, str]:
    if hasattr(settings, "as_records"):
        records = settings.as_records()
        profile = str(getattr(settings, "profile", ""))
    elif isinstance(settings, Mapping):
        records = [{"section": "", "name": str(k), "value": v} for k, v in settings.items()]
        profile = str(settings.get("profile", ""))
    else:
        raise LedgerError(
            "settings must be a geo.settings.Settings or a mapping",
            zh="快照必须记录分析所用的参数设置",
        )
    return json.dumps(records, ensure_ascii=False, default=str), profile


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class SnapshotDiff:
    """What changed between two snapshots.

    Attributes
    ----------
    a : int or None
        The earlier snapshot (None: compare with an empty ledger).
    b : int
        The later snapshot.
    frame : DataFrame
        One row per item in either snapshot: ``key``, ``change`` (``new``,
        ``persisting``, ``disappeared``, ``reopened``), ``change_zh``, the item's
        *current* ``state``/``state_zh``/``version``, where it is, ``problem_type``,
        ``description`` (from ``b``, or from ``a`` if it disappeared) and ``note_zh``
        (what to do: 建议验收销号, 请核实 …). Sorted by change, township, key.

    Notes
    -----
    ``disappeared`` items are only *suggested* for 销号: a person confirms 验收 with
    :meth:`Ledger.transition`. ``reopened`` are items that were 已销号 and failed again
    in a snapshot after ``a`` up to ``b``; they are back to 待整改.
    """

    a: int | None
    b: int
    frame: pd.DataFrame

    def _keys(self, change: str) -> tuple[str, ...]:
        return tuple(self.frame.loc[self.frame["change"] == change, "key"])

    @property
    def new(self) -> tuple[str, ...]:
        """Keys of problems in ``b`` that were not in ``a``."""
        return self._keys("new")

    @property
    def persisting(self) -> tuple[str, ...]:
        """Keys of problems in both."""
        return self._keys("persisting")

    @property
    def disappeared(self) -> tuple[str, ...]:
        """Keys of problems in ``a`` that ``b`` no longer finds (suggested for 销号)."""
        return self._keys("disappeared")

    @property
    def reopened(self) -> tuple[str, ...]:
        """Keys of 已销号 problems that failed again (flag them)."""
        return self._keys("reopened")

    def counts(self) -> dict[str, int]:
        """Return the number of items per change kind."""
        return {k: len(self._keys(k)) for k in CHANGE_ZH}


@dataclass(frozen=True)
class Change:
    """One edit to apply with :meth:`Ledger.apply_changes` (e.g. a row of an XLSX import).

    Attributes
    ----------
    key : str
    expected_version : int
    to_state : State or None
        A state change, or None for field edits only.
    fields : mapping
        Field edits (names from :data:`FIELDS`); with a state change, ``reason`` is the
        reason of the change.
    """

    key: str
    expected_version: int
    to_state: State | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- the store


def _resolve_url(url_or_path: str | os.PathLike[str] | URL) -> tuple[URL, Path | None]:
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


class Ledger:
    """The 问题清单/整改台账 of one county: snapshots, items, history.

    Parameters
    ----------
    url_or_path : str, path or sqlalchemy URL
        A folder (the ledger is ``<folder>/gapmap_ledger.sqlite``), a SQLite file path,
        or a SQLAlchemy URL such as ``postgresql+psycopg://user@host/gapmap``.
    evidence_dir : path, optional
        Where :meth:`attach_evidence` copies files; default ``evidence/`` beside a SQLite
        file (required for a server database).
    busy_timeout_s : float
        How long a writer waits for another writer's lock before giving up.
    clock : callable, optional
        Returns the current time (aware datetime); for tests.

    Notes
    -----
    Safe to share across threads (one SQLAlchemy engine with a connection pool) and across
    processes (SQLite file locks; a database server). Times are UTC ISO-8601 strings.
    """

    def __init__(
        self,
        url_or_path: str | os.PathLike[str] | URL,
        *,
        evidence_dir: str | os.PathLike[str] | None = None,
        busy_timeout_s: float = 30.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.url, folder = _resolve_url(url_or_path)
        self.path: Path | None = (
            Path(self.url.database) if folder is not None and self.url.database else None
        )
        self.evidence_dir: Path | None = (
            Path(evidence_dir)
            if evidence_dir is not None
            else (folder / "evidence" if folder else None)
        )
        self._clock = clock or (lambda: datetime.now(UTC))
        if self.url.get_backend_name() == "sqlite":
            self.engine = _sqlite_engine(self.url, busy_timeout_s)
        else:
            self.engine = sa.create_engine(self.url, pool_pre_ping=True)
        with self._write() as conn:
            metadata.create_all(conn)
            stored = conn.execute(
                select(ledger_meta.c.value).where(ledger_meta.c.name == "schema_version")
            ).scalar_one_or_none()
            if stored is None:
                conn.execute(
                    ledger_meta.insert(),
                    [
                        {"name": "schema_version", "value": SCHEMA_VERSION},
                        {"name": "created_at", "value": self._now()},
                    ],
                )
            elif stored != SCHEMA_VERSION:
                raise LedgerError(
                    f"ledger {self.url!r} has schema version {stored}; this GapMap reads "
                    f"version {SCHEMA_VERSION}: upgrade GapMap",
                    zh=f"台账文件版本（{stored}）与本软件不符，请升级 GapMap",
                )

    # -- plumbing ------------------------------------------------------------------

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ledger({self.url.render_as_string(hide_password=True)!r})"

    def _now(self) -> str:
        return self._clock().astimezone(UTC).isoformat(timespec="milliseconds")

    def _today(self) -> str:
        return self._clock().astimezone(CHINA_TZ).date().isoformat()

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        """Open a write transaction (BEGIN IMMEDIATE on SQLite); commit on success."""
        try:
            with self.engine.connect() as conn:
                conn.execution_options(gapmap_write=True)
                with conn.begin():
                    yield conn
        except OperationalError as exc:
            if "locked" in str(exc).lower() or "busy" in str(exc).lower():
                raise LedgerError(
                    f"the ledger is busy (another user is writing): {exc.orig}; try again",
                    zh="台账正被其他用户写入，请稍后重试",
                ) from exc
            raise

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    # -- reading ---------------------------------------------------------------------

    def _latest_events(self, conn: Connection, keys: Sequence[str] | None) -> pd.DataFrame:
        last = select(events.c.item_key, func.max(events.c.version).label("v")).group_by(
            events.c.item_key
        )
        if keys is not None:
            last = last.where(events.c.item_key.in_(list(keys)))
        last = last.subquery()
        q = select(events).join(
            last, sa.and_(events.c.item_key == last.c.item_key, events.c.version == last.c.v)
        )
        return pd.DataFrame(conn.execute(q).mappings().all(), columns=list(events.c.keys()))

    def _latest_found(self, conn: Connection, keys: Sequence[str] | None) -> pd.DataFrame:
        last = select(
            snapshot_items.c.item_key,
            func.min(snapshot_items.c.snapshot_id).label("first_seen"),
            func.max(snapshot_items.c.snapshot_id).label("last_seen"),
        ).group_by(snapshot_items.c.item_key)
        if keys is not None:
            last = last.where(snapshot_items.c.item_key.in_(list(keys)))
        last = last.subquery()
        q = select(snapshot_items, last.c.first_seen).join(
            last,
            sa.and_(
                snapshot_items.c.item_key == last.c.item_key,
                snapshot_items.c.snapshot_id == last.c.last_seen,
            ),
        )
        cols = [*snapshot_items.c.keys(), "first_seen"]
        return pd.DataFrame(conn.execute(q).mappings().all(), columns=cols)

    def _frame(self, conn: Connection, keys: Sequence[str] | None = None) -> pd.DataFrame:
        ev = self._latest_events(conn, keys)
        found = self._latest_found(conn, keys).rename(
            columns={"snapshot_id": "last_seen", "measure": "suggested_measure"}
        )
        latest = conn.execute(select(func.max(snapshots.c.id))).scalar()
        out = ev.merge(found, on="item_key", how="left", validate="one_to_one")
        out = out.rename(
            columns={
                "item_key": "key",
                "at": "updated_at",
                "by_user": "updated_by",
            }
        )
        out["state_zh"] = out["state"].map(lambda s: STATE_ZH[State(s)])
        out["reopened"] = out["reopen_count"].astype(int) > 0
        out["in_latest"] = out["last_seen"].notna() & (out["last_seen"] == latest)
        out["suggest_close"] = ~out["in_latest"] & out["state"].isin([*OPEN_STATES, State.DEFERRED])
        for c in ("version", "reopen_count", "first_seen", "last_seen"):
            out[c] = pd.to_numeric(out[c]).astype("Int64")
        cols = [
            "key",
            "state",
            "state_zh",
            "version",
            *[c for c in ITEM_COLUMNS if c not in {"key", "measure"}],
            *FIELDS,
            "suggested_measure",
            "reopen_count",
            "reopened",
            "first_seen",
            "last_seen",
            "in_latest",
            "suggest_close",
            "updated_at",
            "updated_by",
        ]
        for c in ITEM_COLUMNS:
            if c in out and c not in _NUMERIC and c != "key":
                out[c] = out[c].fillna("")
        out = out[cols].sort_values(
            ["township_code", "admin_village_code", "indicator", "key"], kind="stable"
        )
        return out.reset_index(drop=True)

    def items(
        self,
        state: State | str | Iterable[State | str] | None = None,
        township: str | None = None,
        indicator: str | Iterable[str] | None = None,
    ) -> pd.DataFrame:
        """Return the current state of every item (the 整改台账).

        Parameters
        ----------
        state : state or states, optional
            Codes (``in_progress``) or labels (``整改中``).
        township : str, optional
            Township code or name.
        indicator : str or iterable of str, optional
            ``hard_road``, ``services``, ``clinics``, ``water``.

        Returns
        -------
        DataFrame
            One row per item: ``key``, ``state``, ``state_zh``, ``version`` (pass it as
            ``expected_version`` when editing), the latest problem data (the columns of
            :data:`~geo.ledger.items.ITEM_COLUMNS`), the editable :data:`FIELDS`,
            ``suggested_measure`` (from the latest snapshot that found it),
            ``reopen_count``/``reopened``, ``first_seen``/``last_seen`` (snapshot ids),
            ``in_latest`` (found by the latest snapshot), ``suggest_close`` (open but no
            longer found: 建议验收销号), ``updated_at`` (UTC) and ``updated_by``.
        """
        with self._read() as conn:
            out = self._frame(conn)
        if state is not None:
            out = out[out["state"].isin([str(s) for s in parse_states(state)])]
        if township is not None:
            out = out[(out["township_code"] == township) | (out["township_name"] == township)]
        if indicator is not None:
            wanted = [indicator] if isinstance(indicator, str) else list(indicator)
            out = out[out["indicator"].isin(wanted)]
        return out.reset_index(drop=True)

    def item(self, key: str) -> dict[str, Any]:
        """Return one item's current state as a dict (the row of :meth:`items`).

        Raises
        ------
        ItemNotFoundError
        """
        with self._read() as conn:
            out = self._frame(conn, [key])
        if out.empty:
            raise ItemNotFoundError(key)
        return out.to_dict("records")[0]

    def history(self, key: str, *, include_rejected: bool = False) -> pd.DataFrame:
        """Return every event of one item, oldest first.

        Parameters
        ----------
        key : str
        include_rejected : bool
            Also list edits refused for a version conflict (``outcome`` ``rejected``).

        Returns
        -------
        DataFrame
            ``version``, ``at`` (UTC), ``user``, ``action``/``action_zh``,
            ``from_state``, ``state``/``state_zh``, ``snapshot_id``, the fields after the
            event, ``changes`` (dict field → [old, new]), ``changes_zh`` (readable),
            ``outcome`` (``applied``/``rejected``) and ``expected_version``.
        """
        with self._read() as conn:
            ev = pd.DataFrame(
                conn.execute(
                    select(events).where(events.c.item_key == key).order_by(events.c.version)
                )
                .mappings()
                .all(),
                columns=list(events.c.keys()),
            )
            rej = pd.DataFrame(
                conn.execute(
                    select(rejected).where(rejected.c.item_key == key).order_by(rejected.c.id)
                )
                .mappings()
                .all(),
                columns=list(rejected.c.keys()),
            )
        if ev.empty:
            raise ItemNotFoundError(key)
        ev["outcome"] = "applied"
        ev["expected_version"] = ev["version"] - 1
        if include_rejected and not rej.empty:
            rej = rej.rename(columns={"to_state": "state"}).assign(outcome="rejected")
            ev = pd.concat([ev, rej.drop(columns=["id", "actual_version"])], ignore_index=True)
            ev = ev.sort_values(["at", "outcome"], kind="stable")
        ev = ev.rename(columns={"by_user": "user", "item_key": "key"})
        ev["changes"] = ev["changes"].map(json.loads)
        ev["changes_zh"] = [
            _changes_zh(c) if o == "applied" else _attempt_zh(s, c)
            for c, o, s in zip(ev["changes"], ev["outcome"], ev["state"], strict=True)
        ]
        ev["action_zh"] = ev["action"].map(ACTION_ZH)
        ev["state_zh"] = ev["state"].map(lambda s: STATE_ZH[State(s)] if isinstance(s, str) else "")
        for c in ("version", "snapshot_id", "expected_version", "reopen_count"):
            ev[c] = pd.to_numeric(ev[c]).astype("Int64")
        cols = [
            "version",
            "at",
            "user",
            "action",
            "action_zh",
            "from_state",
            "state",
            "state_zh",
            "snapshot_id",
            *FIELDS,
            "reopen_count",
            "changes",
            "changes_zh",
            "outcome",
            "expected_version",
        ]
        return ev[cols].reset_index(drop=True)

    def snapshots(self) -> pd.DataFrame:
        """Return every snapshot: ``id``, ``created_at`` (UTC), ``created_by``,
        ``dataset_hash``, ``settings_profile``, ``settings`` (records), ``n_items``, ``note``.
        """  # noqa: D205
        with self._read() as conn:
            s = pd.DataFrame(
                conn.execute(select(snapshots).order_by(snapshots.c.id)).mappings().all(),
                columns=list(snapshots.c.keys()),
            )
        s["settings"] = s["settings_json"].map(json.loads)
        return s.drop(columns="settings_json")

    def snapshot_items(self, snapshot_id: int) -> pd.DataFrame:
        """Return the problem items as found by one snapshot (columns ``ITEM_COLUMNS``)."""
        with self._read() as conn:
            rows = conn.execute(
                select(snapshot_items)
                .where(snapshot_items.c.snapshot_id == snapshot_id)
                .order_by(snapshot_items.c.item_key)
            )
            frame = pd.DataFrame(rows.mappings().all(), columns=list(snapshot_items.c.keys()))
        return make_items(frame.rename(columns={"item_key": "key"}))

    # -- snapshots ---------------------------------------------------------------------

    def record_snapshot(
        self,
        source: Assessment | pd.DataFrame,
        *,
        user: str,
        dataset_hash: str | None = None,
        settings: Any = None,
        note: str = "",
    ) -> SnapshotDiff:
        """Record an analysis run and update the items it found, in one transaction.

        New keys become items in 待整改; a 已销号 item found again is reopened (待整改,
        ``reopened`` event); open items found again persist unchanged; items no longer
        found are left as they are (see :attr:`SnapshotDiff.disappeared`).

        Parameters
        ----------
        source : Assessment or DataFrame
            An assessment (its items come from :func:`~geo.ledger.items.problem_items`)
            or a problem-item frame (:data:`~geo.ledger.items.ITEM_COLUMNS`).
        user : str
            Who ran the analysis.
        dataset_hash : str, optional
            The data version (:attr:`layers.Dataset.content_hash`); taken from the
            assessment if not given, required with a frame.
        settings : Settings or mapping, optional
            The settings used; taken from the assessment if not given.
        note : str
            Free text (e.g. "2026年二季度数据更新").

        Returns
        -------
        SnapshotDiff
            The previous snapshot against this one.
        """
        if isinstance(source, pd.DataFrame):
            found = make_items(source)
        else:
            from geo.ledger.items import problem_items

            found = problem_items(source)
            dataset_hash = dataset_hash or source.dataset_hash
            settings = settings if settings is not None else source.settings
        if not dataset_hash or settings is None:
            raise LedgerError(
                "a snapshot needs the dataset hash and the settings it was computed with",
                zh="快照必须记录数据版本（数据哈希）和参数设置",
            )
        _require_user(user)
        settings_json, profile = _settings_json(settings)
        now = self._now()
        with self._write() as conn:
            prev = conn.execute(select(func.max(snapshots.c.id))).scalar()
            sid = conn.execute(
                snapshots.insert().values(
                    created_at=now,
                    created_by=user,
                    dataset_hash=dataset_hash,
                    settings_profile=profile,
                    settings_json=settings_json,
                    n_items=len(found),
                    note=note,
                )
            ).inserted_primary_key[0]
            keys = found["key"].tolist()
            current = self._latest_events(conn, keys).set_index("item_key")
            new = found.loc[~found["key"].isin(current.index)]
            if len(new):
                conn.execute(
                    items_table.insert(),
                    [
                        {
                            "item_key": k,
                            "indicator": i,
                            "unit_kind": u,
                            "unit_code": c,
                            "created_at": now,
                            "first_snapshot_id": sid,
                        }
                        for k, i, u, c in zip(
                            new["key"],
                            new["indicator"],
                            new["unit_kind"],
                            new["unit_code"],
                            strict=True,
                        )
                    ],
                )
            if len(found):
                rows = _records(found.rename(columns={"key": "item_key"}))
                conn.execute(snapshot_items.insert(), [{**r, "snapshot_id": sid} for r in rows])
            created = [
                {
                    "item_key": k,
                    "version": 1,
                    "at": now,
                    "by_user": user,
                    "action": "created",
                    "from_state": None,
                    "state": State.OPEN.value,
                    "snapshot_id": sid,
                    **dict.fromkeys(FIELDS),
                    "measure": m or None,
                    "reopen_count": 0,
                    "changes": json.dumps({"state": [None, State.OPEN.value]}),
                }
                for k, m in zip(new["key"], new["measure"], strict=True)
            ]
            closed = current.loc[
                current.index.isin(keys) & (current["state"] == State.CLOSED.value)
            ]
            reopened = [
                {
                    **{f: _none(row[f]) for f in FIELDS},
                    "item_key": k,
                    "version": int(row["version"]) + 1,
                    "at": now,
                    "by_user": user,
                    "action": "reopened",
                    "from_state": State.CLOSED.value,
                    "state": State.OPEN.value,
                    "snapshot_id": sid,
                    "closed_on": None,
                    "reopen_count": int(row["reopen_count"]) + 1,
                    "changes": json.dumps(
                        {
                            "state": [State.CLOSED.value, State.OPEN.value],
                            "closed_on": [_none(row["closed_on"]), None],
                        },
                        ensure_ascii=False,
                    ),
                }
                for k, row in closed.iterrows()
            ]
            if created or reopened:
                try:
                    conn.execute(events.insert(), created + reopened)
                except IntegrityError as exc:
                    raise LedgerError(
                        "another snapshot was recorded at the same time; record this one again",
                        zh="其他用户正在同时保存分析快照，请重新保存",
                    ) from exc
            diff = self._diff(conn, prev, sid)
        logger.info(
            "snapshot %s: %d items (%s)",
            sid,
            len(found),
            ", ".join(f"{k} {v}" for k, v in diff.counts().items()),
        )
        return diff

    def diff(self, snapshot_a: int | None, snapshot_b: int) -> SnapshotDiff:
        """Compare two snapshots (``a`` earlier than ``b``; ``a`` None = empty ledger).

        Raises
        ------
        LedgerError
            If a snapshot does not exist or ``a`` is not earlier than ``b``.
        """
        with self._read() as conn:
            return self._diff(conn, snapshot_a, snapshot_b)

    def _diff(self, conn: Connection, a: int | None, b: int) -> SnapshotDiff:
        ids = set(conn.execute(select(snapshots.c.id)).scalars())
        for s in (a, b):
            if s is not None and s not in ids:
                raise LedgerError(f"no snapshot {s} in the ledger", zh=f"台账中没有第 {s} 次快照")
        if a is not None and a >= b:
            raise LedgerError(
                f"compare an earlier snapshot with a later one (got {a} and {b})",
                zh="请用较早的快照与较晚的快照比较",
            )

        def found(s: int | None) -> pd.DataFrame:
            if s is None:
                return pd.DataFrame(columns=list(snapshot_items.c.keys()))
            q = select(snapshot_items).where(snapshot_items.c.snapshot_id == s)
            return pd.DataFrame(
                conn.execute(q).mappings().all(), columns=list(snapshot_items.c.keys())
            )

        fa, fb = found(a), found(b)
        ka, kb = set(fa["item_key"]), set(fb["item_key"])
        back = (
            set(
                conn.execute(
                    select(events.c.item_key).where(
                        events.c.action == "reopened",
                        events.c.snapshot_id > (a or 0),
                        events.c.snapshot_id <= b,
                    )
                ).scalars()
            )
            & kb
        )
        change = {
            **dict.fromkeys(ka - kb, "disappeared"),
            **dict.fromkeys((kb - ka) - back, "new"),
            **dict.fromkeys((ka & kb) - back, "persisting"),
            **dict.fromkeys(back, "reopened"),
        }
        rows = pd.concat([fb, fa.loc[fa["item_key"].isin(ka - kb)]], ignore_index=True)
        cur = self._latest_events(conn, list(change)).set_index("item_key")
        cur = cur.reindex(rows["item_key"])
        frame = pd.DataFrame(
            {
                "key": rows["item_key"].to_numpy(),
                "change": rows["item_key"].map(change).to_numpy(),
                "state": cur["state"].to_numpy(),
                "version": pd.array(cur["version"].to_numpy(), dtype="Int64"),
                **{
                    c: rows[c].fillna("").to_numpy()
                    for c in (
                        "indicator",
                        "township_code",
                        "township_name",
                        "admin_village_name",
                        "village_name",
                        "problem_type",
                        "description",
                    )
                },
            }
        )
        frame["change_zh"] = frame["change"].map(CHANGE_ZH)
        frame["state_zh"] = frame["state"].map(lambda s: STATE_ZH[State(s)])
        frame["note_zh"] = [
            _diff_note(c, s) for c, s in zip(frame["change"], frame["state"], strict=True)
        ]
        order = {k: i for i, k in enumerate(("reopened", "new", "disappeared", "persisting"))}
        frame = (
            frame.assign(_o=frame["change"].map(order))
            .sort_values(["_o", "township_code", "key"], kind="stable")
            .drop(columns="_o")
            .reset_index(drop=True)
        )
        cols = ["key", "change", "change_zh", "state", "state_zh", "version"]
        return SnapshotDiff(a=a, b=b, frame=frame[[*cols, *[c for c in frame if c not in cols]]])

    # -- editing ------------------------------------------------------------------------

    def transition(
        self,
        key: str,
        to_state: State | str,
        *,
        user: str,
        expected_version: int,
        reason: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Move an item to another state (see :data:`~geo.ledger.states.TRANSITIONS`).

        Parameters
        ----------
        key : str
        to_state : State or str
            Code or Chinese label.
        user : str
            Who makes the change.
        expected_version : int
            The ``version`` the user saw; a newer one in the ledger raises
            :class:`ConflictError` and nothing is saved.
        reason : str, optional
            Why; required for 暂缓/豁免 and to reopen a 已销号 item by hand.
        **fields
            Other fields to set with the change (:data:`FIELDS`). ``closed_on`` (销号日期)
            is kept only when moving to 已销号 (default: today, China time) and cleared
            by any other move; ``reason`` is replaced by the one given here.

        Returns
        -------
        dict
            The item after the change (a row of :meth:`items`).

        Raises
        ------
        ConflictError, IllegalTransitionError, ItemNotFoundError, LedgerError
        """
        change = Change(key, expected_version, parse_state(to_state), {**fields, "reason": reason})
        self.apply_changes([change], user=user)
        return self.item(key)

    def update(
        self, key: str, *, user: str, expected_version: int, **fields: Any
    ) -> dict[str, Any]:
        """Edit an item's fields without changing its state.

        Parameters
        ----------
        key : str
        user : str
        expected_version : int
            As in :meth:`transition`.
        **fields
            :data:`FIELDS` to set (None or "" clears a field; dates as ``YYYY-MM-DD``).

        Returns
        -------
        dict
            The item after the change; unchanged (and no event) if nothing differs.

        Raises
        ------
        ConflictError, ItemNotFoundError, LedgerError
        """
        self.apply_changes([Change(key, expected_version, None, fields)], user=user)
        return self.item(key)

    def apply_changes(self, changes: Iterable[Change], *, user: str) -> list[int]:
        """Apply several edits all together or not at all (one transaction).

        Returns
        -------
        list of int
            The new version of each item (the old one where nothing changed).

        Raises
        ------
        ConflictError
            On the first stale ``expected_version``; nothing is applied and the refused
            edit is kept in the ``rejected`` table.
        IllegalTransitionError, ItemNotFoundError, LedgerError
            Nothing is applied.
        """
        _require_user(user)
        changes = list(changes)
        cleaned = [_clean_fields(c.fields) for c in changes]
        now, today = self._now(), self._today()
        try:
            with self._write() as conn:
                versions = [
                    self._apply_one(conn, c, f, user=user, now=now, today=today)
                    for c, f in zip(changes, cleaned, strict=True)
                ]
        except ConflictError as exc:
            bad = next(c for c in changes if c.key == exc.key)
            self._log_rejected(bad, exc, user=user, now=now)
            raise
        return versions

    def _apply_one(
        self,
        conn: Connection,
        change: Change,
        fields: dict[str, str | None],
        *,
        user: str,
        now: str,
        today: str,
    ) -> int:
        key = change.key
        # the registry row is locked (SELECT … FOR UPDATE on a server; SQLite already
        # holds the write lock) so that editors of one item queue up
        exists = conn.execute(
            select(items_table.c.item_key).where(items_table.c.item_key == key).with_for_update()
        ).scalar_one_or_none()
        if exists is None:
            raise ItemNotFoundError(key)
        cur = self._latest_events(conn, [key]).iloc[0]
        version = int(cur["version"])
        if version != int(change.expected_version):
            raise ConflictError(
                key,
                int(change.expected_version),
                version,
                changed_by=str(cur["by_user"]),
                changed_at=str(cur["at"]),
            )
        old_state = State(cur["state"])
        old = {f: _none(cur[f]) for f in FIELDS}
        new = {**old}
        reopen_count = int(cur["reopen_count"])
        if change.to_state is None:
            if "closed_on" in fields and old_state is not State.CLOSED:
                raise LedgerError(
                    f"{key}: 销号日期 (closed_on) can only be set on a 已销号 item",
                    zh=f"问题 {key} 尚未销号，不能填写销号日期",
                )
            new.update(fields)
            state, action = old_state, "update"
            if state in REASON_REQUIRED and not new["reason"]:
                raise IllegalTransitionError(key, state, state, missing_reason=True)
        else:
            state, action = change.to_state, "transition"
            if state not in TRANSITIONS[old_state]:
                raise IllegalTransitionError(key, old_state, state)
            new.update(fields)
            new["reason"] = fields.get("reason")
            needs_reason = state in REASON_REQUIRED or old_state is State.CLOSED
            if needs_reason and not new["reason"]:
                raise IllegalTransitionError(key, old_state, state, missing_reason=True)
            if state is State.CLOSED:
                new["closed_on"] = fields.get("closed_on") or today
            else:
                new["closed_on"] = None
            if old_state is State.CLOSED:
                reopen_count += 1
        diff = {f: [old[f], new[f]] for f in FIELDS if old[f] != new[f]}
        if state is not old_state:
            diff = {"state": [old_state.value, state.value], **diff}
        if not diff:
            return version
        try:
            conn.execute(
                events.insert().values(
                    item_key=key,
                    version=version + 1,
                    at=now,
                    by_user=user,
                    action=action,
                    from_state=old_state.value,
                    state=state.value,
                    snapshot_id=None,
                    reopen_count=reopen_count,
                    changes=json.dumps(diff, ensure_ascii=False),
                    **new,
                )
            )
        except IntegrityError as exc:  # a writer on another connection won the race
            raise ConflictError(key, int(change.expected_version), None) from exc
        return version + 1

    def _log_rejected(self, change: Change, exc: ConflictError, *, user: str, now: str) -> None:
        try:
            cleaned = _clean_fields(change.fields)
            with self._write() as conn:
                conn.execute(
                    rejected.insert().values(
                        item_key=change.key,
                        at=now,
                        by_user=user,
                        action="conflict",
                        expected_version=int(change.expected_version),
                        actual_version=exc.actual_version,
                        to_state=change.to_state.value if change.to_state else None,
                        changes=json.dumps(cleaned, ensure_ascii=False),
                    )
                )
        except Exception:  # the audit row must never hide the conflict itself
            logger.exception("could not log the rejected edit of %s", change.key)

    # -- evidence ----------------------------------------------------------------------

    def attach_evidence(
        self,
        key: str,
        source: str | os.PathLike[str],
        *,
        user: str,
        expected_version: int,
    ) -> dict[str, Any]:
        """Copy a photo or file into the evidence folder and add it to the item's evidence.

        The file is copied to ``<evidence_dir>/<key>/<UTC time>_<name>`` (atomically); the
        item's ``evidence`` gains that path, relative to the evidence folder's parent. On a
        version conflict the copy is removed and :class:`ConflictError` raised.

        Returns
        -------
        dict
            The item after the change.
        """
        if self.evidence_dir is None:
            raise LedgerError(
                "this ledger has no evidence folder; pass evidence_dir= to Ledger()",
                zh="未设置佐证材料文件夹",
            )
        src = Path(source)
        if not src.is_file():
            raise LedgerError(f"no such file: {src}", zh=f"找不到文件：{src}")
        safe = re.sub(r"[^0-9A-Za-z_\-\u4e00-\u9fff]+", "_", key)
        stamp = self._clock().astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        # an uploaded name is text from a browser: no line breaks (the evidence list is one
        # path per line), no control characters, no path parts, and a sane length
        name = re.sub(r"[\x00-\x1f\x7f/\\:]+", "_", src.name).strip(" .")[-120:] or "file"
        dest = self.evidence_dir / safe / f"{stamp}_{name}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".upload.", dir=dest.parent)
        os.close(fd)
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
        finally:
            Path(tmp).unlink(missing_ok=True)
        rel = dest.relative_to(self.evidence_dir.parent).as_posix()
        current = self.item(key)["evidence"]
        paths = [p for p in (current or "").splitlines() if p] + [rel]
        try:
            return self.update(key, user=user, expected_version=expected_version, evidence=paths)
        except Exception:
            dest.unlink(missing_ok=True)
            raise

    # -- checks ------------------------------------------------------------------------

    def verify(self) -> list[str]:
        """Check the ledger's consistency; return what is wrong (empty: consistent).

        Checks SQLite's own integrity and foreign keys, that each item's versions run
        1, 2, … without gaps and start with ``created``, that every snapshot holds the
        number of items it declares, and that each current state obeys the rules
        (暂缓/豁免 have a reason, 已销号 has a 销号日期).
        """
        bad: list[str] = []
        with self._read() as conn:
            if self.engine.dialect.name == "sqlite":
                res = [r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check")]
                if res != ["ok"]:
                    bad.append(f"sqlite integrity_check: {res[:5]}")
                fk = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if fk:
                    bad.append(f"foreign keys broken: {fk[:5]}")
            per = conn.execute(
                select(
                    events.c.item_key,
                    func.count().label("n"),
                    func.min(events.c.version).label("lo"),
                    func.max(events.c.version).label("hi"),
                ).group_by(events.c.item_key)
            ).all()
            gaps = [k for k, n, lo, hi in per if lo != 1 or hi != n]
            if gaps:
                bad.append(f"version gaps in {gaps[:5]}")
            registry = set(conn.execute(select(items_table.c.item_key)).scalars())
            without = registry - {k for k, *_ in per}
            if without:
                bad.append(f"items without events: {sorted(without)[:5]}")
            first = (
                conn.execute(
                    select(events.c.item_key).where(
                        events.c.version == 1, events.c.action != "created"
                    )
                )
                .scalars()
                .all()
            )
            if first:
                bad.append(f"first events that are not 'created': {first[:5]}")
            counts = conn.execute(
                select(snapshots.c.id, snapshots.c.n_items, func.count(snapshot_items.c.item_key))
                .select_from(snapshots.outerjoin(snapshot_items))
                .group_by(snapshots.c.id, snapshots.c.n_items)
            ).all()
            short = [sid for sid, n, m in counts if n != m]
            if short:
                bad.append(f"snapshots missing items: {short}")
            cur = self._latest_events(conn, None)
        if len(cur):
            states = cur["state"]
            unknown = cur.loc[~states.isin([s.value for s in State]), "item_key"].tolist()
            if unknown:
                bad.append(f"unknown states in {unknown[:5]}")
            no_reason = cur.loc[
                states.isin([s.value for s in REASON_REQUIRED]) & cur["reason"].isna(), "item_key"
            ].tolist()
            if no_reason:
                bad.append(f"deferred/exempt without a reason: {no_reason[:5]}")
            no_date = cur.loc[
                (states == State.CLOSED.value) & cur["closed_on"].isna(), "item_key"
            ].tolist()
            if no_date:
                bad.append(f"closed without a date: {no_date[:5]}")
        return bad


# --------------------------------------------------------------------------- helpers


def _none(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return value


def _require_user(user: str) -> None:
    if not str(user or "").strip():
        raise LedgerError(
            "every ledger change needs the name of the user who makes it",
            zh="请填写操作人姓名（台账的每一次修改都要记录操作人）",
        )


def _changes_zh(changes: Mapping[str, Sequence[Any]]) -> str:
    parts = []
    for name, (old, new) in changes.items():
        if name == "state":
            old = STATE_ZH[State(old)] if old else ""
            new = STATE_ZH[State(new)] if new else ""
        parts.append(f"{FIELDS_ZH.get(name, name)}：{old or '（空）'} → {new or '（空）'}")
    return "；".join(parts)


def _attempt_zh(to_state: Any, fields: Mapping[str, Any]) -> str:
    parts = (
        [f"{FIELDS_ZH['state']} → {STATE_ZH[State(to_state)]}"] if isinstance(to_state, str) else []
    )
    parts += [f"{FIELDS_ZH.get(k, k)} → {v}" for k, v in fields.items() if v is not None]
    return "未保存的修改：" + ("；".join(parts) or "（无）")


def _diff_note(change: str, state: str) -> str:
    s = State(state)
    if change == "reopened":
        return "已销号问题再次出现，已重新打开为待整改，请查明原因"
    if change == "disappeared":
        if s in OPEN_STATES or s is State.DEFERRED:
            return "本期数据已不再发现该问题，建议组织验收后销号"
        return ""
    if change == "persisting" and s is State.AWAITING_ACCEPTANCE:
        return "已报整改完成，但本期数据仍发现该问题，请核实后再验收"
    return ""
