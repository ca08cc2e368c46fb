"""问题清单: one problem item per failing unit of an :class:`~geo.assessment.Assessment`.

:func:`problem_items` is a pure function: an assessment in, a frame out (one row per
problem, columns :data:`ITEM_COLUMNS`). Each item has a **stable key**, indicator + unit
code, so that the same problem in the next analysis run is the same ledger item:

``hard_road:<natural village id>``
    A 20户以上 natural village (具备条件) not joined by hard road. The reason
    (``only_unpaved``/``network_gap``/``no_road``) may change between runs; the item stays.
``services:<relocation site id>:<kind>``
    A relocation site lacks one required kind (综合超市/便利菜店/药店/公交站点) within the
    walking limit: **one item per missing kind**, because each kind has its own measure,
    responsible unit and acceptance (the pharmacy may be 销号 while the bus stop is still
    整改中).
``clinics:admin_village:<admin village code>``
    A blank admin village: no 卫生室, or a 卫生室 without a doctor (one item: the blank spot).
``clinics:township:<township code>``
    A township without a 卫生院.
``water:<natural village id>``
    A natural village whose water status is not ``ok`` (nor ``unlinked``, 无数据), from
    the assessment's water analysis (:attr:`Assessment.water`): :func:`water_items`.

What is *not* an item, as in :func:`geo.rollup.rollup` (whose ``problems`` counts the same
units): villages below 20 households or excluded (搬迁撤并), width shortfalls on connected
villages, admin villages short of doctors but not blank, travel-time overruns, and
natural villages assessed for services with ``include_villages`` (the 生活圈 target is set
for relocation sites).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.ledger.states import LedgerError
from geo.report import VALUE_ZH
from layers.store.ledger import ITEM_COLUMNS as STORED_ITEM_COLUMNS

if TYPE_CHECKING:
    from geo.assessment import Assessment
    from geo.water import WaterResult

__all__ = [
    "INDICATOR_ZH",
    "ITEM_COLUMNS",
    "ITEM_COLUMNS_ZH",
    "check_items",
    "make_items",
    "problem_items",
    "water_items",
]

ITEM_COLUMNS: tuple[str, ...] = STORED_ITEM_COLUMNS  # the ledger stores exactly these
"""Columns of a problem-item frame.

``key`` stable item key; ``indicator`` (``hard_road``/``services``/``clinics``/``water``);
``unit_kind`` (``natural_village``/``relocation_site``/``admin_village``/``township``);
``unit_code`` the unit's id or code; township / admin village / natural village (or
relocation site) codes and names, empty where the unit is above that level;
``problem_type`` 问题类型 and ``description`` 问题描述 (Chinese, with the numbers);
``measure`` the suggested 整改措施; ``cause`` the analysis reason code (``only_unpaved``,
``no_clinic`` …); ``households``, ``population`` affected and ``cost_wan`` estimated
investment (万元), NaN where not known; ``lon``/``lat`` a point on the unit (EPSG:4326).
"""

ITEM_COLUMNS_ZH: Mapping[str, str] = {
    "key": "问题编号",
    "indicator": "指标",
    "unit_kind": "单元类型",
    "unit_code": "单元编号",
    "township_code": "乡镇代码",
    "township_name": "乡镇",
    "admin_village_code": "行政村代码",
    "admin_village_name": "行政村",
    "village_code": "自然村编号",
    "village_name": "自然村",
    "problem_type": "问题类型",
    "description": "问题描述",
    "measure": "整改措施",
    "cause": "原因",
    "households": "户数",
    "population": "人口",
    "cost_wan": "估算投资(万元)",
    "lon": "经度",
    "lat": "纬度",
}
"""Chinese headers of :data:`ITEM_COLUMNS`."""

INDICATOR_ZH: Mapping[str, str] = {
    "hard_road": "20户以上自然村通硬化路",
    "services": "一刻钟便民生活服务圈",
    "clinics": "乡村两级医疗卫生机构和人员空白点",
    "water": "农村供水",
}
"""Chinese name of each indicator."""

_TEXT = [c for c in ITEM_COLUMNS if c not in {"households", "population", "cost_wan", "lon", "lat"}]
_NUMBERS = ["households", "population", "cost_wan", "lon", "lat"]

_SERVICE_MEASURE = {
    "综合超市": "引进或新建综合超市（连锁便民超市网点）",
    "便利菜店": "设置便利菜店或生鲜菜品销售点",
    "药店": "设置社区药店，或在村卫生室设药品零售点",
    "公交站点": "增设公交站点，或调整公交线路经停安置区",
    "电商网店": "设置电商服务网点",
    "物流配送站点": "设置物流配送（快递）站点",
}


def _km(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if x < 1 else f"{x:.1f}"


def _wan(x: float) -> str:
    return f"{x:.1f}" if x < 10 else f"{x:.0f}"


def _num(x: Any) -> str:
    return "" if x is None or pd.isna(x) else f"{float(x):g}"


def _points(geoms: gpd.GeoSeries | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Lon/lat of a point on each geometry (EPSG:4326); NaN for missing geometries."""
    if geoms is None:
        return np.full(n, np.nan), np.full(n, np.nan)
    if geoms.crs is not None and geoms.crs.to_epsg() != 4326:
        geoms = geoms.to_crs(4326)
    arr = geoms.to_numpy()
    pts = np.full(len(arr), None, dtype=object)
    ok = ~shapely.is_missing(arr) & ~shapely.is_empty(arr)
    pts[ok] = shapely.point_on_surface(arr[ok])
    x = np.full(len(arr), np.nan)
    y = np.full(len(arr), np.nan)
    x[ok] = shapely.get_x(pts[ok])
    y[ok] = shapely.get_y(pts[ok])
    return x, y


def make_items(rows: pd.DataFrame | Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Return a problem-item frame with exactly :data:`ITEM_COLUMNS` and normalised types.

    Missing text columns become ``""``, missing numbers NaN. Use it to build items for an
    indicator that :func:`problem_items` does not know yet, then pass the
    frame through ``problem_items(..., extra=[frame])``.

    Raises
    ------
    LedgerError
        If keys are empty or repeated (see :func:`check_items`).
    """
    frame = pd.DataFrame(rows) if not isinstance(rows, pd.DataFrame) else rows
    out = pd.DataFrame(index=range(len(frame)))
    for col in _TEXT:
        if col in frame:
            out[col] = frame[col].fillna("").astype(str).to_numpy()
        else:
            out[col] = ""
    for col in _NUMBERS:
        if col in frame:
            out[col] = pd.to_numeric(frame[col], errors="coerce").astype(float).to_numpy()
        else:
            out[col] = np.nan
    check_items(out)
    return out


def check_items(items: pd.DataFrame) -> None:
    """Check a problem-item frame: every column of :data:`ITEM_COLUMNS`, keys set and unique.

    Raises
    ------
    LedgerError
        With the missing columns, or the empty / repeated keys.
    """
    missing = [c for c in ITEM_COLUMNS if c not in items]
    if missing:
        raise LedgerError(
            f"problem items lack column(s) {missing}; build them with make_items()",
            zh=f"问题清单缺少列：{'、'.join(missing)}",
        )
    keys = items["key"].astype(str)
    empty = int((keys.str.strip() == "").sum())
    dup = sorted(set(keys[keys.duplicated()]))
    if empty or dup:
        raise LedgerError(
            f"problem items need a unique, non-empty key: {empty} empty, repeated: {dup[:10]}",
            zh=f"问题编号必须唯一且非空：{empty} 条为空，重复的有 {'、'.join(dup[:10])}",
        )


def _names(a: Assessment) -> tuple[pd.Series, pd.Series]:
    av = a.rollup.admin_villages.drop_duplicates("code").set_index("code")["name"].astype(str)
    tw = a.rollup.townships.drop_duplicates("code").set_index("code")["name"].astype(str)
    return av, tw


def _where_village(
    v: pd.DataFrame, tw_names: Mapping[str, str], av_names: Mapping[str, str]
) -> dict[str, object]:
    """Return the location columns of items about natural villages (unit = the village)."""
    return {
        "unit_kind": "natural_village",
        "unit_code": v["id"].astype(str),
        "township_code": v["township_code"].astype(str),
        "township_name": v["township_code"].map(tw_names).fillna(""),
        "admin_village_code": v["admin_village_code"].astype(str),
        "admin_village_name": v["admin_village_code"].map(av_names).fillna(""),
        "village_code": v["id"].astype(str),
        "village_name": v["name"].astype(str),
    }


def _hard_road_items(a: Assessment) -> pd.DataFrame:
    v = a.hard_road.villages
    v = v.loc[(v["scope"] == "target") & ~v["connected"].astype(bool)]
    av_names, tw_names = _names(a)
    links = a.hard_road.links
    roads = (
        links.loc[links["kind"] == "harden"]
        .groupby("village_id")["road_ids"]
        .agg(lambda s: "、".join(r for ids in s for r in str(ids).split(";") if r))
        if len(links)
        else pd.Series(dtype=str)
    )
    harden = v["harden_km"].fillna(0.0).to_numpy(dtype=float)
    new = v["new_km"].fillna(0.0).to_numpy(dtype=float)
    cost = v["cost_wan"].to_numpy(dtype=float)
    width = a.settings.hard_road.lane_width_min_m
    reasons = VALUE_ZH["reason"]
    desc, measure = [], []
    for vid, reason, h, n, c, hh, pop in zip(
        v["id"], v["reason"], harden, new, cost, v["households"], v["population"], strict=True
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
        steps.append(f"路面宽度不低于 {width:g} 米")
        measure.append("；".join(steps))
    lon, lat = _points(v.geometry, len(v))
    return make_items(
        {
            "key": "hard_road:" + v["id"].astype(str),
            "indicator": "hard_road",
            **_where_village(v, tw_names, av_names),
            "problem_type": "未通硬化路",
            "description": desc,
            "measure": measure,
            "cause": v["reason"].astype(str),
            "households": v["households"],
            "population": v["population"],
            "cost_wan": cost,
            "lon": lon,
            "lat": lat,
        }
    )


def _service_items(a: Assessment) -> pd.DataFrame:
    svc = a.settings.services
    u = a.services.units
    u = u.loc[(u["unit_kind"] == "relocation_site") & ~u["ok"].astype(bool)]
    av_names, tw_names = _names(a)
    lon, lat = _points(u.geometry, len(u))
    u = pd.DataFrame(u.drop(columns=u.geometry.name)).assign(lon=lon, lat=lat)
    near = a.services.nearest
    near = pd.DataFrame(near.drop(columns=near.geometry.name)).set_index(["unit_id", "kind"])
    names = near["facility_name"].astype(str)
    metres = near["distance_m"].astype(float)
    frames = []
    for kind in svc.required_kinds:
        if f"{kind}_ok" not in u:
            continue
        miss = u.loc[~u[f"{kind}_ok"].astype(bool)]
        if miss.empty:
            continue
        limit = svc.limit_min(kind)
        minutes = miss[f"{kind}_min"].to_numpy(dtype=float)
        fac = [names.get((uid, kind), "") for uid in miss["unit_id"]]
        dist = [metres.get((uid, kind), np.nan) for uid in miss["unit_id"]]
        desc = []
        for m, f, d, on_net, snap_m, pop in zip(
            minutes,
            fac,
            dist,
            miss["on_network"],
            miss["snap_dist_m"],
            miss["population"],
            strict=True,
        ):
            head = f"步行{limit:g}分钟内无{kind}"
            if not on_net:
                tail = f"安置区未接入步行路网（距最近道路 {float(snap_m):.0f} 米）"
            elif np.isfinite(m):
                km = f"约 {_km(d / 1000)} 公里，" if np.isfinite(d) else ""
                tail = f"最近的{f or kind}{km}需步行 {m:.0f} 分钟"
            else:
                tail = f"路网可达范围内没有{kind}"
            desc.append(f"{head}，{tail}（安置 {_num(pop)} 人）")
        frames.append(
            pd.DataFrame(
                {
                    "key": "services:" + miss["unit_id"].astype(str) + f":{kind}",
                    "indicator": "services",
                    "unit_kind": "relocation_site",
                    "unit_code": miss["unit_id"].astype(str),
                    "township_code": miss["township_code"].astype(str),
                    "township_name": miss["township_code"].map(tw_names).fillna(""),
                    "admin_village_code": miss["admin_village_code"].astype(str),
                    "admin_village_name": miss["admin_village_code"].map(av_names).fillna(""),
                    "village_code": miss["unit_id"].astype(str),
                    "village_name": miss["name"].astype(str),
                    "problem_type": f"一刻钟生活圈缺{kind}",
                    "description": desc,
                    "measure": f"在安置区步行{limit:g}分钟范围内"
                    + _SERVICE_MEASURE.get(kind, f"布设{kind}"),
                    "cause": f"missing:{kind}",
                    "population": miss["population"],
                    "lon": miss["lon"],
                    "lat": miss["lat"],
                }
            )
        )
    if not frames:
        return make_items([])
    return make_items(pd.concat(frames, ignore_index=True))


def _clinic_items(a: Assessment) -> pd.DataFrame:
    _, tw_names = _names(a)
    av = a.clinics.admin_villages
    av = av.loc[av["blank"].astype(bool)]
    desc, measure, kind = [], [], []
    for name, status, pop, need in zip(
        av["name"], av["status"], av["population"], av["doctors_required"], strict=True
    ):
        need = max(int(need), 1)
        if status == "no_clinic":
            kind.append("村卫生室空白")
            desc.append(f"{name}无村卫生室，也无邻村联合设置（常住 {_num(pop)} 人）")
            measure.append(
                f"建设村卫生室并配备至少 {need} 名合格村医，或与邻村联合设置（签订协议并备案）"
            )
        else:
            kind.append("村医空白")
            desc.append(f"{name}卫生室无合格村医，应配 {need} 人（常住 {_num(pop)} 人）")
            measure.append(
                f"配备至少 {need} 名合格村医（乡村医生或执业（助理）医师），"
                "可由乡镇卫生院派驻或定期巡诊过渡"
            )
    lon, lat = _points(av.geometry, len(av))
    villages = make_items(
        {
            "key": "clinics:admin_village:" + av["code"].astype(str),
            "indicator": "clinics",
            "unit_kind": "admin_village",
            "unit_code": av["code"].astype(str),
            "township_code": av["township_code"].astype(str),
            "township_name": av["township_code"].map(tw_names).fillna(""),
            "admin_village_code": av["code"].astype(str),
            "admin_village_name": av["name"].astype(str),
            "problem_type": kind,
            "description": desc,
            "measure": measure,
            "cause": av["status"].astype(str),
            "population": av["population"],
            "lon": lon,
            "lat": lat,
        }
    )
    tw = a.clinics.townships
    tw = tw.loc[tw["blank"].astype(bool)]
    lon, lat = _points(tw.geometry, len(tw))
    townships = make_items(
        {
            "key": "clinics:township:" + tw["code"].astype(str),
            "indicator": "clinics",
            "unit_kind": "township",
            "unit_code": tw["code"].astype(str),
            "township_code": tw["code"].astype(str),
            "township_name": tw["name"].astype(str),
            "problem_type": "乡镇卫生院空白",
            "description": tw["name"].astype(str) + "无乡镇卫生院",
            "measure": "设置乡镇卫生院并配备执业（助理）医师，或经批准由邻近乡镇卫生院托管",
            "cause": "no_health_centre",
            "lon": lon,
            "lat": lat,
        }
    )
    return pd.concat([townships, villages], ignore_index=True)


_BUILDERS = {
    "hard_road": _hard_road_items,
    "services": _service_items,
    "clinics": _clinic_items,
    "water": lambda a: _water_assessment_items(a),  # water_items is defined below
}


def _water_assessment_items(a: Assessment) -> pd.DataFrame:
    # problem_items calls it only when a.water is not None
    return water_items(a.water.result) if a.water.result is not None else make_items([])


def problem_items(a: Assessment, *, extra: Iterable[pd.DataFrame] = ()) -> pd.DataFrame:
    """Return one row per problem found by an assessment (the 问题清单).

    Parameters
    ----------
    a : Assessment
        Output of :func:`geo.assessment.assess`. Analyses that are ``None`` are skipped.
    extra : iterable of DataFrame, optional
        Items of other indicators, built with :func:`make_items`.

    Returns
    -------
    DataFrame
        Columns :data:`ITEM_COLUMNS`, sorted by township, admin village, indicator and
        key; ``key`` unique.

    Raises
    ------
    LedgerError
        If two items share a key (e.g. an ``extra`` frame repeats one).
    """
    frames = [build(a) for name, build in _BUILDERS.items() if getattr(a, name, None) is not None]
    frames += [make_items(f) for f in extra]
    frames = [f for f in frames if len(f)]
    if not frames:
        return make_items([])
    out = pd.concat(frames, ignore_index=True)
    order = {k: i for i, k in enumerate(INDICATOR_ZH)}
    out = (
        out.assign(_o=out["indicator"].map(order).fillna(len(order)))
        .sort_values(["township_code", "admin_village_code", "_o", "key"], kind="stable")
        .drop(columns="_o")
        .reset_index(drop=True)
    )
    check_items(out)
    return out


_WATER_MEASURE = {
    "off_network": "延伸供水管网入户，或建设集中供水点",
    "low_pressure": "加大支管管径、更换老化管道或增设加压设施",
    "capacity_short": "扩建水源或从相邻管网调水",
    "disconnected": "连通管网或为该片区配置水源",
}
"""The measure per water status; the labels are :data:`geo.water.REASONS_ZH`'s."""


def water_items(result: WaterResult, *, av_names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Problem items of the 农村供水 analysis, one per natural village that fails.

    :func:`problem_items` includes them from the assessment's water analysis. Keys are
    ``water:<village id>``.

    Parameters
    ----------
    result : geo.water.WaterResult
        Coverage from :func:`geo.water.water_coverage`.
    av_names : mapping, optional
        Admin-village code → name (from the dataset's ``admin_villages``).
    """
    from geo.water import REASONS_ZH

    v = result.villages
    v = v.loc[v["status"].isin(list(_WATER_MEASURE))]  # ok and unlinked (无数据) are no items
    tw_names = dict(
        zip(result.rollup_townships["code"], result.rollup_townships["name"], strict=True)
    )
    av_names = av_names or dict(
        zip(result.rollup_admin_villages["code"], result.rollup_admin_villages["name"], strict=True)
    )
    desc, measure, kind = [], [], []
    for status, p_min, need, lpcd, pop in zip(
        v["status"],
        v["min_pressure_m"],
        v["required_head_m"],
        v["supply_lpcd"],
        v["population"],
        strict=True,
    ):
        label, fix = REASONS_ZH[status], _WATER_MEASURE[status]
        kind.append(label)
        if status == "low_pressure":
            desc.append(
                f"日最低水压 {_num(round(p_min, 1))} 米，低于所需 {_num(need)} 米（{_num(pop)}人）"
            )
        elif status == "capacity_short":
            desc.append(f"人均供水 {_num(round(lpcd, 1))} 升/日（{_num(pop)}人）")
        else:
            desc.append(f"{label}（{_num(pop)}人）")
        measure.append(fix)
    lon, lat = _points(v.geometry, len(v))
    return make_items(
        {
            "key": "water:" + v["id"].astype(str),
            "indicator": "water",
            **_where_village(v, tw_names, av_names),
            "problem_type": kind,
            "description": desc,
            "measure": measure,
            "cause": v["status"].astype(str),
            "households": v["households"],
            "population": v["population"],
            "lon": lon,
            "lat": lat,
        }
    )
