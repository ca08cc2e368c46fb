"""全区 map: counties coloured by one indicator against its target, key counties marked."""

from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from app.maps.base import (
    LabelSet,
    LegendItem,
    MapOptions,
    add_labels,
    base_map,
    finish_map,
    geojson_layer,
    label_rows,
    value_text,
)

__all__ = [
    "GAP_COLORS",
    "KEY_COLOR",
    "RATE_STEPS_PP",
    "build_region_map",
    "county_classes",
    "ranked",
]

GAP_COLORS = {
    "met": "#1a9850",
    "small": "#fee08b",
    "medium": "#fc8d59",
    "large": "#d73027",
    "no_data": "#bdbdbd",
}
"""Fill per class: 达标, then the gap to the target in thirds of the largest gap, 无数据."""
GAP_ZH = {
    "met": "达标",
    "small": "未达标·差距较小",
    "medium": "未达标·差距中等",
    "large": "未达标·差距较大",
    "no_data": "无数据",
}
RATE_STEPS_PP = (2.0, 5.0)
"""A rate's gap to its target up to which it is 差距较小, 差距中等 (percentage points)."""
KEY_COLOR = "#5e1f87"
"""Outline of the nine key counties (乡村振兴重点帮扶县)."""


def _gap(rows: pd.DataFrame) -> pd.Series:
    value = pd.to_numeric(rows["value"], errors="coerce")
    target = pd.to_numeric(rows["target"], errors="coerce")
    below = rows["comparison"].astype(str).isin([">=", ">"])
    return (target - value).where(below, value - target)


def county_classes(rows: pd.DataFrame) -> pd.Series:
    """Class of each county row of one indicator (:data:`GAP_COLORS` keys).

    A county that meets its target is ``met``, one without data ``no_data``. The others
    are classed by their gap to the target: for a rate (%) up to 2, 5 and over 5
    percentage points (:data:`RATE_STEPS_PP`); for a count, in thirds of the largest gap.
    """
    met = rows["met"].astype("boolean")
    gap = _gap(rows)
    out = pd.Series("no_data", index=rows.index, dtype=object)
    out[met.fillna(False).to_numpy(dtype=bool)] = "met"
    failing = (met == False).fillna(False).to_numpy(dtype=bool)  # noqa: E712 - NA stays out
    if failing.any():
        g = gap[failing].to_numpy(dtype=float)
        rate = (rows["value_unit"].astype(str) == "%").to_numpy()[failing]
        largest = float(np.nanmax(g)) if np.isfinite(g).any() else 0.0
        small, medium = RATE_STEPS_PP
        rel = g / largest if largest > 0 else np.zeros_like(g)
        out[failing] = np.where(
            rate,
            np.select([g <= small, g <= medium], ["small", "medium"], "large"),
            np.select([rel <= 1 / 3, rel <= 2 / 3], ["small", "medium"], "large"),
        )
    return out


def ranked(rows: pd.DataFrame) -> pd.DataFrame:
    """The county rows of one indicator, best first (rank 1), counties without data last.

    Best is the highest value for a ``>=``/``>`` target, the lowest for a ``<=`` one;
    ties are broken by fewer problems, then by code.
    """
    low_is_good = str(rows["comparison"].iloc[0]) == "<=" if len(rows) else False
    value = pd.to_numeric(rows["value"], errors="coerce")
    order = pd.DataFrame(
        {
            "missing": value.isna(),
            "score": value if low_is_good else -value,
            "problems": pd.to_numeric(rows["problems"], errors="coerce").fillna(0),
            "code": rows["code"].astype(str),
        },
        index=rows.index,
    ).sort_values(["missing", "score", "problems", "code"])
    return rows.loc[order.index].reset_index(drop=True).assign(rank=range(1, len(rows) + 1))


def build_region_map(
    boundaries: gpd.GeoDataFrame,
    rows: pd.DataFrame,
    *,
    options: MapOptions,
    title: str,
) -> folium.Map:
    """Counties coloured by one indicator, city outlines, names on the map.

    Parameters
    ----------
    boundaries : GeoDataFrame
        ``boundaries.parquet`` of a region's results (level, code, name, parent_code, key).
    rows : DataFrame
        The county rows of one indicator from ``rollup.parquet`` (code, value, target,
        comparison, met, status, problems, value_unit).
    options : MapOptions
    title : str
        The legend's title (the indicator and its target).
    """
    counties = boundaries.loc[boundaries["level"] == "county"].copy()
    cities = boundaries.loc[boundaries["level"] == "city"]
    shown = rows.set_index("code")
    counties = counties.join(
        shown[["value", "status", "problems", "value_unit"]], on="code", how="left"
    )
    counties["class"] = county_classes(
        counties.join(shown[["target", "comparison", "met"]], on="code")
    )
    unit = counties["value_unit"].fillna("")
    counties["value_text"] = [
        value_text(v, u) for v, u in zip(counties["value"], unit, strict=True)
    ]
    counties["key_zh"] = np.where(counties["key"].fillna(False), "是", "否")
    counties["status"] = counties["status"].fillna("无数据")
    counties["problems"] = counties["problems"].fillna(0).astype(int)
    m = base_map(counties.total_bounds, options)
    labels = {
        "name": "县（市、区）",
        "code": "代码",
        "value_text": "指标值",
        "status": "状态",
        "problems": "问题数",
        "key_zh": "重点帮扶县",
    }
    geojson_layer(
        counties,
        name="县（市、区）",
        labels=labels,
        color=counties["class"].map(GAP_COLORS),
        weight=1.2,
        fill_opacity=0.7,
        simplify_m=options.simplify_m,
    ).add_to(m)
    key = counties.loc[counties["key"].fillna(False).astype(bool)]
    geojson_layer(
        key,
        name="重点帮扶县",
        labels={"name": "重点帮扶县"},
        color=KEY_COLOR,
        weight=3.5,
        fill_opacity=0.0,
        simplify_m=options.simplify_m,
        tooltip_field=None,
    ).add_to(m)
    if not cities.empty:
        geojson_layer(
            cities,
            name="地级市界",
            labels={"name": "市"},
            color="#222222",
            weight=2.0,
            fill_opacity=0.0,
            simplify_m=options.simplify_m,
            tooltip_field=None,
        ).add_to(m)
    # County names with their value, largest county first: where two would overlap on
    # screen (Yinchuan's small districts at the whole-region zoom) the smaller one's label
    # waits until the map is zoomed in far enough to part them.
    area = counties.to_crs(counties.estimate_utm_crs()).area if len(counties) else None
    order = counties.loc[area.sort_values(ascending=False).index] if area is not None else counties
    named = order.assign(
        label=np.where(order["key_zh"] == "是", "★", "") + order["name"].astype(str)
    )
    add_labels(m, LabelSet(label_rows(named, "label", sub=named["value_text"]), css_class="small"))
    legend = [LegendItem(GAP_COLORS[k], GAP_ZH[k], "square") for k in GAP_COLORS]
    legend.append(LegendItem(KEY_COLOR, "★ 重点帮扶县", "line"))
    return finish_map(m, legend, title=title)
