"""Region results (全区) in PostGIS: what ``python -m scripts.region`` wrote, for the server.

Local mode keeps a region's results in its results folder (:mod:`layers.region`). In server
mode they are published to the server database as well (migration ``region_0001``):
:func:`publish_results` copies a results folder into the tables, and the app's 全区 page
reads them back with :meth:`RegionStore.read_results` — the same frames as from the folder.

- A publish is **one transaction**: each county's rows (its outcome rows, admin villages,
  townships, its ``county.pkl`` and its ``region_counties`` row,
  :meth:`RegionStore.write_county`), then the run (``region.json``, the roll-up, the
  boundaries, :meth:`RegionStore.write_run`). A reader sees the old run with its old county
  rows, or the new run with the new ones, never a mix; a failed county keeps a row with its
  error and no result rows. The newest run is the one the app shows.
- A county whose stored input hash is already the folder's is not written again.

Only the database owner may write (``python -m scripts.region --db`` with the owner's URL,
as ``scripts/server.sh`` writes it to ``server.env``); the app's role reads. Unpickling a
county's assessment runs code: the store is trusted like the folder (the server's own).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import psycopg
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

from layers import cache as results_cache
from layers.errors import GapMapError
from layers.region import (
    RegionResults,
    read_county_meta,
    read_county_results,
    read_region_results,
)
from layers.store.base import ServerStore, advisory_xact_lock, frame_columns, restore_dtypes
from layers.store.errors import StoreError, StoreFault, translate
from layers.store.migrate import current_heads

__all__ = [
    "COUNTY_FRAMES",
    "PublishReport",
    "RegionStore",
    "RegionStoreError",
    "publish_results",
]

logger = logging.getLogger(__name__)

_SRID = 4326
COUNTY_FRAMES: Mapping[str, str] = {
    "outcomes": "region_outcomes",
    "admin_villages": "region_admin_villages",
    "townships": "region_townships",
}
"""A county's result frame → its table."""
_TABLES = ("region_runs", "region_rollup", "region_boundaries", "region_counties",
           *COUNTY_FRAMES.values(), "region_county_files")  # fmt: skip
_KEYS = ("county_code", "run_id", "region_code", "row_no", "extra", "geom")
"""Columns of the tables that are not a frame's attribute columns."""
RUNS_KEPT = 2
"""Runs of a region kept in ``region_runs`` (with their roll-ups): the newest and the one
before it."""
OWNER_HINT_ZH = (
    '请以数据库所有者身份运行：python -m scripts.region --db "$GAPMAP_DB_OWNER_URL"'
    "（地址见服务器的 /etc/gapmap/server.env；应用使用的 GAPMAP_DB_URL 只能读取全区结果）"
)


class RegionStoreError(GapMapError, RuntimeError):
    """The region tables cannot do what was asked (wrong database, not migrated, no right)."""


@dataclass(frozen=True)
class PublishReport:
    """What :func:`publish_results` did.

    Attributes
    ----------
    run_id : int
        The ``region_runs`` row written.
    written : tuple of str
        Counties whose results were (re)written.
    failed : tuple of str
        Counties recorded as failed (their error, no result rows).
    unchanged : tuple of str
        Counties already in the database with the same input hash.
    rows : int
        Result rows written (outcomes + admin villages + townships).
    seconds : float
    """

    run_id: int
    written: tuple[str, ...]
    failed: tuple[str, ...]
    unchanged: tuple[str, ...]
    rows: int
    seconds: float


class RegionStore(ServerStore):
    """The region results in a PostgreSQL/PostGIS database (migration ``region_0001``).

    Parameters
    ----------
    engine_or_url : Engine, URL or str
        The server database (``postgresql+psycopg://…``), migrated to the ``region`` head
        (``python -m scripts.db upgrade``).

    Raises
    ------
    RegionStoreError
        If the database is not PostgreSQL or has no region tables.
    """

    error = RegionStoreError
    branch = "region_"
    what = "region results"
    needs_pg_zh = (
        "全区结果入库需要 PostgreSQL + PostGIS 数据库（服务器模式，见 README「服务器部署」）；"
        "本地模式请直接使用结果目录（--out）"
    )
    no_tables_zh = (
        "数据库尚未建立全区结果表或版本过旧：请由管理员运行 python -m scripts.db upgrade"
        "（建表、迁移）"
    )

    def __init__(self, engine_or_url: Engine | URL | str) -> None:
        self._columns: dict[str, set[str]] = {}
        super().__init__(engine_or_url)

    def _heads(self) -> set[str]:
        try:
            with self._connect() as conn:
                return current_heads(conn)
        except StoreError as exc:
            if exc.fault is not StoreFault.UNAVAILABLE:
                raise
            cause = exc.__cause__
            orig = getattr(cause, "orig", cause)
            first = (str(orig).strip().splitlines() or [type(cause).__name__])[0]
            raise RegionStoreError(
                f"cannot connect to {self.where}: {first}",
                zh=f"无法连接全区结果数据库 {self.where}：请检查 PostgreSQL 是否已启动、"
                f"用户名和密码是否正确（{first}）",
            ) from None

    # ------------------------------------------------------------------ writes

    def may_write(self) -> bool:
        """Return True when this connection's role may replace region results (the owner)."""
        checks = " AND ".join(
            f"has_table_privilege('{t}', '{p}')" for t in _TABLES for p in ("INSERT", "DELETE")
        )
        with self._connect() as conn:
            return bool(conn.exec_driver_sql(f"SELECT {checks}").scalar())

    def require_writer(self) -> None:
        """Raise unless :meth:`may_write` (before any county is computed, not after).

        Raises
        ------
        RegionStoreError
            When the database role may not write region results (the app's role).
        """
        if not self.may_write():
            with self._connect() as conn:
                user = conn.exec_driver_sql("SELECT current_user").scalar()
            raise RegionStoreError(
                f"database role {user} may not write region results ({self.where}); "
                "run scripts.region with the database owner's URL",
                zh=f"数据库用户 {user} 无权写入全区结果。{OWNER_HINT_ZH}",
            )

    def write_county(
        self,
        code: str,
        *,
        region_code: str,
        entry: Mapping[str, Any],
        meta: Mapping[str, Any] | None = None,
        frames: Mapping[str, gpd.GeoDataFrame] | None = None,
        county_pkl: bytes | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Replace county ``code``'s results, in one transaction; return the rows written.

        Parameters
        ----------
        code : str
            The county.
        region_code : str
            Its region (``640000``).
        entry : mapping
            Its entry of the results' ``region.json`` (``name``, ``city_code``, ``city_name``,
            ``key``, ``input_hash``, ``status``, ``error``, ``seconds``).
        meta : mapping, optional
            Its ``meta.json`` (an ``ok`` county).
        frames : mapping, optional
            ``outcomes``, ``admin_villages``, ``townships`` (an ``ok`` county).
        county_pkl : bytes, optional
            The bytes of its ``county.pkl`` (:mod:`layers.cache`, key ``meta["input_hash"]``).
        conn : Connection, optional
            A transaction of :meth:`transaction` to write in (committed with it); default
            one of its own.
        """
        ok = entry.get("status") == "ok"
        if ok and (meta is None or frames is None or county_pkl is None):
            raise ValueError("an ok county needs its meta, frames and county.pkl")
        meta = dict(meta or {})
        frames = dict(frames or {}) if ok else {}
        columns = {name: frame_columns(frame) for name, frame in frames.items()}
        rows = 0
        with self._within(conn) as conn:
            # one writer per county at a time; readers see the old rows until the commit
            advisory_xact_lock(conn, f"gapmap_region_county:{code}")
            conn.execute(sa.text("DELETE FROM region_counties WHERE code = :c"), {"c": code})
            conn.execute(
                sa.text(
                    "INSERT INTO region_counties (code, region_code, name, city_code, "
                    "city_name, key, status, error, input_hash, settings_hash, dataset_hash, "
                    "buffer_m, seconds, finished_at, meta, columns) VALUES (:code, :region, "
                    ":name, :city_code, :city_name, :key, :status, :error, :input_hash, "
                    ":settings_hash, :dataset_hash, :buffer_m, :seconds, :finished, "
                    "CAST(:meta AS jsonb), CAST(:columns AS jsonb))"
                ),
                {
                    "code": code,
                    "region": region_code,
                    "name": str(entry.get("name", "")),
                    "city_code": str(entry.get("city_code", "")),
                    "city_name": str(entry.get("city_name", "")),
                    "key": bool(entry.get("key", False)),
                    "status": "ok" if ok else "failed",
                    "error": None if ok else str(entry.get("error") or "未知错误"),
                    "input_hash": str(meta.get("input_hash") or entry.get("input_hash", "")),
                    "settings_hash": meta.get("settings_hash"),
                    "dataset_hash": meta.get("dataset_hash"),
                    "buffer_m": meta.get("buffer_m"),
                    "seconds": meta.get("seconds", entry.get("seconds")),
                    "finished": meta.get("finished"),
                    "meta": _json(meta),
                    "columns": _json(columns),
                },
            )
            for name, frame in frames.items():
                rows += self._copy(conn, COUNTY_FRAMES[name], frame, {"county_code": code})
            if ok:
                assert county_pkl is not None
                conn.execute(
                    sa.text(
                        "INSERT INTO region_county_files (county_code, kind, cache_key, "
                        "sha256, size_bytes, content) VALUES (:c, 'county.pkl', :key, :sha, "
                        ":size, :content)"
                    ),
                    {
                        "c": code,
                        "key": meta["input_hash"],
                        "sha": hashlib.sha256(county_pkl).hexdigest(),
                        "size": len(county_pkl),
                        "content": county_pkl,
                    },
                )
        logger.info("region county %s written to %s (%s, %d rows)", code, self.where,
                    "ok" if ok else "failed", rows)  # fmt: skip
        return rows

    def write_run(
        self,
        *,
        region_code: str,
        region_name: str,
        manifest: Mapping[str, Any],
        rollup: pd.DataFrame,
        boundaries: gpd.GeoDataFrame,
        conn: Connection | None = None,
    ) -> int:
        """Record a run (its ``region.json``, roll-up and boundaries) in one transaction.

        Counties of the region that are not in the manifest any more are removed in the
        same transaction, and so are the region's runs before the previous one (with their
        roll-ups): the table keeps the newest run and the one before it (which a reader may
        have just chosen), not one more roll-up per publish. Returns the new
        ``region_runs`` id. ``conn``: as :meth:`write_county`'s.
        """
        counties = dict(manifest.get("counties", {}))
        ok = sum(1 for e in counties.values() if e.get("status") == "ok")
        columns = {"rollup": frame_columns(rollup), "boundaries": frame_columns(boundaries)}
        with self._within(conn) as conn:
            advisory_xact_lock(conn, f"gapmap_region_run:{region_code}")
            run_id = conn.execute(
                sa.text(
                    "INSERT INTO region_runs (region_code, region_name, data, settings_hash, "
                    "profile, buffer_m, counties, counties_ok, counties_failed, finished_at, "
                    "manifest, columns) VALUES (:region, :name, :data, :settings, :profile, "
                    ":buffer, :n, :ok, :failed, :finished, CAST(:manifest AS jsonb), "
                    "CAST(:columns AS jsonb)) RETURNING id"
                ),
                {
                    "region": region_code,
                    "name": region_name,
                    "data": str(manifest.get("data", "")),
                    "settings": str(manifest.get("settings_hash", "")),
                    "profile": str(manifest.get("profile", "")),
                    "buffer": float(manifest.get("buffer_m", 0.0)),
                    "n": len(counties),
                    "ok": ok,
                    "failed": len(counties) - ok,
                    "finished": manifest.get("finished"),
                    "manifest": _json(manifest),
                    "columns": _json(columns),
                },
            ).scalar_one()
            self._copy(conn, "region_rollup", rollup, {"run_id": run_id})
            conn.execute(  # ON DELETE CASCADE: their roll-up rows go with them
                sa.text(
                    "DELETE FROM region_runs WHERE region_code = :r AND id < (SELECT min(id) "
                    "FROM (SELECT id FROM region_runs WHERE region_code = :r "
                    "ORDER BY id DESC LIMIT :keep) AS newest)"
                ),
                {"r": region_code, "keep": RUNS_KEPT},
            )
            conn.execute(
                sa.text("DELETE FROM region_boundaries WHERE region_code = :r"),
                {"r": region_code},
            )
            self._copy(conn, "region_boundaries", boundaries, {"region_code": region_code})
            conn.execute(
                sa.text(
                    "DELETE FROM region_counties WHERE region_code = :r "
                    "AND NOT (code = ANY (:codes))"
                ),
                {"r": region_code, "codes": list(counties)},
            )
        return int(run_id)

    def _copy(
        self, conn: Connection, table: str, frame: pd.DataFrame, keys: Mapping[str, Any]
    ) -> int:
        """COPY ``frame``'s rows into ``table``: typed columns, the rest in ``extra``."""
        known = self._table_columns(conn, table)
        geom = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
        attrs = [c for c in frame.columns if c != geom]
        typed = [c for c in attrs if c in known]
        extra = [c for c in attrs if c not in known]
        n = len(frame)
        values: list[list[Any]] = [[v] * n for v in keys.values()]
        values.append(list(range(n)))
        values += [_objects(frame[c]) for c in typed]
        extras = [_objects(frame[c]) for c in extra]
        values.append(
            [_json({c: v for c, v in zip(extra, row, strict=True) if v is not None})
             for row in zip(*extras, strict=True)]
            if extra else ["{}"] * n
        )  # fmt: skip
        names = [*keys, "row_no", *typed, "extra"]
        if geom is not None:
            geoms = frame.geometry
            if geoms.crs is not None and geoms.crs.to_epsg() != _SRID:
                geoms = geoms.to_crs(_SRID)
            values.append(
                list(
                    shapely.to_wkb(
                        shapely.set_srid(geoms.to_numpy(), _SRID), hex=True, include_srid=True
                    )
                )
            )
            names.append("geom")
        cursor = conn.connection.driver_connection.cursor()  # the transaction's connection
        with cursor, cursor.copy(f"COPY {table} ({', '.join(map(_q, names))}) FROM STDIN") as cp:
            for row in zip(*values, strict=True):
                cp.write_row(row)
        return n

    def _table_columns(self, conn: Connection, table: str) -> set[str]:
        if table not in self._columns:
            found = conn.execute(
                sa.text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = :t"
                ),
                {"t": table},
            ).scalars()
            self._columns[table] = set(found) - set(_KEYS)
        return self._columns[table]

    # ------------------------------------------------------------------- reads

    def latest_run(self, region_code: str | None = None) -> int | None:
        """Return the newest run (of ``region_code``, else of any region), or None before any."""
        sql = "SELECT max(id) FROM region_runs" + (" WHERE region_code = :r" if region_code else "")
        with self._connect() as conn:
            return conn.execute(sa.text(sql), {"r": region_code}).scalar()

    def county_states(self, *, conn: Connection | None = None) -> dict[str, tuple[str, str]]:
        """County code → (status, input hash) of what the database holds (in ``conn``)."""
        with self._connect() if conn is None else nullcontext(conn) as conn:
            rows = conn.execute(sa.text("SELECT code, status, input_hash FROM region_counties"))
            return {r.code: (r.status, r.input_hash) for r in rows}

    def read_results(self, run_id: int | None = None) -> RegionResults | None:
        """Return a run (default: the newest) as :class:`~layers.region.RegionResults`.

        The manifest, roll-up and boundaries are the same as :func:`read_region_results`
        of the folder that was published; ``county(code)`` reads from the database.
        """
        with self._snapshot() as conn:  # the run, its roll-up, its boundaries: one snapshot
            if run_id is None:
                run_id = conn.execute(sa.text("SELECT max(id) FROM region_runs")).scalar()
                if run_id is None:
                    return None
            run = conn.execute(
                sa.text("SELECT region_code, manifest, columns FROM region_runs WHERE id = :i"),
                {"i": run_id},
            ).one_or_none()
            if run is None:
                raise RegionStoreError(
                    f"no region run {run_id} in {self.where}",
                    zh=f"数据库中没有第 {run_id} 次全区计算结果（已被更新的计算替换）：请刷新本页；"
                    f"如仍没有，{OWNER_HINT_ZH}",
                )
            rollup = _read_frame(
                conn, "region_rollup", "run_id = :k", run_id, run.columns["rollup"]
            )
            boundaries = _read_frame(
                conn, "region_boundaries", "region_code = :k", run.region_code,
                run.columns["boundaries"],
            )  # fmt: skip
        return RegionResults(
            folder=None,
            manifest=_unjson(dict(run.manifest)),
            rollup=rollup,
            boundaries=boundaries,
            place=f"服务器数据库（第 {run_id} 次计算）",
            reader=_StoreReader(self),
        )

    def county_meta(self, code: str) -> dict[str, Any] | None:
        """Return a county's ``meta.json`` as stored, or None (absent or failed)."""
        with self._snapshot() as conn:
            row = conn.execute(
                sa.text("SELECT meta FROM region_counties WHERE code = :c AND status = 'ok'"),
                {"c": code},
            ).one_or_none()
        return None if row is None else _unjson(dict(row.meta))

    def read_county_results(self, code: str) -> dict[str, gpd.GeoDataFrame]:
        """Return a county's ``outcomes``, ``admin_villages`` and ``townships``.

        Raises
        ------
        RegionStoreError
            When the database has no results of the county (absent or failed).
        """
        with self._snapshot() as conn:  # the three frames of one publish
            columns = self._ok_county(conn, code).columns
            return {
                name: _read_frame(conn, table, "county_code = :k", code, columns[name])
                for name, table in COUNTY_FRAMES.items()
            }

    def read_county(self, code: str) -> tuple[Any, Any]:
        """Return a county's assessed partition and its Assessment (its ``county.pkl``).

        Raises
        ------
        RegionStoreError
            When the county has no results, or they were computed by another version of
            GapMap (run ``python -m scripts.region`` again).
        """
        dataset, assessment, _meta = self.read_county_with_meta(code)
        return dataset, assessment

    def read_county_with_meta(self, code: str) -> tuple[Any, Any, dict[str, Any]]:
        """:meth:`read_county` and the county's ``meta.json``, of the same publish."""
        with self._snapshot() as conn:
            row = conn.execute(
                sa.text(
                    "SELECT f.cache_key, f.content, c.meta FROM region_county_files f "
                    "JOIN region_counties c ON c.code = f.county_code "
                    "WHERE c.code = :c AND c.status = 'ok' AND f.kind = 'county.pkl'"
                ),
                {"c": code},
            ).one_or_none()
            if row is None:
                raise _no_results(self.where, code)
        found = results_cache.loads(bytes(row.content), key=row.cache_key, where=f"县 {code}")
        if not isinstance(found, tuple) or len(found) != 2:
            raise RegionStoreError(
                f"the results of county {code} in {self.where} were written by another "
                "version of GapMap",
                zh=f"服务器数据库中县 {code} 的结果由其他版本的 GapMap 计算，"
                f"请重新计算并入库。{OWNER_HINT_ZH}",
            )
        return (*found, _unjson(dict(row.meta)))

    def _ok_county(self, conn: Connection, code: str) -> Any:
        row = conn.execute(
            sa.text("SELECT columns FROM region_counties WHERE code = :c AND status = 'ok'"),
            {"c": code},
        ).one_or_none()
        if row is None:
            raise _no_results(self.where, code)
        return row

    # ----------------------------------------------------------------- helpers

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        with _driver_errors(), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """Yield a read-only REPEATABLE READ transaction: its queries see one committed state."""
        with self._connect() as conn:
            conn = conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            with conn.begin():
                yield conn

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One read-write transaction (committed at the end, rolled back on an error).

        Pass it as ``conn`` to :meth:`write_county` and :meth:`write_run` to publish them
        together (:func:`publish_results`).
        """
        with self._begin() as conn:
            yield conn

    @contextmanager
    def _within(self, conn: Connection | None) -> Iterator[Connection]:
        """``conn`` (a caller's transaction), else a transaction of its own."""
        if conn is not None:
            yield conn
            return
        with self._begin() as own:
            yield own

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        with _driver_errors(), self.engine.begin() as conn:
            yield conn


@contextmanager
def _driver_errors() -> Iterator[None]:
    """Database errors as GapMap's (:func:`_translated`); others pass unchanged."""
    try:
        yield
    except (sa.exc.DBAPIError, psycopg.Error) as exc:  # COPY raises the driver's own
        err = _translated(exc)
        if err is None:
            raise
        raise err from exc


@dataclass(frozen=True)
class _StoreReader:
    """How :class:`~layers.region.RegionResults` of the database reads a county."""

    store: RegionStore

    def county(self, code: str) -> tuple[Any, Any]:
        return self.store.read_county(code)

    def county_results(self, code: str) -> dict[str, gpd.GeoDataFrame]:
        return self.store.read_county_results(code)

    def county_meta(self, code: str) -> dict[str, Any] | None:
        return self.store.county_meta(code)

    def county_with_meta(self, code: str) -> tuple[Any, Any, dict[str, Any]]:
        return self.store.read_county_with_meta(code)


def publish_results(
    out: str | os.PathLike[str], store: RegionStore, *, force: bool = False
) -> PublishReport:
    """Copy a results folder of ``python -m scripts.region`` into the region tables.

    Everything is **one transaction** (:meth:`RegionStore.transaction`): the counties
    (:meth:`RegionStore.write_county`; one the database holds with the same input hash is
    skipped, unless ``force``), then the run (:meth:`RegionStore.write_run`). Readers see
    the previous run and its county rows until the commit; a publish that fails (or is
    killed) half-way leaves the database as it was.

    Raises
    ------
    RegionStoreError
        When the store's role may not write (:meth:`RegionStore.require_writer`).
    RegionError
        When ``out`` is not a complete results folder.
    """
    t0 = time.perf_counter()
    store.require_writer()
    results = read_region_results(out)
    manifest = results.manifest
    rollup = results.rollup
    region_row = rollup.loc[rollup["level"] == "region"]
    region_code = str(
        manifest.get("region_code") or (region_row["code"].iloc[0] if len(region_row) else "")
    )
    region_name = str(
        manifest.get("region_name") or (region_row["name"].iloc[0] if len(region_row) else "")
    )
    written, failed, unchanged, rows = [], [], [], 0
    with store.transaction() as conn:  # all of it, or (on any error) nothing
        # one publisher of the region at a time (the same lock write_run takes), before
        # any county's lock: two publishers never wait on each other's counties
        advisory_xact_lock(conn, f"gapmap_region_run:{region_code}")
        held = store.county_states(conn=conn)
        for code, entry in manifest.get("counties", {}).items():
            if entry.get("status") == "ok":
                meta = read_county_meta(out, code)
                if meta is None:  # removed since the run: nothing to publish
                    continue
                if not force and held.get(code) == ("ok", meta.get("input_hash")):
                    unchanged.append(code)
                    continue
                rows += store.write_county(
                    code,
                    region_code=region_code,
                    entry=entry,
                    meta=meta,
                    frames=read_county_results(out, code),
                    county_pkl=(Path(out) / "counties" / code / "county.pkl").read_bytes(),
                    conn=conn,
                )
                written.append(code)
            else:
                store.write_county(code, region_code=region_code, entry=entry, conn=conn)
                failed.append(code)
        run_id = store.write_run(
            region_code=region_code,
            region_name=region_name,
            manifest=manifest,
            rollup=rollup,
            boundaries=results.boundaries,
            conn=conn,
        )
    return PublishReport(
        run_id=run_id,
        written=tuple(written),
        failed=tuple(failed),
        unchanged=tuple(unchanged),
        rows=rows,
        seconds=time.perf_counter() - t0,
    )


# ------------------------------------------------------------------- frames


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_NONFINITE = "$float"
"""JSON has no inf or NaN (and jsonb no -0.0): such a float is stored as ``{"$float": "inf"}``
(``-inf``, ``nan``, ``-0.0``) and read back as the float (:func:`_unjson`)."""


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float and -0.0 (also nested) as ``{"$float": repr}``."""
    if isinstance(value, float):
        if math.isfinite(value) and (value or math.copysign(1.0, value) > 0):
            return value
        return {_NONFINITE: repr(value)}  # jsonb's numbers have no -0.0 either
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _unjson(value: Any) -> Any:
    """Undo :func:`_finite` on a value read from a jsonb column."""
    if isinstance(value, dict):
        if len(value) == 1 and _NONFINITE in value:
            return float(value[_NONFINITE])
        return {k: _unjson(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unjson(v) for v in value]
    return value


def _json(value: Any) -> str:
    """JSON text of ``value`` for a jsonb column (non-finite floats kept, :func:`_finite`)."""
    return json.dumps(_finite(value), ensure_ascii=False, default=str, allow_nan=False)


def _objects(series: pd.Series) -> list[Any]:
    """Python values of a column (None for missing: SQL NULL, never NaN)."""
    return series.to_numpy(dtype=object, na_value=None).tolist()


def _read_frame(
    conn: Connection, table: str, where: str, key: Any, columns: list[list[str]]
) -> pd.DataFrame:
    """Read a frame written by :meth:`RegionStore._copy` back, in its columns and dtypes."""
    geom = next((c for c, dtype in columns if dtype == "geometry"), None)
    sql = sa.text(f"SELECT * FROM {table} WHERE {where} ORDER BY row_no")
    if geom is not None:
        raw = gpd.read_postgis(sql, conn, geom_col="geom", params={"k": key}, crs=_SRID)
    else:
        raw = pd.read_sql_query(sql, conn, params={"k": key})
    extras = pd.DataFrame.from_records(
        [_unjson(extra) for extra in raw["extra"]],
        columns=[c for c, dtype in columns if dtype != "geometry" and c not in raw.columns],
        index=raw.index,
    )
    out = pd.DataFrame(index=pd.RangeIndex(len(raw)))
    for name, dtype in columns:
        if dtype != "geometry":
            column = raw[name] if name in raw.columns else extras[name]
            out[name] = column.to_numpy(dtype=object) if len(raw) else column
    restore_dtypes(out, columns)
    if geom is None:
        return out
    gdf = gpd.GeoDataFrame(out, geometry=raw.geometry.to_numpy(), crs=_SRID)
    gdf = gdf.rename_geometry(geom) if geom != "geometry" else gdf
    return gdf[[c for c, _ in columns]]


def _no_results(where: str, code: str) -> RegionStoreError:
    return RegionStoreError(
        f"{where}: no complete results for county {code}",
        zh=f"服务器数据库中没有县 {code} 的完整计算结果。{OWNER_HINT_ZH}",
    )


def _translated(exc: Exception) -> GapMapError | None:
    err = translate(exc, subject="region results", subject_zh="全区结果")
    if err is None:
        return None
    if err.fault.value == "denied":
        return RegionStoreError(str(err), zh=f"{err.zh}。{OWNER_HINT_ZH}")
    return err
