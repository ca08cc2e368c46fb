"""Access to the nearest facility: network time and distance, or straight-line distance.

:func:`nearest_facility` generalises the clinic and service searches
(``geo.clinics._travel``, ``geo.services``): origins and facilities are snapped to the
existing (现状) roads within ``snap_max_m`` (their access leg walked at
``walk_speed_kmh``), and **one** multi-source Dijkstra from all facilities of a set
(:func:`geo.network.shortest_from`, ``min_only=True``) gives every origin its nearest
facility. The metres along that route come from the Dijkstra predecessors (pointer
jumping over the shortest-path tree, vectorised), so a driving search also says how far
the nearest facility is by road.

:func:`facility_access_outcomes` is the outcome frame of a county's own indicator of the
common kind (:class:`geo.settings.IndicatorSpec`, ``[[indicators]]`` in its TOML profile):
each unit must reach a facility of the given kinds within a time or distance limit.

The helpers :func:`existing_facilities` (a facility layer's 现状 rows of some kinds) and
:func:`seat_points` (an admin village's seat: its largest natural village, else its own
point) are shared by the analyses of :mod:`geo.education`, :mod:`geo.public_services` and
the other indicator modules.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse

from geo.indicators.outcomes import make_outcomes, unit_frame
from geo.network import RoadGraph, shortest_from, snap
from geo.settings import IndicatorSpec, NetworkSettings, Settings
from layers.dataset import Dataset
from layers.schema import split_codes

__all__ = [
    "ACCESS_MODES",
    "existing_facilities",
    "facilities_per_unit",
    "facility_access_outcomes",
    "nearest_facility",
    "seat_points",
    "served_by",
]

logger = logging.getLogger(__name__)

ACCESS_MODES: tuple[str, ...] = ("walk", "drive", "network_m", "straight")
"""Travel modes of :func:`nearest_facility`: network time on foot or by car, network
distance (metres along the roads, walked), straight-line distance."""

MODE_ZH = {"walk": "步行", "drive": "车行", "network_m": "路网距离", "straight": "直线距离"}
"""How a description names each mode."""

REASON_ZH = {
    "off_network": "距道路超过吸附距离，无法计算路网距离",
    "unreachable": "路网不连通，无法到达",
    "no_facility": "全县无此类设施",
}
"""Chinese text of :func:`nearest_facility`'s ``reason`` codes."""

_EPS = 1e-9


def existing_facilities(
    frame: gpd.GeoDataFrame | None, kinds: Sequence[str] = ()
) -> gpd.GeoDataFrame | None:
    """Return a facility layer's existing (现状) rows of the given kinds.

    Parameters
    ----------
    frame : GeoDataFrame or None
        A normalised facility layer (``kind``, optional ``status``), or None when the
        county has no such layer.
    kinds : sequence of str
        Values of ``kind`` that count; empty = every kind.

    Returns
    -------
    GeoDataFrame or None
        None when ``frame`` is None (the indicator is 无数据); else the 现状 rows of the
        kinds (``规划`` rows count only in the 规划 scenario, :mod:`geo.plan`).
    """
    if frame is None:
        return None
    keep = np.ones(len(frame), dtype=bool)
    if "status" in frame:
        keep &= (frame["status"].astype(str) == "现状").to_numpy()
    if kinds and "kind" in frame:
        keep &= frame["kind"].astype(str).isin(list(kinds)).to_numpy()
    return frame.loc[keep]


def served_by(facilities: pd.DataFrame) -> pd.Series:
    """Return, per admin village code, the ids (、-joined) of facilities serving it.

    From the facilities' ``serves_codes``; an empty Series when none lists any code.
    """
    if facilities is None or facilities.empty or "serves_codes" not in facilities:
        return pd.Series(dtype=str)
    pairs = pd.DataFrame(
        {"id": facilities["id"].astype(str).to_numpy(),
         "code": [split_codes(t) for t in facilities["serves_codes"]]}
    ).explode("code").dropna()  # fmt: skip
    if pairs.empty:
        return pd.Series(dtype=str)
    return pairs.groupby("code")["id"].agg("、".join)


def facilities_per_unit(
    facilities: gpd.GeoDataFrame, units: pd.DataFrame, *, code_field: str
) -> pd.Series:
    """Count facilities per unit: by their ``code_field``, else by lying in the unit polygon.

    Parameters
    ----------
    facilities : GeoDataFrame
        Facilities with ``code_field`` (``admin_village_code`` or ``township_code``,
        empty where unknown) and a geometry.
    units : DataFrame
        :func:`geo.indicators.outcomes.unit_frame` rows (``unit_code``, ``geometry`` in
        EPSG:4326); units given as points only match by code.
    code_field : str
        The facilities' field naming the unit they belong to.

    Returns
    -------
    Series
        Number of facilities per ``unit_code`` (0 where none), in the order of ``units``.
    """
    codes = (
        facilities[code_field].fillna("").astype(str)
        if code_field in facilities
        else pd.Series("", index=facilities.index)
    )
    known = set(units["unit_code"])
    matched = codes.where(codes.isin(known), "")
    loose = (matched == "").to_numpy()
    if loose.any() and len(units):
        polys = gpd.GeoDataFrame(
            {"unit_code": units["unit_code"].to_numpy()},
            geometry=gpd.GeoSeries(units["geometry"].to_numpy(), crs=4326),
        )
        polys = polys.loc[polys.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()]
        pts = facilities.loc[loose, ["geometry"]].to_crs(4326)
        if len(polys) and len(pts):
            hit = gpd.sjoin(pts, polys, how="left", predicate="within")
            hit = hit[~hit.index.duplicated()]
            matched.loc[loose] = hit["unit_code"].reindex(pts.index).fillna("").to_numpy()
    counts = matched[matched != ""].value_counts()
    return units["unit_code"].map(counts).fillna(0).astype(int)


def seat_points(dataset: Dataset) -> gpd.GeoSeries:
    """Return the seat of every admin village: its largest natural village, else its point.

    The largest natural village is the one with the most 常住人口 (ties: more households,
    then the smaller id). An admin village without natural villages is represented by a
    point on its own geometry (its point, or a point on the surface of its polygon).

    Returns
    -------
    GeoSeries
        EPSG:4326, indexed by admin village code (str), in the order of the layer.
    """
    admin = dataset.get("admin_villages")
    if admin is None or admin.empty:
        return gpd.GeoSeries([], crs=4326, index=pd.Index([], dtype=str))
    codes = admin["code"].astype(str).to_numpy()
    own = admin.geometry.to_crs(4326) if admin.crs is not None else admin.geometry
    seats = pd.Series(shapely.point_on_surface(own.to_numpy()), index=codes, dtype=object)
    nv = dataset.get("natural_villages")
    if nv is not None and len(nv):
        order = pd.DataFrame(
            {
                "av": nv["admin_village_code"].astype(str).to_numpy(),
                "pop": pd.to_numeric(nv["population"], errors="coerce").fillna(-1).to_numpy(),
                "hh": pd.to_numeric(nv["households"], errors="coerce").fillna(-1).to_numpy(),
                "id": nv["id"].astype(str).to_numpy(),
                "pos": np.arange(len(nv)),
            }
        ).sort_values(["av", "pop", "hh", "id"], ascending=[True, False, False, True])
        top = order.drop_duplicates("av")
        top = top.loc[top["av"].isin(codes)]
        geoms = nv.geometry.to_crs(4326) if nv.crs is not None else nv.geometry
        seats.loc[top["av"].to_numpy()] = geoms.to_numpy()[top["pos"].to_numpy()]
    return gpd.GeoSeries(seats.to_numpy(), index=pd.Index(codes), crs=4326)


def _straight(
    origins: np.ndarray, facilities: np.ndarray, present: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Straight-line metres to the nearest facility and its position (metric CRS)."""
    n = len(origins)
    dist, row = np.full(n, np.inf), np.full(n, -1)
    ok = ~(shapely.is_missing(origins) | shapely.is_empty(origins))
    fac = np.flatnonzero(present)
    if not len(fac) or not ok.any():
        return dist, row
    tree = shapely.STRtree(facilities[fac])
    which = np.flatnonzero(ok)
    (qi, ti), d = tree.query_nearest(origins[which], return_distance=True, all_matches=False)
    dist[which[qi]] = d
    row[which[qi]] = fac[ti]
    return dist, row


def _path_lengths(pred: np.ndarray, length: sparse.csr_array, nodes: np.ndarray) -> np.ndarray:
    """Metres from each of ``nodes`` to the root of its shortest-path tree.

    Pointer jumping over the predecessor array: every node's sum doubles its reach each
    round, so the rounds are log2 of the deepest path, each one vectorised.
    """
    n = len(pred)
    parent = np.where(pred >= 0, pred, -1).astype(np.int64)
    acc = np.zeros(n)
    has = np.flatnonzero(parent >= 0)
    if len(has):
        a, b = np.minimum(parent[has], has), np.maximum(parent[has], has)
        acc[has] = np.asarray(length[a, b]).ravel()
    while True:
        up = parent >= 0
        if not up.any():
            break
        idx = np.flatnonzero(up)
        acc_new = acc.copy()
        acc_new[idx] = acc[idx] + acc[parent[idx]]
        parent_new = parent.copy()
        parent_new[idx] = parent[parent[idx]]
        acc, parent = acc_new, parent_new
    out = np.full(len(nodes), np.inf)
    ok = nodes >= 0
    out[ok] = acc[nodes[ok]]
    return out


def nearest_facility(
    graph: RoadGraph | None,
    origins: gpd.GeoSeries,
    facilities: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    mode: str,
    network: NetworkSettings,
) -> pd.DataFrame:
    """Find every origin's nearest facility, by network time, network or straight distance.

    Parameters
    ----------
    graph : RoadGraph or None
        The road graph (metric CRS); only ``mode="straight"`` may pass None (the metric
        CRS is then the origins' :func:`geo.crs.metric_crs`).
    origins : GeoSeries
        Villages, sites or seats, any CRS (points or polygons: a polygon snaps from its
        edge nearest the road; its straight distance is 0 to facilities inside it).
    facilities : GeoDataFrame or GeoSeries
        The facilities of one set (already filtered by kind and status), any CRS.
    mode : {"walk", "drive", "network_m", "straight"}
        ``walk``/``drive``: nearest by travel time (:meth:`RoadGraph.travel_minutes`,
        access legs walked); ``network_m``: nearest by metres along the existing roads;
        ``straight``: nearest by straight-line metres.
    network : NetworkSettings
        ``snap_max_m`` (origin or facility to road), ``walk_speed_kmh`` and driving
        speeds.

    Returns
    -------
    DataFrame
        Indexed like ``origins``: ``minutes`` (travel time to the nearest facility; for
        ``network_m`` the walking time of that route; NaN for ``straight``; inf if none
        is reached), ``distance_m`` (metres along that route, access legs included, or
        the straight line; inf if none), ``row`` (position of the facility in
        ``facilities``, -1 if none), ``on_network`` (the origin is within
        ``snap_max_m`` of an existing road; True for ``straight``) and ``reason`` (``""``
        when found, ``no_facility``, ``off_network`` or ``unreachable``).

    Notes
    -----
    One Dijkstra per call (all facilities are its sources, ``min_only=True``). Where two
    road pieces join the same pair of nodes, the faster one is kept and its length is
    the one counted.
    """
    if mode not in ACCESS_MODES:
        raise ValueError(f"mode must be one of {list(ACCESS_MODES)}, got {mode!r}")
    n = len(origins)
    fac_geoms = facilities.geometry if isinstance(facilities, gpd.GeoDataFrame) else facilities
    n_f = len(fac_geoms)
    out = pd.DataFrame(
        {
            "minutes": np.full(n, np.inf),
            "distance_m": np.full(n, np.inf),
            "row": np.full(n, -1, dtype=np.int64),
            "on_network": np.ones(n, dtype=bool),
            "reason": "",
        },
        index=origins.index,
    )
    if mode == "straight":
        from geo.crs import metric_crs

        crs = graph.crs if graph is not None else metric_crs(gpd.GeoDataFrame(geometry=origins))
        o = origins.to_crs(crs).to_numpy() if n else np.array([], dtype=object)
        f = fac_geoms.to_crs(crs).to_numpy() if n_f else np.array([], dtype=object)
        present = ~(shapely.is_missing(f) | shapely.is_empty(f)) if n_f else np.zeros(0, bool)
        dist, row = _straight(o, f, present)
        out["minutes"] = np.nan
        out["distance_m"], out["row"] = dist, row
        out["reason"] = np.where(row >= 0, "", "no_facility")
        return out
    if graph is None:
        raise ValueError(f"mode {mode!r} needs the road graph")
    geoms = gpd.GeoSeries(
        np.concatenate([origins.to_crs(4326).to_numpy(), fac_geoms.to_crs(4326).to_numpy()])
        if n + n_f
        else np.array([], dtype=object),
        crs=4326,
    )
    existing = graph.edge_mask()
    snaps = snap(graph, geoms, max_m=network.snap_max_m, edge_mask=existing)
    aug = graph.with_points(snaps)
    walk_m_per_min = network.walk_speed_kmh * 1000 / 60
    lengths = np.maximum(graph.edges["length_m"].to_numpy(), _EPS)
    if mode == "network_m":
        per_m = np.full(graph.n_edges, 1.0 / walk_m_per_min)
    else:
        per_m = graph.travel_minutes(mode, network) / lengths
    access_m = snaps["dist_m"].to_numpy()
    time_w = aug.piece_weights(per_m)
    # one matrix for the search (minutes) and one for the metres of the same pieces: the
    # length matrix keeps, per node pair, the length of the piece the time matrix kept
    order = np.argsort(time_w, kind="stable")
    matrix = aug.matrix(time_w, mask=existing, access=access_m / walk_m_per_min)
    length = _length_matrix(aug, order, existing, access_m, matrix.shape[0])
    node = np.where(aug.point_node >= 0, aug.feature_node(np.arange(len(snaps))), -1)
    o_nodes, f_nodes = node[:n], node[n:]
    out["on_network"] = o_nodes >= 0
    fac_on = np.flatnonzero(f_nodes >= 0)
    if not len(fac_on):
        out["reason"] = "no_facility"
        return out
    cost, src, pred = shortest_from(matrix, f_nodes[fac_on], predecessors=True)
    on = o_nodes >= 0
    minutes = np.full(n, np.inf)
    minutes[on] = cost[o_nodes[on]]
    reach = np.isfinite(minutes)
    lookup = pd.Series(fac_on, index=f_nodes[fac_on])
    lookup = lookup[~lookup.index.duplicated()]
    row = np.full(n, -1, dtype=np.int64)
    row[reach] = lookup.reindex(src[o_nodes[reach]]).to_numpy()
    assert pred is not None
    dist = _path_lengths(pred, length, np.where(reach, o_nodes, -1))
    # zero-length pieces carry a 1e-9 weight to stay in the matrix: report them as 0
    minutes[minutes < 1e-6] = 0.0
    dist[dist < 1e-6] = 0.0
    out["minutes"], out["distance_m"], out["row"] = minutes, dist, row
    out["reason"] = np.select([reach, ~on], ["", "off_network"], default="unreachable")
    return out


def _length_matrix(aug, order, existing, access_m, size) -> sparse.csr_array:
    """Metres of the piece kept per node pair (cheapest in time first), plus access legs."""
    keep = existing[aug.parent_edge[order]]
    idx = order[keep]
    u, v, w = aug.u[idx], aug.v[idx], np.maximum(aug.length_m[idx], _EPS)
    pts = np.flatnonzero((aug.point_node >= 0) & np.isfinite(access_m))
    u = np.concatenate([u, aug.point_node[pts]])
    v = np.concatenate([v, aug.feature_node(pts)])
    w = np.concatenate([w, np.maximum(access_m[pts], _EPS)])
    a, b = np.minimum(u, v), np.maximum(u, v)
    # the first row of a pair in time order is the one the time matrix kept
    key = pd.DataFrame({"a": a, "b": b, "w": w}).drop_duplicates(["a", "b"], keep="first")
    return sparse.csr_array(
        (key["w"].to_numpy(), (key["a"].to_numpy(), key["b"].to_numpy())), shape=(size, size)
    )


def fmt_number(x: float, unit: str) -> str:
    """Format a number for a Chinese description: minutes to 0.1, metres and counts whole."""
    return f"{x:.1f}" if unit == "分钟" else f"{x:,.0f}"


def access_description(
    names: np.ndarray,
    *,
    mode: str,
    kind_zh: str,
    found: pd.DataFrame,
    facility_names: np.ndarray,
    limit: float,
    ok: np.ndarray,
) -> np.ndarray:
    """Chinese description of each unit's access to its nearest facility.

    ``found`` is :func:`nearest_facility`'s frame; the measured number is minutes for
    ``walk``/``drive`` and metres otherwise, ``limit`` in the same unit.
    """
    timed = mode in {"walk", "drive"}
    unit = "分钟" if timed else "米"
    value = (found["minutes"] if timed else found["distance_m"]).to_numpy(dtype=float)
    row = found["row"].to_numpy()
    fac = np.where(row >= 0, facility_names[np.maximum(row, 0)] if len(facility_names) else "", "")
    reason = found["reason"].to_numpy()
    dist = found["distance_m"].to_numpy(dtype=float)
    out = np.empty(len(names), dtype=object)
    for i, name in enumerate(names):
        if reason[i]:
            lim = fmt_number(limit, unit)
            out[i] = f"{name}：{REASON_ZH[reason[i]]}（{kind_zh}，限{lim}{unit}）"
            continue
        verdict = "达标" if ok[i] else "超出限值"
        metres = "" if not timed else f"，约{fmt_number(dist[i], '米')}米"
        out[i] = (
            f"{name}距最近的{kind_zh}（{fac[i]}）{MODE_ZH[mode]}{fmt_number(value[i], unit)}"
            f"{unit}{metres}（限{fmt_number(limit, unit)}{unit}），{verdict}"
        )
    return out


def facility_access_outcomes(
    dataset: Dataset, graph: RoadGraph, settings: Settings, *, spec: IndicatorSpec
) -> pd.DataFrame:
    """Outcome frame of a county's own access indicator (``[[indicators]]`` of its profile).

    Every unit of ``spec.unit_kind`` (natural villages, relocation sites, or admin
    villages judged at their seat, :func:`seat_points`) must reach an existing (现状)
    facility of ``spec.kinds`` in ``spec.layer`` within the limit of ``spec.mode``
    (``max_time_min`` for ``walk``/``drive``, ``max_distance_m`` for ``network_m``/
    ``straight``).

    Parameters
    ----------
    dataset : Dataset
        The county's layers; the unit layer and ``spec.layer``.
    graph : RoadGraph
        The road graph of the dataset.
    settings : Settings
        ``settings.network`` (snap distance, speeds).
    spec : IndicatorSpec
        The indicator.

    Returns
    -------
    DataFrame
        Outcome frame (:func:`geo.indicators.outcomes.make_outcomes`), one row per unit,
        key ``<spec.code>:<unit_code>``: ``ok`` within the limit, ``problem`` beyond it
        or not reachable (cause ``beyond_limit``, ``off_network``, ``unreachable``,
        ``no_facility``; cost ``spec.cost_wan``), ``no_data`` for every unit when the
        county has no ``spec.layer`` layer or an empty one. ``value`` minutes or metres
        to the nearest facility (NaN when none is reached), ``limit`` the spec's limit.
    """
    units = unit_frame(dataset, spec.unit_kind).drop(columns="geometry")
    timed = spec.mode in {"walk", "drive"}
    limit = float((spec.max_time_min if timed else spec.max_distance_m) or 0.0)
    kind_zh = "、".join(spec.kinds) or spec.name_zh
    frame = units.copy()
    frame["key"] = [f"{spec.code}:{c}" for c in units["unit_code"]]
    frame["indicator"] = spec.code
    frame["limit"] = limit
    frame["value_unit"] = "分钟" if timed else "米"
    names = _unit_names(units)
    layer = dataset.get(spec.layer)
    if layer is None or layer.empty:
        frame["status"] = "no_data"
        frame["cause"] = "no_layer"
        frame["description"] = [f"{n}：无{spec.layer}图层数据，{spec.name_zh}无数据" for n in names]
        return make_outcomes(frame)
    facilities = existing_facilities(layer, spec.kinds)
    assert facilities is not None
    origins = _origins(dataset, spec.unit_kind)
    found = nearest_facility(graph, origins, facilities, mode=spec.mode, network=settings.network)
    value = (found["minutes"] if timed else found["distance_m"]).to_numpy(dtype=float)
    ok = value <= limit
    frame["status"] = np.where(ok, "ok", "problem")
    frame["value"] = np.where(np.isfinite(value), value, np.nan)
    frame["cause"] = np.where(
        ok, "", np.where(found["reason"].to_numpy() != "", found["reason"], "beyond_limit")
    )
    frame["description"] = access_description(
        names,
        mode=spec.mode,
        kind_zh=kind_zh,
        found=found,
        facility_names=facilities["name"].astype(str).to_numpy()
        if "name" in facilities
        else facilities.get("id", pd.Series(dtype=str)).astype(str).to_numpy(),
        limit=limit,
        ok=ok,
    )
    frame["problem_type"] = np.where(ok, "", spec.problem_zh or f"{spec.name_zh}未达标")
    frame["measure"] = np.where(ok, "", spec.measure_zh or f"就近新建或配置{kind_zh}")
    frame["cost_wan"] = np.where(ok, np.nan, spec.cost_wan)
    logger.info("%s: %d units, %d problems", spec.code, len(frame), int((~ok).sum()))
    return make_outcomes(frame)


def _unit_names(units: pd.DataFrame) -> np.ndarray:
    """Return the name each description starts with: village, admin village or town."""
    name = units["village_name"].astype(str)
    name = name.where(name != "", units["admin_village_name"].astype(str))
    name = name.where(name != "", units["township_name"].astype(str))
    return name.where(name != "", units["unit_code"].astype(str)).to_numpy()


def _origins(dataset: Dataset, unit_kind: str) -> gpd.GeoSeries:
    """Return the geometry each unit is measured from (EPSG:4326, :func:`unit_frame` order)."""
    if unit_kind == "admin_village":
        return seat_points(dataset)
    units = unit_frame(dataset, unit_kind)
    return gpd.GeoSeries(units["geometry"].to_numpy(), index=units.index, crs=4326)
