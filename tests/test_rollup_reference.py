"""The built-in indicators' outcome rows equal the implementations they replaced, exactly.

``_old_*`` below are :mod:`geo.indicators.builtin`'s outcome functions and helpers,
:func:`geo.indicators.outcomes._points` and :func:`geo.rollup.rollup` as they were before
their text columns were built column by column (each distinct number formatted once, names
looked up once per distinct code, pandas strings made once) and the roll-up counted each
analysis in a frame of its own (2026-12). Old and new run on the same results: the
shipped demo county, a small synthetic province and variants of it (no problem, every
village a problem with every reason, no links, missing optional analyses); the new
roll-up equals the old one on the old outcomes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pandas.testing import assert_frame_equal

from geo.clinics import clinic_gaps
from geo.indicators import IndicatorInputs, builtin_table, evaluate
from geo.indicators import builtin as b
from geo.indicators.builtin import (
    SERVICE_MEASURE_ZH,
    WATER_MEASURE_ZH,
    _harden_road_ids,
    _km,
    _names_of,
    _nearest_of_kind,
    _num,
    _wan,
)
from geo.indicators.evaluate import no_data_outcomes
from geo.indicators.outcomes import _points, make_outcomes
from geo.indicators.table import IndicatorTable
from geo.network import build_graph
from geo.roads import hard_road_access
from geo.rollup import _COUNT_COLUMNS, Rollup, _rate, _with_problem_counts, rollup
from geo.services import service_access
from geo.settings import Settings, load_settings
from layers import Dataset
from scripts.bench_access import county_kwargs, synthetic_province

if TYPE_CHECKING:
    from geo.clinics import ClinicResult
    from geo.indicators import IndicatorResults
    from geo.roads import HardRoadResult
    from geo.services import ServiceResult
    from geo.water import WaterResult

# --- the previous implementation, kept as the reference ----------------------------------


def _old_points(geoms: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray]:
    """Lon/lat of a point on each geometry (EPSG:4326); NaN for missing or empty ones."""
    if geoms.crs is not None and geoms.crs.to_epsg() != 4326:
        geoms = geoms.to_crs(4326)
    arr = geoms.to_numpy()
    x = np.full(len(arr), np.nan)
    y = np.full(len(arr), np.nan)
    ok = ~shapely.is_missing(arr) & ~shapely.is_empty(arr)
    pts = shapely.point_on_surface(arr[ok])
    x[ok] = shapely.get_x(pts)
    y[ok] = shapely.get_y(pts)
    return x, y


def _old_people(hh: pd.Series, pop: pd.Series) -> pd.Series:
    """``（25户95人）`` per row (vectorised :func:`_num` of both)."""
    return "（" + _old_nums(hh) + "户" + _old_nums(pop) + "人）"


def _old_nums(x: pd.Series) -> pd.Series:
    v = pd.to_numeric(pd.Series(x), errors="coerce").astype(float)
    return pd.Series([f"{f:g}" for f in v.fillna(0.0)], index=v.index).where(v.notna(), "")


def _old_where_village(
    v: pd.DataFrame,
    tw_names: Mapping[str, str] | pd.Series,
    av_names: Mapping[str, str] | pd.Series,
) -> dict[str, object]:
    """Location columns of rows about natural villages (the unit is the village)."""
    tw = v["township_code"].astype(str)
    av = v["admin_village_code"].astype(str)
    return {
        "unit_kind": "natural_village",
        "unit_code": v["id"].astype(str).to_numpy(),
        "township_code": tw.to_numpy(),
        "township_name": tw.map(tw_names).fillna("").to_numpy(),
        "admin_village_code": av.to_numpy(),
        "admin_village_name": av.map(av_names).fillna("").to_numpy(),
        "village_code": v["id"].astype(str).to_numpy(),
        "village_name": v["name"].astype(str).to_numpy(),
    }


def _old_hard_road_problem_texts(
    v: pd.DataFrame, roads: Mapping[str, str], width_m: float
) -> tuple[list[str], list[str]]:
    """问题描述 and 整改措施 of the villages not joined by hard road (as the ledger has them)."""
    from geo.labels import VALUE_ZH  # geo.labels imports geo.indicators.table

    reasons = VALUE_ZH["reason"]
    harden = v["harden_km"].fillna(0.0).to_numpy(dtype=float)
    new = v["new_km"].fillna(0.0).to_numpy(dtype=float)
    cost = v["cost_wan"].to_numpy(dtype=float)
    desc, measure = [], []
    # .tolist(): the Python scalars that iterating the columns gives, without an Arrow
    # scalar per cell (7,000 problem villages on a province)
    columns = (v["id"].tolist(), v["reason"].tolist(), v["households"].tolist())
    for vid, reason, h, n, c, hh, pop in zip(
        *columns[:2], harden, new, cost, columns[2], v["population"].tolist(), strict=True
    ):
        need = []
        if h > 0:
            need.append(f"需硬化 {_km(h)} 公里")
        if n > 0:
            need.append(f"需新建 {_km(n)} 公里")
        if np.isfinite(c):
            need.append(f"估算 {_wan(c)} 万元")
        desc.append(
            "，".join([reasons.get(reason, reason), *need]) + f"（{_num(hh)}户{_num(pop)}人）"
        )
        steps = []
        if h > 0:
            ids = roads.get(vid, "")
            where = f"（道路 {ids}）" if ids else ""
            if reason == "unverified_surface":
                steps.append(f"实地核实 {_km(h)} 公里路面类型{where}，如为砂石/土路则硬化")
            else:
                steps.append(f"硬化现有砂石/土路 {_km(h)} 公里{where}")
        if n > 0:
            gap = "打通断头路" if reason == "network_gap" else "接入干线路网"
            steps.append(f"新建硬化连接线 {_km(n)} 公里，{gap}")
        steps.append(f"路面宽度不低于 {width_m:g} 米")
        measure.append("；".join(steps))
    return desc, measure


def _old_hard_road_outcomes(inp: IndicatorInputs) -> pd.DataFrame:
    """Outcome rows of 20户以上自然村通硬化路: one per natural village.

    ``value`` is the missing link (公里: to harden + to build; 0 for connected villages,
    NaN for exempt ones); problem rows carry the costed description and measure.
    """
    from geo.labels import VALUE_ZH

    r = inp.hard_road
    if r is None:
        return no_data_outcomes(
            inp.dataset, code="hard_road", unit_kind="natural_village", reason_zh="未计算通硬化路"
        )
    v = r.villages
    av_names, tw_names = _names_of(inp)
    scope = v["scope"].astype(str)
    connected = v["connected"].astype(bool)
    problem = ((scope == "target") & ~connected).to_numpy()
    ok = ((scope == "target") & connected).to_numpy()
    status = np.select([problem, ok], ["problem", "ok"], "exempt")
    width_ok = v["width_ok"].fillna(True).astype(bool).to_numpy()
    reason = v["reason"].fillna("").astype(str)
    people = _old_people(v["households"], v["population"]).to_numpy()
    labels = VALUE_ZH["reason"]
    scope_zh = scope.map(VALUE_ZH["scope"]).fillna(scope).to_numpy()
    reason_zh = reason.map(labels).fillna(reason).to_numpy()
    width = inp.settings.hard_road.lane_width_min_m
    desc = np.where(
        ok,
        np.where(width_ok, "已通硬化路", f"已通硬化路，路面宽度不足 {width:g} 米") + people,
        np.where(reason_zh != "", scope_zh + "：" + reason_zh, scope_zh) + people,
    ).astype(object)
    measure = np.full(len(v), "", dtype=object)
    cost = np.full(len(v), np.nan)
    if problem.any():
        links = r.links
        roads = _harden_road_ids(links) if len(links) else {}
        d, m = _old_hard_road_problem_texts(pd.DataFrame(v.loc[problem]), roads, width)
        desc[problem], measure[problem] = d, m
        cost[problem] = v["cost_wan"].to_numpy(dtype=float)[problem]
    link_km = v["harden_km"].fillna(0.0).to_numpy(dtype=float) + v["new_km"].fillna(0.0).to_numpy(
        dtype=float
    )
    cause = np.select(
        [problem, ok & ~width_ok, ok],
        [reason.to_numpy(), "narrow", ""],
        np.where(reason != "", reason, scope).astype(object),
    )
    lon, lat = _old_points(v.geometry)
    return make_outcomes(
        pd.DataFrame(
            {
                "key": ("hard_road:" + v["id"].astype(str)).to_numpy(),
                "indicator": "hard_road",
                **_old_where_village(v, tw_names, av_names),
                "problem_type": np.where(problem, "未通硬化路", ""),
                "description": desc,
                "measure": measure,
                "cause": cause,
                "households": v["households"].to_numpy(),
                "population": v["population"].to_numpy(),
                "cost_wan": cost,
                "lon": lon,
                "lat": lat,
                "status": status,
                "value": np.where(status == "exempt", np.nan, np.where(ok, 0.0, link_km)),
                "limit": 0.0,
                "value_unit": "公里",
            }
        )
    )


def _old_service_outcomes(inp: IndicatorInputs) -> pd.DataFrame:
    """Outcome rows of 一刻钟便民生活服务圈: one per relocation site and required kind.

    ``value`` the walking minutes to the nearest facility of the kind (inf: none
    reachable), ``limit`` the kind's limit; all rows no_data when the dataset has no
    facilities (:attr:`ServiceResult.no_data`).
    """
    svc_settings = inp.settings.services
    r = inp.services
    if r is None:
        return no_data_outcomes(
            inp.dataset, code="services", unit_kind="relocation_site", reason_zh="未计算生活圈"
        )
    u = r.units
    u = u.loc[u["unit_kind"] == "relocation_site"]
    av_names, tw_names = _names_of(inp)
    lon, lat = _old_points(u.geometry)
    u = pd.DataFrame(u.drop(columns=u.geometry.name)).assign(lon=lon, lat=lat)
    kinds = [k for k in svc_settings.required_kinds if f"{k}_ok" in u]
    if u.empty or not kinds:
        return make_outcomes([])
    near = pd.DataFrame(r.nearest.drop(columns=r.nearest.geometry.name))
    near = near.drop_duplicates(["unit_id", "kind"])
    # each kind's nearest facility per site: what ``near.set_index(["unit_id", "kind"])
    # .reindex(MultiIndex of (site, kind))`` gives, by one position lookup per kind on
    # the unit ids (no MultiIndex per kind; tested equal)
    near_kind = near["kind"].to_numpy(dtype=object)
    unit_ids = u["unit_id"].to_numpy()
    frames = []
    # the columns every kind shares, made once
    ids = u["unit_id"].astype(str)
    tw = u["township_code"].astype(str)
    av = u["admin_village_code"].astype(str)
    shared = {
        "unit_code": ids.to_numpy(),
        "township_code": tw.to_numpy(),
        "township_name": tw.map(tw_names).fillna("").to_numpy(),
        "admin_village_code": av.to_numpy(),
        "admin_village_name": av.map(av_names).fillna("").to_numpy(),
        "village_code": ids.to_numpy(),
        "village_name": u["name"].astype(str).to_numpy(),
    }
    on_network, snap_dist = u["on_network"].tolist(), u["snap_dist_m"].tolist()
    population = u["population"].tolist()
    for kind in kinds:  # a handful of kinds; each step is vectorised over the sites
        limit = svc_settings.limit_min(kind)
        fac, metres = _nearest_of_kind(near, near_kind == kind, unit_ids)
        minutes = u[f"{kind}_min"].to_numpy(dtype=float)
        ok = u[f"{kind}_ok"].astype(bool).to_numpy()
        desc = []
        for good, m, f, d, on_net, snap_m, pop in zip(
            ok,
            minutes,
            fac,
            metres,
            on_network,
            snap_dist,
            population,
            strict=True,
        ):
            km = f"约 {_km(d / 1000)} 公里，" if np.isfinite(d) else ""
            if good:
                desc.append(
                    f"步行{limit:g}分钟内有{kind}：{f or kind}{km}步行 {m:.0f} 分钟"
                    f"（安置 {_num(pop)} 人）"
                )
                continue
            head = f"步行{limit:g}分钟内无{kind}"
            if not on_net:
                tail = f"安置区未接入步行路网（距最近道路 {float(snap_m):.0f} 米）"
            elif np.isfinite(m):
                tail = f"最近的{f or kind}{km}需步行 {m:.0f} 分钟"
            else:
                tail = f"路网可达范围内没有{kind}"
            desc.append(f"{head}，{tail}（安置 {_num(pop)} 人）")
        frames.append(
            pd.DataFrame(
                {
                    "key": ("services:" + ids + f":{kind}").to_numpy(),
                    "indicator": "services",
                    "unit_kind": "relocation_site",
                    **shared,
                    "problem_type": np.where(ok, "", f"一刻钟生活圈缺{kind}"),
                    "description": desc,
                    "measure": np.where(
                        ok,
                        "",
                        f"在安置区步行{limit:g}分钟范围内"
                        + SERVICE_MEASURE_ZH.get(kind, f"布设{kind}"),
                    ),
                    "cause": np.where(ok, "", f"missing:{kind}"),
                    "population": u["population"].to_numpy(),
                    "lon": u["lon"].to_numpy(),
                    "lat": u["lat"].to_numpy(),
                    "status": np.where(ok, "ok", "problem"),
                    "value": minutes,
                    "limit": limit,
                    "value_unit": "分钟",
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    if r.no_data:  # no facility layer: nothing is known to be missing (STANDARDS §5)
        out = out.assign(
            status="no_data",
            problem_type="",
            measure="",
            cause="no_layer",
            value=np.nan,
            description="无数据：缺少便民服务设施图层（service_points）",
        )
    return make_outcomes(out)


def _old_clinic_outcomes(inp: IndicatorInputs) -> pd.DataFrame:
    """Outcome rows of 乡村两级医疗卫生机构和人员空白点: every township and admin village.

    Townships: ``value`` the number of 卫生院 (limit 1). Admin villages: ``value`` the
    qualified doctors of its 卫生室 (``limit`` the doctors required).
    """
    r = inp.clinics
    if r is None:
        return no_data_outcomes(
            inp.dataset, code="clinics", unit_kind="admin_village", reason_zh="未计算医疗空白点"
        )
    _, tw_names = _names_of(inp)
    av = r.admin_villages
    blank = av["blank"].astype(bool).to_numpy()
    st = av["status"].astype(str).to_numpy()
    names = av["name"].astype(str)
    pop = _old_nums(av["population"]).to_numpy()
    need = np.maximum(pd.to_numeric(av["doctors_required"]).fillna(0).astype(int), 1).to_numpy()
    doctors = pd.to_numeric(av["doctors"], errors="coerce").fillna(0).astype(int).to_numpy()
    n_clinics = pd.to_numeric(av["n_clinics"], errors="coerce").fillna(0).astype(int).to_numpy()
    names_a = names.to_numpy().astype(object)
    need_s = need.astype(str).astype(object)
    served = av["served_by"].fillna("").astype(str).to_numpy().astype(object)
    no_clinic, no_doctor = st == "no_clinic", blank & (st != "no_clinic")
    exempt = ~blank & np.isin(st, ["exempt_host", "exempt_shared"])
    short = st == "short_of_doctors"
    desc = np.select(
        [no_clinic, no_doctor, st == "exempt_host", st == "exempt_shared", short],
        [
            names_a + "无村卫生室，也无邻村联合设置（常住 " + pop + " 人）",
            names_a + "卫生室无合格村医，应配 " + need_s + " 人（常住 " + pop + " 人）",
            names_a + "为乡镇卫生院所在村，不单设村卫生室",
            names_a + "与邻村联合设置卫生室（" + served + "）",
            names_a
            + "有村卫生室 "
            + n_clinics.astype(str).astype(object)
            + " 处，合格村医 "
            + doctors.astype(str).astype(object)
            + " 人，少于应配 "
            + need_s
            + " 人（常住 "
            + pop
            + " 人）",
        ],
        names_a
        + "有村卫生室 "
        + n_clinics.astype(str).astype(object)
        + " 处，合格村医 "
        + doctors.astype(str).astype(object)
        + " 人（常住 "
        + pop
        + " 人）",
    )
    measure = np.select(
        [no_clinic, no_doctor],
        [
            "建设村卫生室并配备至少 " + need_s + " 名合格村医，或与邻村联合设置（签订协议并备案）",
            "配备至少 "
            + need_s
            + " 名合格村医（乡村医生或执业（助理）医师），可由乡镇卫生院派驻或定期巡诊过渡",
        ],
        "",
    )
    lon, lat = _old_points(av.geometry)
    code = av["code"].astype(str)
    twc = av["township_code"].astype(str)
    villages = pd.DataFrame(
        {
            "key": ("clinics:admin_village:" + code).to_numpy(),
            "indicator": "clinics",
            "unit_kind": "admin_village",
            "unit_code": code.to_numpy(),
            "township_code": twc.to_numpy(),
            "township_name": twc.map(tw_names).fillna("").to_numpy(),
            "admin_village_code": code.to_numpy(),
            "admin_village_name": names.to_numpy(),
            "problem_type": np.select([no_clinic, no_doctor], ["村卫生室空白", "村医空白"], ""),
            "description": desc,
            "measure": measure,
            "cause": st,
            "population": av["population"].to_numpy(),
            "lon": lon,
            "lat": lat,
            "status": np.select([blank, exempt], ["problem", "exempt"], "ok"),
            "value": doctors.astype(float),
            "limit": need.astype(float),
            "value_unit": "人",
        }
    )
    tw = r.townships
    tblank = tw["blank"].astype(bool).to_numpy()
    tnames = tw["name"].astype(str)
    n_hc = pd.to_numeric(tw["n_health_centres"], errors="coerce").fillna(0).astype(int)
    lon, lat = _old_points(tw.geometry)
    tcode = tw["code"].astype(str)
    townships = pd.DataFrame(
        {
            "key": ("clinics:township:" + tcode).to_numpy(),
            "indicator": "clinics",
            "unit_kind": "township",
            "unit_code": tcode.to_numpy(),
            "township_code": tcode.to_numpy(),
            "township_name": tnames.to_numpy(),
            "problem_type": np.where(tblank, "乡镇卫生院空白", ""),
            "description": np.where(
                tblank,
                (tnames + "无乡镇卫生院").to_numpy(),
                (tnames + "有乡镇卫生院 " + n_hc.astype(str) + " 处").to_numpy(),
            ),
            "measure": np.where(
                tblank,
                "设置乡镇卫生院并配备执业（助理）医师，或经批准由邻近乡镇卫生院托管",
                "",
            ),
            "cause": np.where(tblank, "no_health_centre", "ok"),
            "lon": lon,
            "lat": lat,
            "status": np.where(tblank, "problem", "ok"),
            "value": n_hc.astype(float).to_numpy(),
            "limit": 1.0,
            "value_unit": "个",
        }
    )
    return make_outcomes(pd.concat([townships, villages], ignore_index=True))


def _old_water_result_outcomes(
    result: WaterResult, *, av_names: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Outcome rows of 农村供水 from a water coverage result: one per natural village.

    ``value`` the day's minimum pressure (米), ``limit`` the head the village needs;
    ``x_weight`` the rural population counted by the tap rate (0 for ``unlinked``
    villages) and ``x_served`` the part of it on a connected network (the county value
    is ``100 · Σ x_served / Σ x_weight``, :func:`geo.water.water_rollup`'s tap rate).

    Parameters
    ----------
    result : geo.water.WaterResult
        Coverage from :func:`geo.water.water_coverage`.
    av_names : mapping, optional
        Admin-village code → name (default: the result's own roll-up names).
    """
    from geo.water import REASONS_ZH

    v = result.villages
    tw_names = dict(
        zip(result.rollup_townships["code"], result.rollup_townships["name"], strict=True)
    )
    av_names = av_names or dict(
        zip(result.rollup_admin_villages["code"], result.rollup_admin_villages["name"], strict=True)
    )
    status = v["status"].astype(str).to_numpy()
    problem = np.isin(status, list(WATER_MEASURE_ZH))
    desc, measure, kind = [], [], []
    for st, p_min, need, lpcd, pop in zip(
        status,
        v["min_pressure_m"],
        v["required_head_m"],
        v["supply_lpcd"],
        v["population"],
        strict=True,
    ):
        if st not in WATER_MEASURE_ZH:
            kind.append("")
            measure.append("")
            if st == "ok":
                desc.append(
                    f"自来水入户，日最低水压 {_num(round(p_min, 1))} 米（所需 {_num(need)} 米），"
                    f"人均供水 {_num(round(lpcd, 1))} 升/日（{_num(pop)}人）"
                )
            else:
                desc.append(f"{REASONS_ZH.get(st, st)}（无数据）")
            continue
        label, fix = REASONS_ZH[st], WATER_MEASURE_ZH[st]
        kind.append(label)
        if st == "low_pressure":
            desc.append(
                f"日最低水压 {_num(round(p_min, 1))} 米，低于所需 {_num(need)} 米（{_num(pop)}人）"
            )
        elif st == "capacity_short":
            desc.append(f"人均供水 {_num(round(lpcd, 1))} 升/日（{_num(pop)}人）")
        else:
            desc.append(f"{label}（{_num(pop)}人）")
        measure.append(fix)
    lon, lat = _old_points(v.geometry)
    pop = pd.to_numeric(v["population"], errors="coerce").fillna(0.0).to_numpy()
    served = v["on_network"].astype(bool).to_numpy() & (status != "disconnected")
    known = status != "unlinked"
    return make_outcomes(
        pd.DataFrame(
            {
                "key": ("water:" + v["id"].astype(str)).to_numpy(),
                "indicator": "water",
                **_old_where_village(v, tw_names, av_names),
                "problem_type": kind,
                "description": desc,
                "measure": measure,
                "cause": status,
                "households": v["households"].to_numpy(),
                "population": v["population"].to_numpy(),
                "lon": lon,
                "lat": lat,
                "status": np.select([problem, status == "ok"], ["problem", "ok"], "no_data"),
                "value": pd.to_numeric(v["min_pressure_m"], errors="coerce").to_numpy(),
                "limit": pd.to_numeric(v["required_head_m"], errors="coerce").to_numpy(),
                "value_unit": "米",
                "x_weight": np.where(known, pop, 0.0),
                "x_served": np.where(served, pop, 0.0),
            }
        )
    )


def _old_rollup(
    dataset: Dataset,
    settings: Settings,
    *,
    hard_road: HardRoadResult | None = None,
    services: ServiceResult | None = None,
    clinics: ClinicResult | None = None,
    water: WaterResult | None = None,
    indicators: IndicatorResults | None = None,
) -> Rollup:
    """Aggregate analysis results per admin village, township and county.

    Parameters
    ----------
    dataset : Dataset
        Needs ``admin_villages`` and ``townships``.
    settings : Settings
        Targets and thresholds (printed with the indicators).
    hard_road, services, clinics : results, optional
        Outputs of :func:`geo.roads.hard_road_access`, :func:`geo.services.service_access`
        and :func:`geo.clinics.clinic_gaps` (the ``hr_*``, ``sv_*``, ``cl_*`` counts).
    water : WaterResult, optional
        The water coverage (:func:`geo.water.water_coverage`).
    indicators : IndicatorResults, optional
        The evaluated indicator table (:func:`geo.indicators.evaluate`): the problem
        counts and the county rows. Default: the built-in indicators of the results
        given (those not given are left out).

    Returns
    -------
    Rollup
    """
    if indicators is None:
        given = {"hard_road": hard_road, "services": services, "clinics": clinics, "water": water}
        table = builtin_table()
        table = table.without(*(c for c in table.codes if given.get(c) is None))
        inp = IndicatorInputs(
            dataset, None, settings, hard_road=hard_road, services=services, clinics=clinics,
            water=water,
        )  # fmt: skip
        indicators = evaluate(table, inp)
    admin = dataset["admin_villages"]
    codes_av = admin["code"].to_numpy()
    index = pd.DataFrame({"code": codes_av}).set_index("code").index
    # the counts as arrays, the frame built once (not a column at a time)
    counts = {c: np.zeros(len(index)) for c in _COUNT_COLUMNS}

    def update(g: pd.DataFrame) -> None:
        """``DataFrame.update``: the sums where a unit has them, the zeros elsewhere."""
        g = g.astype(float).reindex(index)
        for c in g.columns:
            vals = g[c].to_numpy(dtype=float)
            has = ~np.isnan(vals)
            counts[c][has] = vals[has]

    if hard_road is not None:
        v = pd.DataFrame(hard_road.villages.drop(columns="geometry"))
        target = v["scope"] == "target"
        bad = target & ~v["connected"]
        g = (
            v.assign(
                hr_target=target,
                hr_connected=target & v["connected"],
                hr_not_connected=bad,
                hr_households_not_connected=np.where(bad, v["households"], 0),
                hr_population_not_connected=np.where(bad, v["population"], 0),
                hr_below_threshold=v["scope"] == "below_threshold",
                hr_excluded=v["scope"] == "excluded",
                hr_narrow=target & v["connected"] & ~v["width_ok"],
                hr_harden_km=np.where(bad, v["harden_km"], 0.0),
                hr_new_km=np.where(bad, v["new_km"].fillna(0.0), 0.0),
                hr_cost_wan=np.where(bad, v["cost_wan"].fillna(0.0), 0.0),
            )
            .groupby("admin_village_code")[[c for c in _COUNT_COLUMNS if c.startswith("hr_")]]
            .sum()
        )
        update(g)
    if services is not None and not services.no_data:
        u = pd.DataFrame(services.units.drop(columns="geometry"))
        u = u.loc[u["unit_kind"] == "relocation_site"]
        g = (
            u.assign(
                sv_sites=1,
                sv_ok=u["ok"],
                sv_not_ok=~u["ok"],
                sv_population_not_ok=np.where(~u["ok"], u["population"], 0),
            )
            .groupby("admin_village_code")[
                ["sv_sites", "sv_ok", "sv_not_ok", "sv_population_not_ok"]
            ]
            .sum()
        )
        update(g)
    cl_status = np.full(len(index), "", dtype=object)
    if clinics is not None:
        a = clinics.admin_villages.set_index("code")
        cl_status = a["status"].reindex(index).fillna("").to_numpy(dtype=object)
        counts["cl_blank_admin_villages"] = (
            a["blank"].reindex(index).fillna(False).astype(float).to_numpy()
        )
        counts["cl_short_of_doctors"] = (
            (a["status"] == "short_of_doctors").reindex(index).fillna(False).astype(float)
        ).to_numpy()
        vv = pd.DataFrame(clinics.villages.drop(columns="geometry"))
        g = (
            vv.assign(
                cl_population_clinic_beyond=np.where(~vv["clinic_ok"], vv["population"], 0),
                cl_population_centre_beyond=np.where(~vv["health_centre_ok"], vv["population"], 0),
            )
            .groupby("admin_village_code")[
                ["cl_population_clinic_beyond", "cl_population_centre_beyond"]
            ]
            .sum()
        )
        update(g)
    av = pd.DataFrame(
        {
            "code": codes_av,
            "name": admin["name"].to_numpy(),
            "township_code": admin["township_code"].to_numpy(),
            **counts,
            "cl_status": cl_status,
        }
    ).set_index("code")

    av["hr_rate_pct"] = _rate(av["hr_connected"], av["hr_target"])
    av["sv_rate_pct"] = _rate(av["sv_ok"], av["sv_sites"])

    townships = dataset["townships"]
    sums = av.groupby("township_code")[_COUNT_COLUMNS].sum()
    tw = pd.DataFrame(
        {"code": townships["code"].to_numpy(), "name": townships["name"].to_numpy()}
    ).set_index("code")
    tw = tw.join(sums).fillna(0.0)
    tw["cl_township_blank"] = 0.0
    if clinics is not None:
        blank_tw = clinics.townships.set_index("code")["blank"]
        tw["cl_township_blank"] = blank_tw.reindex(tw.index).fillna(False).astype(float)
    tw["hr_rate_pct"] = _rate(tw["hr_connected"], tw["hr_target"])
    tw["sv_rate_pct"] = _rate(tw["sv_ok"], tw["sv_sites"])

    # problems: the problem rows of every indicator's outcomes (= the ledger's items)
    problems = indicators.problems
    av, tw = (
        _with_problem_counts(frame, problems, by, indicators.table.codes)
        for frame, by in ((av, "admin_village_code"), (tw, "township_code"))
    )
    tw = tw.sort_values(["problems", "hr_not_connected"], ascending=False)
    county = indicators.county.copy()
    # every problem row once, also those of units in no township (a water works outside)
    per_code = indicators.outcomes.loc[indicators.outcomes["status"] == "problem", "indicator"]
    county["problems"] = county["code"].map(per_code.value_counts()).fillna(0).astype(float)
    return Rollup(admin_villages=av.reset_index(), townships=tw.reset_index(), county=county)


# --- the comparisons ---------------------------------------------------------------------

_OLD = {
    "hard_road": _old_hard_road_outcomes,
    "services": _old_service_outcomes,
    "clinics": _old_clinic_outcomes,
}


def _old_table() -> IndicatorTable:
    return IndicatorTable(
        dataclasses.replace(i, outcomes=_OLD[i.code]) if i.code in _OLD else i
        for i in builtin_table()
    )


def _assert_outcomes_equal(inp: IndicatorInputs) -> None:
    for new, old in (
        (b.hard_road_outcomes, _old_hard_road_outcomes),
        (b.service_outcomes, _old_service_outcomes),
        (b.clinic_outcomes, _old_clinic_outcomes),
    ):
        assert_frame_equal(new(inp), old(inp), check_exact=True)


def _assert_rollups_equal(dataset: Dataset, settings: Settings, **results) -> None:
    """:func:`rollup` equals the old roll-up of the old outcomes (its own table)."""
    given = {k: v for k, v in results.items() if v is not None}
    table = _old_table()
    table = table.without(*(c for c in table.codes if c not in given))
    inp = IndicatorInputs(dataset, None, settings, **given)
    old = _old_rollup(dataset, settings, **given, indicators=evaluate(table, inp))
    new = rollup(dataset, settings, **given)
    for field in ("admin_villages", "townships", "county"):
        assert_frame_equal(getattr(new, field), getattr(old, field), check_exact=True)


@pytest.fixture(scope="module")
def province() -> tuple[Dataset, Settings, object, object, object]:
    dataset = Dataset.from_frames(synthetic_province(**county_kwargs(1200)), name="province")
    settings = load_settings()
    graph = build_graph(dataset["roads"])
    hard = hard_road_access(dataset, graph, settings)
    services = service_access(dataset, graph, settings)
    clinics = clinic_gaps(dataset, graph, settings)
    return dataset, settings, hard, services, clinics


def test_demo_outcomes_equal_the_previous_implementation(demo_dataset, demo_assessment):
    a = demo_assessment
    inp = IndicatorInputs(
        demo_dataset, None, a.settings, hard_road=a.hard_road, services=a.services,
        clinics=a.clinics,
    )  # fmt: skip
    _assert_outcomes_equal(inp)
    _assert_rollups_equal(
        demo_dataset, a.settings, hard_road=a.hard_road, services=a.services, clinics=a.clinics
    )


def test_demo_water_outcomes_equal_the_previous_implementation(demo_assessment):
    water = demo_assessment.water
    if water is None or water.result is None:
        pytest.skip("the demo county has no water result")
    assert_frame_equal(
        b.water_result_outcomes(water.result), _old_water_result_outcomes(water.result),
        check_exact=True,
    )  # fmt: skip
    names = {"640000": "x"}
    assert_frame_equal(
        b.water_result_outcomes(water.result, av_names=names),
        _old_water_result_outcomes(water.result, av_names=names),
        check_exact=True,
    )


def test_province_outcomes_equal_the_previous_implementation(province):
    dataset, settings, hard, services, clinics = province
    assert (hard.villages["scope"] == "target").any() and (~hard.villages["connected"]).any()
    inp = IndicatorInputs(
        dataset, None, settings, hard_road=hard, services=services, clinics=clinics
    )
    _assert_outcomes_equal(inp)
    _assert_rollups_equal(dataset, settings, hard_road=hard, services=services, clinics=clinics)


def test_missing_analyses_roll_up_as_before(province):
    dataset, settings, hard, services, clinics = province
    _assert_rollups_equal(dataset, settings)
    _assert_rollups_equal(dataset, settings, hard_road=hard)
    _assert_rollups_equal(dataset, settings, services=services)
    _assert_rollups_equal(dataset, settings, clinics=clinics)
    inp = IndicatorInputs(dataset, None, settings)
    _assert_outcomes_equal(inp)  # every one no_data


def _every_village_a_problem(hard):
    v = hard.villages.copy()
    n = len(v)
    reasons = ["no_road", "only_unpaved", "unverified_surface", "network_gap", "odd_reason", ""]
    v["scope"] = "target"
    v["connected"] = False
    v["reason"] = [reasons[i % len(reasons)] for i in range(n)]
    k = np.arange(n)
    v["harden_km"] = np.where(k % 3 == 0, 0.0, np.where(k % 3 == 1, -0.0, 0.004 * k))
    v.loc[k % 7 == 0, "harden_km"] = np.nan
    v["new_km"] = np.where(k % 4 == 0, 12.345 + k, np.where(k % 5 == 0, np.nan, 0.5))
    v["cost_wan"] = np.where(k % 6 == 0, np.nan, np.where(k % 2 == 0, 3.25, 1234.5 + k))
    v["households"] = np.where(k % 9 == 0, np.nan, v["households"].astype(float))
    v["population"] = np.where(k % 11 == 0, -0.0, v["population"].astype(float))
    return dataclasses.replace(hard, villages=v)


def test_edge_cases_equal_the_previous_implementation(province):
    dataset, settings, hard, services, clinics = province
    all_ok = hard.villages.assign(scope="target", connected=True)
    all_ok.loc[all_ok.index[::3], "width_ok"] = False
    variants = [
        dataclasses.replace(hard, villages=all_ok),  # no problem at all
        _every_village_a_problem(hard),
        dataclasses.replace(_every_village_a_problem(hard), links=hard.links.iloc[:0]),
        dataclasses.replace(hard, villages=hard.villages.iloc[:0]),
    ]
    svc_variants = [
        dataclasses.replace(services, no_data=True),
        dataclasses.replace(services, nearest=services.nearest.iloc[:0]),
        dataclasses.replace(services, units=services.units.assign(on_network=False)),
    ]
    for h in variants:
        inp = IndicatorInputs(dataset, None, settings, hard_road=h, services=services)
        assert_frame_equal(
            b.hard_road_outcomes(inp), _old_hard_road_outcomes(inp), check_exact=True
        )
        if len(h.villages):
            _assert_rollups_equal(dataset, settings, hard_road=h, clinics=clinics)
    for s in svc_variants:
        inp = IndicatorInputs(dataset, None, settings, services=s)
        assert_frame_equal(b.service_outcomes(inp), _old_service_outcomes(inp), check_exact=True)
        _assert_rollups_equal(dataset, settings, services=s)


@pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")  # the old fillna
def test_names_from_a_dataset_without_admin_layers(province):
    dataset, settings, hard, services, _ = province
    frames = {k: f for k, f in dataset.layers.items() if k not in {"admin_villages", "townships"}}
    other = Dataset.from_frames(frames, name="no admin")
    inp = IndicatorInputs(other, None, settings, hard_road=hard, services=services)
    assert_frame_equal(b.hard_road_outcomes(inp), _old_hard_road_outcomes(inp), check_exact=True)
    assert_frame_equal(b.service_outcomes(inp), _old_service_outcomes(inp), check_exact=True)


def test_number_texts_equal_the_previous_ones():
    values = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e6, 1234567.0, 0.1, 25, 95.5, -3.0, 1e-7]
    for x in (
        pd.Series(values),
        pd.Series([1, 2, 3, 2, 1], index=[5, 4, 3, 2, 1]),
        pd.Series(["25", "abc", None, "1e3"], dtype=object),
        pd.Series([], dtype=float),
        pd.Series([np.nan, np.nan]),
    ):
        assert b._num_texts(x).tolist() == _old_nums(x).tolist()
        assert b._people(x, x[::-1].set_axis(x.index)).tolist() == (
            _old_people(x, x[::-1].set_axis(x.index)).tolist()
        )
    km = np.array([0.0, -0.0, 0.004, 0.5, 0.999, 1.0, 12.345, np.inf])
    assert b._distinct_texts(km, _km).tolist() == [_km(x) for x in km]
    assert b._distinct_texts(km, _wan).tolist() == [_wan(x) for x in km]


@pytest.mark.filterwarnings("ignore::pandas.errors.Pandas4Warning")  # the old fillna
def test_mapped_names_equal_series_map():
    names = pd.Series(["甲", "乙", np.nan], index=["a", "b", "c"])
    for codes in (
        pd.Series(["a", "b", "x", None, "c", "a"], dtype="str"),
        pd.Series(["a", np.nan, "b"], dtype=object),
        pd.Series([], dtype="str"),
    ):
        for mapper in (names, names.to_dict(), {}, pd.Series(dtype=str)):
            want = codes.map(mapper).fillna("").to_numpy()
            assert b._mapped(codes, mapper).tolist() == list(want)


def test_points_equal_the_previous_implementation():
    geoms = [
        shapely.Point(106.1, 37.2),
        shapely.Point(),
        None,
        shapely.box(106, 37, 106.2, 37.1),
        shapely.MultiPoint([(106, 37), (106.3, 37.4), (106.1, 37.2)]),
        shapely.Point(106.2, 37.3, 1200.0),
        shapely.LineString([(106, 37), (106.4, 37.1)]),
        shapely.Point(106.0, 36.9),
    ]
    for crs in (4326, 4544):
        s = gpd.GeoSeries(geoms, crs=4326).to_crs(crs)
        for sub in (s, s.iloc[[0, 7]], s.iloc[[3]], s.iloc[:0], s.iloc[[1, 2]]):
            new, old = _points(sub), _old_points(sub)
            np.testing.assert_array_equal(new[0], old[0])
            np.testing.assert_array_equal(new[1], old[1])


def test_clinic_edge_cases_equal_the_previous_implementation(province):
    dataset, settings, _, _, clinics = province
    av, tw = clinics.admin_villages, clinics.townships
    variants = [
        dataclasses.replace(clinics, townships=tw.assign(blank=True)),
        dataclasses.replace(clinics, townships=tw.assign(blank=False, name=None)),
        dataclasses.replace(clinics, townships=tw.iloc[:0]),
        dataclasses.replace(clinics, admin_villages=av.iloc[:0]),
        dataclasses.replace(clinics, admin_villages=av.assign(population=np.nan)),
        dataclasses.replace(clinics, admin_villages=av.assign(status="exempt_shared", blank=False)),
    ]
    for c in variants:
        inp = IndicatorInputs(dataset, None, settings, clinics=c)
        assert_frame_equal(b.clinic_outcomes(inp), _old_clinic_outcomes(inp), check_exact=True)
        _assert_rollups_equal(dataset, settings, clinics=c)
