"""The 整改台账 service: snapshots, problem items, their append-only history, and who may act.

The rules live here (states, permissions, diffs, frames); the database (tables, engine,
transactions, queries, migrations) is :mod:`layers.store.ledger`, the evidence files
:mod:`layers.store.evidence`.

Every write takes an :class:`~layers.store.actors.Actor` (``actor=``): the ledger records its
username (and 王明（乡镇填报员）, its label), checks the role matrix of
:mod:`geo.ledger.permissions` and keeps a refused write in the ``refusals`` audit table
(:meth:`Ledger.history` with ``include_rejected=True``). On PostgreSQL each write also runs
as the actor's own database role, so that row-level security enforces the same matrix.

Optimistic locking: every edit names the ``expected_version`` it was made on. Inside one
write transaction the store reads the latest event, refuses a stale version with
:class:`ConflictError` (kept in the ``rejected`` table), and appends version + 1. A unique
``(item_key, version)`` constraint makes a lost race fail in the database too. Multi-item
edits lock their items in sorted order (no deadlocks); SQLite writers queue on
``BEGIN IMMEDIATE``. Disk full, read-only or busy databases raise a :class:`LedgerError`
saying so in Chinese (台账…), never a database trace.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import IntegrityError

from geo.ledger import permissions
from geo.ledger.fields import FIELDS, FIELDS_ZH, clean_fields, parse_date
from geo.ledger.items import ITEM_COLUMNS, make_items
from geo.ledger.permissions import Action, PermissionDeniedError
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
from layers.store import evidence as evidence_files
from layers.store.actors import Actor
from layers.store.errors import StoreError
from layers.store.ledger import (
    DEFAULT_FILENAME,
    NUMERIC_COLUMNS,
    LedgerDB,
    events,
    refusals,
    rejected,
    resolve_url,
    settings_texts,
    snapshots,
)
from layers.store.ledger import (
    items as items_registry,
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
    "REASON_REQUIRED",
    "Change",
    "Ledger",
    "SnapshotDiff",
    "parse_date",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

CHINA_TZ = timezone(timedelta(hours=8), "CST")
"""China Standard Time (no DST): the calendar of 销号日期 defaults; event times stay UTC."""

ACTION_ZH: Mapping[str, str] = {
    "created": "新发现",
    "reopened": "销号后复发，重新打开",
    "transition": "状态变更",
    "update": "信息修改",
    "conflict": "修改冲突，未保存",
}
"""Chinese label of each event action."""

REFUSED_ZH: Mapping[str, str] = {
    str(a): f"无权{z}，未保存" for a, z in permissions.ACTION_ZH.items()
}
"""Chinese label of each refused action (history rows with outcome ``refused``)."""

CHANGE_ZH: Mapping[str, str] = {
    "new": "新增问题",
    "persisting": "持续存在",
    "disappeared": "数据中已消失（建议验收销号）",
    "reopened": "销号后复发",
}
"""Chinese label of each kind of change between two snapshots."""

_NUMERIC = NUMERIC_COLUMNS


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with NaN → None (for the database)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _indicator_rows(county: pd.DataFrame | None) -> list[dict[str, Any]]:
    """County rows as stored with a snapshot (none without an indicator ``code``)."""
    if county is None or county.empty or "code" not in county:
        return []

    def number(x: Any) -> float | None:
        return None if x is None or pd.isna(x) else float(x)

    return [
        {
            "code": str(r["code"]),
            "indicator": str(r["indicator"]),
            "value": number(r["value"]),
            "unit": str(r.get("unit", "")),
            "target": number(r.get("target")),
            "comparison": str(r.get("comparison", "")),
            "status": str(r.get("status", "")),
        }
        for r in county.drop_duplicates("code").to_dict("records")
    ]


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


def _require_actor(actor: Any) -> Actor:
    if not isinstance(actor, Actor):
        raise LedgerError(
            f"every ledger change needs actor=Actor(...) (who is logged in), got {actor!r}",
            zh="台账的每一次修改都要记录登录用户（操作人）",
        )
    return actor


def _observed_only(source: Any) -> None:
    """Refuse an assessment of the 规划 scenario (planned features taken as built)."""
    planned = dict(getattr(source, "planned_as_built", {}) or {})
    if planned or getattr(source, "scenario", "current") != "current":
        what = "、".join(f"{k} {v}" for k, v in planned.items()) or "规划"
        raise LedgerError(
            f"a snapshot records observed (现状) data only; this assessment takes planned "
            f"features as built ({what}): record the assessment of the 现状 dataset instead",
            zh="快照只能记录现状数据：当前分析把规划项目当作已建成（规划情景），不能记入台账。"
            "规划的效果请在「项目库与方案」页对比查看；请切换到「现状」后再记入台账。",
        )


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


# --------------------------------------------------------------------------- the service


class Ledger:
    """The 问题清单/整改台账 of one county: snapshots, items, history, permissions.

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
    migrate_on_open : bool, optional
        Bring the schema to its head on open (default: always on SQLite; on PostgreSQL
        when the connecting role owns the schema, else ``python -m scripts.db upgrade``).

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
        migrate_on_open: bool | None = None,
    ) -> None:
        self.url, folder = resolve_url(url_or_path)
        self.path: Path | None = (
            Path(self.url.database) if folder is not None and self.url.database else None
        )
        self.evidence_dir: Path | None = (
            Path(evidence_dir)
            if evidence_dir is not None
            else (folder / "evidence" if folder else None)
        )
        self._clock = clock or (lambda: datetime.now(UTC))
        self._roles: dict[Actor, str | None] = {}  # registered actors → database role
        try:
            self.db = LedgerDB(
                self.url, busy_timeout_s=busy_timeout_s, migrate_on_open=migrate_on_open
            )
        except StoreError as exc:
            raise LedgerError(str(exc), zh=exc.zh) from exc
        self.engine = self.db.engine

    # -- plumbing ------------------------------------------------------------------

    def close(self) -> None:
        """Close every pooled connection."""
        self.db.close()

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

    def _write(self, body: Callable[[Connection], T], *, actor: Actor | None, lock_keys=()) -> T:
        role = self._db_role(actor) if actor is not None else None
        try:
            return self.db.write(body, db_role=role, lock_keys=lock_keys)
        except StoreError as exc:
            raise LedgerError(str(exc), zh=exc.zh) from exc

    def _read(self, body: Callable[[Connection], T]) -> T:
        try:
            return self.db.read(body)
        except StoreError as exc:
            raise LedgerError(str(exc), zh=exc.zh) from exc

    # -- actors ------------------------------------------------------------------------

    def register_actor(self, actor: Actor) -> str | None:
        """Create or update the actor's database role (PostgreSQL; no-op on SQLite).

        Idempotent: call it at login and when an account is created or changed. On
        PostgreSQL the role ``gapmap_u_<hash>`` (NOLOGIN, member of ``gapmap_<role>``) is
        what the ledger's writes for this actor run as (``SET LOCAL ROLE``), so that
        row-level security applies the role matrix in the database too.

        Returns
        -------
        str or None
            The database role, or None on SQLite.
        """
        actor = _require_actor(actor)
        try:
            role = self.db.register_actor(
                username=actor.username,
                role=str(actor.role),
                townships=actor.townships,
                indicators=actor.indicators,
            )
        except StoreError as exc:
            raise LedgerError(
                f"cannot register {actor.username} in the ledger database: {exc}",
                zh=f"无法在台账数据库中登记用户 {actor.label}：{exc.zh}"
                "（需由数据库管理员登记，或使用有建角色权限的数据库账号）",
            ) from exc
        self._roles[actor] = role
        return role

    def _db_role(self, actor: Actor) -> str | None:
        if not self.db.row_security:
            return None
        if actor not in self._roles:  # an Actor is frozen and hashable: its own cache key
            self.register_actor(actor)
        return self._roles[actor]

    def _refuse(self, exc: PermissionDeniedError, *, to_state=None, fields=None) -> None:
        """Keep a refused write in the audit table (never hiding the refusal itself)."""
        actor = exc.actor

        def body(conn: Connection) -> None:
            conn.execute(
                refusals.insert().values(
                    at=self._now(),
                    by_user=actor.username,
                    by_label=actor.label,
                    role=str(actor.role),
                    item_key=exc.key,
                    action=str(exc.action),
                    to_state=to_state.value if isinstance(to_state, State) else to_state,
                    changes=json.dumps(fields or {}, ensure_ascii=False, default=str),
                    reason=exc.zh,
                )
            )

        try:
            self._write(body, actor=actor)
        except Exception:
            logger.exception("could not audit the refused %s of %s", exc.action, exc.key)
        logger.warning("refused: %s", exc)

    def _check(
        self,
        actor: Actor,
        action: Action,
        item: Mapping[str, Any] | None = None,
        *,
        to_state: State | None = None,
        fields: Iterable[str] = (),
        audit_fields: Mapping[str, Any] | None = None,
    ) -> None:
        try:
            permissions.check(actor, action, item, to_state=to_state, fields=fields)
        except PermissionDeniedError as exc:
            self._refuse(exc, to_state=to_state, fields=audit_fields)
            raise

    # -- reading ---------------------------------------------------------------------

    def _frame(self, conn: Connection, keys: Sequence[str] | None = None) -> pd.DataFrame:
        ev = self.db.latest_events(conn, keys)
        found = self.db.latest_found(conn, keys).rename(
            columns={"snapshot_id": "last_seen", "measure": "suggested_measure"}
        )
        latest = conn.execute(select(func.max(snapshots.c.id))).scalar()
        out = ev.merge(found, on="item_key", how="left", validate="one_to_one")
        out = out.rename(columns={"item_key": "key", "at": "updated_at", "by_user": "updated_by"})
        out["updated_by_label"] = out["by_label"].where(out["by_label"].notna(), out["updated_by"])
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
            "updated_by_label",
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
            longer found: 建议验收销号), ``updated_at`` (UTC), ``updated_by`` (username)
            and ``updated_by_label`` (王明（乡镇填报员）).
        """
        out = self._read(self._frame)
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
        out = self._read(lambda conn: self._frame(conn, [key]))
        if out.empty:
            raise ItemNotFoundError(key)
        return out.to_dict("records")[0]

    def history(self, key: str, *, include_rejected: bool = False) -> pd.DataFrame:
        """Return every event of one item, oldest first.

        Parameters
        ----------
        key : str
        include_rejected : bool
            Also list edits refused for a version conflict (``outcome`` ``rejected``) and
            writes refused by the role rules (``outcome`` ``refused``).

        Returns
        -------
        DataFrame
            ``version``, ``at`` (UTC), ``user`` (username), ``user_label`` (王明（乡镇填报员）),
            ``action``/``action_zh``, ``from_state``, ``state``/``state_zh``,
            ``snapshot_id``, the fields after the event, ``changes`` (dict field →
            [old, new]), ``changes_zh`` (readable), ``outcome``
            (``applied``/``rejected``/``refused``) and ``expected_version``.
        """

        def body(conn: Connection) -> tuple[pd.DataFrame, ...]:
            def frame(table: sa.Table, order: sa.Column) -> pd.DataFrame:
                rows = conn.execute(select(table).where(table.c.item_key == key).order_by(order))
                return pd.DataFrame(rows.mappings().all(), columns=list(table.c.keys()))

            return (
                frame(events, events.c.version),
                frame(rejected, rejected.c.id),
                frame(refusals, refusals.c.id),
            )

        ev, rej, ref = self._read(body)
        if ev.empty:
            raise ItemNotFoundError(key)
        ev["outcome"] = "applied"
        ev["expected_version"] = ev["version"] - 1
        extra = []
        if include_rejected and not rej.empty:
            rej = rej.rename(columns={"to_state": "state"}).assign(outcome="rejected")
            extra.append(rej.drop(columns=["id", "actual_version"]))
        if include_rejected and not ref.empty:
            ref = ref.rename(columns={"to_state": "state"}).assign(outcome="refused")
            extra.append(ref.drop(columns=["id", "role"]))
        if extra:
            ev = pd.concat([ev, *extra], ignore_index=True)
            ev = ev.sort_values(["at", "outcome"], kind="stable")
        ev = ev.rename(columns={"by_user": "user", "item_key": "key"})
        ev["user_label"] = ev["by_label"].where(ev["by_label"].notna(), ev["user"])
        ev["changes"] = ev["changes"].map(json.loads)
        reason = ev["reason"] if "reason" in ev else pd.Series("", index=ev.index)
        ev["changes_zh"] = [
            _changes_zh(c)
            if o == "applied"
            else (f"{r}（{_attempt_zh(s, c)}）" if o == "refused" else _attempt_zh(s, c))
            for c, o, s, r in zip(ev["changes"], ev["outcome"], ev["state"], reason, strict=True)
        ]
        ev["action_zh"] = (
            ev["action"]
            .map(ACTION_ZH)
            .where(ev["outcome"] != "refused", ev["action"].map(REFUSED_ZH))
        )
        ev["state_zh"] = ev["state"].map(lambda s: STATE_ZH[State(s)] if isinstance(s, str) else "")
        for c in ("version", "snapshot_id", "expected_version", "reopen_count"):
            ev[c] = pd.to_numeric(ev[c]).astype("Int64")
        # a refusal's ``reason`` column is why it was refused, not the item's 原因说明
        ev.loc[ev["outcome"] == "refused", "reason"] = None
        cols = [
            "version",
            "at",
            "user",
            "user_label",
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

    def refusals(self) -> pd.DataFrame:
        """Return every write refused by the role rules (the audit), oldest first."""
        return self._read(
            lambda conn: pd.DataFrame(
                conn.execute(select(refusals).order_by(refusals.c.id)).mappings().all(),
                columns=list(refusals.c.keys()),
            )
        )

    def snapshots(self) -> pd.DataFrame:
        """Return every snapshot: ``id``, ``created_at`` (UTC), ``created_by``,
        ``dataset_hash``, ``settings_profile``, ``settings`` (records), ``n_items``, ``note``.
        """  # noqa: D205
        q = (
            select(snapshots, settings_texts.c.settings_json.label("shared_json"))
            .select_from(
                snapshots.outerjoin(
                    settings_texts, settings_texts.c.settings_hash == snapshots.c.settings_hash
                )
            )
            .order_by(snapshots.c.id)
        )
        s = self._read(
            lambda conn: pd.DataFrame(
                conn.execute(q).mappings().all(), columns=[*snapshots.c.keys(), "shared_json"]
            )
        )
        # snapshots before ledger_0005 keep their own JSON; later ones share settings_texts
        text = s["settings_json"].where(s["settings_json"].fillna("") != "", s["shared_json"])
        s["settings"] = text.map(json.loads)
        return s.drop(columns=["settings_json", "shared_json", "settings_hash"])

    def snapshot_items(self, snapshot_id: int) -> pd.DataFrame:
        """Return the problem items as found by one snapshot (columns ``ITEM_COLUMNS``)."""
        frame = self._read(lambda conn: self.db.found_in(conn, snapshot_id))
        return make_items(frame.drop(columns="snapshot_id").rename(columns={"item_key": "key"}))

    def snapshot_indicators(self, snapshot_id: int) -> pd.DataFrame:
        """Return the county indicator rows one snapshot stored.

        Columns ``snapshot_id``, ``code``, ``indicator``, ``value`` (NaN: 无数据),
        ``unit``, ``target``, ``comparison``, ``status``; empty for a snapshot recorded
        without an assessment or before the ledger stored them.
        """
        frame = self._read(lambda conn: self.db.indicators_of(conn, snapshot_id))
        for col in ("value", "target"):
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
        return frame

    def previous_indicators(self, *, dataset_hash: str | None = None) -> pd.DataFrame | None:
        """Return the county rows of the latest snapshot that has them, or None.

        Parameters
        ----------
        dataset_hash : str, optional
            Skip snapshots of this data version: the assessment being judged (so that
            recording it does not make it its own "previous" value).

        Returns
        -------
        DataFrame or None
            As :meth:`snapshot_indicators`; for
            :func:`geo.indicators.with_previous` (农村卫生厕所普及率 稳步提高).
        """
        sid = self._read(
            lambda conn: self.db.latest_indicator_snapshot(conn, other_than=dataset_hash)
        )
        return None if sid is None else self.snapshot_indicators(int(sid))

    # -- snapshots ---------------------------------------------------------------------

    def record_snapshot(
        self,
        source: Assessment | pd.DataFrame,
        *,
        actor: Actor,
        dataset_hash: str | None = None,
        settings: Any = None,
        note: str = "",
        county: pd.DataFrame | None = None,
    ) -> SnapshotDiff:
        """Record an analysis run of the county's 现状 data and update the items it found.

        New keys become items in 待整改; a 已销号 item found again is reopened (待整改,
        ``reopened`` event); open items found again persist unchanged; items no longer
        found are left as they are (see :attr:`SnapshotDiff.disappeared`). One transaction.

        A snapshot is a county-level action (administrators only) and an observation: an
        assessment of the 规划 scenario (planned features taken as built,
        :func:`geo.plan.as_built`) is refused, so that a planned road never makes a real
        item "disappear" (建议验收销号).

        Parameters
        ----------
        source : Assessment or DataFrame
            An assessment (its items come from :func:`~geo.ledger.items.problem_items`)
            or a problem-item frame (:data:`~geo.ledger.items.ITEM_COLUMNS`) of observed
            data.
        actor : Actor
            Who records it (an administrator).
        dataset_hash : str, optional
            The data version (:attr:`layers.Dataset.content_hash`); taken from the
            assessment if not given, required with a frame.
        settings : Settings or mapping, optional
            The settings used; taken from the assessment if not given.
        note : str
            Free text (e.g. "2026年二季度数据更新").
        county : DataFrame, optional
            The county indicator rows (``code``, ``indicator``, ``value``, ``unit``,
            ``target``, ``comparison``, ``status``) to keep with the snapshot; taken
            from the assessment's roll-up if not given (:meth:`previous_indicators`).

        Returns
        -------
        SnapshotDiff
            The previous snapshot against this one.

        Raises
        ------
        PermissionDeniedError
            If the actor is not an administrator (the refusal is audited).
        LedgerError
            For a 规划 assessment, or without the dataset hash and settings.
        """
        actor = _require_actor(actor)
        self._check(actor, Action.SNAPSHOT, audit_fields={"note": note})
        if isinstance(source, pd.DataFrame):
            found = make_items(source)
        else:
            _observed_only(source)
            from geo.ledger.items import problem_items

            found = problem_items(source)
            dataset_hash = dataset_hash or source.dataset_hash
            settings = settings if settings is not None else source.settings
            county = county if county is not None else source.rollup.county
        if not dataset_hash or settings is None:
            raise LedgerError(
                "a snapshot needs the dataset hash and the settings it was computed with",
                zh="快照必须记录数据版本（数据哈希）和参数设置",
            )
        settings_json, profile = _settings_json(settings)
        now = self._now()
        user = actor.username

        settings_hash = hashlib.sha256(settings_json.encode("utf-8")).hexdigest()
        indicator_rows = _indicator_rows(county)

        def body(conn: Connection) -> SnapshotDiff:
            prev = conn.execute(select(func.max(snapshots.c.id))).scalar()
            # the settings once per distinct content (they rarely change between snapshots)
            known = conn.execute(
                select(settings_texts.c.settings_hash).where(
                    settings_texts.c.settings_hash == settings_hash
                )
            ).scalar_one_or_none()
            if known is None:
                conn.execute(
                    settings_texts.insert().values(
                        settings_hash=settings_hash, settings_json=settings_json
                    )
                )
            sid = conn.execute(
                snapshots.insert().values(
                    created_at=now,
                    created_by=user,
                    dataset_hash=dataset_hash,
                    settings_profile=profile,
                    settings_json="",
                    settings_hash=settings_hash,
                    n_items=len(found),
                    note=note,
                )
            ).inserted_primary_key[0]
            self.db.insert_indicators(conn, sid, indicator_rows)
            keys = found["key"].tolist()
            current = self.db.latest_events(conn, keys).set_index("item_key")
            new = found.loc[~found["key"].isin(current.index)]
            if len(new):
                conn.execute(
                    items_registry.insert(),
                    [
                        {
                            "item_key": k,
                            "indicator": i,
                            "unit_kind": u,
                            "unit_code": c,
                            "township_code": t or None,
                            "created_at": now,
                            "first_snapshot_id": sid,
                        }
                        for k, i, u, c, t in zip(
                            new["key"],
                            new["indicator"],
                            new["unit_kind"],
                            new["unit_code"],
                            new["township_code"],
                            strict=True,
                        )
                    ],
                )
            self.db.insert_found(conn, sid, _records(found))
            common = {"at": now, "by_user": user, "by_label": actor.label, "snapshot_id": sid}
            created = [
                {
                    **common,
                    "item_key": k,
                    "version": 1,
                    "action": "created",
                    "from_state": None,
                    "state": State.OPEN.value,
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
                    **common,
                    "item_key": k,
                    "version": int(row["version"]) + 1,
                    "action": "reopened",
                    "from_state": State.CLOSED.value,
                    "state": State.OPEN.value,
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
            return self._diff(conn, prev, sid)

        diff = self._write(body, actor=actor)
        logger.info(
            "snapshot %s: %d items (%s)",
            diff.b,
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
        return self._read(lambda conn: self._diff(conn, snapshot_a, snapshot_b))

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
        fa, fb = self.db.found_in(conn, a), self.db.found_in(conn, b)
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
        cur = self.db.latest_events(conn, list(change)).set_index("item_key")
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
        actor: Actor,
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
        actor : Actor
            Who makes the change (its role must allow the move:
            :func:`geo.ledger.permissions.allowed_transitions`).
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
        ConflictError, IllegalTransitionError, ItemNotFoundError, PermissionDeniedError,
        LedgerError
        """
        change = Change(key, expected_version, parse_state(to_state), {**fields, "reason": reason})
        self.apply_changes([change], actor=actor)
        return self.item(key)

    def update(
        self, key: str, *, actor: Actor, expected_version: int, **fields: Any
    ) -> dict[str, Any]:
        """Edit an item's fields without changing its state.

        Parameters
        ----------
        key : str
        actor : Actor
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
        ConflictError, ItemNotFoundError, PermissionDeniedError, LedgerError
        """
        self.apply_changes([Change(key, expected_version, None, fields)], actor=actor)
        return self.item(key)

    def apply_changes(
        self,
        changes: Iterable[Change],
        *,
        actor: Actor,
        accept_plan: bool = False,
        _action: Action | None = None,
    ) -> list[int]:
        """Apply several edits all together or not at all (one transaction).

        Parameters
        ----------
        changes : iterable of Change
        actor : Actor
            Who makes them; every change is checked against the role matrix.
        accept_plan : bool
            The edits accept a plan (关联项目 of the 项目库与方案 page): administrators only.

        Returns
        -------
        list of int
            The new version of each item (the old one where nothing changed).

        Raises
        ------
        ConflictError
            On the first stale ``expected_version``; nothing is applied and the refused
            edit is kept in the ``rejected`` table.
        PermissionDeniedError
            On the first change the actor may not make; nothing is applied and the refusal
            is kept in the ``refusals`` table.
        IllegalTransitionError, ItemNotFoundError, LedgerError
            Nothing is applied.
        """
        actor = _require_actor(actor)
        changes = list(changes)
        cleaned = [clean_fields(c.fields) for c in changes]
        now, today = self._now(), self._today()
        action = _action or (Action.ACCEPT_PLAN if accept_plan else None)

        def body(conn: Connection) -> list[int]:
            return [
                self._apply_one(conn, c, f, actor=actor, now=now, today=today, action=action)
                for c, f in zip(changes, cleaned, strict=True)
            ]

        try:
            return self._write(body, actor=actor, lock_keys=[c.key for c in changes])
        except ConflictError as exc:
            bad = next(c for c in changes if c.key == exc.key)
            self._log_rejected(bad, exc, actor=actor, now=now)
            raise
        except PermissionDeniedError as exc:
            bad = next((c for c in changes if c.key == exc.key), None)
            self._refuse(
                exc,
                to_state=bad.to_state if bad else None,
                fields=clean_fields(bad.fields) if bad else None,
            )
            raise

    def _apply_one(
        self,
        conn: Connection,
        change: Change,
        fields: dict[str, str | None],
        *,
        actor: Actor,
        now: str,
        today: str,
        action: Action | None,
    ) -> int:
        key = change.key
        reg = conn.execute(
            select(
                items_registry.c.item_key,
                items_registry.c.indicator,
                items_registry.c.township_code,
            ).where(items_registry.c.item_key == key)
        ).first()
        if reg is None:
            raise ItemNotFoundError(key)
        cur = self.db.latest_events(conn, [key]).iloc[0]
        old_state = State(cur["state"])
        scope = {
            "key": key,
            "state": old_state.value,
            "indicator": reg.indicator,
            "township_code": reg.township_code or "",
        }
        kind = action or (Action.TRANSITION if change.to_state is not None else Action.UPDATE)
        permissions.check(actor, kind, scope, to_state=change.to_state)
        version = int(cur["version"])
        if version != int(change.expected_version):
            raise ConflictError(
                key,
                int(change.expected_version),
                version,
                changed_by=str(_none(cur["by_label"]) or cur["by_user"]),
                changed_at=str(cur["at"]),
            )
        old = {f: _none(cur[f]) for f in FIELDS}
        new = {**old}
        reopen_count = int(cur["reopen_count"])
        automatic: set[str] = set()
        if change.to_state is None:
            if "closed_on" in fields and old_state is not State.CLOSED:
                raise LedgerError(
                    f"{key}: 销号日期 (closed_on) can only be set on a 已销号 item",
                    zh=f"问题 {key} 尚未销号，不能填写销号日期",
                )
            new.update(fields)
            state, event_action = old_state, "update"
            if state in REASON_REQUIRED and not new["reason"]:
                raise IllegalTransitionError(key, state, state, missing_reason=True)
        else:
            state, event_action = change.to_state, "transition"
            if state not in TRANSITIONS[old_state]:
                raise IllegalTransitionError(key, old_state, state)
            new.update(fields)
            new["reason"] = fields.get("reason")
            if fields.get("reason") is None:
                automatic.add("reason")  # a move clears the reason of the state left
            needs_reason = state in REASON_REQUIRED or old_state is State.CLOSED
            if needs_reason and not new["reason"]:
                raise IllegalTransitionError(key, old_state, state, missing_reason=True)
            if not fields.get("closed_on"):
                automatic.add("closed_on")  # today's date on 销号, cleared otherwise
            if state is State.CLOSED:
                new["closed_on"] = fields.get("closed_on") or today
            else:
                new["closed_on"] = None
            if old_state is State.CLOSED:
                reopen_count += 1
        diff = {f: [old[f], new[f]] for f in FIELDS if old[f] != new[f]}
        permissions.check(
            actor, kind, scope, to_state=change.to_state, fields=set(diff) - automatic
        )
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
                    by_user=actor.username,
                    by_label=actor.label,
                    action=event_action,
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

    def _log_rejected(self, change: Change, exc: ConflictError, *, actor: Actor, now: str) -> None:
        try:
            cleaned = clean_fields(change.fields)
            self._write(
                lambda conn: conn.execute(
                    rejected.insert().values(
                        item_key=change.key,
                        at=now,
                        by_user=actor.username,
                        by_label=actor.label,
                        action="conflict",
                        expected_version=int(change.expected_version),
                        actual_version=exc.actual_version,
                        to_state=change.to_state.value if change.to_state else None,
                        changes=json.dumps(cleaned, ensure_ascii=False),
                    )
                ),
                actor=actor,
            )
        except Exception:  # the audit row must never hide the conflict itself
            logger.exception("could not log the rejected edit of %s", change.key)

    # -- evidence ----------------------------------------------------------------------

    def attach_evidence(
        self,
        key: str,
        source: str | os.PathLike[str],
        *,
        actor: Actor,
        expected_version: int,
    ) -> dict[str, Any]:
        """Copy a photo or file into the evidence folder and add it to the item's evidence.

        The file is copied to ``<evidence_dir>/<key>/<UTC time>_<name>`` (atomically); the
        item's ``evidence`` gains that path, relative to the evidence folder's parent. On a
        version conflict or a refusal the copy is removed and the error raised.

        Returns
        -------
        dict
            The item after the change.
        """
        actor = _require_actor(actor)
        if self.evidence_dir is None:
            raise LedgerError(
                "this ledger has no evidence folder; pass evidence_dir= to Ledger()",
                zh="未设置佐证材料文件夹",
            )
        current = self.item(key)
        self._check(actor, Action.EVIDENCE, current, fields={"evidence"},
                    audit_fields={"evidence": Path(source).name})  # fmt: skip
        try:
            dest = evidence_files.store_file(
                source, folder=self.evidence_dir, key=key, at=self._clock()
            )
        except evidence_files.EvidenceError as exc:
            raise LedgerError(str(exc), zh=exc.zh) from exc
        rel = dest.relative_to(self.evidence_dir.parent).as_posix()
        paths = [p for p in (current["evidence"] or "").splitlines() if p] + [rel]
        change = Change(key, expected_version, None, {"evidence": paths})
        try:
            self.apply_changes([change], actor=actor, _action=Action.EVIDENCE)
        except Exception:
            evidence_files.remove(dest)
            raise
        return self.item(key)

    # -- checks ------------------------------------------------------------------------

    def verify(self) -> list[str]:
        """Check the ledger's consistency; return what is wrong (empty: consistent).

        Checks SQLite's own integrity and foreign keys, that each item's versions run
        1, 2, … without gaps and start with ``created``, that every snapshot holds the
        number of items it declares, and that each current state obeys the rules
        (暂缓/豁免 have a reason, 已销号 has a 销号日期).
        """
        bad: list[str] = []

        def body(conn: Connection) -> pd.DataFrame:
            if self.db.dialect == "sqlite":
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
            registry = set(conn.execute(select(items_registry.c.item_key)).scalars())
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
            short = [sid for sid, n, m in self.db.snapshot_counts(conn) if n != m]
            if short:
                bad.append(f"snapshots missing items: {short}")
            return self.db.latest_events(conn, None)

        cur = self._read(body)
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
