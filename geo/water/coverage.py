"""Coverage per natural village (pipe, pressure, per-capita supply) and the roll-up.

Rules in the package docstring (:mod:`geo.water`); the Chinese labels of every status,
reason and supply class are :data:`REASONS_ZH`, the one table the app and reports use.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.indicators import judge
from geo.settings import Settings
from geo.water.checks import _components
from geo.water.model import WaterModel, _node_xy, _transform_xy, _village_frame, build_water_model
from geo.water.sim import WaterRun, run_hydraulics
from layers.dataset import Dataset
from layers.epanet import InpModel

__all__ = [
    "REASONS_ZH",
    "STATUSES",
    "SUPPLY_CLASSES",
    "WaterResult",
    "assess_water",
    "water_coverage",
    "water_rollup",
]

logger = logging.getLogger(__name__)

STATUSES = ("ok", "off_network", "disconnected", "low_pressure", "capacity_short", "unlinked")
"""Village status codes (``ok`` when no check fails). ``unlinked``: the model is schematic
and its village → node table has no entry for the village, so nothing is known (无数据);
such villages are left out of the rates, and a county with no known village gets NaN
values and NA ``met`` for its indicators."""

SUPPLY_CLASSES = ("ok", "basic", "short", "unknown")
"""Supply classes: 达标, 基本达标, 不达标, capacity unknown."""

REASONS_ZH: Mapping[str, str] = MappingProxyType(
    {
        "ok": "达标",
        "off_network": "未通自来水",
        "disconnected": "所接管网无水源",
        "low_pressure": "水压不足",
        "capacity_short": "水源水量不足",
        "unlinked": "未对应管网节点（无数据）",
        "basic": "基本达标",
        "short": "不达标",
        "unknown": "水源供水能力未知",
    }
)
"""Chinese labels for the status, reason and supply-class codes (the one table)."""


@dataclass(frozen=True, eq=False)
class WaterResult:
    """Result of :func:`water_coverage` (frames in EPSG:4326).

    Attributes
    ----------
    villages : GeoDataFrame
        Natural villages: ``id``, ``name``, ``admin_village_code``, ``township_code``,
        ``population``, ``households``, ``storeys``, ``on_network`` (linked to a
        junction), ``node``, ``link``, ``snap_dist_m``, ``min_pressure_m`` and
        ``mean_pressure_m`` (over the day at the node, m), ``required_head_m``,
        ``pressure_ok``, ``supply_lpcd`` (pooled source capacity per person,
        L/person/day; 0 off the network), ``supply_class`` (``ok``/``basic``/``short``/
        ``unknown``), ``status`` (:data:`STATUSES`), ``reason`` (codes joined by ``;``).
    nodes : GeoDataFrame
        Junctions, tanks and reservoirs: ``name``, ``node_type``, ``elevation_m``
        (reservoirs: total head), ``min_pressure_m``, ``mean_pressure_m``,
        ``peak_pressure_m`` (at :attr:`peak_hour`), ``disconnected``, ``sources``
        (reservoirs of its connected part, ``;``-joined).
    pipes : GeoDataFrame
        Links: ``name``, ``link_type``, ``start_node_name``, ``end_node_name``,
        ``diameter_mm``, ``length_m``, ``roughness``, ``peak_flow_lps`` (signed, at
        :attr:`peak_hour`), ``peak_velocity_ms``, ``max_velocity_ms``, ``disconnected``.
    rollup_townships, rollup_admin_villages : DataFrame
        See :func:`water_rollup`.
    county : DataFrame
        Indicator rows: ``indicator``, ``value``, ``unit``, ``target``, ``comparison``,
        ``source``, ``met``; the first row is 农村自来水普及率.
    peak_hour : float
        Hour of the largest total demand.
    """

    villages: gpd.GeoDataFrame
    nodes: gpd.GeoDataFrame
    pipes: gpd.GeoDataFrame
    rollup_townships: pd.DataFrame
    rollup_admin_villages: pd.DataFrame
    county: pd.DataFrame
    peak_hour: float


# -------------------------------------------------------------------------- coverage


def _supply(
    model: WaterModel, vn: pd.DataFrame, served: np.ndarray
) -> tuple[np.ndarray, pd.Series]:
    """Pooled source capacity per person (L/person/day) per village; reservoirs per node."""
    names, labels = _components(model.wn)
    label_of = pd.Series(labels, index=names)
    reservoirs = pd.Series(
        [n for n in names if model.wn.get_node(n).node_type == "Reservoir"], dtype=object
    )
    cap = reservoirs.map(lambda r: model.source_capacity_m3d.get(r, np.nan)).astype(float)
    res_label = label_of.reindex(reservoirs).to_numpy()
    cap_part = pd.Series(cap.to_numpy(), index=res_label).groupby(level=0).sum(min_count=1)
    unknown = pd.Series(cap.isna().to_numpy(), index=res_label).groupby(level=0).any()
    v_label = label_of.reindex(vn["node"]).to_numpy()
    persons = (
        pd.Series(np.where(served, vn["persons"].to_numpy(), 0.0))
        .groupby(pd.Series(v_label).fillna(-1).to_numpy())
        .sum()
    )
    part = pd.Series(v_label)
    cap_v = part.map(cap_part).to_numpy(dtype=float)
    unk_v = part.map(unknown).fillna(False).to_numpy(dtype=bool)
    per = part.map(persons).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        lpcd = np.where(per > 0, np.nan_to_num(cap_v, nan=0.0) * 1000.0 / per, np.inf)
    lpcd = np.where(unk_v, np.nan, lpcd)
    lpcd = np.where(served, lpcd, 0.0)
    by_part = (
        pd.Series(reservoirs.to_numpy(), index=res_label)
        .groupby(level=0)
        .agg(lambda s: ";".join(sorted(s)))
    )
    node_sources = label_of.map(by_part).fillna("")
    return lpcd, node_sources


def _peak_hour(run: WaterRun, model: WaterModel) -> float:
    d = run.demand_lps.reindex(columns=model.wn.junction_name_list)
    total = d.clip(lower=0).sum(axis=1)
    if total.empty:
        return float(run.pressure_m.index[0]) if len(run.pressure_m) else 0.0
    return float(total.idxmax())


def _node_stats(p: pd.DataFrame, duration_h: float) -> tuple[pd.Series, pd.Series]:
    day = p.loc[p.index < duration_h] if duration_h > 0 and (p.index < duration_h).any() else p
    return p.min(axis=0, skipna=True), day.mean(axis=0, skipna=True)


def water_coverage(
    dataset: Dataset, model: WaterModel, run: WaterRun, settings: Settings
) -> WaterResult:
    """Piped coverage, pressure and per-capita supply per natural village, rolled up.

    Parameters
    ----------
    dataset : Dataset
        ``natural_villages`` (the ones the model was built with), ``admin_villages`` and
        ``townships`` for the roll-up; the water layers give the node and pipe geometry
        of a GIS-built model.
    model : WaterModel
    run : WaterRun
        :func:`run_hydraulics` of ``model``.
    settings : Settings
        ``settings.water``: service heads, per-capita standards, the tap-rate target.

    Returns
    -------
    WaterResult
        Frames in EPSG:4326; see the module docstring for the rules.
    """
    ws = settings.water
    vn = model.village_nodes.reset_index(drop=True)
    nv = _village_frame(dataset).reset_index(drop=True)
    if len(nv) != len(vn) or not (nv["id"].astype(str).to_numpy() == vn["id"].to_numpy()).all():
        raise ValueError("the model was built from other natural villages; rebuild it")
    duration_h = ws.duration_h
    pmin, pmean = _node_stats(run.pressure_m, duration_h)
    peak = _peak_hour(run, model)

    on = (vn["node"] != "").to_numpy()
    cut = vn["node"].isin(model.disconnected_nodes).to_numpy()
    served = on & ~cut
    storeys = (
        pd.to_numeric(nv.get("storeys", pd.Series(1, index=nv.index)), errors="coerce")
        .fillna(1)
        .clip(lower=1)
        .to_numpy()
    )
    required = ws.service_head_m + ws.service_head_per_storey_m * (storeys - 1)
    vmin = np.where(served, pmin.reindex(vn["node"]).to_numpy(dtype=float), np.nan)
    vmean = np.where(served, pmean.reindex(vn["node"]).to_numpy(dtype=float), np.nan)
    pressure_ok = served & (vmin >= required)
    lpcd, node_sources = _supply(model, vn, served)
    supply_class = np.select(
        [np.isnan(lpcd), lpcd >= ws.demand_lpcd, lpcd >= ws.demand_basic_lpcd],
        ["unknown", "ok", "basic"],
        default="short",
    )
    # a schematic model says nothing of a village missing from its village → node table
    unlinked = ~on if model.schematic else np.zeros(len(vn), dtype=bool)
    flags = {
        "unlinked": unlinked,
        "off_network": ~on & ~unlinked,
        "disconnected": on & cut,
        "low_pressure": served & ~pressure_ok,
        "capacity_short": served & np.isin(supply_class, ("basic", "short")),
    }
    status = np.select(list(flags.values()), list(flags.keys()), default="ok")
    reason = np.full(len(vn), "", dtype=object)
    for code, mask in flags.items():
        reason = reason + np.where(mask, code + ";", "")
    reason = pd.Series(reason, dtype=object).str.rstrip(";").to_numpy()
    admin = dataset.get("admin_villages")
    av_code = nv["admin_village_code"].astype(str) if "admin_village_code" in nv else None
    if av_code is not None and admin is not None:
        township = av_code.map(admin.set_index("code")["township_code"]).fillna(av_code.str[:9])
    elif av_code is not None:
        township = av_code.str[:9]
    else:
        township = pd.Series("", index=nv.index)
    villages = gpd.GeoDataFrame(
        {
            "id": vn["id"],
            "name": nv.get("name", pd.Series("", index=nv.index)),
            "admin_village_code": av_code if av_code is not None else "",
            "township_code": township.to_numpy(),
            "population": nv.get("population", pd.Series(0, index=nv.index)),
            "households": nv["households"],
            "storeys": storeys.astype(int),
            "on_network": on,
            "node": vn["node"],
            "link": vn["link"],
            "snap_dist_m": vn["snap_dist_m"],
            "min_pressure_m": vmin,
            "mean_pressure_m": vmean,
            "required_head_m": required.astype(float),
            "pressure_ok": pressure_ok,
            "supply_lpcd": lpcd,
            "supply_class": supply_class,
            "status": status,
            "reason": reason,
        },
        geometry=nv.geometry.to_numpy() if len(nv) else [],
        crs=nv.crs or 4326,
    ).to_crs(4326)

    nodes = _node_frame(dataset, model, run, pmin, pmean, peak, node_sources)
    pipes = _pipe_frame(dataset, model, run, peak)
    townships, admin_villages, county = water_rollup(dataset, villages, settings)
    for frame in (villages, nodes, pipes, townships, admin_villages, county):
        frame.attrs["settings_profile"] = settings.profile
        frame.attrs["dataset_hash"] = dataset.content_hash
        frame.attrs["model_crs"] = model.crs
        frame.attrs["simulator"] = run.simulator
    logger.info(
        "water coverage: %d villages, %d off network, %d disconnected, %d low pressure, "
        "%d capacity short; tap rate %.2f %%",
        len(villages),
        int((status == "off_network").sum()),
        int((status == "disconnected").sum()),
        int((status == "low_pressure").sum()),
        int((status == "capacity_short").sum()),
        float(county["value"].iloc[0]) if len(county) else float("nan"),
    )
    return WaterResult(
        villages=villages,
        nodes=nodes,
        pipes=pipes,
        rollup_townships=townships,
        rollup_admin_villages=admin_villages,
        county=county,
        peak_hour=peak,
    )


def _layer_geometry(dataset: Dataset, layers: tuple[str, ...]) -> pd.Series:
    parts = [
        pd.Series(dataset[name].geometry.to_numpy(), index=dataset[name]["name"].astype(str))
        for name in layers
        if name in dataset and len(dataset[name])
    ]
    if not parts:
        return pd.Series(dtype=object)
    s = pd.concat(parts)
    return s[~s.index.duplicated()]


def _node_frame(
    dataset: Dataset,
    model: WaterModel,
    run: WaterRun,
    pmin: pd.Series,
    pmean: pd.Series,
    peak: float,
    node_sources: pd.Series,
) -> gpd.GeoDataFrame:
    wn = model.wn
    names = list(wn.node_name_list)
    types = [wn.get_node(n).node_type for n in names]
    elev = [
        wn.get_node(n).base_head if t == "Reservoir" else wn.get_node(n).elevation
        for n, t in zip(names, types, strict=True)
    ]
    geom = np.full(len(names), None, dtype=object)
    if model.crs is not None:  # a schematic model's coordinates are a drawing: not mapped
        xy = _transform_xy(_node_xy(wn, names), model.crs, "EPSG:4326")
        ok = np.isfinite(xy).all(axis=1)
        geom[ok] = shapely.points(xy[ok])
    if model.source == "gis":
        own = _layer_geometry(dataset, ("water_nodes", "water_sources")).reindex(names)
        have = own.notna().to_numpy()
        geom[have] = own.to_numpy()[have]
    at_peak = run.pressure_m.loc[peak] if peak in run.pressure_m.index else pd.Series(np.nan)
    return gpd.GeoDataFrame(
        {
            "name": names,
            "node_type": types,
            "elevation_m": np.asarray(elev, dtype=float),
            "min_pressure_m": pmin.reindex(names).to_numpy(dtype=float),
            "mean_pressure_m": pmean.reindex(names).to_numpy(dtype=float),
            "peak_pressure_m": at_peak.reindex(names).to_numpy(dtype=float),
            "disconnected": pd.Series(names).isin(model.disconnected_nodes).to_numpy(),
            "sources": node_sources.reindex(names).fillna("").to_numpy(),
        },
        geometry=geom,
        crs=4326,
    )


def _pipe_frame(
    dataset: Dataset, model: WaterModel, run: WaterRun, peak: float
) -> gpd.GeoDataFrame:
    wn = model.wn
    names = list(wn.link_name_list)
    links = [wn.get_link(n) for n in names]
    nodes = list(wn.node_name_list)
    pos = {n: k for k, n in enumerate(nodes)}
    nxy = _node_xy(wn, nodes)
    lines = [
        np.asarray(
            [nxy[pos[lk.start_node_name]], *lk.vertices, nxy[pos[lk.end_node_name]]], dtype=float
        ).reshape(-1, 2)
        for lk in links
    ]
    geom = np.full(len(links), None, dtype=object)
    ok = np.array([not np.isnan(c).any() for c in lines], dtype=bool) & (model.crs is not None)
    if ok.any():
        sizes = np.array([len(c) for c, keep in zip(lines, ok, strict=True) if keep])
        flat = np.vstack([c for c, keep in zip(lines, ok, strict=True) if keep])
        made = shapely.linestrings(flat, indices=np.repeat(np.arange(len(sizes)), sizes))
        geom[ok] = gpd.GeoSeries(made, crs=model.crs).to_crs(4326).to_numpy()
    if model.source == "gis":
        own = _layer_geometry(dataset, ("water_pipes",)).reindex(names)
        have = own.notna().to_numpy()
        geom[have] = own.to_numpy()[have]
    flow = run.flow_lps.loc[peak] if peak in run.flow_lps.index else pd.Series(np.nan)
    vel = run.velocity_ms.loc[peak] if peak in run.velocity_ms.index else pd.Series(np.nan)
    cut = model.disconnected_nodes
    return gpd.GeoDataFrame(
        {
            "name": names,
            "link_type": [lk.link_type for lk in links],
            "start_node_name": [lk.start_node_name for lk in links],
            "end_node_name": [lk.end_node_name for lk in links],
            "diameter_mm": [
                lk.diameter * 1000.0 if hasattr(lk, "diameter") else np.nan for lk in links
            ],
            "length_m": [getattr(lk, "length", np.nan) for lk in links],
            "roughness": [getattr(lk, "roughness", np.nan) for lk in links],
            "peak_flow_lps": flow.reindex(names).to_numpy(dtype=float),
            "peak_velocity_ms": vel.reindex(names).to_numpy(dtype=float),
            "max_velocity_ms": run.velocity_ms.reindex(columns=names).abs().max().to_numpy(),
            "disconnected": [lk.start_node_name in cut or lk.end_node_name in cut for lk in links],
        },
        geometry=geom,
        crs=4326,
    )


# --------------------------------------------------------------------------- roll-up

_ROLLUP_COLUMNS = [
    "villages",
    "rural_population",
    "population_on_pipe",
    "population_off_network",
    "population_low_pressure",
    "villages_off_network",
    "villages_disconnected",
    "villages_low_pressure",
    "villages_capacity_short",
    "problems",
]


def water_rollup(
    dataset: Dataset, villages: pd.DataFrame, settings: Settings
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Roll village water coverage up to admin villages, townships and the county.

    Parameters
    ----------
    dataset : Dataset
        ``townships`` and ``admin_villages`` for names (optional).
    villages : DataFrame
        :attr:`WaterResult.villages`.
    settings : Settings
        ``settings.targets.tap_rate_pct`` and the per-capita standard.

    Returns
    -------
    townships : DataFrame
        ``code``, ``name``, ``villages``, ``rural_population`` (all natural villages),
        ``population_on_pipe`` (villages on a connected part of the network),
        ``tap_rate_pct`` (自来水普及率), ``population_off_network``,
        ``population_low_pressure``, ``villages_off_network``, ``villages_disconnected``,
        ``villages_low_pressure``, ``villages_capacity_short``, ``problems`` (villages
        whose status is not ``ok``); in layer order.
    admin_villages : DataFrame
        The same per admin village, with ``township_code``.
    county : DataFrame
        ``indicator``, ``value``, ``unit``, ``target``, ``comparison``, ``source``,
        ``met``: 农村自来水普及率 (first), 水压不足的自然村, 人均供水不达标的自然村.
    """
    ws, tg = settings.water, settings.targets
    v = pd.DataFrame(villages.drop(columns="geometry", errors="ignore"))
    pop = pd.to_numeric(v["population"], errors="coerce").fillna(0.0)
    status = v["status"].astype(str)
    reason = v["reason"].astype(str)
    served = v["on_network"].astype(bool) & (status != "disconnected")
    low = reason.str.contains("low_pressure", regex=False)
    short = reason.str.contains("capacity_short", regex=False)
    flags = pd.DataFrame(
        {
            "villages": 1.0,
            "rural_population": np.where(status != "unlinked", pop, 0.0),
            "population_on_pipe": np.where(served, pop, 0.0),
            "population_off_network": np.where(status == "off_network", pop, 0.0),
            "population_low_pressure": np.where(low, pop, 0.0),
            "villages_off_network": (status == "off_network").astype(float),
            "villages_disconnected": (status == "disconnected").astype(float),
            "villages_low_pressure": low.astype(float),
            "villages_capacity_short": short.astype(float),
            "problems": (~status.isin(["ok", "unlinked"])).astype(float),
        }
    )

    def rate(frame: pd.DataFrame) -> pd.DataFrame:
        with np.errstate(divide="ignore", invalid="ignore"):
            frame["tap_rate_pct"] = np.where(
                frame["rural_population"] > 0,
                100.0 * frame["population_on_pipe"] / frame["rural_population"],
                np.nan,
            )
        return frame

    def table(keys: pd.Series, units: pd.DataFrame) -> pd.DataFrame:
        sums = flags.groupby(keys.to_numpy()).sum()
        out = units.set_index("code").join(sums, how="outer")
        out[_ROLLUP_COLUMNS] = out[_ROLLUP_COLUMNS].fillna(0.0)
        counts = [c for c in _ROLLUP_COLUMNS if c == "problems" or c.startswith("villages")]
        out[counts] = out[counts].astype(int)
        out = rate(out.rename_axis("code").reset_index())
        return out[[*units.columns, *_ROLLUP_COLUMNS[:3], "tap_rate_pct", *_ROLLUP_COLUMNS[3:]]]

    admin = dataset.get("admin_villages")
    av_units = (
        pd.DataFrame(
            {
                "code": admin["code"].astype(str).to_numpy(),
                "name": admin["name"].astype(str).to_numpy(),
                "township_code": admin["township_code"].astype(str).to_numpy(),
            }
        )
        if admin is not None
        else pd.DataFrame({"code": [], "name": [], "township_code": []}, dtype=object)
    )
    codes = v["admin_village_code"].astype(str)
    extra = sorted(set(codes) - set(av_units["code"]))
    if extra:
        more = pd.DataFrame({"code": extra, "name": "", "township_code": [c[:9] for c in extra]})
        av_units = pd.concat([av_units, more], ignore_index=True)
    admin_villages = table(codes, av_units)
    admin_villages["township_code"] = admin_villages["township_code"].fillna("")

    tw = dataset.get("townships")
    tw_units = (
        pd.DataFrame(
            {"code": tw["code"].astype(str).to_numpy(), "name": tw["name"].astype(str).to_numpy()}
        )
        if tw is not None
        else pd.DataFrame({"code": [], "name": []}, dtype=object)
    )
    tcodes = v["township_code"].astype(str)
    extra = sorted(set(tcodes) - set(tw_units["code"]))
    if extra:
        tw_units = pd.concat(
            [tw_units, pd.DataFrame({"code": extra, "name": ""})], ignore_index=True
        )
    townships = table(tcodes, tw_units)

    total = flags.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        tap = (
            100.0 * total["population_on_pipe"] / total["rural_population"]
            if total.get("rural_population", 0) > 0
            else float("nan")
        )
    county = pd.DataFrame(
        [
            {
                "indicator": "农村自来水普及率",
                "value": float(tap),
                "unit": "%",
                "target": tg.tap_rate_pct,
                "comparison": ">=",
                "source": f"宁夏衔接“十四五”规划指标表（预期性）：2025年{tg.tap_rate_pct:g}%"
                f"（2020年{tg.tap_rate_2020_pct:g}%）",
            },
            {
                "indicator": "供水水压不足的自然村",
                "value": float(total.get("villages_low_pressure", 0.0)),
                "unit": "个",
                "target": 0.0,
                "comparison": "<=",
                "source": f"最小服务水头 {ws.service_head_m:g} m，每多一层加 "
                f"{ws.service_head_per_storey_m:g} m（村镇供水工程技术规范 SL 310 及设计惯例）",
            },
            {
                "indicator": f"人均供水不足{ws.demand_lpcd:g}升/日的自然村",
                "value": float(total.get("villages_capacity_short", 0.0)),
                "unit": "个",
                "target": 0.0,
                "comparison": "<=",
                "source": "农村饮水安全评价准则 T/CHES 18-2018（干旱地区 ≥ "
                f"{ws.demand_lpcd:g} 升/人·日达标，≥ {ws.demand_basic_lpcd:g} 基本达标）",
            },
        ]
    )
    if not (status != "unlinked").any():  # no village is known to the model: 无数据
        county["value"] = np.nan
    return townships, admin_villages, judge(county)


# ------------------------------------------------------------------------ conveniences


def assess_water(
    dataset: Dataset,
    settings: Settings,
    *,
    inp: InpModel | None = None,
) -> tuple[WaterModel, WaterRun, WaterResult]:
    """Build, run and assess in one call (see :func:`build_water_model`).

    Raises
    ------
    WaterNetworkError
        The network has errors (``exc.problems`` lists them).
    """
    model = build_water_model(dataset, settings, inp=inp)
    run = run_hydraulics(model, settings)
    return model, run, water_coverage(dataset, model, run, settings)
