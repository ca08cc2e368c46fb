"""一刻钟便民生活服务圈: walking time from relocation sites to daily-needs facilities.

Rules (``../shared/STANDARDS.md`` §2, thresholds in :class:`geo.settings.ServiceSettings`):
for every relocation site (and, optionally, every natural village), and for each required
facility kind (综合超市, 便利菜店, 药店, 公交站点 by default), the nearest existing facility
by walking time on the road network, and whether it is within the limit (15 min by
default; per-kind limits in the ``mofcom`` profile). A site is 达标 when every required
kind is within its limit.

Walking time = access leg from the site to its snap point on the road (straight line)
+ network distance + access leg from the facility's snap point to the facility, all at
``walk_speed_kmh``. Sites or facilities farther than ``snap_max_m`` from any road are not
on the network: their kinds are unreachable and the reason says so.

Isochrones are the roads reachable within the limit (cut at the exact reach along the
last edge), buffered by ``isochrone_buffer_m`` and dissolved: a footprint of where one
can walk, not a convex hull.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import csgraph
from shapely import ops

from geo.network import RoadGraph, shortest_from, snap
from geo.settings import Settings
from layers.dataset import Dataset

__all__ = ["ServiceResult", "isochrones", "service_access"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceResult:
    """Result of :func:`service_access`.

    Attributes
    ----------
    units : GeoDataFrame
        One row per site (EPSG:4326): ``unit_id``, ``unit_kind`` (``relocation_site`` or
        ``natural_village``), ``name``, ``admin_village_code``, ``township_code``,
        ``population``, ``on_network``, ``snap_dist_m``; per required kind K the columns
        ``K_min`` (walking minutes to the nearest, inf if none reachable), ``K_id`` and
        ``K_ok``; ``missing_kinds`` (、-joined) and ``ok`` (达标).
    nearest : GeoDataFrame
        Long form: ``unit_id``, ``kind``, ``facility_id``, ``facility_name``, ``minutes``,
        ``distance_m``, ``limit_min``, ``ok``; geometry a straight line site → facility.
    no_data : bool
        True when the dataset has no ``service_points`` layer, or an empty one: the
        indicator is 无数据 (STANDARDS §5), never "met" and never zero. The units are
        still listed (all ``ok`` False, every kind missing) for the maps.
    """

    units: gpd.GeoDataFrame
    nearest: gpd.GeoDataFrame
    no_data: bool = False


def _units(dataset: Dataset, include_villages: bool) -> gpd.GeoDataFrame:
    frames = []
    if "relocation_sites" in dataset:
        s = dataset["relocation_sites"]
        frames.append(
            gpd.GeoDataFrame(
                {
                    "unit_id": s["id"].astype(str),
                    "unit_kind": "relocation_site",
                    "name": s["name"],
                    "admin_village_code": s["admin_village_code"],
                    "population": s["population"],
                },
                geometry=s.geometry,
                crs=s.crs,
            )
        )
    if include_villages and "natural_villages" in dataset:
        v = dataset["natural_villages"]
        frames.append(
            gpd.GeoDataFrame(
                {
                    "unit_id": v["id"].astype(str),
                    "unit_kind": "natural_village",
                    "name": v["name"],
                    "admin_village_code": v["admin_village_code"],
                    "population": v["population"],
                },
                geometry=v.geometry,
                crs=v.crs,
            )
        )
    if not frames:
        return gpd.GeoDataFrame(
            {
                "unit_id": [],
                "unit_kind": [],
                "name": [],
                "admin_village_code": [],
                "population": [],
            },
            geometry=[],
            crs=4326,
        )
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)


def service_access(
    dataset: Dataset,
    graph: RoadGraph,
    settings: Settings,
    *,
    include_villages: bool | None = None,
) -> ServiceResult:
    """Compute walking time from each relocation site to the nearest facility of each kind.

    Parameters
    ----------
    dataset : Dataset
        Needs ``relocation_sites`` (and ``natural_villages`` if villages are included)
        and ``service_points``.
    graph : RoadGraph
        The road graph of the dataset.
    settings : Settings
        ``settings.services`` (kinds, limits) and ``settings.network`` (speed, snap).
    include_villages : bool, optional
        Also assess every natural village; default ``settings.services.include_villages``.

    Returns
    -------
    ServiceResult
    """
    svc, net = settings.services, settings.network
    include = svc.include_villages if include_villages is None else include_villages
    units = _units(dataset, include)
    points = dataset.get("service_points", None)
    if points is not None:
        points = points.loc[points["status"] == "现状"]
    facilities = (
        points
        if points is not None
        else gpd.GeoDataFrame({"id": [], "name": [], "kind": []}, geometry=[], crs=4326)
    )
    n_u = len(units)
    all_geoms = pd.concat([units.geometry, facilities.geometry], ignore_index=True)
    existing = graph.edge_mask()
    snaps = snap(
        graph, gpd.GeoSeries(all_geoms, crs=units.crs), max_m=net.snap_max_m, edge_mask=existing
    )
    aug = graph.with_points(snaps)
    m_per_min = net.walk_speed_kmh * 1000 / 60
    access = snaps["dist_m"].to_numpy() / m_per_min
    matrix = aug.matrix(aug.length_m / m_per_min, mask=existing, access=access)
    node_of = np.where(aug.point_node >= 0, aug.feature_node(np.arange(len(snaps))), -1)
    unit_nodes, fac_nodes = node_of[:n_u], node_of[n_u:]

    township = units["admin_village_code"].astype(str).str[:9]
    if "admin_villages" in dataset:
        tw = dataset["admin_villages"].set_index("code")["township_code"]
        township = units["admin_village_code"].map(tw).fillna(township)
    out = gpd.GeoDataFrame(
        {
            "unit_id": units["unit_id"],
            "unit_kind": units["unit_kind"],
            "name": units["name"],
            "admin_village_code": units["admin_village_code"],
            "township_code": township,
            "population": units["population"],
            "on_network": unit_nodes >= 0,
            "snap_dist_m": snaps["dist_m"].to_numpy()[:n_u],
        },
        geometry=units.geometry.to_numpy(),
        crs=units.crs,
    )
    fac_kind = facilities["kind"].to_numpy()
    fac_ids = facilities["id"].astype(str).to_numpy()
    fac_names = facilities["name"].astype(str).to_numpy()
    fac_xy = shapely.get_coordinates(facilities.geometry.representative_point().to_numpy())
    unit_xy = shapely.get_coordinates(units.geometry.representative_point().to_numpy())
    unit_ids = out["unit_id"].to_numpy()
    missing = np.zeros((n_u, len(svc.required_kinds)), dtype=bool)
    parts: list[pd.DataFrame] = []
    lines: list[np.ndarray] = []
    for k, kind in enumerate(svc.required_kinds):
        limit = svc.limit_min(kind)
        sel = np.flatnonzero((fac_kind == kind) & (fac_nodes >= 0))
        minutes = np.full(n_u, np.inf)
        nearest = np.full(n_u, -1)
        if len(sel):
            cost, src, _ = shortest_from(matrix, fac_nodes[sel])
            on = unit_nodes >= 0
            minutes[on] = cost[unit_nodes[on]]
            # which facility: map the source node back to the facility row
            node_to_fac = pd.Series(sel, index=fac_nodes[sel])
            node_to_fac = node_to_fac[~node_to_fac.index.duplicated()]
            reach = on & np.isfinite(minutes)
            nearest[reach] = node_to_fac.reindex(src[unit_nodes[reach]]).to_numpy()
        ok = minutes <= limit
        has = nearest >= 0
        j = np.maximum(nearest, 0)
        out[f"{kind}_min"] = minutes
        out[f"{kind}_id"] = _take(fac_ids, nearest)
        out[f"{kind}_ok"] = ok
        missing[:, k] = ~ok
        parts.append(
            pd.DataFrame(
                {
                    "unit_id": unit_ids,
                    "kind": kind,
                    "facility_id": _take(fac_ids, nearest),
                    "facility_name": _take(fac_names, nearest),
                    "minutes": minutes,
                    "distance_m": minutes * m_per_min,
                    "limit_min": limit,
                    "ok": ok,
                }
            )
        )
        seg = np.full(n_u, None, dtype=object)
        if has.any():
            coords = np.stack([unit_xy[has], fac_xy[j[has]]], axis=1)
            seg[has] = shapely.linestrings(coords)
        lines.append(seg)
    kinds = np.array(svc.required_kinds, dtype=object)
    out["missing_kinds"] = ["、".join(kinds[row]) for row in missing]
    out["ok"] = ~missing.any(axis=1)
    long = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(
            columns=[
                "unit_id",
                "kind",
                "facility_id",
                "facility_name",
                "minutes",
                "distance_m",
                "limit_min",
                "ok",
            ]
        )
    )
    nearest_frame = gpd.GeoDataFrame(
        long, geometry=np.concatenate(lines) if lines else [], crs=units.crs
    )
    for frame in (out, nearest_frame):
        frame.attrs["settings_profile"] = settings.profile
        frame.attrs["dataset_hash"] = dataset.content_hash
    layer = dataset.get("service_points")
    no_data = layer is None or len(layer) == 0
    logger.info(
        "services: %d units, %d 达标%s", n_u, int(out["ok"].sum()), " (无数据)" if no_data else ""
    )
    return ServiceResult(units=out, nearest=nearest_frame, no_data=bool(no_data))


def _take(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``values[index]`` where ``index >= 0``, else ``""`` (also when ``values`` is empty)."""
    out = np.full(len(index), "", dtype=object)
    has = index >= 0
    out[has] = values[index[has]]
    return out


def isochrones(
    dataset: Dataset,
    graph: RoadGraph,
    settings: Settings,
    *,
    minutes: float | None = None,
) -> gpd.GeoDataFrame:
    """Compute the walking isochrone polygon of every relocation site.

    Parameters
    ----------
    dataset, graph, settings
        As for :func:`service_access`.
    minutes : float, optional
        Time limit; default ``settings.services.max_time_min``.

    Returns
    -------
    GeoDataFrame
        ``unit_id``, ``minutes``, ``reach_km`` (road length reachable) and the polygon
        (EPSG:4326; empty for a site not on the network).
    """
    svc, net = settings.services, settings.network
    limit = svc.max_time_min if minutes is None else float(minutes)
    units = _units(dataset, include_villages=False)
    existing = graph.edge_mask()
    snaps = snap(graph, units.geometry, max_m=net.snap_max_m, edge_mask=existing)
    aug = graph.with_points(snaps)
    m_per_min = net.walk_speed_kmh * 1000 / 60
    matrix = aug.matrix(aug.length_m / m_per_min, mask=existing)
    geoms: list[shapely.Geometry] = []
    reach_km: list[float] = []
    budget_m = limit * m_per_min
    keep = existing[aug.parent_edge]
    pu, pv, plen = aug.u[keep], aug.v[keep], aug.length_m[keep]
    pedge, ppos0 = aug.parent_edge[keep], aug.pos0_m[keep]
    for i in range(len(units)):
        node = aug.point_node[i]
        access_m = snaps["dist_m"].iloc[i]
        if node < 0:
            geoms.append(shapely.Polygon())
            reach_km.append(0.0)
            continue
        left = budget_m - access_m
        dist = csgraph.dijkstra(matrix, directed=False, indices=int(node), limit=left / m_per_min)
        dist_m = dist * m_per_min
        du, dv = dist_m[pu], dist_m[pv]
        ru, rv = np.clip(left - du, 0, None), np.clip(left - dv, 0, None)
        ru[~np.isfinite(du)] = 0
        rv[~np.isfinite(dv)] = 0
        full = ru + rv >= plen
        partial = ~full & ((ru > 0) | (rv > 0))
        parts = list(_pieces(graph, pedge[full], ppos0[full], ppos0[full] + plen[full]))
        idx = np.flatnonzero(partial)
        parts += list(_pieces(graph, pedge[idx], ppos0[idx], ppos0[idx] + ru[idx]))
        parts += list(
            _pieces(graph, pedge[idx], ppos0[idx] + plen[idx] - rv[idx], ppos0[idx] + plen[idx])
        )
        lines = [p for p in parts if not p.is_empty and p.length > 0]
        reach_km.append(sum(p.length for p in lines) / 1000)
        if lines:
            geoms.append(shapely.union_all(shapely.buffer(np.array(lines), svc.isochrone_buffer_m)))
        else:
            geoms.append(
                shapely.buffer(
                    shapely.Point(snaps["snap_x"].iloc[i], snaps["snap_y"].iloc[i]),
                    svc.isochrone_buffer_m,
                )
            )
    out = gpd.GeoDataFrame(
        {"unit_id": units["unit_id"], "minutes": limit, "reach_km": reach_km},
        geometry=geoms,
        crs=graph.crs,
    ).to_crs(4326)
    out.attrs["settings_profile"] = settings.profile
    out.attrs["dataset_hash"] = dataset.content_hash
    return out


def _pieces(graph: RoadGraph, edges: np.ndarray, start_m: np.ndarray, end_m: np.ndarray):
    """Sub-lines of base edges between two distances along them."""
    geoms = graph.edge_geoms
    for e, a, b in zip(edges, start_m, end_m, strict=True):
        if b - a <= 1e-9:
            continue
        line = geoms[e]
        if a <= 1e-9 and b >= line.length - 1e-9:
            yield line
        else:
            yield ops.substring(line, a, b)
