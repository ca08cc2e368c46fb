"""The 农村供水 map: pipes by diameter and peak velocity, nodes by pressure, villages by status."""

from __future__ import annotations

import folium
import pandas as pd

from app.maps.base import (
    MET_PANE,
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
from app.maps.builders import Scope, add_outlines, view_bounds
from geo.water import REASONS_ZH, STATUSES, WaterResult
from layers.dataset import Dataset

__all__ = ["WATER_STATUS_COLORS", "WATER_STATUS_ZH", "build_water_map", "water_legend"]

WATER_STATUS_ZH = {code: REASONS_ZH[code] for code in STATUSES}
"""Village water statuses in Chinese: the labels of :data:`geo.water.REASONS_ZH`."""
WATER_STATUS_COLORS = {
    "ok": "#a5d6a7",  # pale: the problems (drawn again, larger, on top) stand out
    "off_network": "#d32f2f",
    "low_pressure": "#f57c00",
    "capacity_short": "#8e24aa",
    "disconnected": "#6d4c41",
    "unlinked": "#9e9e9e",
}
VELOCITY_STEPS = ((0.0, "#b0bec5"), (0.3, "#64b5f6"), (0.6, "#1e88e5"), (1.2, "#1a237e"))
# Node pressure is not a village status: black / light orange / yellow / green, none of
# them the red and orange of the village statuses (checked by tests/test_map_legibility.py).
PRESSURE_STEPS = ((-1e9, "#000000"), (0.0, "#ffb74d"), (1.0, "#fff176"), (2.0, "#43a047"))


def _step(value: float, steps: tuple[tuple[float, str], ...]) -> str:
    color = steps[0][1]
    for threshold, c in steps:
        if value >= threshold:
            color = c
    return color


def build_water_map(
    dataset: Dataset,
    result: WaterResult,
    *,
    options: MapOptions,
    pressure_m: pd.Series,
    hour: float,
    service_head_m: float,
    scope: Scope | None = None,
) -> folium.Map:
    """Pipes by diameter (width) and peak velocity (colour), nodes by pressure at ``hour``.

    Parameters
    ----------
    pressure_m : Series
        Pressure (m) per node name at ``hour`` (a row of ``WaterRun.pressure_m``).
    service_head_m : float
        The one-storey service head; nodes are coloured relative to it.
    """
    scope = scope or Scope()
    villages = scope.select(result.villages).copy()
    m = base_map(view_bounds(dataset, scope, villages), options)
    add_outlines(m, dataset, options)
    pipes = result.pipes.copy()
    vel = pipes["peak_velocity_ms"].abs().fillna(0.0)
    diameter = pipes["diameter_mm"].fillna(0.0)
    for label, lo, hi, weight in (
        ("管道 DN ≥ 200", 200, 1e9, 5.0),
        ("管道 DN 100–199", 100, 200, 3.0),
        ("管道 DN < 100", -1, 100, 1.6),
    ):
        part = pipes[(diameter >= lo) & (diameter < hi)]
        geojson_layer(
            part,
            name=label,
            labels={
                "name": "管道",
                "diameter_mm": "管径(mm)",
                "length_m": "长度(m)",
                "peak_flow_lps": "高峰流量(L/s)",
                "peak_velocity_ms": "高峰流速(m/s)",
            },
            color=vel.loc[part.index].map(lambda v: _step(v, VELOCITY_STEPS)),
            weight=weight,
            tooltip_field="name",
        ).add_to(m)
    nodes = result.nodes.copy()
    nodes["pressure_now_m"] = nodes["name"].map(pressure_m).round(1)
    ratio = nodes["pressure_now_m"] / service_head_m
    junctions = nodes[nodes["node_type"] == "Junction"]
    point_layer(
        junctions,
        name=f"节点水压（{hour:g} 时）",
        labels={
            "name": "节点",
            "elevation_m": "高程(m)",
            "pressure_now_m": f"{hour:g}时水压(m)",
            "min_pressure_m": "日最低水压(m)",
        },
        color=ratio.loc[junctions.index].map(lambda r: _step(r, PRESSURE_STEPS)),
        radius_px=3,
        show=False,
    ).add_to(m)
    works = nodes[nodes["node_type"] != "Junction"].copy()
    works["type_zh"] = works["node_type"].map({"Tank": "高位水池", "Reservoir": "水源"})
    point_layer(
        works,
        name="水源和水池",
        labels={"name": "名称", "type_zh": "类型", "elevation_m": "高程(m)"},
        color=works["node_type"].map({"Tank": "#00838f", "Reservoir": "#0d47a1"}),
        radius_px=9,
    ).add_to(m)
    villages["status_zh"] = villages["status"].map(WATER_STATUS_ZH).fillna(villages["status"])
    point_layer(
        villages,
        name="自然村供水状态",
        labels={
            "name": "自然村",
            "population": "人口",
            "status_zh": "状态",
            "min_pressure_m": "日最低水压(m)",
            "required_head_m": "所需水头(m)",
            "supply_lpcd": "人均供水(L/人·日)",
        },
        color=villages["status"].map(WATER_STATUS_COLORS).fillna("#9e9e9e"),
        radius_px=3.5,
        pane=MET_PANE,
    ).add_to(m)
    bad = villages[villages["status"] != "ok"]
    point_layer(  # problems drawn again, larger and on top
        bad,
        name="供水问题自然村",
        labels={
            "name": "自然村",
            "population": "人口",
            "status_zh": "状态",
            "min_pressure_m": "日最低水压(m)",
            "required_head_m": "所需水头(m)",
        },
        color=bad["status"].map(WATER_STATUS_COLORS).fillna("#9e9e9e"),
        radius_px=8,
        pane=PROBLEM_PANE,
    ).add_to(m)
    add_labels(m, LabelSet(label_rows(bad), css_class="problem", rank=0))
    return finish_map(m, water_legend(service_head_m=service_head_m), title="农村供水")


def water_legend(*, service_head_m: float) -> list[LegendItem]:
    """The legend of :func:`build_water_map` (village statuses, works, pipes, node pressure).

    ``service_head_m`` is the one-storey service head the node classes are relative to.
    """
    legend = [LegendItem(c, WATER_STATUS_ZH[s]) for s, c in WATER_STATUS_COLORS.items()]
    legend += [
        LegendItem("#0d47a1", "水源"),
        LegendItem("#00838f", "高位水池"),
        *[
            LegendItem(c, f"高峰流速 ≥ {t:g} m/s" if t else "高峰流速 < 0.3 m/s", "line")
            for t, c in VELOCITY_STEPS
        ],
        LegendItem(PRESSURE_STEPS[0][1], "节点水压 < 0（负压）"),
        LegendItem(PRESSURE_STEPS[1][1], f"节点水压 < {service_head_m:g} m"),
        LegendItem(PRESSURE_STEPS[2][1], f"节点水压 {service_head_m:g}–{2 * service_head_m:g} m"),
        LegendItem(PRESSURE_STEPS[3][1], f"节点水压 ≥ {2 * service_head_m:g} m"),
    ]
    return legend
