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

from geo.network import RoadGraph, searches_within, shortest_from, snap
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
    budget_m = limit * m_per_min
    keep = existing[aug.parent_edge]
    pu, pv, plen = aug.u[keep], aug.v[keep], aug.length_m[keep]
    pedge, ppos0 = aug.parent_edge[keep], aug.pos0_m[keep]
    # the pieces at each node (CSR), to look only at the pieces a search reached
    ends = np.concatenate([pu, pv])
    by_node = np.argsort(ends)  # any order within a node: the pieces are made unique below
    node_piece = np.concatenate([np.arange(len(pu)), np.arange(len(pu))])[by_node]
    node_start = np.searchsorted(ends[by_node], np.arange(aug.n_nodes + 1))
    node = aug.point_node
    left_all = budget_m - snaps["dist_m"].to_numpy()
    on = np.flatnonzero(node >= 0)
    site, piece, a_m, b_m = [], [], [], []
    searches = searches_within(matrix, node[on], left_all[on] / m_per_min) if len(pu) else []
    for which, kept, local, dist in searches:
        batch = on[which]
        left = left_all[batch]
        cap = (left / m_per_min)[:, None]
        row, hit = np.nonzero(dist[:, :-1] <= cap)
        hit = kept[hit]
        count = node_start[hit + 1] - node_start[hit]
        row = np.repeat(row, count)
        pcs = node_piece[
            np.repeat(node_start[hit] - np.cumsum(count) + count, count) + np.arange(count.sum())
        ]
        pair = np.unique(row.astype(np.int64) * len(pu) + pcs)
        row, pcs = pair // len(pu), pair % len(pu)
        du, dv = dist[row, local[pu[pcs]]], dist[row, local[pv[pcs]]]
        du = np.where(du <= cap[row, 0], du * m_per_min, np.inf)
        dv = np.where(dv <= cap[row, 0], dv * m_per_min, np.inf)
        ru = np.where(np.isfinite(du), np.clip(left[row] - du, 0, None), 0.0)
        rv = np.where(np.isfinite(dv), np.clip(left[row] - dv, 0, None), 0.0)
        full = ru + rv >= plen[pcs]
        part = ~full & ((ru > 0) | (rv > 0))
        e, p0, pl = pedge[pcs], ppos0[pcs], plen[pcs]
        site += [batch[row[full]], batch[row[part]], batch[row[part]]]
        piece += [e[full], e[part], e[part]]
        a_m += [p0[full], p0[part], (p0 + pl - rv)[part]]
        b_m += [(p0 + pl)[full], (p0 + ru)[part], (p0 + pl)[part]]
    site, piece = _cat(site, np.int64), _cat(piece, np.int64)
    lines, owner = _sub_lines(graph, piece, _cat(a_m, float), _cat(b_m, float), site)
    n_units = len(units)
    reach_km = np.bincount(owner, weights=shapely.length(lines), minlength=n_units) / 1000
    blobs = shapely.buffer(lines, svc.isochrone_buffer_m)
    order = np.argsort(owner, kind="stable")
    cuts = np.searchsorted(owner[order], np.arange(n_units + 1))
    geoms = np.empty(n_units, dtype=object)
    for i in range(n_units):
        if node[i] < 0:
            geoms[i] = shapely.Polygon()
        elif cuts[i + 1] > cuts[i]:
            geoms[i] = shapely.union_all(blobs[order[cuts[i] : cuts[i + 1]]])
        else:
            geoms[i] = shapely.buffer(
                shapely.Point(snaps["snap_x"].iloc[i], snaps["snap_y"].iloc[i]),
                svc.isochrone_buffer_m,
            )
    out = gpd.GeoDataFrame(
        {"unit_id": units["unit_id"], "minutes": limit, "reach_km": reach_km},
        geometry=geoms,
        crs=graph.crs,
    ).to_crs(4326)
    out.attrs["settings_profile"] = settings.profile
    out.attrs["dataset_hash"] = dataset.content_hash
    return out


def _cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def _sub_lines(
    graph: RoadGraph, edges: np.ndarray, start_m: np.ndarray, end_m: np.ndarray, owner: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sub-lines of base edges between two distances along them, vectorised.

    The lines of :func:`shapely.ops.substring` (the start and end points interpolated,
    the vertices strictly between them kept); a whole edge is the edge's own line;
    pieces no longer than 1e-9 m are dropped. Returns the lines and the ``owner`` of each.
    """
    edge_lines = graph.edge_lines(edges)  # these edges' lines only
    length = shapely.length(edge_lines) if len(edges) else np.zeros(0)
    keep = end_m - start_m > 1e-9
    whole = keep & (start_m <= 1e-9) & (end_m >= length - 1e-9)
    cut = np.flatnonzero(keep & ~whole)
    lines = [edge_lines[whole]]
    owners = [owner[whole]]
    if len(cut):
        e, a, b = edges[cut], start_m[cut], end_m[cut]
        a, b = np.clip(a, 0, length[cut]), np.clip(b, 0, length[cut])
        line = edge_lines[cut]
        first = shapely.get_coordinates(shapely.line_interpolate_point(line, a))
        last = shapely.get_coordinates(shapely.line_interpolate_point(line, b))
        # vertices of each edge with their distance along it
        lo, hi = graph.edge_offsets[e], graph.edge_offsets[e + 1]
        count = hi - lo
        which = np.repeat(np.arange(len(cut)), count)
        vert = np.repeat(lo - np.cumsum(count) + count, count) + np.arange(count.sum())
        xy = graph.edge_coords[vert]
        step = np.zeros(len(vert))
        step[1:] = np.hypot(*(xy[1:] - xy[:-1]).T)
        step[np.concatenate([[0], np.cumsum(count)[:-1]])] = 0.0
        along = np.cumsum(step)
        along -= np.repeat(along[np.concatenate([[0], np.cumsum(count)[:-1]])], count)
        inner = (along > a[which]) & (along < b[which])
        # start point, inner vertices, end point: sort by (line, rank)
        ids = np.concatenate([np.arange(len(cut)), which[inner], np.arange(len(cut))])
        rank = np.concatenate([np.full(len(cut), -1.0), along[inner], np.full(len(cut), np.inf)])
        pts = np.concatenate([first, xy[inner], last])
        order = np.lexsort((rank, ids))
        sub = shapely.linestrings(pts[order], indices=ids[order])
        positive = shapely.length(sub) > 0
        lines.append(sub[positive])
        owners.append(owner[cut][positive])
    return np.concatenate(lines), np.concatenate(owners)
