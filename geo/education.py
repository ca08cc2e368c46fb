"""义务教育就近入学 and 幼儿园: distance of every natural village to its nearest school.

Rules (``../shared/STANDARDS.md`` §5, thresholds in :class:`geo.settings.EducationSettings`):

- **小学 / 初中.** Every natural village must lie within the service radius of an
  existing (现状) school of its level: ``primary_radius_m`` (2.5 km) to a 小学,
  ``junior_radius_m`` (5 km) to a 初中; a 九年一贯制学校 counts as both. The distance is
  along the roads (``distance_basis = "network"``: metres walked on the existing roads,
  access legs included) or the straight line (``"straight"``).
- **寄宿制.** A boarding school serves the admin villages listed in its ``serves_codes``
  whatever the distance: their natural villages are ``ok`` with cause ``boarding``.
- **Exempt.** Natural villages planned for relocation (``relocation_planned``, 搬迁撤并).
- **Children.** ``x_children`` = the village's ``primary_children`` / ``junior_children``
  on a problem row (0 on other rows where counted, NaN where not counted).
- **幼儿园.** Every township (``kindergarten_unit = "township"``) or admin village
  (``"admin_village"``) has an existing 幼儿园 in it (by its township / admin village
  code, else by lying in its polygon); admin villages below
  ``kindergarten_min_population`` are exempt.

A county without a ``public_facilities`` layer (or an empty one) gets ``no_data`` rows.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.access import (
    existing_facilities,
    facilities_per_unit,
    fmt_number,
    nearest_facility,
    served_by,
)
from geo.indicators.outcomes import make_outcomes, unit_frame
from geo.network import RoadGraph
from geo.settings import Settings
from layers.dataset import Dataset

__all__ = [
    "JUNIOR_KINDS",
    "PRIMARY_KINDS",
    "junior_school_outcomes",
    "kindergarten_outcomes",
    "primary_school_outcomes",
]

logger = logging.getLogger(__name__)

PRIMARY_KINDS: tuple[str, ...] = ("小学", "九年一贯制学校")
"""Kinds of ``public_facilities`` that teach 小学 grades."""

JUNIOR_KINDS: tuple[str, ...] = ("初中", "九年一贯制学校")
"""Kinds of ``public_facilities`` that teach 初中 grades."""

_REASON_ZH = {
    "off_network": "距道路超过吸附距离，无法计算路网距离",
    "unreachable": "路网不连通，无法到达任何学校",
    "no_facility": "全县无现状学校",
}


def _school_outcomes(
    dataset: Dataset,
    graph: RoadGraph,
    settings: Settings,
    *,
    code: str,
    kinds: tuple[str, ...],
    level_zh: str,
    radius_m: float,
    children: str,
    cost_kind: str,
) -> pd.DataFrame:
    edu = settings.education
    units = unit_frame(dataset, "natural_village")
    frame = units.drop(columns="geometry")
    frame["key"] = code + ":" + frame["unit_code"]
    frame["indicator"] = code
    frame["limit"] = radius_m
    frame["value_unit"] = "米"
    names = frame["village_name"].to_numpy()
    nv = dataset.get("natural_villages")
    n = len(frame)
    planned = (
        nv["relocation_planned"].fillna(False).to_numpy(dtype=bool)
        if nv is not None and "relocation_planned" in nv
        else np.zeros(n, dtype=bool)
    )
    kids = (
        pd.to_numeric(nv[children], errors="coerce").to_numpy(dtype=float)
        if nv is not None and children in nv
        else np.full(n, np.nan)
    )
    layer = dataset.get("public_facilities")
    if layer is None or layer.empty:
        frame["status"] = np.where(planned, "exempt", "no_data")
        frame["cause"] = np.where(planned, "relocation_planned", "no_layer")
        frame["description"] = [
            f"{nm}：规划搬迁撤并，不纳入{level_zh}就近入学评价" if p
            else f"{nm}：无公共服务设施图层，{level_zh}就近入学无数据"
            for nm, p in zip(names, planned, strict=True)
        ]  # fmt: skip
        frame["x_children"] = np.nan
        return make_outcomes(frame)
    schools = existing_facilities(layer, kinds)
    assert schools is not None
    mode = "straight" if edu.distance_basis == "straight" else "network_m"
    origins = gpd.GeoSeries(units["geometry"].to_numpy(), index=units.index, crs=4326)
    found = nearest_facility(graph, origins, schools, mode=mode, network=settings.network)
    dist = found["distance_m"].to_numpy(dtype=float)
    within = dist <= radius_m
    boarders = served_by(schools.loc[schools["boarding"].fillna(False).astype(bool)])
    board = frame["admin_village_code"].map(boarders).fillna("").to_numpy()
    by_boarding = ~within & (board != "")
    status = np.select([planned, within | by_boarding], ["exempt", "ok"], default="problem")
    reason = found["reason"].to_numpy()
    cause = np.select(
        [planned, within, by_boarding, reason != ""],
        ["relocation_planned", "", "boarding", reason],
        default="beyond_radius",
    )
    row = found["row"].to_numpy()
    school_names = schools["name"].astype(str).to_numpy()
    nearest = np.where(row >= 0, school_names[np.maximum(row, 0)] if len(schools) else "", "")
    ids = schools["id"].astype(str).to_numpy()
    board_names = pd.Series(dict(zip(ids, school_names, strict=True)), dtype=str)
    basis = "直线距离" if mode == "straight" else "路网距离"
    desc = []
    for i in range(n):
        head = f"{names[i]}"
        if planned[i]:
            desc.append(f"{head}：规划搬迁撤并，不纳入{level_zh}就近入学评价")
            continue
        if reason[i]:
            measured = f"{head}：{_REASON_ZH[reason[i]]}"
        else:
            measured = (
                f"{head}距最近的{level_zh}（{nearest[i]}）{basis}{fmt_number(dist[i], '米')}米"
            )
        limit = f"（服务半径{fmt_number(radius_m, '米')}米）"
        if within[i]:
            desc.append(f"{measured}{limit}，达标")
        elif by_boarding[i]:
            served = "、".join(board_names.get(s, s) for s in board[i].split("、"))
            desc.append(f"{measured}{limit}，由寄宿制学校{served}覆盖，达标")
        else:
            extra = f"，{int(kids[i])}名适龄儿童在服务半径外" if np.isfinite(kids[i]) else ""
            verdict = "按未达标计" if reason[i] else "超出服务半径"
            desc.append(f"{measured}{limit}，{verdict}{extra}")
    problem = status == "problem"
    frame["status"] = status
    frame["cause"] = cause
    frame["value"] = np.where(np.isfinite(dist), dist, np.nan)
    frame["description"] = desc
    frame["x_children"] = np.where(np.isfinite(kids), np.where(problem, kids, 0.0), np.nan)
    frame["problem_type"] = np.where(problem, f"{level_zh}超出服务半径", "")
    frame["measure"] = np.where(
        problem, f"新建或改扩建{level_zh}，或纳入寄宿制学校服务范围并保障上下学交通", ""
    )
    cost = settings.projects.public_facility_cost_wan.get(cost_kind, np.nan)
    frame["cost_wan"] = np.where(problem, cost, np.nan)
    logger.info("%s: %d villages, %d beyond the radius", code, n, int(problem.sum()))
    return make_outcomes(frame)


def primary_school_outcomes(dataset: Dataset, graph: RoadGraph, settings: Settings) -> pd.DataFrame:
    """Outcome frame of 小学就近入学 (``edu_primary``), one row per natural village.

    Parameters
    ----------
    dataset : Dataset
        ``natural_villages`` (``relocation_planned``, ``primary_children``) and
        ``public_facilities`` (kinds 小学 and 九年一贯制学校, ``boarding``,
        ``serves_codes``, ``status``).
    graph : RoadGraph
        The road graph (for ``distance_basis = "network"``).
    settings : Settings
        ``education.primary_radius_m``, ``education.distance_basis``, ``network``
        (snap distance, walking speed) and ``projects.public_facility_cost_wan["小学"]``.

    Returns
    -------
    DataFrame
        Outcome frame, key ``edu_primary:<natural village id>``; ``value`` metres to the
        nearest 小学 (NaN when none is reached), ``limit`` the radius, ``x_children``
        the primary-school children of a problem village. Causes: ``boarding``
        (ok), ``beyond_radius``, ``off_network``, ``unreachable``, ``no_facility``
        (problems), ``relocation_planned`` (exempt), ``no_layer`` (no_data).
    """
    edu = settings.education
    return _school_outcomes(
        dataset, graph, settings, code="edu_primary", kinds=PRIMARY_KINDS, level_zh="小学",
        radius_m=edu.primary_radius_m, children="primary_children", cost_kind="小学",
    )  # fmt: skip


def junior_school_outcomes(dataset: Dataset, graph: RoadGraph, settings: Settings) -> pd.DataFrame:
    """Outcome frame of 初中就近入学 (``edu_junior``), one row per natural village.

    As :func:`primary_school_outcomes`, with the kinds 初中 and 九年一贯制学校,
    ``education.junior_radius_m``, ``junior_children`` and the cost of a 初中. Key
    ``edu_junior:<natural village id>``.
    """
    edu = settings.education
    return _school_outcomes(
        dataset, graph, settings, code="edu_junior", kinds=JUNIOR_KINDS, level_zh="初中",
        radius_m=edu.junior_radius_m, children="junior_children", cost_kind="初中",
    )  # fmt: skip


def kindergarten_outcomes(dataset: Dataset, graph: RoadGraph, settings: Settings) -> pd.DataFrame:
    """Outcome frame of 幼儿园 coverage (``kindergarten``): one 幼儿园 in every unit.

    Parameters
    ----------
    dataset : Dataset
        ``townships`` or ``admin_villages`` and ``public_facilities`` (kind 幼儿园).
    graph : RoadGraph
        Unused (uniform signature of the indicator table).
    settings : Settings
        ``education.kindergarten_unit`` (``township`` or ``admin_village``),
        ``education.kindergarten_min_population`` and
        ``projects.public_facility_cost_wan["幼儿园"]``.

    Returns
    -------
    DataFrame
        Outcome frame, key ``kindergarten:<township or admin village code>``; ``value``
        the number of existing 幼儿园 in the unit, ``limit`` 1. A facility belongs to a
        unit by its ``township_code`` (township; else its admin village's township) or
        ``admin_village_code``, else by lying in the unit's polygon. Causes:
        ``no_kindergarten`` (problem), ``below_population`` (exempt admin village),
        ``no_layer`` (no_data).
    """
    del graph
    edu = settings.education
    unit_kind = "admin_village" if edu.kindergarten_unit == "admin_village" else "township"
    units = unit_frame(dataset, unit_kind)
    frame = units.drop(columns="geometry")
    frame["key"] = "kindergarten:" + frame["unit_code"]
    frame["indicator"] = "kindergarten"
    frame["limit"] = 1.0
    frame["value_unit"] = "个"
    names = (
        frame["admin_village_name"] if unit_kind == "admin_village" else frame["township_name"]
    ).to_numpy()
    pop = frame["population"].to_numpy(dtype=float)
    small = (
        (np.nan_to_num(pop, nan=0.0) < edu.kindergarten_min_population)
        if unit_kind == "admin_village"
        else np.zeros(len(frame), dtype=bool)
    )
    layer = dataset.get("public_facilities")
    if layer is None or layer.empty:
        frame["status"] = np.where(small, "exempt", "no_data")
        frame["cause"] = np.where(small, "below_population", "no_layer")
        frame["description"] = [
            f"{nm}：常住人口{p:.0f}人，低于{edu.kindergarten_min_population}人，不要求设幼儿园"
            if s
            else f"{nm}：无公共服务设施图层，幼儿园设置无数据"
            for nm, p, s in zip(names, pop, small, strict=True)
        ]
        return make_outcomes(frame)
    kg = existing_facilities(layer, ("幼儿园",))
    assert kg is not None
    if unit_kind == "township":
        kg = kg.copy()
        admin = dataset.get("admin_villages")
        tw = kg["township_code"].fillna("").astype(str)
        if admin is not None:
            by_av = kg["admin_village_code"].map(admin.set_index("code")["township_code"])
            tw = tw.where(tw != "", by_av.fillna(""))
        kg["township_code"] = tw
        count = facilities_per_unit(kg, units, code_field="township_code").to_numpy()
    else:
        count = facilities_per_unit(kg, units, code_field="admin_village_code").to_numpy()
    has = count >= 1
    status = np.select([small, has], ["exempt", "ok"], default="problem")
    problem = status == "problem"
    frame["status"] = status
    frame["cause"] = np.select([small, has], ["below_population", ""], default="no_kindergarten")
    frame["value"] = count.astype(float)
    level = "行政村" if unit_kind == "admin_village" else "乡镇"
    frame["description"] = [
        f"{nm}：常住人口{p:.0f}人，低于{edu.kindergarten_min_population}人，不要求设幼儿园"
        if s
        else f"{nm}：{level}内现状幼儿园{c}所" + ("，达标" if c else "，未设幼儿园")
        for nm, p, s, c in zip(names, pop, small, count, strict=True)
    ]
    frame["problem_type"] = np.where(problem, f"{level}无幼儿园", "")
    frame["measure"] = np.where(problem, "新建或改扩建幼儿园（可依托小学附设）", "")
    cost = settings.projects.public_facility_cost_wan.get("幼儿园", np.nan)
    frame["cost_wan"] = np.where(problem, cost, np.nan)
    return make_outcomes(frame)
