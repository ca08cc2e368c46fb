"""The outcome frame: one row per unit an indicator judged, the source of every derived view.

Every indicator of the indicator table produces an outcome frame (columns
:data:`OUTCOME_COLUMNS`): one row per unit it judged (a natural village, a relocation
site and facility kind, an admin village, a township, a water works …) with a
``status``:

``ok``
    The unit meets the rule.
``problem``
    The unit fails it: the row **is** a problem item (问题清单 / 整改台账), its ``key``
    the stable ledger key ``<indicator>:<unit code>[:<sub-unit>]``.
``no_data``
    The layer or attribute the rule needs is absent for this unit (STANDARDS §5: never
    met, never zero).
``exempt``
    Out of the rule's scope, with the reason in ``cause`` (below 20 households, 搬迁撤并,
    an admin village below the population threshold, a boarding school's attendance area).

The roll-up counts ``problem`` rows per admin village and township, the ledger stores
them, the maps colour units by ``status``: so the counts agree by construction.

:func:`unit_frame` gives the location columns (names, codes, a point, households,
population) of every unit of one kind, so that each analysis fills them alike.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from layers.dataset import Dataset
from layers.errors import GapMapError
from layers.store.ledger import ITEM_COLUMNS

__all__ = [
    "OUTCOME_COLUMNS",
    "OUTCOME_STATUSES",
    "OUTCOME_STATUS_ZH",
    "UNIT_KINDS",
    "make_outcomes",
    "unit_frame",
]

OUTCOME_STATUSES: tuple[str, ...] = ("ok", "problem", "no_data", "exempt")
"""The values of an outcome row's ``status``."""

OUTCOME_STATUS_ZH: Mapping[str, str] = {
    "ok": "达标",
    "problem": "未达标",
    "no_data": "无数据",
    "exempt": "不纳入",
}
"""Chinese labels of :data:`OUTCOME_STATUSES` (maps, tables, 一村一图)."""

UNIT_KINDS: tuple[str, ...] = (
    "natural_village",
    "relocation_site",
    "admin_village",
    "township",
    "water_source",
    "county",
)
"""Units an indicator judges (``unit_kind``); ``unit_code`` is the unit's id or code."""

OUTCOME_COLUMNS: tuple[str, ...] = (*ITEM_COLUMNS, "status", "value", "limit", "value_unit")
"""Columns of an outcome frame: the ledger's item columns, then the verdict.

The item columns (:data:`layers.store.ledger.ITEM_COLUMNS`): ``key`` (stable, unique
within the frame), ``indicator`` (the indicator code), ``unit_kind`` (:data:`UNIT_KINDS`),
``unit_code``, ``township_code``/``township_name``, ``admin_village_code``/
``admin_village_name``, ``village_code``/``village_name`` (natural village or relocation
site; empty above that level), ``problem_type`` 问题类型, ``description`` 问题描述 (Chinese,
with the numbers: set on every row, not only problems), ``measure`` 整改措施 (problems),
``cause`` reason code, ``households``, ``population`` (of the unit, NaN where unknown),
``cost_wan`` (estimated cost of closing a problem, 万元, NaN otherwise), ``lon``/``lat``.

Then ``status`` (:data:`OUTCOME_STATUSES`), ``value`` (the measured number: minutes,
metres, a count, a rate; NaN where not measured), ``limit`` (the rule's limit for the
unit, NaN where none) and ``value_unit`` (``分钟``, ``米``, ``个``, ``%``, ``户`` …).
"""

NUMBER_COLUMNS: tuple[str, ...] = (
    "households", "population", "cost_wan", "lon", "lat", "value", "limit",
)  # fmt: skip
"""The float columns of :data:`OUTCOME_COLUMNS` (the rest are text)."""
_TEXT = tuple(c for c in OUTCOME_COLUMNS if c not in NUMBER_COLUMNS)


def make_outcomes(rows: pd.DataFrame | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Return an outcome frame with exactly :data:`OUTCOME_COLUMNS` and normalised types.

    Missing text columns become ``""``, missing numbers NaN. Extra columns are dropped,
    except those named ``x_*``: an indicator's own numbers (``x_children`` school-age
    children beyond the radius, ``x_weight`` the weight of a weighted county value),
    kept as ``float64`` for the roll-up to sum.

    Parameters
    ----------
    rows : DataFrame or iterable of mappings
        One row per unit judged.

    Returns
    -------
    DataFrame
        :data:`OUTCOME_COLUMNS` then any ``x_*`` columns; text as ``str``, numbers as
        ``float64``, a fresh ``RangeIndex``.

    Raises
    ------
    GapMapError
        If a status is not one of :data:`OUTCOME_STATUSES`, a unit kind not one of
        :data:`UNIT_KINDS`, or keys are empty or repeated.
    """
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    n = len(frame)
    data: dict[str, Any] = {}  # built whole, then one frame: no column-by-column inserts
    index = pd.RangeIndex(n)
    blank = None  # made when a text column is missing
    for col in _TEXT:  # pandas strings throughout: no round trip through Python objects
        if col in frame:
            data[col] = frame[col].fillna("").astype(str).set_axis(index)
            continue
        if blank is None:
            blank = pd.Series([""] * n, index=index, dtype=str)
        data[col] = blank
    for col in NUMBER_COLUMNS:
        data[col] = (
            pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
            if col in frame
            else np.full(n, np.nan)
        )
    for col in (c for c in frame.columns if str(c).startswith("x_")):
        data[col] = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
    order = [*OUTCOME_COLUMNS, *(c for c in data if c not in OUTCOME_COLUMNS)]
    out = pd.DataFrame({c: data[c] for c in order}, index=index)
    bad_status = sorted(set(out["status"].unique()) - set(OUTCOME_STATUSES))
    bad_kind = sorted(set(out["unit_kind"].unique()) - set(UNIT_KINDS))
    keys = out["key"]
    empty = int((keys.str.strip() == "").sum())
    dup = sorted(set(keys[keys.duplicated()]))
    if bad_status or bad_kind or empty or dup:
        raise GapMapError(
            f"bad outcome rows: statuses {bad_status} (use {list(OUTCOME_STATUSES)}), "
            f"unit kinds {bad_kind} (use {list(UNIT_KINDS)}), {empty} empty key(s), "
            f"repeated keys {dup[:10]}",
            zh=f"指标结果有误：状态 {bad_status}，单元类型 {bad_kind}，"
            f"{empty} 个空编号，重复编号 {'、'.join(dup[:10])}",
        )
    return out


def _points(geoms: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray]:
    """Lon/lat of a point on each geometry (EPSG:4326); NaN for missing or empty ones."""
    if geoms.crs is not None and geoms.crs.to_epsg() != 4326:
        geoms = geoms.to_crs(4326)
    arr = geoms.to_numpy()
    x = np.full(len(arr), np.nan)
    y = np.full(len(arr), np.nan)
    ok = ~shapely.is_missing(arr) & ~shapely.is_empty(arr)
    # a point is its own point on surface: its coordinates, without a new geometry each
    point = ok & (shapely.get_type_id(arr) == 0)
    if point.any():
        xy = shapely.get_coordinates(arr[point])
        x[point], y[point] = xy[:, 0], xy[:, 1]
    other = ok & ~point
    if other.any():
        pts = shapely.point_on_surface(arr[other])
        x[other] = shapely.get_x(pts)
        y[other] = shapely.get_y(pts)
    return x, y


def _containing(points: gpd.GeoDataFrame, areas: gpd.GeoDataFrame | None, field: str) -> np.ndarray:
    """``field`` of the polygon of ``areas`` each point of ``points`` lies in, else ``""``.

    A water works outside the county (a 黄河扬水 intake) or in no polygon (admin villages
    given as points) gets ``""``: it is counted at county level only.
    """
    out = np.full(len(points), "", dtype=object)
    if areas is None or areas.empty or points.empty:
        return out
    polygons = areas.geometry.to_crs(4326).to_numpy()
    is_area = np.isin(shapely.get_type_id(polygons), (3, 6))  # Polygon, MultiPolygon
    if not is_area.any():
        return out
    tree = shapely.STRtree(polygons[is_area])
    codes = areas[field].astype(str).to_numpy()[is_area]
    pts = points.geometry.to_crs(4326).to_numpy()
    hit_pt, hit_area = tree.query(pts, predicate="within")
    first = pd.Series(hit_area, index=hit_pt).groupby(level=0).first()  # the first, if two
    out[first.index.to_numpy()] = codes[first.to_numpy()]
    return out


_UNIT_LAYER = {
    "natural_village": ("natural_villages", "id"),
    "relocation_site": ("relocation_sites", "id"),
    "admin_village": ("admin_villages", "code"),
    "township": ("townships", "code"),
    "water_source": ("water_sources", "name"),
    "county": ("county", "code"),
}


_UNIT_CACHE: dict[tuple[str, str], pd.DataFrame] = {}
_UNIT_CACHE_MAX = 32
_UNIT_CACHE_LOCK = threading.Lock()  # app sessions run in threads and share the cache


def unit_frame(dataset: Dataset, unit_kind: str) -> pd.DataFrame:
    """Return the location columns of every unit of one kind, indexed by ``unit_code``.

    Parameters
    ----------
    dataset : Dataset
        The county's layers.
    unit_kind : str
        One of :data:`UNIT_KINDS`.

    Returns
    -------
    DataFrame
        Index ``unit_code`` (str); columns ``unit_kind``, ``unit_code``,
        ``township_code``, ``township_name``, ``admin_village_code``,
        ``admin_village_name``, ``village_code``, ``village_name`` (the unit's own id and
        name for natural villages and relocation sites, else empty), ``households``,
        ``population`` (NaN where the layer has none), ``lon``, ``lat`` (a point on the
        unit, EPSG:4326) and ``geometry`` (the unit's geometry, EPSG:4326). Empty when
        the dataset lacks the layer.

    Raises
    ------
    GapMapError
        For an unknown ``unit_kind``.
    """
    if unit_kind not in _UNIT_LAYER:
        raise GapMapError(
            f"unknown unit kind {unit_kind!r}; use one of {list(UNIT_KINDS)}",
            zh=f"未知单元类型“{unit_kind}”",
        )
    # every indicator of a table asks for the same units: build each kind once per dataset
    # (keyed by its content hash), hand out copies
    cache_key = (dataset.content_hash, unit_kind)
    with _UNIT_CACHE_LOCK:
        cached = _UNIT_CACHE.get(cache_key)
    if cached is None:
        cached = _unit_frame(dataset, unit_kind)
        with _UNIT_CACHE_LOCK:
            while len(_UNIT_CACHE) >= _UNIT_CACHE_MAX:
                _UNIT_CACHE.pop(next(iter(_UNIT_CACHE)))
            _UNIT_CACHE[cache_key] = cached
    return cached.copy()


def _unit_frame(dataset: Dataset, unit_kind: str) -> pd.DataFrame:
    layer, id_field = _UNIT_LAYER[unit_kind]
    columns = [
        "unit_kind", "unit_code", "township_code", "township_name", "admin_village_code",
        "admin_village_name", "village_code", "village_name", "households", "population",
        "lon", "lat", "geometry",
    ]  # fmt: skip
    frame = dataset.get(layer)
    if frame is None or frame.empty:
        return pd.DataFrame(columns=columns).set_index("unit_code", drop=False)
    admin = dataset.get("admin_villages")
    towns = dataset.get("townships")
    av_name = (
        admin.set_index("code")["name"].astype(str) if admin is not None else pd.Series(dtype=str)
    )
    av_town = (
        admin.set_index("code")["township_code"].astype(str)
        if admin is not None
        else pd.Series(dtype=str)
    )
    tw_name = (
        towns.set_index("code")["name"].astype(str) if towns is not None else pd.Series(dtype=str)
    )
    code = frame[id_field].astype(str).to_numpy()
    out = pd.DataFrame({"unit_kind": unit_kind, "unit_code": code}, index=pd.Index(code))
    if unit_kind in {"natural_village", "relocation_site"}:
        av = frame["admin_village_code"].astype(str).to_numpy()
        out["admin_village_code"] = av
        out["township_code"] = pd.Series(av).map(av_town).fillna("").to_numpy()
        out["village_code"] = code
        out["village_name"] = frame["name"].astype(str).to_numpy()
    elif unit_kind == "admin_village":
        out["admin_village_code"] = code
        out["township_code"] = frame["township_code"].astype(str).to_numpy()
        out["village_code"] = out["village_name"] = ""
    elif unit_kind == "township":
        out["township_code"] = code
        out["admin_village_code"] = out["village_code"] = out["village_name"] = ""
    elif unit_kind == "water_source":  # the township (admin village) polygon it stands in
        out["township_code"] = _containing(frame, towns, "code")
        out["admin_village_code"] = _containing(frame, admin, "code")
        out["village_code"] = out["village_name"] = ""
    else:  # the county sits above the admin units
        out["township_code"] = out["admin_village_code"] = ""
        out["village_code"] = out["village_name"] = ""
    out["admin_village_name"] = out["admin_village_code"].map(av_name).fillna("")
    out["township_name"] = out["township_code"].map(tw_name).fillna("")
    for col in ("households", "population"):
        out[col] = (
            pd.to_numeric(frame[col], errors="coerce").astype(float).to_numpy()
            if col in frame
            else np.nan
        )
        if unit_kind == "township" and col not in frame and admin is not None and col in admin:
            # a township's people: its admin villages' (NaN where none has a value)
            per_town = (
                pd.to_numeric(admin[col], errors="coerce")
                .groupby(admin["township_code"].astype(str).to_numpy())
                .sum(min_count=1)
            )
            out[col] = out["unit_code"].map(per_town).astype(float).to_numpy()
    geoms = frame.geometry.to_crs(4326) if frame.crs is not None else frame.geometry
    out["lon"], out["lat"] = _points(geoms)
    out["geometry"] = geoms.to_numpy()
    return out[columns]
