"""Terrain-aware analyses: new road links over the hills, and walking times off the network.

Built on :mod:`geo.terrain` and the network analyses:

- :func:`terrain_links` replaces each straight missing link of the 通硬化路 analysis by the
  route a new road would take across the DEM (least cost where a road climbs at most
  ``road_max_grade_pct``: steeper ground costs the switchbacks, ``max(1, slope / grade)``
  metres of road per metre of ground, and ground steeper than ``route_max_slope_pct`` or in a
  no-build zone cannot be crossed), with its length and mean / max terrain slope. A village
  whose link's mean slope exceeds ``buildable_mean_slope_max_pct`` (25 %, STANDARDS §1), or
  that no buildable route reaches, is **not 具备建设条件**: its scope becomes ``excluded``
  with the reason ``terrain_too_steep`` / ``no_buildable_route``, the documented exclusion of
  the hard-road rate.
- :func:`terrain_access` computes Tobler walking-time surfaces from the facilities of each
  一刻钟 kind and from the 卫生室, samples them at the relocation sites and the natural
  villages, and sets them beside the network-only answers: where terrain changes the verdict
  (a site the network says is within 15 minutes that the hills put beyond, or a short cut
  across fields that brings a shop within reach), and the population beyond the clinic limit
  per township (zonal statistics on a population grid).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.clinics import ClinicResult
from geo.network import RoadGraph
from geo.roads import HardRoadResult, trunk_joined_hard_edges
from geo.services import ServiceResult
from geo.settings import Settings
from geo.terrain import (
    Grid,
    least_cost_path,
    population_grid,
    slope_aspect,
    travel_minutes,
    walking_friction,
    zonal_population,
)
from layers.dataset import Dataset

__all__ = [
    "TerrainAccess",
    "TerrainContext",
    "terrain_access",
    "terrain_context",
    "terrain_links",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class TerrainContext:
    """The grids one dataset's terrain analyses share.

    Attributes
    ----------
    dem : Grid
        Elevations on the analysis grid.
    slope_pct : ndarray
        Horn slope in percent (NaN at edges and nodata).
    walk : Grid
        Walking minutes per metre: Tobler off road, existing (现状) roads burned in.
    build : Grid
        Metres of road to build per metre of ground (inf: cannot be built).
    """

    dem: Grid
    slope_pct: np.ndarray
    walk: Grid
    build: Grid


def terrain_context(
    dataset: Dataset,
    dem: Grid,
    settings: Settings,
    *,
    no_build: gpd.GeoDataFrame | None = None,
    barriers: gpd.GeoDataFrame | None = None,
) -> TerrainContext:
    """Slope, walking friction and road-building cost of ``dataset`` on ``dem``'s grid.

    Parameters
    ----------
    dataset : Dataset
        Needs ``roads``.
    dem : Grid
        From :func:`geo.terrain.read_dem`.
    settings : Settings
        ``settings.terrain`` and ``settings.network.walk_speed_kmh``.
    no_build : GeoDataFrame, optional
        Zones where no road may be built (protected areas, 基本农田 …).
    barriers : GeoDataFrame, optional
        Zones no one walks through (reservoirs, cliffs).
    """
    ts = settings.terrain
    _, slope_pct, _ = slope_aspect(dem)
    roads = dataset["roads"]
    roads = roads.loc[roads["status"] == "现状"]
    walk = walking_friction(
        dem,
        flat_kmh=settings.network.walk_speed_kmh,
        off_road_factor=ts.off_road_factor,
        roads=roads,
        road_grade_max=ts.road_walk_grade_max_pct / 100.0,
        barriers=barriers,
    )
    s = np.nan_to_num(slope_pct, nan=np.inf)
    build = np.maximum(1.0, s / ts.road_max_grade_pct)
    build[(s > ts.route_max_slope_pct) | ~np.isfinite(dem.data)] = np.inf
    if no_build is not None:
        build[dem.mask(no_build.geometry)] = np.inf
    return TerrainContext(dem=dem, slope_pct=slope_pct, walk=walk, build=dem.like(build))


def _path_slopes(ctx: TerrainContext, line: shapely.LineString) -> tuple[float, float]:
    """Mean and max terrain slope (%) of the cells a line passes through."""
    pts = gpd.GeoSeries(
        shapely.points(shapely.get_coordinates(line.segmentize(ctx.dem.res_m / 2))),
        crs=ctx.dem.crs,
    )
    row, col, inside = ctx.dem.rowcol(pts)
    vals = ctx.slope_pct[row[inside], col[inside]]
    vals = vals[np.isfinite(vals)]
    if not len(vals):
        return np.nan, np.nan
    return float(vals.mean()), float(vals.max())


def terrain_links(
    graph: RoadGraph, hard: HardRoadResult, ctx: TerrainContext, settings: Settings
) -> HardRoadResult:
    """Route the new road links over the terrain and flag villages not 具备建设条件.

    Parameters
    ----------
    graph : RoadGraph
        The road graph the hard-road analysis used.
    hard : HardRoadResult
        Output of :func:`geo.roads.hard_road_access`.
    ctx : TerrainContext
    settings : Settings

    Returns
    -------
    HardRoadResult
        A new result: ``new`` links follow the least-cost route (or stay straight when
        shorter than two cells), with ``route`` (``least_cost``/``straight``/``none``),
        ``straight_km``, ``ground_km`` (plan length of the route), ``length_km`` (road to
        build, switchbacks included), ``mean_slope_pct``, ``max_slope_pct`` and
        ``buildable``; every link gets those columns (harden links: the slopes of the road
        to harden). Villages beyond the slope limit or with no buildable route are
        ``excluded`` with their reason; costs use the new lengths.
    """
    ts, hr = settings.terrain, settings.hard_road
    res = ctx.dem.res_m
    if hard.links.empty:  # every village connected: nothing to route
        cols = ["route", "straight_km", "ground_km", "mean_slope_pct", "max_slope_pct"]
        links = hard.links.assign(**{c: pd.Series(dtype=float) for c in cols})
        links["buildable"] = pd.Series(dtype=bool)
        return replace(hard, villages=hard.villages.assign(link_mean_slope_pct=np.nan), links=links)
    links = hard.links.to_crs(ctx.dem.crs).copy()
    joined = gpd.GeoSeries(
        graph.edge_lines(np.flatnonzero(trunk_joined_hard_edges(graph, settings))), crs=graph.crs
    ).to_crs(ctx.dem.crs)
    joined_tree = shapely.STRtree(joined.to_numpy())
    target = ctx.dem.mask(joined, all_touched=True)
    n = len(links)
    route = np.full(n, "straight", dtype=object)
    straight = links["length_km"].to_numpy(dtype=float).copy()
    ground = straight.copy()
    length = straight.copy()
    mean_s, max_s = np.full(n, np.nan), np.full(n, np.nan)
    geoms = links.geometry.to_numpy().copy()
    for i, (kind, geom) in enumerate(zip(links["kind"], geoms, strict=True)):
        if kind == "new" and geom is not None and geom.length >= 2 * res:
            start = shapely.get_point(geom, 0)
            line, cost = least_cost_path(ctx.build, start, target)
            if line is None:
                route[i] = "none"
                mean_s[i], max_s[i] = _path_slopes(ctx, geom)
                length[i] = np.nan
                continue
            coords = shapely.get_coordinates(line)
            coords[0] = shapely.get_coordinates(start)[0]
            # end exactly on the road the route reached (the last cell centre is up to half
            # a cell diagonal off it), so that the new road joins the network
            end = shapely.Point(coords[-1])
            j = joined_tree.query_nearest(end, all_matches=False)[0]
            on_road = shapely.get_coordinates(
                shapely.shortest_line(end, joined_tree.geometries[j])
            )[-1]
            coords = np.vstack([coords, on_road])
            line = shapely.LineString(coords) if len(coords) > 1 else geom
            geoms[i] = line
            route[i] = "least_cost"
            ground[i] = line.length / 1000
            length[i] = max(cost / 1000, ground[i])
        mean_s[i], max_s[i] = _path_slopes(ctx, geoms[i])
    links = links.set_geometry(gpd.GeoSeries(geoms, index=links.index, crs=ctx.dem.crs))
    links["route"] = route
    links["straight_km"] = straight
    links["ground_km"] = ground
    links["length_km"] = length
    links["mean_slope_pct"] = mean_s
    links["max_slope_pct"] = max_s
    is_new = (links["kind"] == "new").to_numpy()
    too_steep = is_new & (mean_s > ts.buildable_mean_slope_max_pct)
    no_route = is_new & (route == "none")
    links["buildable"] = ~(too_steep | no_route)
    rate = {"harden": hr.harden_cost_wan_per_km, "new": hr.new_road_cost_wan_per_km}
    links["cost_wan"] = links["length_km"] * links["kind"].map(rate).astype(float)

    v = hard.villages.copy()
    new_km = links.loc[is_new].groupby("village_id")["length_km"].sum(min_count=1)
    has_new = v["id"].isin(new_km.index).to_numpy()
    if has_new.any():
        v.loc[has_new, "new_km"] = v.loc[has_new, "id"].map(new_km).to_numpy(dtype=float)
    v["cost_wan"] = (
        v["harden_km"].fillna(0) * hr.harden_cost_wan_per_km
        + v["new_km"].fillna(0) * hr.new_road_cost_wan_per_km
    )
    steep_ids = set(links.loc[too_steep, "village_id"])
    none_ids = set(links.loc[no_route, "village_id"])
    for ids, reason in ((steep_ids, "terrain_too_steep"), (none_ids, "no_buildable_route")):
        sel = v["id"].isin(ids).to_numpy() & (v["scope"] == "target").to_numpy()
        v.loc[sel, "scope"] = "excluded"
        v.loc[sel, "status"] = "excluded"
        v.loc[sel, "reason"] = reason
    v["link_mean_slope_pct"] = v["id"].map(
        links.loc[is_new].groupby("village_id")["mean_slope_pct"].max()
    )
    v.attrs = dict(hard.villages.attrs)
    out_links = links.to_crs(4326)
    out_links.attrs = dict(hard.links.attrs)
    logger.info(
        "terrain links: %d new links routed, %d villages not 具备建设条件 (%d too steep, "
        "%d without a buildable route)",
        int((route == "least_cost").sum()),
        len(steep_ids | none_ids),
        len(steep_ids),
        len(none_ids),
    )
    return replace(hard, villages=v, links=out_links)


@dataclass(frozen=True, eq=False)
class TerrainAccess:
    """Result of :func:`terrain_access`.

    Attributes
    ----------
    services : DataFrame
        One row per relocation site and required kind: ``unit_id``, ``name``, ``kind``,
        ``limit_min``, ``network_min``, ``terrain_min``, ``network_ok``, ``terrain_ok``,
        ``change`` (``same``/``worse``/``better``: terrain puts it beyond / within reach).
    clinics : DataFrame
        One row per natural village: ``id``, ``name``, ``township_code``, ``population``,
        ``network_min``, ``terrain_min``, ``network_ok``, ``terrain_ok``, ``change``.
    townships : DataFrame
        Per township: ``code``, ``name``, ``population`` (on the grid), ``beyond`` (beyond
        the clinic limit over terrain), ``beyond_pct``, ``mean_minutes``,
        ``network_beyond`` (the same count from the network-only answer).
    surfaces : dict of str to Grid
        Walking minutes from the nearest facility of each kind (``卫生室`` included).
    """

    services: pd.DataFrame
    clinics: pd.DataFrame
    townships: pd.DataFrame
    surfaces: dict[str, Grid]


def _change(net_ok: np.ndarray, ter_ok: np.ndarray) -> np.ndarray:
    return np.select([net_ok & ~ter_ok, ~net_ok & ter_ok], ["worse", "better"], "same")


def terrain_access(
    dataset: Dataset,
    ctx: TerrainContext,
    settings: Settings,
    *,
    services: ServiceResult,
    clinics: ClinicResult,
    population: Grid | None = None,
) -> TerrainAccess:
    """Compare walking times over the terrain with the network-only answers (一刻钟, 卫生室).

    Parameters
    ----------
    dataset : Dataset
    ctx : TerrainContext
        From :func:`terrain_context` on the same dataset.
    settings : Settings
    services, clinics : ServiceResult, ClinicResult
        The network analyses of the same dataset and settings.
    population : Grid, optional
        People per cell on ``ctx``'s grid (:func:`geo.terrain.read_population`); default:
        the natural villages' populations put in the cells that hold them.

    Returns
    -------
    TerrainAccess
    """
    svc = settings.services
    sp = dataset["service_points"]
    sp = sp.loc[sp["status"] == "现状"]
    units = services.units
    sites = units.loc[units["unit_kind"] == "relocation_site"]
    surfaces: dict[str, Grid] = {}
    rows = []
    for kind in svc.required_kinds:
        surf = travel_minutes(ctx.walk, sp.loc[sp["kind"] == kind].geometry)
        surfaces[kind] = surf
        limit = svc.limit_min(kind)
        net = sites[f"{kind}_min"].to_numpy(dtype=float)
        ter = surf.sample(sites.geometry)
        rows.append(
            pd.DataFrame(
                {
                    "unit_id": sites["unit_id"].to_numpy(),
                    "name": sites["name"].to_numpy(),
                    "kind": kind,
                    "limit_min": limit,
                    "network_min": net,
                    "terrain_min": ter,
                    "network_ok": net <= limit,
                    "terrain_ok": ter <= limit,
                }
            )
        )
    svc_frame = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    if len(svc_frame):
        svc_frame["change"] = _change(
            svc_frame["network_ok"].to_numpy(), svc_frame["terrain_ok"].to_numpy()
        )

    cs = settings.clinics
    cl = dataset["clinics"]
    rooms = cl.loc[(cl["kind"] == "卫生室") & (cl["status"] == "现状")]
    surf = travel_minutes(ctx.walk, rooms.geometry)
    surfaces["卫生室"] = surf
    v = clinics.villages
    ter = surf.sample(v.geometry)
    net = v["clinic_min"].to_numpy(dtype=float)
    limit = cs.clinic_max_time_min
    cl_frame = pd.DataFrame(
        {
            "id": v["id"].to_numpy(),
            "name": v["name"].to_numpy(),
            "township_code": v["township_code"].to_numpy(),
            "population": v["population"].to_numpy(dtype=float),
            "network_min": net,
            "terrain_min": ter,
            "network_ok": net <= limit,
            "terrain_ok": ter <= limit,
        }
    )
    cl_frame["change"] = _change(
        cl_frame["network_ok"].to_numpy(), cl_frame["terrain_ok"].to_numpy()
    )

    nv = dataset["natural_villages"]
    pop = nv["population"].fillna(nv["households"] * settings.water.persons_per_household)
    grid_pop = (
        population
        if population is not None
        else population_grid(nv, pop.to_numpy(dtype=float), ctx.dem)
    )
    tw = dataset["townships"]
    zonal = zonal_population(grid_pop, surf, tw, limit_min=limit)
    zonal.insert(1, "name", tw["name"].to_numpy())
    net_beyond = cl_frame.loc[~cl_frame["network_ok"]].groupby("township_code")["population"].sum()
    zonal["network_beyond"] = zonal["code"].map(net_beyond).fillna(0.0).to_numpy()
    logger.info(
        "terrain access: %d site×kind verdicts changed, %d villages' clinic verdict changed",
        int((svc_frame.get("change", pd.Series(dtype=str)) != "same").sum()),
        int((cl_frame["change"] != "same").sum()),
    )
    return TerrainAccess(services=svc_frame, clinics=cl_frame, townships=zonal, surfaces=surfaces)
