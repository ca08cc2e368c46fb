"""Maps of the 项目库与方案 page: candidate projects (in/out of the plan) and siting results."""

from __future__ import annotations

import folium
import geopandas as gpd
import pandas as pd

from app.maps.base import (
    LegendItem,
    MapOptions,
    base_map,
    cross_layer,
    finish_map,
    geojson_layer,
    point_layer,
)
from app.maps.builders import Scope, add_outlines, view_bounds
from geo.siting import SitingResult
from layers.dataset import Dataset

IN_PLAN = "#1565c0"
NOT_IN_PLAN = "#9e9e9e"
COVERED_BEFORE = "#2e7d32"
COVERED_NEW = "#1e88e5"
NOT_COVERED = "#d32f2f"
NEW_SITE = "#6a1b9a"

PROJECTS_LEGEND = (  # one row per colour: points are facilities, lines road links
    LegendItem(IN_PLAN, "列入方案（点：设施；线：硬化/新建连接路）", "circle+line"),
    LegendItem(NOT_IN_PLAN, "未列入方案", "circle+line"),
)
"""The legend of :func:`build_projects_map`."""

_PROJECT_LABELS = {
    "rank": "排名",
    "kind_zh": "项目类型",
    "village_name": "自然村/安置区",
    "admin_village_name": "行政村",
    "content": "建设内容",
    "cost_wan": "估算投资(万元)",
    "people": "受益人口",
    "people_per_wan": "每万元受益人数",
    "plan": "是否列入方案",
}


def build_projects_map(
    dataset: Dataset,
    projects: gpd.GeoDataFrame,
    selected: set[str],
    *,
    scope: Scope,
    options: MapOptions,
) -> folium.Map:
    """Candidate projects: road links as lines, facilities as points; the plan's in blue."""
    m = base_map(view_bounds(dataset, scope), options)
    add_outlines(m, dataset, options)
    shown = projects.assign(
        plan=projects["project_id"].isin(selected).map({True: "是", False: "否"}),
        people_per_wan=projects["people_per_wan"].round(1),
        cost_wan=projects["cost_wan"].round(1),
    )
    color = shown["project_id"].isin(selected).map({True: IN_PLAN, False: NOT_IN_PLAN})
    lines = shown.geometry.geom_type.isin(["LineString", "MultiLineString"])
    geojson_layer(
        shown.loc[lines],
        name="道路项目",
        labels=_PROJECT_LABELS,
        color=color.loc[lines],
        weight=4.0,
        tooltip_field="content",
    ).add_to(m)
    point_layer(
        shown.loc[~lines & shown.geometry.notna()],
        name="设施与其他项目",
        labels=_PROJECT_LABELS,
        color=color.loc[~lines & shown.geometry.notna()],
        radius_px=7,
        tooltip_field="content",
    ).add_to(m)
    return finish_map(m, list(PROJECTS_LEGEND), title="项目库")


def build_siting_map(
    dataset: Dataset, result: SitingResult, *, scope: Scope, options: MapOptions
) -> folium.Map:
    """Demand points by coverage (before / newly by a chosen site / not) and the new sites."""
    m = base_map(view_bounds(dataset, scope), options)
    add_outlines(m, dataset, options)
    d = result.demand
    state = pd.Series("未覆盖", index=d.index)
    state[d["covered_after"] & ~d["covered_before"]] = "新增覆盖"
    state[d["covered_before"]] = "已覆盖（现有设施）"
    colors = state.map(
        {"未覆盖": NOT_COVERED, "新增覆盖": COVERED_NEW, "已覆盖（现有设施）": COVERED_BEFORE}
    )
    shown = d.assign(state=state, population=d["population"].round(0))
    point_layer(
        shown,
        name="需求点",
        labels={"name": "名称", "population": "人口", "state": "覆盖情况", "site_id": "新址"},
        color=colors,
        radius_px=4,
    ).add_to(m)
    sites = result.sites.assign(people_added=result.sites["people_added"].round(0))
    cross_layer(
        sites,
        name=f"新设{result.kind}（选址）",
        labels={"rank": "顺序", "name": "候选点", "people_added": "新增覆盖人口"},
        color=NEW_SITE,
        size_px=18,
    ).add_to(m)
    legend = siting_legend(kind=result.kind, limit_min=result.limit_min)
    return finish_map(m, legend, title=f"{result.kind}选址（最大覆盖）")


def siting_legend(*, kind: str, limit_min: float) -> list[LegendItem]:
    """The legend of :func:`build_siting_map` for a facility ``kind`` within ``limit_min``."""
    return [
        LegendItem(COVERED_BEFORE, f"{limit_min:g} 分钟内已有{kind}"),
        LegendItem(COVERED_NEW, "新址建成后覆盖"),
        LegendItem(NOT_COVERED, "仍未覆盖"),
        LegendItem(NEW_SITE, f"建议新设{kind}", "square"),
    ]
