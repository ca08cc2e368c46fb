"""The region, county by county: partitions with a buffer, ownership and the region roll-up.

A region is computed one county at a time (``scripts.region``): each county's dataset
holds its own units plus its neighbours' roads and facilities within a buffer
(:func:`partition_frames` in memory, :func:`layers.region.read_region_county` from
files), so its units' outcome rows equal those of one run over the whole region's graph
(tested). Then :func:`region_rollup` recomputes every indicator for the region, each city
and each county from the counties' outcome rows, by the indicator's own county-value rule
(:func:`geo.indicators.county_value`) — never as an average of county percentages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.indicators import county_value
from geo.indicators.judge import judge
from layers.region import BUFFER_LAYERS, Region, buffer_area, county_boundary, select_within

if TYPE_CHECKING:
    from geo.assessment import Assessment
    from geo.indicators import IndicatorTable
    from geo.settings import Settings
    from geo.terrain import Grid
    from layers.dataset import Dataset

__all__ = [
    "ROLLUP_COLUMNS",
    "county_dem",
    "county_result_frames",
    "owner_county",
    "partition_frames",
    "region_rollup",
]

ROLLUP_COLUMNS: tuple[str, ...] = (
    "level",
    "code",
    "name",
    "parent_code",
    "key",
    "indicator",
    "indicator_zh",
    "group",
    "value",
    "value_unit",
    "target",
    "comparison",
    "met",
    "status",
    "problems",
    "units",
    "units_ok",
    "counties",
    "department",
    "source",
)
"""Columns of :func:`region_rollup` (``rollup.parquet``).

``level`` ``region`` / ``city`` / ``county``; ``code`` (6 digits), ``name``,
``parent_code`` (the city of a county, the province of a city, ``""`` for the region);
``key`` (a key county; for a city or the region: True when it holds one); ``indicator``
(code) and ``indicator_zh``; ``value`` by the indicator's rule over the unit's outcome
rows (NaN: 无数据); ``target``, ``comparison``, ``met`` (nullable boolean), ``status``
(达标 / 未达标 / 无数据); ``problems`` (problem rows = ledger items); ``units`` (units
judged: with an ok or problem row) and ``units_ok`` (of those, without a problem row);
``counties`` (counties whose results went in); ``department``, ``source``.
"""


def county_dem(region: Region, code: str, *, buffer_m: float, resolution_m: float) -> Grid | None:
    """Return the region's DEM on county ``code``'s analysis grid (None: the region has none).

    The county's border plus ``buffer_m``, in its metric CRS (:func:`layers.region.buffer_area`),
    resampled to ``resolution_m``: the grid a county task assesses on, and the one its stored
    assessment gets its terrain grids back from when the app opens it
    (:func:`geo.assessment.with_terrain_grids`).
    """
    if region.dem is None:
        return None
    from geo.terrain import read_dem

    crs, area = buffer_area(county_boundary(region.county(code)), buffer_m=buffer_m)
    return read_dem(region.dem, crs=crs, resolution_m=resolution_m, bounds=area.bounds)


def owner_county(outcomes: pd.DataFrame) -> pd.Series:
    """Return the 6-digit code of the county owning each outcome row.

    Read off the row's admin village code, else its township code, else (county rows) its
    unit code: administrative codes start with their county's code. ``""`` for a row in
    no county (a water works outside every township).
    """
    out = pd.Series("", index=outcomes.index, dtype=object)
    for col in ("unit_code", "township_code", "admin_village_code"):  # the last wins
        codes = outcomes[col].astype(str)
        use = codes.str.fullmatch(r"\d{6,}") & (
            (col != "unit_code") | (outcomes["unit_kind"] == "county")
        )
        out = out.where(~use, codes.str[:6])
    return out


def partition_frames(
    own: Mapping[str, gpd.GeoDataFrame],
    others: Sequence[Mapping[str, gpd.GeoDataFrame]],
    *,
    buffer_m: float,
) -> dict[str, gpd.GeoDataFrame]:
    """Return one county's frames with its neighbours' roads and facilities in the buffer.

    Parameters
    ----------
    own : mapping of str to GeoDataFrame
        The county's layers (EPSG:4326), with its ``county`` polygon.
    others : sequence of mapping
        The other counties' layers.
    buffer_m : float
        Metres beyond the border (measured in the county's metric CRS).

    Returns
    -------
    dict
        ``own`` with each :data:`layers.region.BUFFER_LAYERS` layer extended by the other
        counties' features intersecting the buffered county (the frames are new; the
        inputs are not modified).
    """
    crs, area = buffer_area(own["county"].geometry, buffer_m=buffer_m)
    out = dict(own)
    for layer in BUFFER_LAYERS:
        parts = [own[layer]] if layer in own else []
        parts += [select_within(o[layer], area, crs) for o in others if layer in o]
        parts = [p for p in parts if len(p)]
        if parts:
            out[layer] = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=4326)
    return out


def _with_geometry(frame: pd.DataFrame, layer: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    geoms = (
        layer.set_index(layer["code"].astype(str)).geometry.reindex(frame["code"].astype(str))
        if layer is not None
        else gpd.GeoSeries([None] * len(frame), crs=4326)
    )
    return gpd.GeoDataFrame(frame.reset_index(drop=True), geometry=geoms.to_numpy(), crs=4326)


def county_result_frames(assessment: Assessment, dataset: Dataset) -> dict[str, gpd.GeoDataFrame]:
    """Return a county's result frames to store: outcomes, admin villages, townships.

    Parameters
    ----------
    assessment : Assessment
        The county's :func:`geo.assessment.assess` on its partition.
    dataset : Dataset
        That partition (the admin villages' and townships' geometry come from it).

    Returns
    -------
    dict of GeoDataFrame (EPSG:4326)
        ``outcomes``: every indicator's outcome rows with a point geometry at
        ``lon``/``lat`` (None where the unit has no place); ``admin_villages`` and
        ``townships``: the county's roll-up frames (:class:`geo.rollup.Rollup`) with the
        unit's geometry from the dataset.
    """
    outcomes = assessment.indicators.outcomes if assessment.indicators is not None else None
    if outcomes is None:
        outcomes = pd.DataFrame(columns=["lon", "lat"])
    lon = outcomes["lon"].to_numpy(dtype=float)
    lat = outcomes["lat"].to_numpy(dtype=float)
    points = gpd.points_from_xy(lon, lat, crs=4326)
    points[~(np.isfinite(lon) & np.isfinite(lat))] = None
    return {
        "outcomes": gpd.GeoDataFrame(outcomes.reset_index(drop=True), geometry=points, crs=4326),
        "admin_villages": _with_geometry(
            assessment.rollup.admin_villages, dataset.get("admin_villages")
        ),
        "townships": _with_geometry(assessment.rollup.townships, dataset.get("townships")),
    }


def _rows(outcomes: pd.DataFrame, table: IndicatorTable, settings: Settings) -> list[dict]:
    by_code = dict(tuple(outcomes.groupby("indicator", sort=False))) if len(outcomes) else {}
    empty = outcomes.iloc[0:0]
    rows = []
    for ind in table:
        frame = by_code.get(ind.code, empty)
        status = frame["status"]
        judged = frame.loc[status.isin(["ok", "problem"])]
        unit = judged["unit_kind"].astype(str) + ":" + judged["unit_code"].astype(str)
        bad_units = set(unit[judged["status"] == "problem"])
        units = set(unit)
        rows.append(
            {
                "indicator": ind.code,
                "indicator_zh": ind.name_zh,
                "group": ind.group,
                "value": county_value(frame, ind.value_rule) if len(frame) else np.nan,
                "value_unit": ind.value_unit,
                "target": float(ind.target_value(settings)),
                "comparison": ind.comparison,
                "problems": int((status == "problem").sum()),
                "units": len(units),
                "units_ok": len(units - bad_units),
                "department": ind.department,
                "source": ind.source_text(settings),
            }
        )
    return rows


def region_rollup(
    outcomes: Mapping[str, pd.DataFrame],
    counties: pd.DataFrame,
    table: IndicatorTable,
    settings: Settings,
    *,
    region_code: str,
    region_name: str,
) -> pd.DataFrame:
    """Roll the counties' outcome rows up: the region, each city, each county.

    Parameters
    ----------
    outcomes : mapping of str to DataFrame
        County code → its outcome rows (:data:`geo.indicators.OUTCOME_COLUMNS`, any
        ``x_*`` columns); only counties with results (a failed county is left out and
        ``counties`` says how many went in).
    counties : DataFrame
        ``code``, ``name``, ``city_code``, ``city_name``, ``key`` of every county to
        report (a county without outcomes gets 无数据 rows).
    table : IndicatorTable
        The indicators (their rules, targets, names).
    settings : Settings
        The targets.
    region_code, region_name : str
        The region's row (``640000``, ``宁夏回族自治区``).

    Returns
    -------
    DataFrame
        :data:`ROLLUP_COLUMNS`, region first, then each city and its counties.
    """
    frames = {str(k): v.assign(_county=str(k)) for k, v in outcomes.items() if len(v)}
    columns = list(dict.fromkeys(c for f in frames.values() for c in f.columns))
    every = (
        pd.concat([f.reindex(columns=columns) for f in frames.values()], ignore_index=True)
        if frames
        else pd.DataFrame(columns=["indicator", "status", "unit_kind", "unit_code", "_county"])
    )
    counties = counties.assign(code=counties["code"].astype(str))
    groups: list[tuple[dict, list[str]]] = [
        (
            {"level": "region", "code": region_code, "name": region_name, "parent_code": "",
             "key": bool(counties["key"].any())},
            list(counties["code"]),
        )
    ]  # fmt: skip
    for (city_code, city_name), members in counties.groupby(["city_code", "city_name"], sort=False):
        groups.append(
            (
                {"level": "city", "code": str(city_code), "name": str(city_name),
                 "parent_code": region_code, "key": bool(members["key"].any())},
                list(members["code"]),
            )
        )  # fmt: skip
        for c in members.itertuples():
            groups.append(
                (
                    {"level": "county", "code": c.code, "name": c.name,
                     "parent_code": str(city_code), "key": bool(c.key)},
                    [c.code],
                )
            )  # fmt: skip
    rows = []
    for head, codes in groups:
        subset = every.loc[every["_county"].isin(codes)]
        n = len(set(codes) & set(frames))
        rows += [{**head, **r, "counties": n} for r in _rows(subset, table, settings)]
    out = judge(pd.DataFrame(rows))
    return out[list(ROLLUP_COLUMNS)].astype(
        {"problems": "int64", "units": "int64", "units_ok": "int64", "counties": "int64"}
    )
