"""The GapMap maps: pure functions from a dataset and its assessment to a ``folium.Map``.

Each builder takes the validated :class:`layers.Dataset`, the :class:`geo.assessment.Assessment`
computed on it and :class:`MapOptions`, optionally narrowed to one township or admin village,
and returns a map with a Chinese legend, layer control, popups, scale bar, 定位 button and
the view fitted to the area shown. Nothing here computes an analysis: it only draws results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import folium
import folium.plugins
import geopandas as gpd
import pandas as pd

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
    cross_layer,
    finish_map,
    geojson_layer,
    label_rows,
    point_layer,
    safe_tooltip,
)
from app.maps.terrain import add_overlays
from geo.assessment import Assessment
from geo.report import VALUE_ZH
from layers.dataset import Dataset

__all__ = [
    "CLINIC_COLORS",
    "HARD_ROAD_COLORS",
    "KIND_COLORS",
    "SITE_COLORS",
    "VILLAGE_LABEL_ZOOM",
    "Scope",
    "add_outlines",
    "build_clinics_map",
    "build_hard_road_map",
    "build_overview_map",
    "build_package_map",
    "build_services_map",
    "build_village_map",
    "township_labels",
    "view_bounds",
]

HARD_ROAD_COLORS = {
    "connected": "#2e7d32",
    "not_connected": "#d32f2f",
    "below_threshold": "#9e9e9e",
    "excluded": "#7b1fa2",
}
HARD_ROAD_LABELS = {
    "connected": "已通硬化路",
    "not_connected": "未通硬化路",
    "below_threshold": "不足20户",
    "excluded": "规划搬迁撤并（不纳入）",
}
# One vocabulary with the report (geo.report.VALUE_ZH): a new reason code is named once.
REASON_ZH = {code: label for code, label in VALUE_ZH["reason"].items() if code}
ROAD_COLORS = {"hard": "#555555", "unpaved": "#a1887f", "planned": "#1e88e5"}
# Colours are checked per map (app.maps.palette, tests/test_map_legibility.py): a status's
# green and red never also mean a facility kind, so no kind is green or red.
SITE_COLORS = {True: HARD_ROAD_COLORS["connected"], False: HARD_ROAD_COLORS["not_connected"]}
"""Relocation sites: 达标 green, 缺少设施 red (the statuses of the 通硬化路 map)."""
KIND_COLORS = {
    "综合超市": "#1565c0",
    "便利菜店": "#8d6e63",
    "药店": "#6a1b9a",
    "公交站点": "#f9a825",
    "电商网店": "#00838f",
    "物流配送站点": "#37474f",
    "其他": "#757575",
}
NEAREST_COLORS = {True: "#81c784", False: "#ff7043"}
"""Lines to the nearest facility: pale green within 15 minutes, orange beyond."""
CLINIC_COLORS = {"卫生院": "#0d47a1", "卫生室": "#00897b", "其他": "#757575"}
CLINIC_GAP_COLORS = {"no_clinic": "#d32f2f", "no_doctor": "#f57c00", "short_of_doctors": "#fbc02d"}
BLANK_TOWNSHIP_COLOR = "#f48fb1"
TIME_COLORS = ("#1a9850", "#a6d96a", "#9e9ac8", "#54278f")  # near → far (over the limit: purple)
PROBLEM_STEPS = ((0, "#edf8fb"), (1, "#b3cde3"), (5, "#8c96c6"), (10, "#8856a7"), (20, "#810f7c"))
"""Township fill by number of problems (blue-purple, so the red problem villages stand out)."""
VILLAGE_LABEL_ZOOM = 13
"""Natural village names are written on the map from this zoom on (street level)."""


@dataclass(frozen=True)
class Scope:
    """The area a map shows: the county, one township, or one admin village."""

    township_code: str | None = None
    admin_village_code: str | None = None

    def select(self, frame: pd.DataFrame, *, field: str = "township_code") -> pd.DataFrame:
        """Rows of ``frame`` inside the scope (by township or admin-village code fields)."""
        if frame.empty:
            return frame
        if self.admin_village_code is not None:
            if "admin_village_code" in frame.columns:
                return frame[frame["admin_village_code"] == self.admin_village_code]
            if field == "code" and "code" in frame.columns:
                return frame[frame["code"] == self.admin_village_code]
        if self.township_code is not None:
            if field in frame.columns:
                return frame[frame[field] == self.township_code]
            if "admin_village_code" in frame.columns:
                return frame[frame["admin_village_code"].str[:9] == self.township_code]
        return frame


def view_bounds(dataset: Dataset, scope: Scope, *extra: gpd.GeoDataFrame) -> tuple[float, ...]:
    """The area a map shows: the admin village's features, the township or the county."""
    if scope.admin_village_code is not None:
        parts = [f for f in extra if not f.empty]
        if parts:
            total = pd.concat([p.geometry for p in parts])
            minx, miny, maxx, maxy = total.total_bounds
            pad = 0.01
            return (minx - pad, miny - pad, maxx + pad, maxy + pad)
    if scope.township_code is not None:
        tw = dataset["townships"]
        sel = tw[tw["code"] == scope.township_code]
        if not sel.empty:
            return tuple(sel.total_bounds)
    return tuple(dataset["county"].total_bounds)


def _existing(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Features that exist (status 现状): the analyses count only these, so do the maps.

    In the 规划 scenario the pages pass the as-built dataset, where planned features are 现状.
    """
    if "status" not in frame.columns:
        return frame
    return frame[frame["status"].fillna("现状") == "现状"]


def add_outlines(m: folium.Map, dataset: Dataset, options: MapOptions) -> None:
    """County and township boundaries (unfilled, so they do not catch clicks)."""
    county = dataset["county"]
    geojson_layer(
        county,
        name="县界",
        labels={"name": "县", "code": "代码"},
        color="#000000",
        weight=2.5,
        fill_opacity=0.0,
        simplify_m=options.simplify_m,
        tooltip_field=None,
    ).add_to(m)
    geojson_layer(
        dataset["townships"],
        name="乡镇界",
        labels={"name": "乡镇", "code": "代码"},
        color="#616161",
        weight=1.2,
        fill_opacity=0.0,
        dash="4 4",
        simplify_m=options.simplify_m,
    ).add_to(m)


ROAD_SIMPLIFY_M = 10.0
"""Road lines are simplified by this much for display (invisible below street zoom)."""


def _road_layers(
    m: folium.Map,
    roads: gpd.GeoDataFrame,
    *,
    show: bool = True,
    bounds: tuple[float, ...] | None = None,
) -> None:
    """Roads by surface; only those crossing ``bounds`` (padded 2 km) are sent."""
    if bounds is not None:
        minx, miny, maxx, maxy = bounds
        pad = 0.02
        roads = roads.cx[minx - pad : maxx + pad, miny - pad : maxy + pad]
    hard = roads["surface"].isin(["沥青", "水泥"]) & (roads["status"] == "现状")
    planned = roads["status"] == "规划"
    labels = {
        "id": "编号",
        "name": "名称",
        "road_class": "等级",
        "surface": "路面",
        "width_m": "宽度(米)",
        "status": "状态",
    }
    geojson_layer(
        roads[hard],
        name="硬化道路",
        labels=labels,
        color=ROAD_COLORS["hard"],
        weight=1.6,
        show=show,
        simplify_m=ROAD_SIMPLIFY_M,
    ).add_to(m)
    geojson_layer(
        roads[~hard & ~planned],
        name="砂石/土路",
        labels=labels,
        color=ROAD_COLORS["unpaved"],
        weight=1.6,
        dash="5 4",
        show=show,
        simplify_m=ROAD_SIMPLIFY_M,
    ).add_to(m)
    if planned.any():
        geojson_layer(
            roads[planned],
            name="规划道路",
            labels=labels,
            color=ROAD_COLORS["planned"],
            weight=2.2,
            dash="8 5",
            show=show,
            simplify_m=ROAD_SIMPLIFY_M,
        ).add_to(m)


LINK_COLORS = {"harden": "#ef6c00", "new": "#ad1457"}
LINK_KIND_ZH = {"harden": "路面硬化", "new": "新建道路"}
LINK_LEGEND = (
    LegendItem(LINK_COLORS["harden"], "需硬化路段", "line"),
    LegendItem(LINK_COLORS["new"], "需新建路段", "line"),
)
CLINIC_STATUS_ZH = {code: label for code, label in VALUE_ZH["cl_status"].items() if code}


def _links_layer(m: folium.Map, links: gpd.GeoDataFrame) -> None:
    """The missing links of 通硬化路 (to pave or to build), with km and cost in the popup."""
    if links.empty:
        return
    links = links.assign(kind_zh=links["kind"].map(LINK_KIND_ZH))
    geojson_layer(
        links,
        name="缺失路段（需硬化/新建）",
        labels={
            "village_id": "自然村编号",
            "kind_zh": "类别",
            "length_km": "长度(公里)",
            "cost_wan": "估算投资(万元)",
            "road_ids": "涉及道路",
        },
        color=links["kind"].map(LINK_COLORS),
        weight=4,
        tooltip_field="kind_zh",
        pane=PROBLEM_PANE,
    ).add_to(m)


_STATUS_CLASS = {
    "connected": "met",
    "below_threshold": "other",
    "excluded": "other",
    "not_connected": "problem",
}
_STATUS_STYLE: dict[str, dict] = {
    "met": {"pane": MET_PANE, "radius_px": 3.5, "fill_opacity": MET_FILL_OPACITY},
    "other": {"pane": OTHER_PANE, "radius_px": 4.0, "fill_opacity": 0.8},
    "problem": {"pane": PROBLEM_PANE, "radius_px": 6.5, "fill_opacity": 0.95},
}
"""How a point is drawn by its kind of status: met small, pale and lowest, problems on top."""

ROAD_LEGEND = [
    LegendItem(ROAD_COLORS["hard"], "硬化道路（沥青/水泥）", "line"),
    LegendItem(ROAD_COLORS["unpaved"], "砂石/土路", "line"),
    LegendItem(ROAD_COLORS["planned"], "规划道路", "line"),
]


def _problem_color(n: float) -> str:
    color = PROBLEM_STEPS[0][1]
    for threshold, c in PROBLEM_STEPS:
        if n >= threshold:
            color = c
    return color


def township_labels(dataset: Dataset, scope: Scope = Scope()) -> LabelSet:
    """Township names at their areas (the whole county's; one township's when scoped)."""
    tw = dataset["townships"]
    if scope.township_code is not None:
        tw = tw[tw["code"] == scope.township_code]
    return LabelSet(label_rows(tw), rank=1)


def village_labels(villages: gpd.GeoDataFrame, *, problems: pd.Series | None = None) -> list:
    """Village names: the problem ones at every zoom, all from :data:`VILLAGE_LABEL_ZOOM`."""
    out = []
    if problems is not None:
        out.append(LabelSet(label_rows(villages[problems]), css_class="problem", rank=0))
        villages = villages[~problems]
    out.append(
        LabelSet(label_rows(villages), css_class="village", min_zoom=VILLAGE_LABEL_ZOOM, rank=2)
    )
    return out


def build_overview_map(
    dataset: Dataset, assessment: Assessment, *, options: MapOptions, scope: Scope = Scope()
) -> folium.Map:
    """Township choropleth of the number of problems (click a township to drill down)."""
    tw = dataset["townships"][["code", "name", "geometry"]].merge(
        assessment.rollup.townships.drop(columns=["name"], errors="ignore"), on="code", how="left"
    )
    tw["problems"] = tw["problems"].fillna(0).astype(int)
    m = base_map(view_bounds(dataset, scope), options)
    labels = {
        "name": "乡镇",
        "code": "代码",
        "problems": "问题数",
        "hr_rate_pct": "通硬化路率(%)",
        "hr_not_connected": "未通硬化路自然村",
        "sv_not_ok": "生活圈未达标安置区",
        "cl_blank_admin_villages": "医疗空白行政村",
    }
    geojson_layer(
        tw,
        name="乡镇问题数",
        labels=labels,
        color=tw["problems"].map(_problem_color),
        weight=1.5,
        fill_opacity=0.65,
        simplify_m=options.simplify_m,
    ).add_to(m)
    geojson_layer(
        dataset["county"],
        name="县界",
        labels={"name": "县"},
        color="#000000",
        weight=2.5,
        fill_opacity=0.0,
        simplify_m=options.simplify_m,
        tooltip_field=None,
    ).add_to(m)
    villages = scope.select(assessment.hard_road.villages)
    bad = villages[villages["status"] == "not_connected"]
    point_layer(
        bad,
        name="未通硬化路自然村",
        labels={"name": "自然村", "households": "户数", "reason": "原因"},
        color=HARD_ROAD_COLORS["not_connected"],
        radius_px=5,
        pane=PROBLEM_PANE,
    ).add_to(m)
    shown = tw if scope.township_code is None else tw[tw["code"] == scope.township_code]
    counts = shown["problems"].map(lambda n: f"{n} 个问题" if n else "无问题")
    add_labels(m, LabelSet(label_rows(shown, sub=counts), rank=1))
    for labels in village_labels(bad, problems=None):
        add_labels(m, labels)
    legend = [LegendItem(c, f"问题 ≥ {t}" if t else "无问题", "square") for t, c in PROBLEM_STEPS]
    legend.append(LegendItem(HARD_ROAD_COLORS["not_connected"], "未通硬化路自然村"))
    return finish_map(m, legend, title="乡镇问题数（点击乡镇查看）")


def build_hard_road_map(
    dataset: Dataset,
    assessment: Assessment,
    *,
    options: MapOptions,
    scope: Scope = Scope(),
    reasons: tuple[str, ...] | None = None,
    focus_ids: tuple[str, ...] = (),
    overlays: Sequence[tuple[folium.Layer, list[LegendItem]]] = (),
) -> folium.Map:
    """Natural villages by 通硬化路 status, missing links with km and cost, and the roads.

    ``focus_ids`` (rows picked in the table) are ringed and the view fits them.
    """
    villages = scope.select(assessment.hard_road.villages).copy()
    if reasons:
        villages = villages[villages["reason"].isin(reasons) | (villages["status"] == "connected")]
    links = assessment.hard_road.links
    links = links[links["village_id"].isin(villages["id"])].copy()
    focus = villages[villages["id"].isin(focus_ids)]
    view = view_bounds(dataset, scope, villages)
    if not focus.empty:
        own = links[links["village_id"].isin(focus_ids)]
        minx, miny, maxx, maxy = pd.concat([focus.geometry, own.geometry]).total_bounds
        view = (minx - 0.01, miny - 0.01, maxx + 0.01, maxy + 0.01)
    m = base_map(view, options)
    add_outlines(m, dataset, options)
    _road_layers(m, dataset["roads"], bounds=None if scope == Scope() else view)
    if not focus.empty:
        group = folium.FeatureGroup(name="表格中选中的自然村")
        for row in focus.itertuples():
            folium.CircleMarker(
                [row.geometry.y, row.geometry.x],
                radius=13,
                color="#0d47a1",
                weight=3,
                fill=False,
                tooltip=safe_tooltip(str(row.name)),
            ).add_to(group)
        group.add_to(m)
    _links_layer(m, links)
    villages["status_zh"] = villages["status"].map(HARD_ROAD_LABELS)
    villages["reason_zh"] = villages["reason"].map(REASON_ZH).fillna("")
    labels = {
        "name": "自然村",
        "id": "编号",
        "households": "户数",
        "population": "人口",
        "status_zh": "状态",
        "reason_zh": "原因",
        "harden_km": "需硬化(公里)",
        "new_km": "需新建(公里)",
        "cost_wan": "估算投资(万元)",
        "snap_dist_m": "距最近道路(米)",
    }
    # met lowest, small and pale; the other statuses above; problems on top, larger
    for status in ("connected", "below_threshold", "excluded", "not_connected"):
        part = villages[villages["status"] == status]
        point_layer(
            part,
            name=f"自然村：{HARD_ROAD_LABELS[status]}",
            labels=labels,
            color=HARD_ROAD_COLORS[status],
            **_STATUS_STYLE[_STATUS_CLASS[status]],
        ).add_to(m)
    problems = villages["status"] == "not_connected"
    focused = villages["id"].isin(focus_ids)
    add_labels(m, LabelSet(label_rows(focus), css_class="problem", rank=0))
    for labels in village_labels(villages[~focused], problems=problems[~focused]):
        add_labels(m, labels)
    legend = [LegendItem(HARD_ROAD_COLORS[s], lab) for s, lab in HARD_ROAD_LABELS.items()]
    legend += [
        *LINK_LEGEND,
        *ROAD_LEGEND,
    ]
    legend += add_overlays(m, overlays)
    return finish_map(m, legend, title="20户以上自然村通硬化路")


def _cluster_icon(color: str) -> str:
    """A cluster of one facility kind: a disc in the kind's colour with the count.

    (MarkerCluster's own green / yellow / orange discs would read as 达标 / 未达标.)"""
    return f"""function (cluster) {{
    var n = cluster.getChildCount(), d = n < 10 ? 24 : n < 100 ? 30 : 36;
    return L.divIcon({{
        html: '<div style="width:' + d + 'px;height:' + d + 'px;display:flex;' +
              'align-items:center;justify-content:center;box-sizing:border-box;' +
              'border-radius:50%;background:{color};opacity:.85;color:#fff;' +
              'border:2px solid #fff;box-shadow:0 0 2px #333;' +
              'font:600 12px sans-serif">' + n + '</div>',
        className: "gapmap-cluster", iconSize: L.point(d + 4, d + 4)
    }});
}}"""


def build_services_map(
    dataset: Dataset,
    assessment: Assessment,
    *,
    options: MapOptions,
    scope: Scope = Scope(),
    kinds: tuple[str, ...] | None = None,
    overlays: Sequence[tuple[folium.Layer, list[LegendItem]]] = (),
) -> folium.Map:
    """Relocation sites with their 15-minute isochrones, nearest-facility lines, facilities."""
    settings = assessment.settings.services
    kinds = kinds or settings.required_kinds
    units = scope.select(assessment.services.units).copy()
    view = view_bounds(dataset, scope, units)
    m = base_map(view, options)
    add_outlines(m, dataset, options)
    _road_layers(m, dataset["roads"], show=False, bounds=None if scope == Scope() else view)
    iso = assessment.isochrones
    iso = iso[iso["unit_id"].isin(units["unit_id"])]
    geojson_layer(
        iso,
        name=f"{settings.max_time_min:g}分钟步行范围",
        labels={"unit_id": "安置区编号", "minutes": "分钟", "reach_km": "可达道路(公里)"},
        color="#29b6f6",
        weight=1,
        fill_opacity=0.18,
        tooltip_field=None,
    ).add_to(m)
    nearest = assessment.services.nearest
    nearest = nearest[nearest["unit_id"].isin(units["unit_id"]) & nearest["kind"].isin(kinds)]
    nearest = nearest[~nearest.geometry.is_empty & nearest.geometry.notna()].copy()
    if not nearest.empty:
        nearest["ok_zh"] = nearest["ok"].map({True: "15分钟内", False: "超出15分钟"})
        geojson_layer(
            nearest,
            name="到最近设施的路线",
            labels={
                "unit_id": "安置区",
                "kind": "设施类别",
                "facility_name": "最近设施",
                "minutes": "步行(分钟)",
                "distance_m": "路网距离(米)",
                "ok_zh": "是否达标",
            },
            color=nearest["ok"].map(NEAREST_COLORS),
            weight=3,
            tooltip_field="kind",
        ).add_to(m)
    facilities = _existing(dataset["service_points"])
    facilities = facilities[facilities["kind"].isin(kinds)]
    for kind in kinds:
        part = facilities[facilities["kind"] == kind]
        group = folium.FeatureGroup(name=f"设施：{kind}", show=True)
        cluster = folium.plugins.MarkerCluster(
            options={
                "disableClusteringAtZoom": 14,
                "maxClusterRadius": 40,
                "clusterPane": OTHER_PANE,  # below the relocation sites that miss a kind
            },
            icon_create_function=_cluster_icon(KIND_COLORS.get(kind, "#757575")),
        ).add_to(group)
        for row in part.itertuples():
            folium.CircleMarker(
                location=[row.geometry.y, row.geometry.x],
                radius=5,
                color="#222",
                weight=1,
                fill=True,
                fill_color=KIND_COLORS.get(kind, "#757575"),
                fill_opacity=0.95,
                tooltip=safe_tooltip(f"{kind}：{row.name}"),
            ).add_to(cluster)
        group.add_to(m)
    units["ok_zh"] = units["ok"].map({True: "达标", False: "未达标"})
    units["missing_zh"] = units["missing_kinds"].fillna("").replace("", "—")
    labels = {
        "name": "安置区",
        "unit_id": "编号",
        "population": "人口",
        "ok_zh": "一刻钟生活圈",
        "missing_zh": "15分钟内缺少",
        **{f"{k}_min": f"{k}(分钟)" for k in kinds},
    }
    ok = units["ok"].astype(bool)
    point_layer(
        units[ok],
        name="移民安置区：达标",
        labels=labels,
        color=SITE_COLORS[True],
        radius_px=7,
        pane=MET_PANE,
        fill_opacity=0.75,
    ).add_to(m)
    point_layer(
        units[~ok],
        name="移民安置区：缺少设施",
        labels=labels,
        color=SITE_COLORS[False],
        radius_px=9,
        pane=PROBLEM_PANE,
    ).add_to(m)
    add_labels(m, LabelSet(label_rows(units[~ok]), css_class="problem", rank=0))
    add_labels(
        m, LabelSet(label_rows(units[ok]), css_class="village", min_zoom=VILLAGE_LABEL_ZOOM - 1)
    )
    legend = [
        LegendItem(SITE_COLORS[True], "安置区：达标"),
        LegendItem(SITE_COLORS[False], "安置区：缺少设施"),
        LegendItem("#29b6f6", f"{settings.max_time_min:g}分钟步行范围", "square"),
        LegendItem(NEAREST_COLORS[True], "最近设施（15分钟内）", "line"),
        LegendItem(NEAREST_COLORS[False], "最近设施（超时）", "line"),
        *[LegendItem(KIND_COLORS.get(k, "#757575"), k) for k in kinds],
    ]
    legend += add_overlays(m, overlays)
    return finish_map(m, legend, title="一刻钟便民生活服务圈")


def build_clinics_map(
    dataset: Dataset,
    assessment: Assessment,
    *,
    options: MapOptions,
    scope: Scope = Scope(),
    overlays: Sequence[tuple[folium.Layer, list[LegendItem]]] = (),
) -> folium.Map:
    """Clinics by kind, blank townships and admin villages, villages by time to a 卫生室."""
    cs = assessment.settings.clinics
    villages = scope.select(assessment.clinics.villages).copy()
    m = base_map(view_bounds(dataset, scope, villages), options)
    add_outlines(m, dataset, options)
    blank_tw = assessment.clinics.townships
    blank_tw = blank_tw[blank_tw["blank"]]
    geojson_layer(
        blank_tw,
        name="无卫生院乡镇",
        labels={"name": "乡镇", "code": "代码", "n_health_centres": "卫生院数"},
        color=BLANK_TOWNSHIP_COLOR,
        weight=2,
        fill_opacity=0.35,
        simplify_m=options.simplify_m,
    ).add_to(m)
    av = scope.select(assessment.clinics.admin_villages, field="township_code").copy()
    av["status_zh"] = av["status"].map(CLINIC_STATUS_ZH).fillna(av["status"])
    av_colors = av["status"].map(CLINIC_GAP_COLORS).fillna("#66bb6a")
    gaps = av[av["blank"] | (av["status"] == "short_of_doctors")]
    point_layer(
        gaps,
        name="医疗空白/不足行政村",
        labels={
            "name": "行政村",
            "code": "代码",
            "population": "人口",
            "n_clinics": "卫生室数",
            "doctors": "村医数",
            "doctors_required": "应配村医",
            "status_zh": "状态",
        },
        color=av_colors,
        radius_px=9,
        pane=PROBLEM_PANE,
    ).add_to(m)
    add_labels(m, LabelSet(label_rows(gaps), css_class="problem", rank=0))
    limit = cs.clinic_max_time_min
    t = villages["clinic_min"]
    v_colors = pd.Series(TIME_COLORS[0], index=villages.index)
    v_colors[t > limit / 2] = TIME_COLORS[1]
    v_colors[t > limit] = TIME_COLORS[2]
    v_colors[t > 2 * limit] = TIME_COLORS[3]
    point_layer(
        villages,
        name="自然村（到卫生室时间）",
        labels={
            "name": "自然村",
            "population": "人口",
            "clinic_min": "到卫生室(分钟)",
            "clinic_id": "最近卫生室",
            "health_centre_min": "到卫生院(分钟)",
        },
        color=v_colors,
        radius_px=4,
        pane=OTHER_PANE,
    ).add_to(m)
    for labels in village_labels(villages):
        add_labels(m, labels)
    clinics = _existing(dataset["clinics"])
    for kind in ("卫生院", "卫生室"):
        part = scope.select(clinics[clinics["kind"] == kind])
        cross_layer(
            part,
            name=kind,
            labels={"name": "名称", "kind": "类别", "doctors": "医生数"},
            color=CLINIC_COLORS[kind],
            size_px=16 if kind == "卫生院" else 12,
        ).add_to(m)
    legend = [
        LegendItem(CLINIC_COLORS["卫生院"], "卫生院（＋ 方框）", "square"),
        LegendItem(CLINIC_COLORS["卫生室"], "卫生室（＋ 方框）", "square"),
        LegendItem(CLINIC_GAP_COLORS["no_clinic"], "行政村无卫生室"),
        LegendItem(CLINIC_GAP_COLORS["no_doctor"], "卫生室无医生"),
        LegendItem(CLINIC_GAP_COLORS["short_of_doctors"], "村医不足"),
        LegendItem(BLANK_TOWNSHIP_COLOR, "无卫生院乡镇", "square"),
        LegendItem(TIME_COLORS[0], f"到卫生室 ≤ {limit / 2:g} 分钟"),
        LegendItem(TIME_COLORS[1], f"{limit / 2:g}–{limit:g} 分钟"),
        LegendItem(TIME_COLORS[2], f"{limit:g}–{2 * limit:g} 分钟"),
        LegendItem(TIME_COLORS[3], f"> {2 * limit:g} 分钟"),
    ]
    legend += add_overlays(m, overlays)
    return finish_map(m, legend, title="医疗卫生空白点")


_CLASS_ZH = {"met": "已通硬化路", "other": "不足20户/不纳入", "problem": "未通硬化路"}
_LINK_OF = {"需硬化路段": "harden", "需新建路段": "new"}


def _status_legend(*, sites_shown: bool) -> list[LegendItem]:
    """The 通硬化路 statuses; where relocation sites are drawn too, their 达标 / 缺少设施
    share the green and red rows (one colour, one meaning)."""
    out = []
    for status, label in HARD_ROAD_LABELS.items():
        if sites_shown and status == "connected":
            label = f"{label} / 安置区达标"
        elif sites_shown and status == "not_connected":
            label = f"{label} / 安置区缺少设施"
        out.append(LegendItem(HARD_ROAD_COLORS[status], label))
    return out


def build_village_map(
    dataset: Dataset, assessment: Assessment, *, options: MapOptions, admin_village_code: str
) -> folium.Map:
    """一村一图: one admin village, its natural villages with every check, nearby facilities."""
    scope = Scope(admin_village_code=admin_village_code)
    hr = scope.select(assessment.hard_road.villages).copy()
    cl = assessment.clinics.villages[["id", "clinic_min", "health_centre_min"]]
    hr = hr.merge(cl, on="id", how="left")
    av = dataset["admin_villages"]
    av = av[av["code"] == admin_village_code]
    view = view_bounds(dataset, scope, hr, av)
    m = base_map(view, options)
    add_outlines(m, dataset, options)
    _road_layers(m, dataset["roads"], bounds=view)
    links = assessment.hard_road.links
    links = links[links["village_id"].isin(hr["id"])].copy()
    _links_layer(m, links)
    hr["status_zh"] = hr["status"].map(HARD_ROAD_LABELS)
    village_fields = {
        "name": "自然村",
        "households": "户数",
        "population": "人口",
        "status_zh": "通硬化路",
        "harden_km": "需硬化(公里)",
        "clinic_min": "到卫生室(分钟)",
        "health_centre_min": "到卫生院(分钟)",
    }
    for cls in ("met", "other", "problem"):
        part = hr[hr["status"].map(_STATUS_CLASS) == cls]
        # a one-village sheet: met villages a little fainter, not faded away
        style = {**_STATUS_STYLE[cls], "radius_px": 8 if cls == "problem" else 6}
        style["fill_opacity"] = max(style["fill_opacity"], 0.8)
        point_layer(
            part,
            name=f"自然村：{_CLASS_ZH[cls]}",
            labels=village_fields,
            color=part["status"].map(HARD_ROAD_COLORS),
            **style,
        ).add_to(m)
    clinics = _existing(dataset["clinics"])
    point_layer(
        clinics,
        name="医疗机构",
        labels={"name": "名称", "kind": "类别", "doctors": "医生数"},
        color=clinics["kind"].map(CLINIC_COLORS),
        radius_px=6,
        pane=OTHER_PANE,
    ).add_to(m)
    sites = assessment.services.units
    sites = sites[sites["admin_village_code"] == admin_village_code]
    if not sites.empty:
        point_layer(
            sites,
            name="移民安置区",
            labels={"name": "安置区", "missing_kinds": "15分钟内缺少"},
            color=sites["ok"].map(SITE_COLORS),
            radius_px=9,
            pane=PROBLEM_PANE,
        ).add_to(m)
    # one admin village: every natural village is named at every zoom (a printed sheet)
    problems = hr["status"] == "not_connected"
    add_labels(m, LabelSet(label_rows(hr[problems]), css_class="problem", rank=0))
    add_labels(m, LabelSet(label_rows(hr[~problems]), css_class="village", rank=2))
    add_labels(m, LabelSet(label_rows(sites), css_class="village", rank=1))
    legend = _status_legend(sites_shown=not sites.empty)
    if not links.empty:  # the proposed link of a village that is not connected
        legend += [i for i in LINK_LEGEND if (links["kind"] == _LINK_OF[i.label]).any()]
    legend += [
        LegendItem(CLINIC_COLORS["卫生院"], "卫生院"),
        LegendItem(CLINIC_COLORS["卫生室"], "卫生室"),
    ]
    legend += ROAD_LEGEND
    name = av["name"].iloc[0] if not av.empty else admin_village_code
    return finish_map(m, legend, title=f"一村一图：{name}")


def build_package_map(
    dataset: Dataset, assessment: Assessment, *, options: MapOptions
) -> folium.Map:
    """Every result layer on one map, for the offline map package (导出 → 离线地图包)."""
    m = base_map(view_bounds(dataset, Scope()), options)
    add_outlines(m, dataset, options)
    _road_layers(m, dataset["roads"])
    hr = assessment.hard_road.villages.copy()
    hr["status_zh"] = hr["status"].map(HARD_ROAD_LABELS)
    hr["reason_zh"] = hr["reason"].map(REASON_ZH).fillna("")
    links = assessment.hard_road.links
    _links_layer(m, links)
    for cls in ("met", "other", "problem"):
        part = hr[hr["status"].map(_STATUS_CLASS) == cls]
        point_layer(
            part,
            name=f"自然村：{_CLASS_ZH[cls]}",
            labels={
                "name": "自然村",
                "households": "户数",
                "status_zh": "通硬化路",
                "reason_zh": "原因",
                "cost_wan": "投资(万元)",
            },
            color=part["status"].map(HARD_ROAD_COLORS),
            **_STATUS_STYLE[cls],
        ).add_to(m)
    add_labels(m, township_labels(dataset))
    for labels in village_labels(hr, problems=hr["status"] == "not_connected"):
        add_labels(m, labels)
    geojson_layer(
        assessment.isochrones,
        name="安置区15分钟步行范围",
        labels={"unit_id": "安置区", "minutes": "分钟"},
        color="#29b6f6",
        weight=1,
        fill_opacity=0.18,
        tooltip_field=None,
        show=False,
    ).add_to(m)
    units = assessment.services.units
    point_layer(
        units,
        name="移民安置区（一刻钟生活圈）",
        labels={"name": "安置区", "population": "人口", "missing_kinds": "15分钟内缺少"},
        color=units["ok"].map(SITE_COLORS),
        radius_px=9,
        pane=PROBLEM_PANE,
    ).add_to(m)
    clinics = _existing(dataset["clinics"])
    point_layer(
        clinics,
        name="医疗机构",
        labels={"name": "名称", "kind": "类别", "doctors": "医生数"},
        color=clinics["kind"].map(CLINIC_COLORS),
        radius_px=5,
        show=False,
        pane=OTHER_PANE,
    ).add_to(m)
    legend = _status_legend(sites_shown=not units.empty)
    legend += [
        *LINK_LEGEND,
        LegendItem(CLINIC_COLORS["卫生院"], "卫生院（图层默认关闭）"),
        LegendItem(CLINIC_COLORS["卫生室"], "卫生室（图层默认关闭）"),
        *ROAD_LEGEND,
    ]
    county = dataset["county"]
    name = str(county["name"].iloc[0]) if not county.empty else ""
    return finish_map(m, legend, title=f"{name}乡村短板一张图")
