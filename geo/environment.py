"""人居环境: 生活污水治理, 生活垃圾收运处理, 卫生厕所 per admin village (seed 001 items 11–13).

Rules (``../shared/STANDARDS.md`` §5, thresholds in
:class:`geo.settings.EnvironmentSettings`). An admin village's own attribute wins where
given; the ``env_facilities`` layer fills the rest; neither → ``no_data``. The layer
counts as data for an indicator only when it holds facilities of the indicator's kinds
(现状 or 规划): a county that delivered its waste points only has no sewage data.

- ``sewage``: ``sewage_treated``; else treated when an existing 污水处理站 lists the
  village in its ``serves_codes`` or lies inside the village's polygon.
- ``waste``: ``waste_treated``; else treated when **every** natural village of the
  admin village (the village's own point when it has none) lies within
  ``waste_point_max_m`` (straight line) of an existing 垃圾收集点 or 垃圾转运站.
  ``value`` = natural villages beyond that distance.
- ``toilets``: ``value`` = ``toilet_households`` / households × 100 (households of the
  admin village, else the sum of its natural villages), ``x_weight`` = households (the
  county rate is Σ toilet households / Σ households); a problem below
  ``toilet_village_min_pct``. No ``toilet_households`` → ``no_data``.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.access import existing_facilities, facilities_per_unit, fmt_number, served_by
from geo.crs import metric_crs
from geo.indicators.outcomes import make_outcomes, unit_frame
from geo.network import RoadGraph
from geo.settings import Settings
from layers.dataset import Dataset

__all__ = ["sewage_outcomes", "toilet_outcomes", "waste_outcomes"]

logger = logging.getLogger(__name__)

WASTE_KINDS: tuple[str, ...] = ("垃圾收集点", "垃圾转运站")
"""``env_facilities`` kinds that collect household waste."""


def _admin_units(dataset: Dataset, code: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the admin villages' unit frame and its outcome frame started for ``code``."""
    units = unit_frame(dataset, "admin_village")
    frame = units.drop(columns="geometry")
    frame["key"] = code + ":" + frame["unit_code"]
    frame["indicator"] = code
    return units, frame


def _attribute(dataset: Dataset, field: str, n: int) -> pd.Series:
    """Return an admin-village attribute positionally, NA where not given."""
    admin = dataset.get("admin_villages")
    if admin is None or field not in admin:
        return pd.Series([pd.NA] * n, dtype="object")
    return admin[field].reset_index(drop=True)


def _env_layer(dataset: Dataset, kinds: tuple[str, ...]) -> gpd.GeoDataFrame | None:
    """Return the existing env facilities of ``kinds``, or None when the layer has none at all."""
    layer = dataset.get("env_facilities")
    if layer is None or not layer["kind"].astype(str).isin(kinds).any():
        return None
    return existing_facilities(layer, kinds)


def sewage_outcomes(dataset: Dataset, graph: RoadGraph, settings: Settings) -> pd.DataFrame:
    """Outcome frame of 农村生活污水治理 (``sewage``), one row per admin village.

    Parameters
    ----------
    dataset : Dataset
        ``admin_villages`` (``sewage_treated``) and ``env_facilities`` (污水处理站,
        ``serves_codes``).
    graph : RoadGraph
        Unused (uniform signature of the indicator table).
    settings : Settings
        ``projects.sewage_village_wan``.

    Returns
    -------
    DataFrame
        Outcome frame, key ``sewage:<admin village code>``; ``value`` 1 treated, 0 not,
        NaN without data. Causes ``not_treated`` (attribute), ``no_station`` (layer),
        ``no_data``.
    """
    del graph
    units, frame = _admin_units(dataset, "sewage")
    n = len(frame)
    names = frame["admin_village_name"].to_numpy()
    attr = _attribute(dataset, "sewage_treated", n)
    given = attr.notna().to_numpy()
    treated_attr = attr.fillna(False).to_numpy(dtype=bool)
    stations = _env_layer(dataset, ("污水处理站",))
    if stations is not None:
        serving = served_by(stations.assign(id=stations["name"].astype(str)))
        by_code = frame["unit_code"].map(serving).fillna("").to_numpy()
        inside = facilities_per_unit(stations, units, code_field="admin_village_code")
        treated_layer = (by_code != "") | (inside.to_numpy() > 0)
    else:
        by_code = np.full(n, "")
        treated_layer = np.zeros(n, dtype=bool)
    has_layer = stations is not None
    treated = np.where(given, treated_attr, treated_layer)
    known = given | has_layer
    status = np.where(~known, "no_data", np.where(treated, "ok", "problem"))
    cause = np.select(
        [~known, treated, given], ["no_data", "", "not_treated"], default="no_station"
    )
    desc = []
    for i in range(n):
        if given[i]:
            desc.append(f"{names[i]}：村级调查生活污水{'已' if treated_attr[i] else '未'}治理")
        elif has_layer:
            desc.append(
                f"{names[i]}：由污水处理站{by_code[i]}服务，生活污水已治理"
                if by_code[i]
                else f"{names[i]}：村内有污水处理站，生活污水已治理"
                if treated_layer[i]
                else f"{names[i]}：无污水处理站服务，生活污水未治理"
            )
        else:
            desc.append(f"{names[i]}：无生活污水治理数据（无属性，也无污水处理站图层）")
    problem = status == "problem"
    frame["status"], frame["cause"], frame["description"] = status, cause, desc
    frame["value"] = np.where(known, treated.astype(float), np.nan)
    frame["problem_type"] = np.where(problem, "生活污水未治理", "")
    frame["measure"] = np.where(problem, "建设一体化污水处理设施或纳入城镇污水管网", "")
    frame["cost_wan"] = np.where(problem, settings.projects.sewage_village_wan, np.nan)
    logger.info("sewage: %d admin villages, %d problems", n, int(problem.sum()))
    return make_outcomes(frame)


def waste_outcomes(dataset: Dataset, graph: RoadGraph, settings: Settings) -> pd.DataFrame:
    """Outcome frame of 农村生活垃圾收运处理 (``waste``), one row per admin village.

    Parameters
    ----------
    dataset : Dataset
        ``admin_villages`` (``waste_treated``), ``natural_villages`` and
        ``env_facilities`` (垃圾收集点, 垃圾转运站).
    graph : RoadGraph
        Its metric CRS is used for the straight-line distances.
    settings : Settings
        ``environment.waste_point_max_m``, ``projects.waste_point_wan``.

    Returns
    -------
    DataFrame
        Outcome frame, key ``waste:<admin village code>``; for villages judged from the
        layer ``value`` = natural villages farther than ``waste_point_max_m`` from every
        collection point, ``limit`` 0; cost = one collection point per such village (one
        for a village whose attribute says untreated). Causes ``not_treated``
        (attribute), ``beyond_collection`` (layer), ``no_data``.
    """
    env = settings.environment
    _, frame = _admin_units(dataset, "waste")
    n = len(frame)
    names = frame["admin_village_name"].to_numpy()
    attr = _attribute(dataset, "waste_treated", n)
    given = attr.notna().to_numpy()
    treated_attr = attr.fillna(False).to_numpy(dtype=bool)
    points = _env_layer(dataset, WASTE_KINDS)
    has_layer = points is not None
    beyond = np.zeros(n)
    far_names: list[str] = [""] * n
    if has_layer:
        nv = dataset.get("natural_villages")
        codes = frame["unit_code"].to_numpy()
        if nv is not None and len(nv):
            o_code = nv["admin_village_code"].astype(str).to_numpy()
            o_name = nv["name"].astype(str).to_numpy()
            o_geom = nv.geometry
        else:
            o_code, o_name = np.array([], dtype=str), np.array([], dtype=str)
            o_geom = None
        lone = ~np.isin(codes, o_code)  # admin villages without natural villages: own point
        lone_pts = shapely.points(frame["lon"].to_numpy()[lone], frame["lat"].to_numpy()[lone])
        geoms = gpd.GeoSeries(
            np.concatenate([o_geom.to_crs(4326).to_numpy() if o_geom is not None else [],
                            lone_pts]), crs=4326,
        )  # fmt: skip
        all_code = np.concatenate([o_code, codes[lone]])
        all_name = np.concatenate([o_name, names[lone]])
        crs = graph.crs if graph is not None else metric_crs(gpd.GeoDataFrame(geometry=geoms))
        dist = np.full(len(geoms), np.inf)
        if len(points) and len(geoms):
            tree = shapely.STRtree(points.geometry.to_crs(crs).to_numpy())
            _, d = tree.query_nearest(geoms.to_crs(crs).to_numpy(), return_distance=True)
            dist = d
        far = dist > env.waste_point_max_m
        beyond = (
            pd.Series(far.astype(float)).groupby(all_code).sum().reindex(codes).fillna(0).to_numpy()
        )
        listing = pd.DataFrame({"code": all_code, "name": all_name, "d": dist})[far]
        for code, grp in listing.groupby("code"):
            i = int(np.flatnonzero(codes == code)[0])
            far_names[i] = "、".join(
                f"{nm}（{fmt_number(d, '米') + '米' if np.isfinite(d) else '无收集点'}）"
                for nm, d in zip(grp["name"], grp["d"], strict=True)
            )
    treated = np.where(given, treated_attr, beyond == 0)
    known = given | has_layer
    status = np.where(~known, "no_data", np.where(treated, "ok", "problem"))
    cause = np.select(
        [~known, treated, given], ["no_data", "", "not_treated"], default="beyond_collection"
    )
    limit = fmt_number(env.waste_point_max_m, "米")
    desc = []
    for i in range(n):
        if given[i]:
            desc.append(f"{names[i]}：村级调查生活垃圾{'已' if treated_attr[i] else '未'}收运处理")
        elif has_layer:
            desc.append(
                f"{names[i]}：各自然村均在垃圾收集点{limit}米范围内，生活垃圾已收运处理"
                if beyond[i] == 0
                else f"{names[i]}：{int(beyond[i])}个自然村距垃圾收集点/转运站超过{limit}米："
                f"{far_names[i]}"
            )
        else:
            desc.append(f"{names[i]}：无生活垃圾收运数据（无属性，也无垃圾收集点图层）")
    problem = status == "problem"
    frame["status"], frame["cause"], frame["description"] = status, cause, desc
    by_layer = ~given & has_layer
    frame["value"] = np.where(by_layer, beyond, np.nan)
    frame["limit"] = np.where(by_layer, 0.0, np.nan)
    frame["value_unit"] = "个"
    frame["problem_type"] = np.where(problem, "生活垃圾未收运处理", "")
    frame["measure"] = np.where(problem, "增设垃圾收集点并纳入县域收运体系", "")
    points_needed = np.where(given, 1.0, np.maximum(beyond, 1.0))
    frame["cost_wan"] = np.where(problem, points_needed * settings.projects.waste_point_wan, np.nan)
    logger.info("waste: %d admin villages, %d problems", n, int(problem.sum()))
    return make_outcomes(frame)


def toilet_outcomes(dataset: Dataset, graph: RoadGraph, settings: Settings) -> pd.DataFrame:
    """Outcome frame of 农村卫生厕所普及 (``toilets``), one row per admin village.

    Parameters
    ----------
    dataset : Dataset
        ``admin_villages`` (``toilet_households``, ``households``) and
        ``natural_villages`` (their households where the admin village has none).
    graph : RoadGraph
        Unused (uniform signature of the indicator table).
    settings : Settings
        ``environment.toilet_village_min_pct``, ``projects.toilet_household_wan``.

    Returns
    -------
    DataFrame
        Outcome frame, key ``toilets:<admin village code>``; ``value`` the village's
        卫生厕所 share (%), ``limit`` ``toilet_village_min_pct``, ``x_weight`` its
        households (for Σ toilet households / Σ households). Problem rows cost the
        改厕 of every household without a 卫生厕所. Causes ``below_min`` (problem),
        ``no_data`` (no ``toilet_households`` or no households).
    """
    del graph
    env = settings.environment
    _, frame = _admin_units(dataset, "toilets")
    n = len(frame)
    names = frame["admin_village_name"].to_numpy()
    toilets = pd.to_numeric(_attribute(dataset, "toilet_households", n), errors="coerce")
    toilets = toilets.to_numpy(dtype=float)
    hh = frame["households"].to_numpy(dtype=float)
    nv = dataset.get("natural_villages")
    if nv is not None and len(nv):
        sums = (
            pd.to_numeric(nv["households"], errors="coerce")
            .groupby(nv["admin_village_code"].astype(str).to_numpy())
            .sum(min_count=1)
        )
        from_nv = frame["unit_code"].map(sums).to_numpy(dtype=float)
        hh = np.where(np.isfinite(hh), hh, from_nv)
    known = np.isfinite(toilets) & np.isfinite(hh) & (hh > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(known, toilets / hh * 100.0, np.nan)
    low = known & (pct < env.toilet_village_min_pct)
    status = np.where(~known, "no_data", np.where(low, "problem", "ok"))
    cause = np.where(~known, "no_data", np.where(low, "below_min", ""))
    lim = f"{env.toilet_village_min_pct:g}"
    desc = [
        f"{nm}：卫生厕所{t:.0f}户/常住{h:.0f}户，普及率{p:.1f}%（低于{lim}%即列入问题清单）"
        + ("，未达标" if lo else "，达标")
        if k
        else f"{nm}：无卫生厕所户数数据"
        for nm, t, h, p, k, lo in zip(names, toilets, hh, pct, known, low, strict=True)
    ]
    missing = np.clip(hh - toilets, 0, None)
    frame["status"], frame["cause"], frame["description"] = status, cause, desc
    frame["value"] = pct
    frame["limit"] = env.toilet_village_min_pct
    frame["value_unit"] = "%"
    frame["households"] = hh
    frame["x_weight"] = np.where(known, hh, np.nan)
    frame["problem_type"] = np.where(low, "卫生厕所普及率偏低", "")
    frame["measure"] = np.where(low, "实施农村户厕改造", "")
    frame["cost_wan"] = np.where(low, missing * settings.projects.toilet_household_wan, np.nan)
    logger.info("toilets: %d admin villages, %d problems", n, int(low.sum()))
    return make_outcomes(frame)
