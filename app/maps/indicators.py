"""The map of any indicator: its units coloured by outcome (达标 / 未达标 / 无数据 / 不纳入).

Every indicator of the indicator table gives an outcome frame
(:data:`geo.indicators.outcomes.OUTCOME_COLUMNS`, one row per unit judged). This module
draws one: admin villages and townships as their polygons where the layer has polygons,
natural villages, relocation sites and water works as points at the row's ``lon``/``lat``.
A unit judged several times (a relocation site per facility kind) is shown as 未达标 if
any row fails, else 无数据 if any row lacks data, else 达标 (:data:`STATUS_ORDER`, the
county value's rule), with a popup of every row's description. Like every GapMap map it
works offline (vendored Leaflet, 无底图 basemap).
"""

from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from app.maps.base import (
    MET_FILL_OPACITY,
    MET_PANE,
    OTHER_PANE,
    PROBLEM_PANE,
    LabelSet,
    LegendItem,
    MapOptions,
    add_labels,
    base_map,
    finish_map,
    geojson_layer,
    label_rows,
    point_layer,
)
from app.maps.builders import (
    VILLAGE_LABEL_ZOOM,
    Scope,
    add_outlines,
    township_labels,
    view_bounds,
)
from geo.indicators.outcomes import OUTCOME_STATUS_ZH, OUTCOME_STATUSES, unit_frame
from layers.dataset import Dataset

__all__ = [
    "STATUS_COLORS",
    "STATUS_ORDER",
    "UNIT_KIND_ZH",
    "build_indicator_map",
    "unit_outcomes",
]

STATUS_COLORS: dict[str, str] = {
    "ok": "#2e7d32",
    "problem": "#d32f2f",
    "no_data": "#9e9e9e",
    "exempt": "#7b1fa2",
}
"""Colour of each outcome status (green, red, grey, purple: as on the hard-road map)."""

STATUS_ORDER: tuple[str, ...] = ("problem", "no_data", "ok", "exempt")
"""The status a unit with several outcome rows is shown with: the first its rows have.

未达标 if any row fails; else 无数据 if any row lacks data (a site whose 卫生室 is near
but whose schools are unknown is not known to be complete: the county value's
``share_ok_units`` rule leaves it out too); else 达标; else 不纳入. So the map, the unit
counts and the county value agree."""

UNIT_KIND_ZH: dict[str, str] = {
    "natural_village": "自然村",
    "relocation_site": "移民安置区",
    "admin_village": "行政村",
    "township": "乡镇",
    "water_source": "水厂/水源",
    "county": "县",
}
"""Chinese name of each unit kind (:data:`geo.indicators.outcomes.UNIT_KINDS`)."""

_POLYGON_KINDS = ("township", "admin_village")  # drawn as areas where the layer has them
_ABOVE_SCOPE = ("water_source", "county")  # not inside one township: never scoped away
_LABELS = {
    "name": "名称",
    "unit_zh": "单元",
    "township_name": "乡镇",
    "admin_village_name": "行政村",
    "status_zh": "结果",
    "value_text": "数值",
    "limit_text": "标准",
    "description": "说明",
    "measure": "整改措施",
}
_SEP = "；"
_POINT_STYLE: dict[str, dict] = {  # met lowest and pale, problems on top
    "ok": {"pane": MET_PANE, "fill_opacity": MET_FILL_OPACITY, "scale": 0.75},
    "exempt": {"pane": OTHER_PANE, "fill_opacity": 0.8, "scale": 0.85},
    "no_data": {"pane": OTHER_PANE, "fill_opacity": 0.8, "scale": 0.85},
    "problem": {"pane": PROBLEM_PANE, "fill_opacity": 0.95, "scale": 1.1},
}
assert set(STATUS_ORDER) == set(OUTCOME_STATUSES) == set(STATUS_COLORS)


def _number(value: float, unit: str) -> str:
    if not np.isfinite(value):
        return "—"
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    return f"{text} {unit}".strip()


def _joined(values: pd.Series) -> str:
    seen: list[str] = []
    for v in values:
        if v and v not in seen:
            seen.append(v)
    return _SEP.join(seen)


def unit_outcomes(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Return one row per unit of an outcome frame, with its status (:data:`STATUS_ORDER`).

    Parameters
    ----------
    outcomes : DataFrame
        An outcome frame (:func:`geo.indicators.outcomes.make_outcomes`).

    Returns
    -------
    DataFrame
        One row per (``unit_kind``, ``unit_code``), in first-seen order: the location
        columns of its first row (``township_*``, ``admin_village_*``, ``village_*``,
        ``lon``, ``lat``), ``status`` (the first of its rows' statuses in
        :data:`STATUS_ORDER`), ``status_zh``, ``n_rows`` and ``n_problems``,
        ``description`` and ``measure`` (the rows' texts in that order, joined by
        ``；``), ``value_text`` and ``limit_text`` (the value and limit with their
        unit, for a unit judged once;
        empty for a unit judged per sub-unit) and ``name`` (the unit's name: natural
        village / site, else admin village, else township, else its code).
    """
    cols = [
        "unit_kind", "unit_code", "township_code", "township_name", "admin_village_code",
        "admin_village_name", "village_code", "village_name", "lon", "lat", "status",
        "status_zh", "n_rows", "n_problems", "description", "measure", "value_text",
        "limit_text", "name",
    ]  # fmt: skip
    if outcomes.empty:
        return pd.DataFrame(columns=cols)
    rank = {s: i for i, s in enumerate(STATUS_ORDER)}
    frame = outcomes.assign(
        _rank=outcomes["status"].map(rank).astype(int),
        _order=np.arange(len(outcomes)),
        value_text=[
            _number(v, u) for v, u in zip(outcomes["value"], outcomes["value_unit"], strict=True)
        ],
        limit_text=[
            _number(v, u) for v, u in zip(outcomes["limit"], outcomes["value_unit"], strict=True)
        ],
    )
    worst_first = frame.sort_values(["_rank", "_order"], kind="stable")
    groups = worst_first.groupby(["unit_kind", "unit_code"], sort=False)
    first = frame.groupby(["unit_kind", "unit_code"], sort=False).first()
    out = first[
        ["township_code", "township_name", "admin_village_code", "admin_village_name",
         "village_code", "village_name", "lon", "lat", "_order"]
    ].copy()  # fmt: skip
    out["status"] = groups["_rank"].min().map(dict(enumerate(STATUS_ORDER)))
    out["n_rows"] = groups.size()
    out["n_problems"] = groups["status"].agg(lambda s: int((s == "problem").sum()))
    out["description"] = groups["description"].agg(_joined)
    out["measure"] = groups["measure"].agg(_joined)
    once = out["n_rows"] == 1
    out["value_text"] = groups["value_text"].first().where(once, "")
    out["limit_text"] = groups["limit_text"].first().where(once, "")
    out = out.sort_values("_order").drop(columns="_order").reset_index()
    out["status_zh"] = out["status"].map(OUTCOME_STATUS_ZH)
    name = out["village_name"].where(out["village_name"] != "", out["admin_village_name"])
    name = name.where(name != "", out["township_name"])
    out["name"] = name.where(name != "", out["unit_code"])
    return out[cols]


def _polygons(dataset: Dataset, unit_kind: str) -> pd.Series:
    """Polygon geometry of each unit of ``unit_kind`` (EPSG:4326), by unit code."""
    units = unit_frame(dataset, unit_kind)
    if units.empty:
        return pd.Series(dtype=object)
    geoms = units["geometry"]
    polygonal = np.isin(shapely.get_type_id(geoms.to_numpy()), (3, 6))  # (Multi)Polygon
    return geoms[polygonal]


def _in_scope(units: pd.DataFrame, scope: Scope) -> pd.DataFrame:
    above = units["unit_kind"].isin(_ABOVE_SCOPE)
    inside = scope.select(units.loc[~above])
    return units.loc[above | units.index.isin(inside.index)]


def build_indicator_map(
    dataset: Dataset,
    outcomes: pd.DataFrame,
    *,
    title: str,
    options: MapOptions,
    scope: Scope | None = None,
) -> folium.Map:
    """Return the map of one indicator's outcome frame: every unit coloured by status.

    Parameters
    ----------
    dataset : Dataset
        The county's layers (outlines, the polygons of admin villages and townships).
    outcomes : DataFrame
        The indicator's outcome frame (:func:`geo.indicators.outcomes.make_outcomes`).
    title : str
        The legend title (the indicator's Chinese name).
    options : MapOptions
        Basemap and display options.
    scope : Scope, optional
        Only the units of one township or admin village (water works and the county are
        always shown); default the whole county.

    Returns
    -------
    folium.Map
        One layer per unit kind and status (未达标 on top), each unit with a popup
        (名称, 乡镇, 行政村, 结果, 数值, 标准, 说明, 整改措施) and a legend with the
        number of units of each status.
    """
    scope = scope or Scope()
    units = _in_scope(unit_outcomes(outcomes), scope)
    m = base_map(view_bounds(dataset, scope), options)
    add_outlines(m, dataset, options)
    units = units.assign(unit_zh=units["unit_kind"].map(UNIT_KIND_ZH))
    drawn_as: set[str] = set()
    named: dict[str, list[gpd.GeoDataFrame]] = {"problem": [], "other": []}
    # townships below admin villages, so a village's polygon is the one clicked
    kinds = sorted(set(units["unit_kind"]), key=lambda k: (k != "township", k))
    for kind in kinds:
        rows = units.loc[units["unit_kind"] == kind]
        polys = _polygons(dataset, kind) if kind in _POLYGON_KINDS else pd.Series(dtype=object)
        area_of = rows["unit_code"].map(polys) if len(polys) else None
        points = gpd.GeoSeries(gpd.points_from_xy(rows["lon"], rows["lat"]), index=rows.index)
        located = np.isfinite(rows["lon"]) & np.isfinite(rows["lat"])
        geom = points.where(located, None)
        if area_of is not None:
            geom = gpd.GeoSeries(area_of.where(area_of.notna(), geom), index=rows.index)
        frame = gpd.GeoDataFrame(rows, geometry=geom.to_numpy(), crs=4326)
        frame = frame.loc[frame.geometry.notna() & ~frame.geometry.is_empty]
        for status in ("exempt", "no_data", "ok", "problem"):  # problems drawn on top
            part = frame.loc[frame["status"] == status]
            if part.empty:
                continue
            name = f"{UNIT_KIND_ZH[kind]}：{OUTCOME_STATUS_ZH[status]}（{len(part)}）"
            area = part.geom_type.isin(["Polygon", "MultiPolygon"])
            color = part["status"].map(STATUS_COLORS)
            if area.any():
                drawn_as.add("square")
                geojson_layer(
                    part.loc[area],
                    name=name,
                    labels=_LABELS,
                    color=color.loc[area],
                    weight=1.0 if kind == "admin_village" else 2.0,
                    fill_opacity=0.45 if kind == "admin_village" else 0.2,
                    simplify_m=options.simplify_m,
                ).add_to(m)
            if (~area).any():
                drawn_as.add("circle")
                style = _POINT_STYLE[status]
                point_layer(
                    part.loc[~area],
                    name=name if not area.any() else f"{name}·点",
                    labels=_LABELS,
                    color=color.loc[~area],
                    radius_px=(6 if kind == "natural_village" else 8) * style["scale"],
                    pane=style["pane"],
                    fill_opacity=style["fill_opacity"],
                ).add_to(m)
            if kind != "township":
                named["problem" if status == "problem" else "other"].append(part)
    # names on the map, no hover needed: townships, the problem units, the rest up close
    add_labels(m, township_labels(dataset, scope))
    for key, css, zoom, rank in (
        ("problem", "problem", 0.0, 0),
        ("other", "village", VILLAGE_LABEL_ZOOM, 2),
    ):
        if named[key]:
            both = pd.concat(named[key])
            add_labels(m, LabelSet(label_rows(both), css_class=css, min_zoom=zoom, rank=rank))
    counts = units["status"].value_counts()
    shape = "square" if drawn_as == {"square"} else "circle"
    legend = [
        LegendItem(STATUS_COLORS[s], f"{OUTCOME_STATUS_ZH[s]}（{int(counts.get(s, 0))}）", shape)
        for s in ("ok", "problem", "no_data", "exempt")
        if s in counts.index or s != "exempt"
    ]
    if units.empty:
        legend.append(LegendItem("#ffffff", "没有可显示的单元", "square"))
    return finish_map(m, legend, title=title)
