"""The four indicators GapMap computed first, as outcome frames of their analyses' results.

Adapters from :class:`geo.roads.HardRoadResult`, :class:`geo.services.ServiceResult`,
:class:`geo.clinics.ClinicResult` and :class:`geo.water.WaterResult` to the outcome contract
(:mod:`geo.indicators.outcomes`): every unit judged, ok / exempt / no_data rows as well as
the problems. The problem rows keep the ledger keys and texts the problem list had before
the indicator table (existing 整改台账 keep matching):

``hard_road:<natural village id>``
    A 20户以上 natural village (具备条件) not joined by hard road (problem); connected
    target villages are ok, villages below 20 households or excluded (搬迁撤并, terrain)
    exempt. Width shortfalls on connected villages are not problems (cause ``narrow``).
``services:<relocation site id>:<kind>``
    One row per relocation site and required kind (综合超市/便利菜店/药店/公交站点 …):
    problem when the kind is not within its walking limit. Each missing kind is its own
    item (its own measure, unit and acceptance). Natural villages assessed with
    ``include_villages`` are not judged (the 生活圈 target is set for relocation sites).
``clinics:admin_village:<code>``, ``clinics:township:<code>``
    A blank admin village (no 卫生室, or one without a qualified doctor) or a township
    without a 卫生院 (problem); admin villages short of doctors but not blank are ok
    (cause ``short_of_doctors``); the 卫生院's own village and villages served by a
    neighbour's clinic by agreement are exempt.
``water:<natural village id>``
    A natural village whose water status is off_network / low_pressure / capacity_short /
    disconnected (problem); ``ok`` villages are ok, ``unlinked`` ones (not in the model)
    no_data; every natural village is no_data without a water network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geo.indicators.evaluate import no_data_outcomes
from geo.indicators.outcomes import make_outcomes

if TYPE_CHECKING:
    from pandas.api.extensions import ExtensionArray

    from geo.assessment import Assessment
    from geo.indicators.evaluate import IndicatorInputs
    from geo.water import WaterResult
    from layers.dataset import Dataset

__all__ = [
    "SERVICE_MEASURE_ZH",
    "WATER_MEASURE_ZH",
    "clinic_outcomes",
    "clinic_projects",
    "hard_road_outcomes",
    "hard_road_projects",
    "service_outcomes",
    "service_projects",
    "tap_rate_pct",
    "water_outcomes",
    "water_projects",
    "water_result_outcomes",
]

SERVICE_MEASURE_ZH: Mapping[str, str] = {
    "综合超市": "引进或新建综合超市（连锁便民超市网点）",
    "便利菜店": "设置便利菜店或生鲜菜品销售点",
    "药店": "设置社区药店，或在村卫生室设药品零售点",
    "公交站点": "增设公交站点，或调整公交线路经停安置区",
    "电商网店": "设置电商服务网点",
    "物流配送站点": "设置物流配送（快递）站点",
}
"""整改措施 of a missing 生活圈 facility kind (after "在安置区步行N分钟范围内")."""

WATER_MEASURE_ZH: Mapping[str, str] = {
    "off_network": "延伸供水管网入户，或建设集中供水点",
    "low_pressure": "加大支管管径、更换老化管道或增设加压设施",
    "capacity_short": "扩建水源或从相邻管网调水",
    "disconnected": "连通管网或为该片区配置水源",
}
"""The measure per water status (problem statuses); labels are :data:`geo.water.REASONS_ZH`."""


def _km(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if x < 1 else f"{x:.1f}"


def _wan(x: float) -> str:
    return f"{x:.1f}" if x < 10 else f"{x:.0f}"


def _num(x: Any) -> str:
    return "" if x is None or pd.isna(x) else f"{float(x):g}"


def _people(hh: pd.Series, pop: pd.Series) -> pa.Array:
    """``（25户95人）`` per row (vectorised :func:`_num` of both), as Arrow strings."""
    return _join("（", _num_arrow(hh), "户", _num_arrow(pop), "人）")


def _numbers(x: pd.Series) -> np.ndarray:
    return pd.to_numeric(pd.Series(x), errors="coerce").astype(float).to_numpy()


def _num_texts(x: pd.Series) -> np.ndarray:
    """:func:`_num` of each value (``""`` where not a number), as an object array."""
    return _distinct_texts(_numbers(x), "{:g}".format)


def _num_arrow(x: pd.Series) -> pa.Array:
    """:func:`_num` of each value (``""`` where not a number), as Arrow strings."""
    return _taken(*_distinct(_numbers(x), "{:g}".format))


def _distinct(
    values: np.ndarray, fmt: Callable[[float], str], nan: str = ""
) -> tuple[list[str], np.ndarray]:
    """Return the texts of the distinct floats (``fmt``; ``nan`` for NaN) and each value's.

    Values are told apart by their bits (``0.0`` and ``-0.0`` format differently).
    """
    values = np.ascontiguousarray(values, dtype=float)
    codes, bits = pd.factorize(values.view(np.int64))
    # Python floats (.tolist()) format faster than NumPy's, to the same text
    return [fmt(x) if x == x else nan for x in bits.view(np.float64).tolist()], codes


def _distinct_texts(values: np.ndarray, fmt: Callable[[float], str]) -> np.ndarray:
    """``fmt(x)`` of each float (``""`` for NaN) as an object array, each value formatted once."""
    texts, codes = _distinct(values, fmt)
    return np.array(texts, dtype=object)[codes]


# Arrow strings (the outcome frame's text columns) put together in Arrow: no Python
# string per row and cell, one conversion per distinct text
_STR = pa.large_string()


def _arrow(values: Any) -> pa.Array:
    """Python strings (a list, an object array; NaN or None: null) as Arrow strings."""
    return pa.array(values, type=_STR, from_pandas=True)


def _taken(texts: list[str], codes: np.ndarray) -> pa.Array:
    """``texts[codes]`` as Arrow strings."""
    return _arrow(texts).take(pa.array(np.asarray(codes, dtype=np.int64)))


def _column(values: pd.Series) -> pa.Array:
    """Return a pandas column's texts (``astype(str)``) as Arrow strings, one array."""
    arr = pa.array(values.astype(str).array)
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    return arr if arr.type == _STR else arr.cast(_STR)


def _scalar(part: pa.Array | str) -> pa.Array | pa.Scalar:
    return pa.scalar(part, type=_STR) if isinstance(part, str) else part


def _join(*parts: pa.Array | str) -> pa.Array:
    """Row-wise concatenation of Arrow string arrays and literal texts."""
    return pc.binary_join_element_wise(*map(_scalar, parts), _scalar(""))


def _if(mask: np.ndarray | pa.Array, yes: pa.Array | str, no: pa.Array | str) -> pa.Array:
    """``yes`` where ``mask``, else ``no`` (Arrow strings or literal texts)."""
    if not isinstance(mask, pa.Array | pa.ChunkedArray):
        mask = pa.array(np.asarray(mask, dtype=bool))
    return pc.if_else(mask, _scalar(yes), _scalar(no))


def _mapped(codes: pd.Series, names: Mapping[str, str] | pd.Series) -> pa.Array:
    """``codes.map(names).fillna("")`` as Arrow strings, each distinct code looked up once."""
    at, uniques = pd.factorize(codes, use_na_sentinel=False)
    found = pd.Series(np.asarray(uniques, dtype=object)).map(names).to_numpy(dtype=object)
    found[pd.isna(found)] = ""
    return _taken([str(x) for x in found], at)


def _names(dataset: Dataset) -> tuple[pd.Series, pd.Series]:
    """Admin-village and township code → name (empty Series when a layer is absent)."""

    def names(layer: str) -> pd.Series:
        frame = dataset.get(layer)
        if frame is None:
            return pd.Series(dtype=str)
        out = pd.Series(
            frame["name"].astype(str).to_numpy(), index=frame["code"].astype(str).to_numpy()
        )
        return out[~out.index.duplicated()]

    return names("admin_villages"), names("townships")


def _names_of(inp: IndicatorInputs) -> tuple[pd.Series, pd.Series]:
    """Return :func:`_names` of ``inp.dataset``, made once per inputs.

    The indicators of one :func:`~geo.indicators.evaluate` share them (only read).
    """
    memo = inp.__dict__.get("_names_memo")
    if memo is None or memo[0] is not inp.dataset:
        memo = (inp.dataset, _names(inp.dataset))
        object.__setattr__(inp, "_names_memo", memo)
    return memo[1]


def _lonlat(frame: Any) -> tuple[np.ndarray, np.ndarray]:
    from geo.indicators.outcomes import _points

    return _points(frame.geometry)


def _where_village(
    v: pd.DataFrame,
    tw_names: Mapping[str, str] | pd.Series,
    av_names: Mapping[str, str] | pd.Series,
) -> dict[str, object]:
    """Location columns of rows about natural villages (the unit is the village)."""
    tw = v["township_code"].astype(str)
    av = v["admin_village_code"].astype(str)
    ids = v["id"].astype(str).array  # pandas strings, as the outcome frame keeps them
    return {
        "unit_kind": "natural_village",
        "unit_code": ids,
        "township_code": tw.array,
        "township_name": pd.array(_mapped(tw, tw_names), dtype="str"),
        "admin_village_code": av.array,
        "admin_village_name": pd.array(_mapped(av, av_names), dtype="str"),
        "village_code": ids,
        "village_name": v["name"].astype(str).array,
    }


# ------------------------------------------------------------------------- 通硬化路


def _hard_road_problem_texts(
    v: pd.DataFrame, roads: Mapping[str, str], width_m: float, people: pa.Array
) -> tuple[pa.Array, pa.Array]:
    """问题描述 and 整改措施 of the villages not joined by hard road (as the ledger has them).

    ``people`` is :func:`_people` of the rows. Built column by column in Arrow (each
    distinct number formatted once), not a Python step per village.
    """
    from geo.labels import VALUE_ZH  # geo.labels imports geo.indicators.table

    reasons = VALUE_ZH["reason"]
    harden = v["harden_km"].fillna(0.0).to_numpy(dtype=float)
    new = v["new_km"].fillna(0.0).to_numpy(dtype=float)
    cost = v["cost_wan"].to_numpy(dtype=float)
    at, uniques = pd.factorize(v["reason"].to_numpy(dtype=object), use_na_sentinel=False)
    reason = np.asarray(uniques, dtype=object)[at]
    label = _taken([reasons.get(r, r) for r in uniques], at)
    to_harden, to_build, costed = harden > 0, new > 0, np.isfinite(cost)
    harden_km = _taken(*_distinct(np.where(to_harden, harden, np.nan), _km))
    new_km = _taken(*_distinct(np.where(to_build, new, np.nan), _km))
    wan = _taken(*_distinct(np.where(costed, cost, np.nan), _wan))
    desc = _join(
        label,
        _if(to_harden, _join("，需硬化 ", harden_km, " 公里"), ""),
        _if(to_build, _join("，需新建 ", new_km, " 公里"), ""),
        _if(costed, _join("，估算 ", wan, " 万元"), ""),
        people,
    )
    ids = _mapped(v["id"], roads)
    where = _if(pc.not_equal(ids, _scalar("")), _join("（道路 ", ids, "）"), "")
    step_harden = _if(
        reason == "unverified_surface",
        _join("实地核实 ", harden_km, " 公里路面类型", where, "，如为砂石/土路则硬化"),
        _join("硬化现有砂石/土路 ", harden_km, " 公里", where),
    )
    gap = _if(reason == "network_gap", "打通断头路", "接入干线路网")
    measure = _join(
        _if(to_harden, _join(step_harden, "；"), ""),
        _if(to_build, _join("新建硬化连接线 ", new_km, " 公里，", gap, "；"), ""),
        f"路面宽度不低于 {width_m:g} 米",
    )
    return desc, measure


def _harden_road_ids(links: pd.DataFrame) -> dict[str, str]:
    """Village id → the road ids of its 'harden' links, 、-joined in link order.

    What ``groupby("village_id")["road_ids"].agg(lambda s: "、".join(...))`` gives, as a
    dict built in one pass instead of a Python call per village group.
    """
    harden = links.loc[links["kind"] == "harden"]
    ids: dict[str, list[str]] = {}
    village_ids, road_ids = harden["village_id"].tolist(), harden["road_ids"].tolist()
    for vid, roads in zip(village_ids, road_ids, strict=True):
        ids.setdefault(vid, []).extend(x for x in str(roads).split(";") if x)
    return {vid: "、".join(parts) for vid, parts in ids.items()}


def _labelled(values: pd.Series, labels: Mapping[str, str]) -> tuple[list[str], np.ndarray]:
    """Return the distinct values' labels (``labels``, else the value) and each value's."""
    at, uniques = pd.factorize(values, use_na_sentinel=False)
    u = pd.Series(np.asarray(uniques, dtype=object))
    return u.map(labels).fillna(u).tolist(), at


def _chosen(which: np.ndarray, texts: tuple[str, ...]) -> ExtensionArray:
    """``texts[which]`` per row as pandas strings (one Arrow take, no text per row)."""
    return pd.array(list(texts), dtype="str").take(np.asarray(which, dtype=np.intp))


def hard_road_outcomes(inp: IndicatorInputs) -> pd.DataFrame:
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
    n = len(v)
    av_names, tw_names = _names_of(inp)
    scope = v["scope"].astype(str)
    connected = v["connected"].astype(bool)
    problem = ((scope == "target") & ~connected).to_numpy()
    ok = ((scope == "target") & connected).to_numpy()
    verdict = np.where(problem, 0, np.where(ok, 1, 2))  # problem, ok, exempt
    width_ok = v["width_ok"].fillna(True).astype(bool).to_numpy()
    reason = v["reason"].fillna("").astype(str)
    people = _people(v["households"], v["population"])
    scope_zh = _taken(*_labelled(scope, VALUE_ZH["scope"]))
    # "：<reason label>" after the scope label, nothing for a village without a reason
    labels, at = _labelled(reason, VALUE_ZH["reason"])
    reason_zh = _taken([f"：{x}" if x != "" else "" for x in labels], at)
    width = inp.settings.hard_road.lane_width_min_m
    connected_zh = _if(width_ok, "已通硬化路", f"已通硬化路，路面宽度不足 {width:g} 米")
    desc = _if(ok, _join(connected_zh, people), _join(scope_zh, reason_zh, people))
    measure = _arrow([""])
    cost = np.full(n, np.nan)
    # each problem row's texts taken from after the others' (its own description)
    take = np.arange(n)
    if problem.any():
        links = r.links
        roads = _harden_road_ids(links) if len(links) else {}
        rows = np.flatnonzero(problem)
        d, m = _hard_road_problem_texts(
            pd.DataFrame(v.iloc[rows]), roads, width, people.take(pa.array(rows))
        )
        desc, measure = pa.concat_arrays([desc, d]), pa.concat_arrays([measure, m])
        take[rows] = n + np.arange(len(rows))
        cost[problem] = v["cost_wan"].to_numpy(dtype=float)[problem]
    desc = desc.take(pa.array(take))
    measure = measure.take(pa.array(np.where(problem, take - n + 1, 0)))
    link_km = v["harden_km"].fillna(0.0).to_numpy(dtype=float) + v["new_km"].fillna(0.0).to_numpy(
        dtype=float
    )
    reason_a = pa.array(reason.array)
    cause = pc.if_else(
        pa.array(problem),
        reason_a,
        pc.if_else(
            pa.array(ok),
            _if(width_ok, "", "narrow"),
            pc.if_else(pc.not_equal(reason_a, _scalar("")), reason_a, pa.array(scope.array)),
        ),
    )
    lon, lat = _lonlat(v)
    return make_outcomes(
        pd.DataFrame(
            {
                "key": ("hard_road:" + v["id"].astype(str)).array,
                "indicator": "hard_road",
                **_where_village(v, tw_names, av_names),
                "problem_type": _chosen(np.minimum(verdict, 1), ("未通硬化路", "")),
                "description": pd.array(desc, dtype="str"),
                "measure": pd.array(measure, dtype="str"),
                "cause": pd.array(cause, dtype="str"),
                "households": v["households"].to_numpy(),
                "population": v["population"].to_numpy(),
                "cost_wan": cost,
                "lon": lon,
                "lat": lat,
                "status": _chosen(verdict, ("problem", "ok", "exempt")),
                "value": np.where(verdict == 2, np.nan, np.where(ok, 0.0, link_km)),
                "limit": 0.0,
                "value_unit": "公里",
            }
        )
    )


# ------------------------------------------------------------------------- 一刻钟生活圈


def _nearest_of_kind(
    near: pd.DataFrame, rows: np.ndarray, unit_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Facility name ("" when none) and metres (NaN) of ``near[rows]`` per unit id.

    ``near`` has one row per (``unit_id``, ``kind``) and ``rows`` selects one kind's.
    """
    rows = np.flatnonzero(rows)  # the kind's rows, columns taken (not a sub-frame)
    at = pd.Index(near["unit_id"].to_numpy()[rows]).get_indexer(unit_ids)
    found = at >= 0
    if not len(rows):
        return np.full(len(unit_ids), "", dtype=object), np.full(len(unit_ids), np.nan)
    fac = near["facility_name"].to_numpy(dtype=object)[rows][np.maximum(at, 0)]
    fac = np.where(found & ~pd.isna(fac), fac, "")
    fac = np.array([str(f) for f in fac], dtype=object)
    metres = np.full(len(unit_ids), np.nan)
    metres[found] = near["distance_m"].to_numpy(dtype=float)[rows][at[found]]
    return fac, metres


def service_outcomes(inp: IndicatorInputs) -> pd.DataFrame:
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
    lon, lat = _lonlat(u)
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
    # the columns every kind shares, made once
    ids = u["unit_id"].astype(str)
    tw = u["township_code"].astype(str)
    av = u["admin_village_code"].astype(str)
    shared = {
        "unit_code": _column(ids),
        "township_code": _column(tw),
        "township_name": _mapped(tw, tw_names),
        "admin_village_code": _column(av),
        "admin_village_name": _mapped(av, av_names),
        "village_code": _column(ids),
        "village_name": _column(u["name"]),
    }
    on_network = np.array([bool(x) for x in u["on_network"].tolist()], dtype=bool)
    snap_m = _taken(*_distinct(u["snap_dist_m"].to_numpy(dtype=float), "{:.0f}".format, "nan"))
    people = _num_arrow(u["population"])  # _num of each site's population
    ids_a, n = shared["unit_code"], len(u)
    columns: dict[str, list] = {c: [] for c in ("key", "problem_type", "desc", "measure")}
    columns.update(cause=[], status=[], value=[], limit=[])
    # each kind's texts put together in Arrow over the sites, the kinds one after another
    # (what concatenating a frame per kind gave)
    for kind in kinds:
        limit = svc_settings.limit_min(kind)
        fac, metres = _nearest_of_kind(near, near_kind == kind, unit_ids)
        fac = _arrow(fac)
        named = _if(pc.not_equal(fac, _scalar("")), fac, kind)  # the facility's name or kind
        minutes = u[f"{kind}_min"].to_numpy(dtype=float)
        ok = u[f"{kind}_ok"].astype(bool).to_numpy()
        km = _join("约 ", _taken(*_distinct(metres / 1000, _km)), " 公里，")
        km = _if(np.isfinite(metres), km, "")
        walk = _taken(*_distinct(minutes, "{:.0f}".format, "nan"))
        tail = _if(
            ~on_network,
            _join("安置区未接入步行路网（距最近道路 ", snap_m, " 米）"),
            _if(
                np.isfinite(minutes),
                _join("最近的", named, km, "需步行 ", walk, " 分钟"),
                f"路网可达范围内没有{kind}",
            ),
        )
        desc = _if(
            ok,
            _join(f"步行{limit:g}分钟内有{kind}：", named, km, "步行 ", walk, " 分钟（安置 "),
            _join(f"步行{limit:g}分钟内无{kind}，", tail, "（安置 "),
        )
        fix = f"在安置区步行{limit:g}分钟范围内" + SERVICE_MEASURE_ZH.get(kind, f"布设{kind}")
        columns["key"].append(_join("services:", ids_a, f":{kind}"))
        columns["problem_type"].append(_if(ok, "", f"一刻钟生活圈缺{kind}"))
        columns["desc"].append(_join(desc, people, " 人）"))
        columns["measure"].append(_if(ok, "", fix))
        columns["cause"].append(_if(ok, "", f"missing:{kind}"))
        columns["status"].append(_if(ok, "ok", "problem"))
        columns["value"].append(minutes)
        columns["limit"].append(np.full(n, limit, dtype=float))
    # the shared columns taken once per kind: one frame
    rows = pa.array(np.tile(np.arange(n), len(kinds)))
    text = {
        c: pd.array(pa.concat_arrays(v), dtype="str")
        for c, v in columns.items()
        if c not in {"value", "limit"}
    }
    out = pd.DataFrame(
        {
            "key": text["key"],
            "indicator": "services",
            "unit_kind": "relocation_site",
            **{c: pd.array(v.take(rows), dtype="str") for c, v in shared.items()},
            "problem_type": text["problem_type"],
            "description": text["desc"],
            "measure": text["measure"],
            "cause": text["cause"],
            "population": u["population"].to_numpy()[rows.to_numpy()],
            "lon": u["lon"].to_numpy()[rows.to_numpy()],
            "lat": u["lat"].to_numpy()[rows.to_numpy()],
            "status": text["status"],
            "value": np.concatenate(columns["value"]),
            "limit": np.concatenate(columns["limit"]),
            "value_unit": "分钟",
        }
    )
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


# ------------------------------------------------------------------------- 医疗空白点


def clinic_outcomes(inp: IndicatorInputs) -> pd.DataFrame:
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
    pop = _num_texts(av["population"])
    need = np.maximum(pd.to_numeric(av["doctors_required"]).fillna(0).astype(int), 1).to_numpy()
    doctors = pd.to_numeric(av["doctors"], errors="coerce").fillna(0).astype(int).to_numpy()
    n_clinics = pd.to_numeric(av["n_clinics"], errors="coerce").fillna(0).astype(int).to_numpy()
    names_a = names.to_numpy().astype(object)
    served = av["served_by"].fillna("").astype(str).to_numpy().astype(object)
    no_clinic, no_doctor = st == "no_clinic", blank & (st != "no_clinic")
    exempt = ~blank & np.isin(st, ["exempt_host", "exempt_shared"])
    short = st == "short_of_doctors"
    # the first case that holds (np.select's order), each text made on its own rows only
    case = np.select(
        [no_clinic, no_doctor, st == "exempt_host", st == "exempt_shared", short],
        [0, 1, 2, 3, 4],
        5,
    )

    def texts(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return values[rows].astype(str).astype(object)

    def clinic_text(rows: np.ndarray, need_zh: str) -> np.ndarray:
        return (
            names_a[rows] + "有村卫生室 " + texts(n_clinics, rows) + " 处，合格村医 "
            + texts(doctors, rows) + need_zh + " 人（常住 " + pop[rows] + " 人）"
        )  # fmt: skip

    desc = np.empty(len(av), dtype=object)
    measure = np.full(len(av), "", dtype=object)
    for k in range(6):
        rows = np.flatnonzero(case == k)
        if not len(rows):
            continue
        name, people = names_a[rows], pop[rows]
        if k == 0:
            desc[rows] = name + "无村卫生室，也无邻村联合设置（常住 " + people + " 人）"
            measure[rows] = (
                "建设村卫生室并配备至少 " + texts(need, rows)
                + " 名合格村医，或与邻村联合设置（签订协议并备案）"
            )  # fmt: skip
        elif k == 1:
            need_s = texts(need, rows)
            desc[rows] = name + "卫生室无合格村医，应配 " + need_s + " 人（常住 " + people + " 人）"
            measure[rows] = (
                "配备至少 " + need_s
                + " 名合格村医（乡村医生或执业（助理）医师），可由乡镇卫生院派驻或定期巡诊过渡"
            )  # fmt: skip
        elif k == 2:
            desc[rows] = name + "为乡镇卫生院所在村，不单设村卫生室"
        elif k == 3:
            desc[rows] = name + "与邻村联合设置卫生室（" + served[rows] + "）"
        elif k == 4:
            desc[rows] = clinic_text(rows, " 人，少于应配 " + texts(need, rows))
        else:
            desc[rows] = clinic_text(rows, "")
    tw = r.townships
    tblank = tw["blank"].astype(bool).to_numpy()
    tnames = _column(tw["name"])
    n_hc = pd.to_numeric(tw["n_health_centres"], errors="coerce").fillna(0).astype(int)
    tcode, code, twc = _column(tw["code"]), _column(av["code"]), av["township_code"].astype(str)
    nt, na = len(tw), len(av)
    # the townships' rows, then the admin villages' (one frame, no concatenation)

    def text(townships: pa.Array | str, villages: pa.Array | str) -> ExtensionArray:
        parts = [
            pa.repeat(part, k) if isinstance(part, pa.Scalar) else part
            for part, k in ((_scalar(townships), nt), (_scalar(villages), na))
        ]
        return pd.array(pa.concat_arrays(parts), dtype="str")

    t_lon, t_lat = _lonlat(tw)
    v_lon, v_lat = _lonlat(av)
    frame = {
        "key": text(_join("clinics:township:", tcode), _join("clinics:admin_village:", code)),
        "indicator": "clinics",
        "unit_kind": text("township", "admin_village"),
        "unit_code": text(tcode, code),
        "township_code": text(tcode, _column(twc)),
        "township_name": text(tnames, _mapped(twc, tw_names)),
        "admin_village_code": text("", code),
        "admin_village_name": text("", _column(names)),
        "problem_type": text(
            _if(tblank, "乡镇卫生院空白", ""),
            _taken(["村卫生室空白", "村医空白", ""], np.select([no_clinic, no_doctor], [0, 1], 2)),
        ),
        "description": text(
            _if(
                tblank,
                _join(tnames, "无乡镇卫生院"),
                _join(tnames, "有乡镇卫生院 ", _arrow(n_hc.astype(str).to_numpy()), " 处"),
            ),
            _arrow(desc),
        ),
        "measure": text(
            _if(tblank, "设置乡镇卫生院并配备执业（助理）医师，或经批准由邻近乡镇卫生院托管", ""),
            _arrow(measure),
        ),
        "cause": text(_if(tblank, "no_health_centre", "ok"), _arrow(st)),
        "population": np.concatenate(
            [np.full(nt, np.nan), pd.to_numeric(av["population"], errors="coerce").to_numpy()]
        ),
        "lon": np.concatenate([t_lon, v_lon]),
        "lat": np.concatenate([t_lat, v_lat]),
        "status": text(
            _if(tblank, "problem", "ok"),
            _taken(["problem", "exempt", "ok"], np.select([blank, exempt], [0, 1], 2)),
        ),
        "value": np.concatenate([n_hc.astype(float).to_numpy(), doctors.astype(float)]),
        "limit": np.concatenate([np.full(nt, 1.0), need.astype(float)]),
        "value_unit": text("个", "人"),
    }
    return make_outcomes(pd.DataFrame(frame))


# ------------------------------------------------------------------------- 农村供水


def water_result_outcomes(
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
    lon, lat = _lonlat(v)
    pop = pd.to_numeric(v["population"], errors="coerce").fillna(0.0).to_numpy()
    served = v["on_network"].astype(bool).to_numpy() & (status != "disconnected")
    known = status != "unlinked"
    return make_outcomes(
        pd.DataFrame(
            {
                "key": ("water:" + v["id"].astype(str)).to_numpy(),
                "indicator": "water",
                **_where_village(v, tw_names, av_names),
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


def water_outcomes(inp: IndicatorInputs) -> pd.DataFrame:
    """Outcome rows of 农村供水 (:func:`water_result_outcomes`); no_data without a network."""
    if inp.water is None:
        return no_data_outcomes(
            inp.dataset,
            code="water",
            unit_kind="natural_village",
            reason_zh="无数据：没有供水管网（EPANET 模型或供水图层）或供水计算未完成",
        )
    av_names, _ = _names_of(inp)
    return water_result_outcomes(inp.water, av_names=av_names.to_dict() or None)


def tap_rate_pct(outcomes: pd.DataFrame) -> float:
    """County 农村自来水普及率 (%): population on a connected network ÷ rural population."""
    if "x_weight" not in outcomes or "x_served" not in outcomes:
        return float("nan")
    total = float(outcomes["x_weight"].sum())
    return 100.0 * float(outcomes["x_served"].sum()) / total if total > 0 else float("nan")


# ------------------------------------------------------------------------- projects


def hard_road_projects(items: pd.DataFrame, a: Assessment) -> list[dict]:
    """项目库 rows of ``hard_road`` items (:mod:`geo.projects`: harden / new links)."""
    from geo import projects

    return projects._road_projects(items, a)


def service_projects(items: pd.DataFrame, a: Assessment) -> list[dict]:
    """项目库 rows of ``services`` items (:mod:`geo.projects`: one facility per item)."""
    from geo import projects

    return projects._facility_projects(items, a)


def clinic_projects(items: pd.DataFrame, a: Assessment) -> list[dict]:
    """项目库 rows of ``clinics`` items (:mod:`geo.projects`: clinic, doctors, 卫生院)."""
    from geo import projects

    return projects._clinic_projects(items, a)


def water_projects(items: pd.DataFrame, a: Assessment) -> list[dict]:
    """项目库 rows of ``water`` items (:mod:`geo.projects`: pipe, booster, source)."""
    from geo import projects

    water = a.water.result if a.water is not None else None
    return projects._water_projects(items, water, a.settings.projects)
