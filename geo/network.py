"""The road network: a routable graph built once from the ``roads`` layer.

How the graph is built (:func:`build_graph`), all vectorised with NumPy and shapely 2:

1. Roads are projected to the metric CRS of the area (:func:`geo.crs.metric_crs`) and
   multi-part lines exploded.
2. Vertex coordinates are rounded to ``node_tolerance_m``; a vertex becomes a **node**
   when it ends a line or when two or more lines (or one line twice) share it. Lines
   that cross without a shared vertex (bridges, underpasses) are not joined, as in
   osmnx and pgRouting's default topology.
3. Each line is split at its nodes into **edges**; an edge keeps its length along the
   geometry (metres), its road's id, class, surface, width and status, and its vertex
   coordinates for drawing.

Features are joined to the network by :func:`snap`: the nearest point on the nearest edge
within a maximum distance (a virtual node inserted there, not the nearest vertex);
a feature beyond it is reported "not on the network" with its distance.
:meth:`RoadGraph.with_points` splits edges at the snapped points, and shortest paths are
:func:`scipy.sparse.csgraph.dijkstra` runs (multi-source with ``min_only=True``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pandas.api.extensions import ExtensionArray
from pyproj import CRS, Transformer
from scipy import sparse
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from geo.crs import metric_crs
from geo.settings import NetworkSettings
from layers.errors import NetworkError

__all__ = [
    "AugmentedGraph",
    "RoadGraph",
    "build_graph",
    "nearest_edges",
    "network_diagnostics",
    "searches_within",
    "shortest_from",
    "snap",
    "snap_to_subset",
]

logger = logging.getLogger(__name__)

_EPS_WEIGHT = 1e-9  # csgraph drops explicit zeros in some paths: keep zero-length edges alive
UNPAVED = ("砂石", "土路", "未知", "其他")


@dataclass(frozen=True, eq=False)
class RoadGraph:
    """An undirected road graph in a metric CRS.

    Attributes
    ----------
    crs : pyproj.CRS
        The metric CRS of every coordinate and length.
    node_xy : ndarray, shape (n_nodes, 2)
        Node coordinates (metres).
    edges : pandas.DataFrame
        One row per edge: ``u``, ``v`` (node indices), ``length_m``, ``road_index``
        (row position in the roads frame), ``road_id``, ``road_class``, ``surface``,
        ``width_m``, ``status``.
    edge_coords : ndarray, shape (m, 2)
        Vertex coordinates of all edges, edge after edge, from ``u`` to ``v``.
    edge_offsets : ndarray, shape (n_edges + 1,)
        Edge ``i``'s vertices are ``edge_coords[edge_offsets[i]:edge_offsets[i + 1]]``.
    """

    crs: CRS
    node_xy: np.ndarray
    edges: pd.DataFrame
    edge_coords: np.ndarray
    edge_offsets: np.ndarray

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_xy)

    @property
    def n_edges(self) -> int:
        """Number of edges."""
        return len(self.edges)

    @cached_property
    def edge_geoms(self) -> np.ndarray:
        """Shapely LineStrings of the edges (metric CRS), built once."""
        return _linestrings(self.edge_coords, self.edge_offsets)

    def edge_lines(self, edges: np.ndarray) -> np.ndarray:
        """LineStrings of the ``edges`` (edge numbers), as ``edge_geoms[edges]``.

        Built for those edges only unless :attr:`edge_geoms` is already built: the
        analyses draw or measure a few thousand edges of a 300,000-edge graph.
        """
        edges = np.asarray(edges, dtype=np.int64)
        if "edge_geoms" in self.__dict__:
            return self.edge_geoms[edges]
        starts = self.edge_offsets[edges]
        return _linestrings_at(self.edge_coords, starts, self.edge_offsets[edges + 1] - starts)

    @cached_property
    def _snap_memo(self) -> _SnapMemo:
        """Nearest-edge answers already computed, per edge mask (see :func:`snap`)."""
        return _SnapMemo()

    def edges_frame(self) -> gpd.GeoDataFrame:
        """Return the edges as a GeoDataFrame in the metric CRS."""
        return gpd.GeoDataFrame(self.edges.copy(), geometry=self.edge_geoms, crs=self.crs)

    def edge_mask(
        self,
        *,
        surfaces: Sequence[str] | None = None,
        classes: Sequence[str] | None = None,
        statuses: Sequence[str] | None = ("现状",),
    ) -> np.ndarray:
        """Boolean mask of edges whose surface, class and status are in the given sets."""
        mask = np.ones(self.n_edges, dtype=bool)
        wanted_by_column = {"surface": surfaces, "road_class": classes, "status": statuses}
        for column, wanted in wanted_by_column.items():
            if wanted is not None:
                codes, uniques = self._factorised(column)
                # ``Series.isin`` on the few distinct values, then looked up per edge
                hit = np.append(pd.Series(uniques, dtype=object).isin(list(wanted)), False)
                mask &= hit[codes]
        return mask

    def _factorised(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """Codes (``-1`` for NA) and distinct values of an edge column, computed once."""
        memo = self.__dict__.setdefault("_factorised_memo", {})
        if column not in memo:
            codes, uniques = pd.factorize(self.edges[column], use_na_sentinel=True)
            memo[column] = (codes, np.asarray(uniques, dtype=object))
        return memo[column]

    def travel_minutes(self, mode: str, settings: NetworkSettings) -> np.ndarray:
        """Minutes to traverse each edge on foot (``"walk"``) or by car (``"drive"``)."""
        length_km = self.edges["length_m"].to_numpy() / 1000.0
        if mode == "walk":
            speed = np.full(self.n_edges, settings.walk_speed_kmh, dtype=float)
        elif mode == "drive":
            speeds = dict(settings.drive_speed_kmh)
            # Series.map / isin on the few distinct values, then looked up per edge
            codes, classes = self._factorised("road_class")
            by_class = pd.Series(classes, dtype=object).map(speeds).fillna(speeds.get("其他", 20))
            by_class = np.append(by_class.to_numpy(dtype=float), float(speeds.get("其他", 20)))
            speed = by_class[codes]
            codes, surfaces = self._factorised("surface")
            unpaved = np.append(pd.Series(surfaces, dtype=object).isin(list(UNPAVED)), False)
            unpaved = unpaved[codes]
            speed = np.where(unpaved, speed * settings.unpaved_speed_factor, speed)
        else:
            raise ValueError(f"mode must be 'walk' or 'drive', got {mode!r}")
        return length_km / speed * 60.0

    def with_points(self, snaps: pd.DataFrame) -> AugmentedGraph:
        """Split edges at snapped points, giving each point its own (virtual) node.

        Parameters
        ----------
        snaps : DataFrame
            Output of :func:`snap`; rows with ``edge == -1`` (not on the network) get
            no node (``-1``).

        Returns
        -------
        AugmentedGraph
        """
        edge = snaps["edge"].to_numpy()
        pos = snaps["pos_m"].to_numpy()
        on = edge >= 0
        n_pts = len(snaps)
        point_node = np.full(n_pts, -1, dtype=np.int64)
        idx = np.flatnonzero(on)
        order = idx[np.lexsort((pos[idx], edge[idx]))]
        e_sorted, p_sorted = edge[order], pos[order]
        virt = self.n_nodes + np.arange(len(order))
        point_node[order] = virt
        u = self.edges["u"].to_numpy()
        v = self.edges["v"].to_numpy()
        length = self.edges["length_m"].to_numpy()
        first = np.ones(len(order), dtype=bool)
        first[1:] = e_sorted[1:] != e_sorted[:-1]
        last = np.ones(len(order), dtype=bool)
        last[:-1] = e_sorted[1:] != e_sorted[:-1]
        prev_node = np.where(first, u[e_sorted], np.roll(virt, 1))
        prev_pos = np.where(first, 0.0, np.roll(p_sorted, 1))
        # pieces: previous → this point, for every point; then last point → v
        piece_u = np.concatenate([prev_node, virt[last]])
        piece_v = np.concatenate([virt, v[e_sorted[last]]])
        piece_len = np.concatenate(
            [p_sorted - prev_pos, length[e_sorted[last]] - p_sorted[last]]
        ).clip(min=0.0)
        piece_edge = np.concatenate([e_sorted, e_sorted[last]])
        piece_pos0 = np.concatenate([prev_pos, p_sorted[last]])
        keep = np.ones(self.n_edges, dtype=bool)
        keep[np.unique(e_sorted)] = False
        kept = np.flatnonzero(keep)
        return AugmentedGraph(
            base=self,
            u=np.concatenate([u[kept], piece_u]),
            v=np.concatenate([v[kept], piece_v]),
            length_m=np.concatenate([length[kept], piece_len]),
            parent_edge=np.concatenate([kept, piece_edge]),
            pos0_m=np.concatenate([np.zeros(len(kept)), piece_pos0]),
            node_xy=np.vstack([self.node_xy, snaps[["snap_x", "snap_y"]].to_numpy()[order]]),
            point_node=point_node,
            n_nodes=self.n_nodes + len(order),
        )


@dataclass(frozen=True, eq=False)
class AugmentedGraph:
    """A :class:`RoadGraph` with edges split at snapped points (virtual nodes).

    Attributes
    ----------
    base : RoadGraph
        The graph the points were snapped to.
    u, v : ndarray
        End nodes of each (possibly split) edge.
    length_m : ndarray
        Length of each piece along the geometry (metres).
    parent_edge : ndarray
        Index of the base edge each piece belongs to.
    pos0_m : ndarray
        Where each piece starts along its base edge (metres from the edge's ``u``);
        a piece runs from ``pos0_m`` to ``pos0_m + length_m`` in the edge's direction.
    node_xy : ndarray, shape (n_nodes, 2)
        Coordinates of base and virtual nodes (metric CRS).
    point_node : ndarray
        Node of each snapped point, in the order of the snaps frame; ``-1`` if the
        point was not on the network.
    n_nodes : int
        Base nodes plus virtual nodes.
    """

    base: RoadGraph
    u: np.ndarray
    v: np.ndarray
    length_m: np.ndarray
    parent_edge: np.ndarray
    pos0_m: np.ndarray
    node_xy: np.ndarray
    point_node: np.ndarray
    n_nodes: int

    def feature_node(self, i: np.ndarray | int) -> np.ndarray:
        """Node of point ``i`` at the end of its access leg (see :meth:`matrix`)."""
        return self.n_nodes + np.asarray(i)

    def piece_weights(self, per_edge_cost_per_m: np.ndarray) -> np.ndarray:
        """Weight of each piece given a cost per metre of each base edge."""
        return self.length_m * per_edge_cost_per_m[self.parent_edge]

    def piece_pairs(self, keep: np.ndarray) -> tuple[np.ndarray, ...]:
        """Return the node pairs of the ``keep`` pieces (:func:`_pair_groups`), made once.

        Positions in ``order`` count among the kept pieces (``np.flatnonzero(keep)``).
        """
        memo = self.__dict__.setdefault("_pairs_memo", {})
        key = hashlib.blake2b(np.packbits(keep).tobytes(), digest_size=16).digest()
        if key not in memo:
            while len(memo) >= 4:
                memo.pop(next(iter(memo)))
            memo[key] = _pair_groups(self.u[keep], self.v[keep], self.n_nodes)
        return memo[key]

    def matrix(
        self,
        weights: np.ndarray,
        mask: np.ndarray | None = None,
        *,
        access: np.ndarray | None = None,
    ) -> sparse.csr_array:
        """Return a CSR adjacency matrix (one entry per node pair, the cheapest piece).

        Parameters
        ----------
        weights : ndarray
            Weight of each piece (same order as ``u``/``v``).
        mask : ndarray of bool, optional
            Which **base** edges to keep (e.g. only hard-surfaced ones).
        access : ndarray, optional
            Cost of each snapped point's access leg (from the feature to its snap point,
            e.g. the walk from a site to the road). When given, the matrix has one more
            node per point, :meth:`feature_node`, joined to its snap node by that leg;
            points not on the network (or with a NaN cost) get an isolated node.
        """
        keep = np.isfinite(weights)
        if mask is not None:
            keep &= mask[self.parent_edge]
        u, v, w = self.u[keep], self.v[keep], np.maximum(weights[keep], _EPS_WEIGHT)
        size = self.n_nodes
        if access is not None:
            pts = np.flatnonzero((self.point_node >= 0) & np.isfinite(access))
            u = np.concatenate([u, self.point_node[pts]])
            v = np.concatenate([v, self.feature_node(pts)])
            w = np.concatenate([w, np.maximum(access[pts], _EPS_WEIGHT)])
            size += len(self.point_node)
        if access is None:  # the pairs of these pieces, grouped once (see _piece_lookup)
            rows, cols, first, order = self.piece_pairs(keep)
        else:
            rows, cols, first, order = _pair_groups(u, v, size)
        w = np.minimum.reduceat(w[order], first) if len(first) else w[:0]
        # sorted by row then column, one entry each: the CSR arrays directly
        indptr = np.zeros(size + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=size), out=indptr[1:])
        index_dtype = np.int32 if len(rows) < 2**31 and size < 2**31 else np.int64
        out = sparse.csr_array(
            (w, cols.astype(index_dtype), indptr.astype(index_dtype)), shape=(size, size)
        )
        out.has_sorted_indices = True
        out.has_canonical_format = True
        return out


def _pair_groups(
    u: np.ndarray, v: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group undirected edges ``u``–``v`` by their node pair, pairs in row-major order.

    Returns ``(rows, cols, first, order)``: pair ``k`` is ``rows[k] <= cols[k]``; its edges
    are ``order[first[k]:first[k + 1]]`` (``first`` as for :func:`numpy.minimum.reduceat`).
    The order of edges within a pair is unspecified (an unstable sort, several times
    faster than a stable or two-key one): callers reduce each pair with an
    order-independent reduction (the minimum weight; the smallest index among those).
    """
    a, b = np.minimum(u, v), np.maximum(u, v)
    key = a.astype(np.int64) * size + b  # (a, b) in row-major order
    order = np.argsort(key)
    key = key[order]
    starts = np.ones(len(key), dtype=bool)
    starts[1:] = key[1:] != key[:-1]
    first = np.flatnonzero(starts)
    pick = order[first]
    return a[pick].astype(np.int64), b[pick].astype(np.int64), first, order


def build_graph(
    roads: gpd.GeoDataFrame,
    *,
    crs: CRS | str | int | None = None,
    node_tolerance_m: float = 0.01,
) -> RoadGraph:
    """Build the routable graph of a ``roads`` layer.

    Parameters
    ----------
    roads : GeoDataFrame
        A normalised ``roads`` layer (any CRS; fields ``id``, ``road_class``,
        ``surface``, ``width_m``, ``status``).
    crs : CRS-like, optional
        Metric CRS to compute in; default :func:`geo.crs.metric_crs` of the roads.
    node_tolerance_m : float
        Vertices closer than this (metres, on a grid) are the same node.

    Returns
    -------
    RoadGraph

    Raises
    ------
    NetworkError
        If the layer has no usable line.
    """
    if len(roads) == 0:
        raise NetworkError(
            "the roads layer is empty; load a roads layer with lines",
            zh="道路图层为空，请导入包含线要素的道路图层",
        )
    target = CRS.from_user_input(crs) if crs is not None else metric_crs(roads)
    geoms = roads.geometry.to_numpy()
    types = shapely.get_type_id(geoms)
    if (types == 1).all():  # LineStrings only (the usual case): no parts to explode
        parts, part_road = geoms, np.arange(len(geoms))
    else:
        parts, part_road = shapely.get_parts(geoms, return_index=True)
        keep = shapely.get_type_id(parts) == 1  # LineString
        parts, part_road = parts[keep], part_road[keep]
    coords, part_of = _coordinates_in(parts, roads.crs, target)
    if len(coords) == 0:
        raise NetworkError(
            "the roads layer has no line with coordinates", zh="道路图层中没有有效的线要素"
        )
    # drop consecutive duplicate vertices within a part (x and y compared as columns:
    # ``np.all(..., axis=1)`` on an (n, 2) array is several times slower); the arrays
    # are only copied when something is dropped, which the usual layer never needs
    x, y = coords[:, 0], coords[:, 1]
    same = np.zeros(len(coords), dtype=bool)
    same[1:] = (part_of[1:] == part_of[:-1]) & (x[1:] == x[:-1]) & (y[1:] == y[:-1])
    if same.any():
        coords, part_of = coords[~same], part_of[~same]
    starts = np.ones(len(coords), dtype=bool)
    starts[1:] = part_of[1:] != part_of[:-1]
    ends = np.ones(len(coords), dtype=bool)
    ends[:-1] = part_of[1:] != part_of[:-1]
    single = starts & ends  # a part reduced to one vertex carries no edge
    if single.any():
        coords, part_of = coords[~single], part_of[~single]
        starts, ends = starts[~single], ends[~single]

    # the grid cell of each vertex, one column at a time (an axis-0 reduction of an
    # (n, 2) array is slow); the same integers as rounding the (n, 2) array
    gx = np.round(coords[:, 0] / node_tolerance_m).astype(np.int64)
    gy = np.round(coords[:, 1] / node_tolerance_m).astype(np.int64)
    gx -= gx.min()
    gy -= gy.min()
    span = int(gy.max()) + 1
    if gx.max() >= np.iinfo(np.int64).max // span:
        raise NetworkError(
            f"the roads span too large an area for a node tolerance of {node_tolerance_m} m",
            zh="道路范围过大，请增大节点容差或分区计算",
        )
    keys = gx * span + gy  # one int64 per vertex: a 1-D unique is fast
    _, key_id, key_count = np.unique(keys, return_inverse=True, return_counts=True)
    is_node = starts | ends | (key_count[key_id] >= 2)

    seg = np.zeros(len(coords))
    seg[1:] = np.hypot(*(coords[1:] - coords[:-1]).T)
    seg[starts] = 0.0
    cum = np.cumsum(seg)

    node_pos = np.flatnonzero(is_node)
    a, b = node_pos[:-1], node_pos[1:]
    inside = part_of[a] == part_of[b]
    a, b = a[inside], b[inside]
    # nodes are numbered in key order (the keys' ranks, ``key_id``, among node keys):
    # a running count over the flagged keys, not a second ``np.unique``
    node_key = np.zeros(len(key_count), dtype=bool)
    node_key[key_id[node_pos]] = True
    key_to_node = np.cumsum(node_key, dtype=np.int64) - 1
    key_to_node[~node_key] = -1
    # one column at a time (a 1-D scatter; rows of an (n, 2) array are copied one by
    # one); where several vertices share a node the last one's coordinates are kept
    node_of = key_to_node[key_id[node_pos]]
    n_nodes = int(node_key.sum())
    node_x, node_y = np.zeros(n_nodes), np.zeros(n_nodes)
    node_x[node_of] = coords[node_pos, 0]
    node_y[node_of] = coords[node_pos, 1]
    node_xy = np.column_stack([node_x, node_y])

    counts = b - a + 1
    offsets = np.concatenate([[0], np.cumsum(counts)])
    start = a - offsets[:-1]  # where each edge's vertices start, less those before it
    if not start.any():  # no vertex is shared by two edges: the edges' vertices in order
        edge_coords = coords[: offsets[-1]]
    else:
        edge_coords = coords[np.repeat(start, counts) + np.arange(offsets[-1])]

    road_index = part_road[part_of[a]]
    edges = pd.DataFrame(
        {
            "u": key_to_node[key_id[a]],
            "v": key_to_node[key_id[b]],
            "length_m": cum[b] - cum[a],
            "road_index": road_index,
            "road_id": (
                roads["id"].astype(str).array.take(road_index) if "id" in roads else road_index
            ),
            "road_class": _taken(roads, "road_class", "其他", road_index),
            "surface": _taken(roads, "surface", "未知", road_index),
            "width_m": _taken(roads, "width_m", np.nan, road_index),
            "status": _taken(roads, "status", "现状", road_index),
        }
    )
    logger.info(
        "road graph: %d nodes, %d edges from %d roads (%s)",
        len(node_xy),
        len(edges),
        len(roads),
        target.name,
    )
    return RoadGraph(
        crs=target, node_xy=node_xy, edges=edges, edge_coords=edge_coords, edge_offsets=offsets
    )


@lru_cache(maxsize=32)
def _own_transformer(source: CRS, target: CRS) -> Transformer:
    return Transformer.from_crs(source, target, always_xy=True)


def _transformer(source: CRS, target: CRS) -> Transformer:
    """Return the transformer ``GeoSeries.to_crs`` uses (``always_xy``), made once per CRS pair.

    geopandas keeps its transformers in an ``lru_cache`` (``geopandas.array.
    TransformerFromCRS``); sharing it means the graph build and the analyses' ``to_crs``
    of the same CRS pair create one transformer (≈ 0.07 s each) instead of two.
    """
    shared = getattr(gpd.array, "TransformerFromCRS", None)
    if shared is not None:
        return shared(source, target, always_xy=True)
    return _own_transformer(source, target)


def _coordinates_in(
    geoms: np.ndarray, source: CRS | None, target: CRS
) -> tuple[np.ndarray, np.ndarray]:
    """Vertex coordinates of 2-D geometries in ``target``, and the geometry of each.

    The same numbers as ``GeoSeries.to_crs`` then ``shapely.get_coordinates`` (one
    pyproj transformer, ``always_xy``), without building the projected geometries.
    """
    if source is None or shapely.has_z(geoms).any():  # to_crs raises / transforms in 3-D
        geoms = gpd.GeoSeries(geoms, crs=source).to_crs(target).to_numpy()
        return shapely.get_coordinates(geoms, return_index=True)
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    source = CRS.from_user_input(source)
    if len(coords) and not source.is_exact_same(target):
        x, y = _transformer(source, target).transform(coords[:, 0], coords[:, 1])
        coords = np.column_stack([x, y])
    return coords, index


def _linestrings(coords: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """LineStrings ``coords[offsets[i]:offsets[i + 1]]``, one per ``i``.

    The same geometries as ``shapely.linestrings(coords, indices=...)`` (tested), built
    from ``(n, k, 2)`` blocks of the edges with ``k`` vertices each: no per-vertex index
    array, and GEOS copies each block whole (300k three-vertex edges: about a third
    faster). When every edge has the same count (the synthetic province's all have 3)
    the one block is a view of ``coords``.
    """
    counts = np.diff(offsets)
    n = len(counts)
    if n == 0:
        return np.empty(0, dtype=object)
    k_min, k_max = counts.min(), counts.max()
    if k_min == k_max:
        block = coords[offsets[0] : offsets[-1]]
        return shapely.linestrings(block.reshape(n, k_min, coords.shape[1]))
    return _linestrings_at(coords, offsets[:-1], counts)


def _linestrings_at(coords: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """LineStrings ``coords[starts[i]:starts[i] + counts[i]]``, one per ``i``.

    :func:`_linestrings` of some edges only (any order, repeats allowed), with the same
    coordinates, so the same geometries as the whole graph's.
    """
    out = np.empty(len(starts), dtype=object)
    for k in np.unique(counts):
        rows = np.flatnonzero(counts == k)
        out[rows] = shapely.linestrings(coords[starts[rows][:, None] + np.arange(k)])
    return out


class _EdgeIndex:
    """The nearest of some edges (``candidates``) to each feature, exactly.

    The nearest edge is the one at the least distance (GEOS's, as ``shapely.distance``);
    among edges equally near (a village nearest a node, where two or more edges meet) the
    lowest edge number. So the answer does not depend on how an index orders its edges,
    and a point whose nearest edge of a set is in a subset has that edge as its nearest in
    the subset too (:func:`snap_to_subset`).

    Points are looked up in a k-d tree (:class:`scipy.spatial.cKDTree`) of sample points
    along the edges' segments, one per piece of at most twice the median segment length,
    so each segment point is within ``half_m`` of a sample. With ``r`` the distance to the
    nearest sample, every segment as near as the nearest edge has a sample within
    ``r + half_m``: those segments' distances (NumPy) leave the few nearly nearest edges,
    which GEOS measures and the rule above decides. Other geometries (polygon villages)
    go to an :class:`shapely.STRtree` of the candidates, built on first use, with all
    equally near edges returned and the same rule. No LineString of the graph is built
    for points but those of the nearly nearest edges.

    The index of a subset of another index's edges (``within``, itself not a subset's)
    uses that index's samples of the subset: a few points are looked up in its tree, the
    other samples passed over; a tree of its own is built, once, for a larger batch.
    """

    _SLACK_M = 1e-6  # well above the rounding of NumPy's and GEOS's distances (~1e-9 m)
    _OWN_TREE_PER_POINT = 64  # a batch of ≥ 1/64 of the samples gets a subset its own tree

    def __init__(
        self, graph: RoadGraph, candidates: np.ndarray, *, within: _EdgeIndex | None = None
    ) -> None:
        self.graph = graph
        self.candidates = candidates
        self.within = within
        self.kd: cKDTree | None = None
        if within is None:
            self._sample(graph, candidates)
            if len(self.sample_xy):
                self.kd = cKDTree(self.sample_xy, balanced_tree=False, compact_nodes=False)
        else:
            assert within.within is None, "a subset's index is made from a whole index"
            wanted = np.zeros(graph.n_edges, dtype=bool)
            wanted[candidates] = True
            self.kept = wanted[within.seg_edge][within.sample_seg]  # of within's samples
            self.half_m = within.half_m  # a bound for these pieces too

    def _sample(self, graph: RoadGraph, candidates: np.ndarray) -> None:
        offsets = graph.edge_offsets
        n_seg = np.maximum(offsets[candidates + 1] - offsets[candidates] - 1, 0)
        self.seg_edge = np.repeat(candidates, n_seg)
        first = np.repeat(offsets[candidates] - (np.cumsum(n_seg) - n_seg), n_seg)
        vertex = first + np.arange(len(self.seg_edge))
        self.seg_a = graph.edge_coords[vertex]
        self.seg_d = graph.edge_coords[vertex + 1] - self.seg_a
        seg_len = np.hypot(self.seg_d[:, 0], self.seg_d[:, 1])
        self.seg_len2 = seg_len**2
        piece_m = 2.0 * float(np.median(seg_len)) if len(seg_len) else 0.0
        if piece_m > 0:
            n_piece = np.maximum(np.ceil(seg_len / piece_m), 1).astype(np.int64)
        else:
            n_piece = np.ones(len(seg_len), dtype=np.int64)
        self.sample_seg = np.repeat(np.arange(len(seg_len)), n_piece)
        k = np.arange(len(self.sample_seg)) - np.repeat(np.cumsum(n_piece) - n_piece, n_piece)
        t = (k + 0.5) / n_piece[self.sample_seg]
        self.sample_xy = self.seg_a[self.sample_seg] + t[:, None] * self.seg_d[self.sample_seg]
        self.half_m = float((seg_len / n_piece).max()) / 2 if len(seg_len) else 0.0

    def _own_tree(self) -> None:
        """Give a subset's index its own arrays and tree (the samples of ``within``)."""
        whole = self.within
        seg_kept = np.zeros(len(whole.seg_edge), dtype=bool)
        seg_kept[whole.sample_seg[self.kept]] = True
        self.seg_edge = whole.seg_edge[seg_kept]
        self.seg_a, self.seg_d = whole.seg_a[seg_kept], whole.seg_d[seg_kept]
        self.seg_len2 = whole.seg_len2[seg_kept]
        self.sample_seg = (np.cumsum(seg_kept) - 1)[whole.sample_seg[self.kept]]
        self.sample_xy = whole.sample_xy[self.kept]
        self.kd = cKDTree(self.sample_xy, balanced_tree=False, compact_nodes=False)
        self.within = None  # last: a reader that sees it None finds the tree and arrays

    @cached_property
    def strtree(self) -> shapely.STRtree:
        """STRtree of the candidates' LineStrings (for features other than points)."""
        return shapely.STRtree(self.graph.edge_lines(self.candidates))

    def nearest(self, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nearest candidate edge of each geometry (present, not empty).

        Returns
        -------
        rows : ndarray of int
            Positions in ``geoms`` (every one when there is a candidate; ascending).
        edge : ndarray of int
            The nearest edge of each (its number in the graph).
        dist : ndarray of float
            Its distance (metres, GEOS).
        """
        if not len(self.candidates) or not len(geoms):
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, np.zeros(0)
        is_point = shapely.get_type_id(geoms) == 0
        rows, edge, dist = [], [], []
        if is_point.any():
            at = np.flatnonzero(is_point)
            q, e = self._near_points(shapely.get_coordinates(geoms[at]))
            rows.append(at[q])
            edge.append(e)
        if not is_point.all():
            at = np.flatnonzero(~is_point)
            q, t = self.strtree.query_nearest(geoms[at], all_matches=True)
            rows.append(at[q])
            edge.append(self.candidates[t])
        rows, edge = np.concatenate(rows), np.concatenate(edge)
        # GEOS's distance to each nearly nearest edge, once per distinct edge's line
        lines, which = np.unique(edge, return_inverse=True)
        dist = shapely.distance(geoms[rows], self.graph.edge_lines(lines)[which])
        order = np.lexsort((edge, dist, rows))
        rows, edge, dist = rows[order], edge[order], dist[order]
        first = np.ones(len(rows), dtype=bool)
        first[1:] = rows[1:] != rows[:-1]
        return rows[first], edge[first], dist[first]

    def _near_points(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pairs (point, edge) of each point's nearly nearest edges (NumPy distances)."""
        whole = self.within  # read once: another thread may give this index its own tree
        if whole is not None and len(xy) * self._OWN_TREE_PER_POINT >= self.kept.sum():
            self._own_tree()
            whole = None
        if whole is None:
            src, kept = self, None
            r, _ = self.kd.query(xy, k=1)
        else:
            src, kept = whole, self.kept
            r = self._nearest_kept(xy, whole.kd)
        found = src.kd.query_ball_point(xy, r + self.half_m + self._SLACK_M, return_sorted=False)
        count = np.fromiter(map(len, found), dtype=np.int64, count=len(found))
        sample = np.concatenate(found).astype(np.int64)
        q = np.repeat(np.arange(len(xy)), count)
        if kept is not None:
            q, sample = q[kept[sample]], sample[kept[sample]]
            count = np.bincount(q, minlength=len(xy))
        seg = src.sample_seg[sample]
        a, d, len2 = src.seg_a[seg], src.seg_d[seg], src.seg_len2[seg]
        w = xy[q] - a
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.where(len2 > 0, np.clip(np.einsum("ij,ij->i", w, d) / len2, 0.0, 1.0), 0.0)
        off = w - t[:, None] * d
        dist = np.hypot(off[:, 0], off[:, 1])
        low = np.minimum.reduceat(dist, np.cumsum(count) - count)
        near = dist <= low[q] + self._SLACK_M
        pair = np.unique(q[near] * np.int64(self.graph.n_edges) + src.seg_edge[seg[near]])
        return pair // self.graph.n_edges, pair % self.graph.n_edges

    def _nearest_kept(self, xy: np.ndarray, tree: cKDTree) -> np.ndarray:
        """Distance of each point to its nearest kept sample of ``within``'s tree.

        The ``k`` nearest samples, ``k`` growing fourfold for the points with none of
        them kept, until every point has one (there is one: the subset is not empty).
        """
        n = len(self.kept)
        r = np.full(len(xy), np.inf)
        todo, k = np.arange(len(xy)), 8
        while len(todo):
            k = min(k, n)
            d, i = tree.query(xy[todo], k=k)
            d, i = d.reshape(len(todo), k), i.reshape(len(todo), k)
            hit = self.kept[np.minimum(i, n - 1)] & (i < n)
            has = hit.any(axis=1)
            r[todo[has]] = d[has, hit[has].argmax(axis=1)]
            todo, k = todo[~has], 4 * k
        return r


class _SnapMemo:
    """Per edge mask: its nearest-edge index, and each feature's nearest edge found so far.

    Keys are content digests (the mask's bytes, each feature's WKB in the graph's CRS),
    so a feature snapped again (the villages by every analysis) costs a hash lookup.
    """

    def __init__(self, max_masks: int = 8) -> None:
        self.max_masks = max_masks
        self.lock = threading.Lock()
        self.masks: dict[bytes, tuple[np.ndarray, _EdgeIndex, pd.DataFrame]] = {}

    def __getstate__(self) -> dict[str, int]:  # a pickled graph (Assessment) starts afresh
        return {"max_masks": self.max_masks}

    def __setstate__(self, state: dict[str, int]) -> None:
        self.__init__(state["max_masks"])

    def get(self, graph: RoadGraph, edge_mask: np.ndarray | None):
        if edge_mask is not None and edge_mask.all():
            edge_mask = None  # the same candidates, so the same index and answers
        if edge_mask is None:
            key = b"all"
        else:
            key = hashlib.blake2b(np.packbits(edge_mask).tobytes(), digest_size=16).digest()
        with self.lock:
            entry = self.masks.pop(key, None)
            if entry is None:
                candidates = (
                    np.arange(graph.n_edges) if edge_mask is None else np.flatnonzero(edge_mask)
                )
                known = pd.DataFrame(
                    {c: pd.Series(dtype=float) for c in _NEAREST_COLUMNS},
                    index=pd.Index([], dtype=object),
                )
                entry = (candidates, self._index(graph, candidates, edge_mask), known)
            self.masks[key] = entry  # most recent last
            while len(self.masks) > self.max_masks:
                self.masks.pop(next(iter(self.masks)))
            return key, entry

    def _index(
        self, graph: RoadGraph, candidates: np.ndarray, edge_mask: np.ndarray | None
    ) -> _EdgeIndex:
        """Index a new mask's edges, from the samples of the least whole index of more."""
        best = None
        if edge_mask is not None:
            for have, index, _ in self.masks.values():
                if index.within is not None or len(have) < len(candidates):
                    continue
                if best is not None and len(have) >= len(best[0]):
                    continue
                covered = np.zeros(graph.n_edges, dtype=bool)
                covered[have] = True
                if not (edge_mask & ~covered).any():
                    best = (have, index)
        return _EdgeIndex(graph, candidates, within=None if best is None else best[1])

    def store(self, key: bytes, found: pd.DataFrame) -> None:
        with self.lock:
            if key in self.masks:
                candidates, index, known = self.masks[key]
                known = pd.concat([known, found]) if len(known) else found
                self.masks[key] = (candidates, index, known[~known.index.duplicated()])


_NEAREST_COLUMNS = ("edge", "pos_m", "dist_m", "snap_x", "snap_y")


def _nearest_edges(graph: RoadGraph, arr: np.ndarray, index: _EdgeIndex) -> pd.DataFrame:
    """Nearest candidate edge of each (present) feature, whatever the distance."""
    qi, edge, dist = index.nearest(arr)
    line = graph.edge_lines(edge)
    # nearest point of the feature to the line, then its position along the line
    near = shapely.shortest_line(arr[qi], line)
    on_line = shapely.get_point(near, 1)
    pos = shapely.line_locate_point(line, on_line)
    xy = shapely.get_coordinates(on_line)
    columns = {"edge": np.full(len(arr), -1, dtype=np.int64)}
    columns["edge"][qi] = edge
    for name, values in (
        ("pos_m", pos),
        ("dist_m", dist),
        ("snap_x", xy[:, 0]),
        ("snap_y", xy[:, 1]),
    ):
        columns[name] = np.full(len(arr), np.nan)
        columns[name][qi] = values
    return pd.DataFrame(columns)


def _taken(
    frame: pd.DataFrame, name: str, default: object, rows: np.ndarray
) -> np.ndarray | ExtensionArray:
    """``frame[name]`` at positions ``rows`` (``default`` if absent), as a frame column.

    What ``pd.DataFrame`` makes of ``_col(frame.iloc[rows], name, default)``: an object
    column of text becomes the default string dtype. That inference looks at every value
    (0.04 s per 300k-edge column); here the few distinct texts are converted once and
    taken per row. Any other column goes the plain way.
    """
    if name in frame and frame[name].dtype == object:
        codes, uniques = pd.factorize(frame[name], use_na_sentinel=True)
        if len(uniques) and all(isinstance(u, str) for u in uniques):
            return pd.array(uniques, dtype="str").take(codes[rows], allow_fill=True)
    return _col(frame, name, default)[rows] if name in frame else np.full(len(rows), default)


def _col(frame: pd.DataFrame, name: str, default: object) -> np.ndarray:
    if name in frame:
        return frame[name].to_numpy()
    return np.full(len(frame), default)


def snap(
    graph: RoadGraph,
    points: gpd.GeoSeries | gpd.GeoDataFrame,
    *,
    max_m: float,
    edge_mask: np.ndarray | None = None,
) -> pd.DataFrame:
    """Snap features to the nearest point on the nearest edge, within ``max_m``.

    Polygons and lines are represented by their nearest point to the network
    (villages given as polygons snap from their edge, not their centroid). Of edges
    equally near (a feature nearest a node where edges meet) the one with the lowest
    edge number is taken, so the answer is the same whatever index finds it.

    Parameters
    ----------
    graph : RoadGraph
        The network.
    points : GeoSeries or GeoDataFrame
        Features in any CRS; reprojected to the graph's CRS.
    max_m : float
        Maximum snap distance (metres).
    edge_mask : ndarray of bool, optional
        Only these edges may be snapped to (e.g. hard-surfaced ones).

    Returns
    -------
    DataFrame
        Same index as ``points``. ``edge`` (``-1`` when nothing within ``max_m``),
        ``pos_m`` (distance along the edge from its ``u`` node), ``dist_m`` (distance
        to the network, also filled for features beyond ``max_m``, NaN when there is
        no edge at all), ``snap_x``/``snap_y`` (the point on the edge, metric CRS).
    """
    geoms = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    arr = geoms.to_crs(graph.crs).to_numpy()
    n = len(arr)
    edges_col = np.full(n, -1, dtype=np.int64)
    pos_col, dist_col = np.full(n, np.nan), np.full(n, np.nan)
    x_col, y_col = np.full(n, np.nan), np.full(n, np.nan)

    def frame() -> pd.DataFrame:
        columns = (edges_col, pos_col, dist_col, x_col, y_col)
        return pd.DataFrame(dict(zip(_NEAREST_COLUMNS, columns, strict=True)), index=geoms.index)

    present = ~(shapely.is_missing(arr) | shapely.is_empty(arr))
    if not present.any() or (edge_mask is not None and not edge_mask.any()):
        return frame()
    if graph.n_edges == 0:
        return frame()
    key, (_, index, known) = graph._snap_memo.get(graph, edge_mask)
    which = np.flatnonzero(present)
    wkb = pd.Index(shapely.to_wkb(arr[which]), dtype=object)
    pos_known = known.index.get_indexer(wkb) if len(known) else np.full(len(wkb), -1)
    new = np.flatnonzero(pos_known < 0)
    if len(new):
        first = ~wkb[new].duplicated()
        fresh = _nearest_edges(graph, arr[which[new[first]]], index)
        fresh.index = wkb[new[first]]
        graph._snap_memo.store(key, fresh)
        known = pd.concat([known, fresh]) if len(known) else fresh
        known = known[~known.index.duplicated()]
        pos_known = known.index.get_indexer(wkb)
    found = known.iloc[pos_known]
    dist = found["dist_m"].to_numpy()
    ok = dist <= max_m
    dist_col[which] = dist
    pt_ok = which[ok]
    edges_col[pt_ok] = found["edge"].to_numpy()[ok]
    pos_col[pt_ok] = found["pos_m"].to_numpy()[ok]
    x_col[pt_ok] = found["snap_x"].to_numpy()[ok]
    y_col[pt_ok] = found["snap_y"].to_numpy()[ok]
    return frame()


def nearest_edges(
    graph: RoadGraph, geoms: np.ndarray, *, edge_mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Find the nearest ``edge_mask`` edge of each geometry, whatever the distance.

    Parameters
    ----------
    graph : RoadGraph
        The network.
    geoms : ndarray of shapely geometries
        In the graph's (metric) CRS.
    edge_mask : ndarray of bool, optional
        Only these edges are candidates (all edges when omitted).

    Returns
    -------
    rows : ndarray of int
        Positions in ``geoms`` of the present, non-empty geometries (ascending); none when
        there is no candidate.
    edge : ndarray of int
        Each one's nearest edge: the least distance, the lowest edge number among
        edges equally near (as :func:`snap`).
    dist : ndarray of float
        The distance to it (metres).
    """
    present = np.flatnonzero(~(shapely.is_missing(geoms) | shapely.is_empty(geoms)))
    if not len(present) or graph.n_edges == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    _, (_, index, _) = graph._snap_memo.get(graph, edge_mask)
    rows, edge, dist = index.nearest(geoms[present])
    return present[rows], edge, dist


def snap_to_subset(
    graph: RoadGraph,
    points: gpd.GeoSeries | gpd.GeoDataFrame,
    nearest: pd.DataFrame,
    *,
    max_m: float,
    subset: np.ndarray,
) -> pd.DataFrame:
    """:func:`snap` to the ``subset`` edges, given the points' snaps to a larger set.

    ``nearest`` is ``snap(graph, points, max_m=max_m, edge_mask=mask)`` for some mask
    and ``subset`` a mask of some of those edges. A point whose nearest edge is in the subset
    snaps to it in the subset too (the same edge, position and point: no subset edge is
    nearer, and of those as near it has the lowest number, see :func:`snap`); the others
    are snapped to the subset (:func:`snap`). A point beyond ``max_m`` of every edge is
    beyond it of the subset's.

    Returns
    -------
    DataFrame
        Like :func:`snap`'s, except ``dist_m``: NaN where ``edge`` is ``-1``.
    """
    geoms = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    edge = nearest["edge"].to_numpy()
    keep = (edge >= 0) & subset[np.maximum(edge, 0)]
    # the columns as arrays, set in place, then one frame (not a pandas setitem each)
    columns = {c: nearest[c].to_numpy().copy() for c in _NEAREST_COLUMNS}
    rest = np.flatnonzero((edge >= 0) & ~keep)
    columns["edge"][~keep] = -1
    for c in ("pos_m", "dist_m", "snap_x", "snap_y"):
        columns[c][~keep] = np.nan
    if len(rest):
        again = snap(graph, geoms.iloc[rest], max_m=max_m, edge_mask=subset)
        for c in _NEAREST_COLUMNS:
            columns[c][rest] = again[c].to_numpy()
        columns["dist_m"][columns["edge"] < 0] = np.nan
    return pd.DataFrame(columns, index=nearest.index)


def travel_matrix(
    graph: RoadGraph,
    geoms: gpd.GeoSeries | None,
    *,
    mode: str,
    settings: NetworkSettings,
    snaps: pd.DataFrame | None = None,
) -> tuple[sparse.csr_array, np.ndarray]:
    """Travel-time matrix (minutes) with one node per feature, joined by its access leg.

    Each feature is snapped to the nearest 现状 road within ``settings.snap_max_m`` and
    walks to it at ``walk_speed_kmh``; roads are travelled on foot or by car (``mode``).
    ``snaps``, when given, is that snap of the features (``snap(graph, geoms,
    max_m=settings.snap_max_m, edge_mask=graph.edge_mask())``, e.g. the same villages'
    for several facility kinds) and ``geoms`` is not used.

    Returns
    -------
    matrix : csr_array
        For :func:`shortest_from`.
    node : ndarray
        Each feature's node in ``matrix`` (``-1`` when no road is within reach).
    """
    existing = graph.edge_mask()
    if snaps is None:
        snaps = snap(graph, geoms, max_m=settings.snap_max_m, edge_mask=existing)
    aug = graph.with_points(snaps)
    minutes_per_m = graph.travel_minutes(mode, settings) / np.maximum(graph.edges["length_m"], 1e-9)
    walk_m_per_min = settings.walk_speed_kmh * 1000 / 60
    access = snaps["dist_m"].to_numpy() / walk_m_per_min
    matrix = aug.matrix(aug.piece_weights(minutes_per_m.to_numpy()), mask=existing, access=access)
    node = np.where(aug.point_node >= 0, aug.feature_node(np.arange(len(snaps))), -1)
    return matrix, node


def shortest_from(
    matrix: sparse.csr_array,
    sources: np.ndarray,
    *,
    limit: float = np.inf,
    predecessors: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Multi-source Dijkstra: cost from the nearest source to every node.

    Parameters
    ----------
    matrix : csr_array
        Adjacency (undirected, upper-triangular as built by :meth:`AugmentedGraph.matrix`).
    sources : ndarray of int
        Source nodes (``-1`` entries are ignored).
    limit : float
        Costs above this are not explored (``inf`` in the result).
    predecessors : bool
        Also return the predecessor of each node on its path (for drawing paths).

    Returns
    -------
    cost : ndarray
        Cost from the nearest source (``inf`` if unreachable).
    source : ndarray
        Which source node each node is nearest to (``-9999`` if unreachable).
    pred : ndarray or None
        Predecessor node (``-9999`` at sources and unreachable nodes), if requested.
    """
    sources = np.unique(sources[sources >= 0])
    n = matrix.shape[0]
    if len(sources) == 0:
        return np.full(n, np.inf), np.full(n, -9999), (np.full(n, -9999) if predecessors else None)
    result = csgraph.dijkstra(
        matrix,
        directed=False,
        indices=sources,
        min_only=True,
        limit=limit,
        return_predecessors=True,
    )
    cost, pred, src = result
    return cost, src, (pred if predecessors else None)


def searches_within(
    matrix: sparse.csr_array,
    sources: np.ndarray,
    limits: np.ndarray,
    *,
    max_cells: int = 4_000_000,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """One Dijkstra search per source, each cut at its own limit, near the sources only.

    The costs equal those of ``csgraph.dijkstra(matrix, directed=False, indices=sources,
    limit=limits.max())`` at every node within a source's own limit, bit for bit, but
    each search runs on the nodes some source reaches within its limit, not on the whole
    graph (isochrones of 300 sites on a province: a few thousand nodes, not 200,000).

    Why exact: one multi-source search with the largest limit finds every node that any
    source reaches within its limit (a superset). Dijkstra's cost of a node is the
    smallest rounded sum along a path (rounding is monotone, weights are ≥ 0), and every
    node on that path costs no more than the node itself, so the whole path lies in the
    kept nodes: the search on them makes the same sums.

    Parameters
    ----------
    matrix : csr_array
        Upper-triangular adjacency (:meth:`AugmentedGraph.matrix`).
    sources : ndarray of int
        Source nodes.
    limits : ndarray of float
        Each source's limit (same units as the weights).
    max_cells : int
        Sources × kept nodes per Dijkstra call (its result has one float per cell).

    Yields
    ------
    which : ndarray
        Positions in ``sources`` of this batch.
    kept : ndarray
        The kept nodes (sorted), column ``j`` of ``dist`` is node ``kept[j]``.
    local : ndarray
        Column of every node in ``dist``; nodes not kept map to the last column (inf).
    dist : ndarray, shape (len(which), len(kept) + 1)
        Cost from each source of the batch (inf beyond the batch's largest limit).
    """
    if not len(sources):
        return
    limit_all = max(float(limits.max()), 0.0)
    near = csgraph.dijkstra(matrix, directed=False, indices=sources, min_only=True, limit=limit_all)
    kept = np.flatnonzero(np.isfinite(near))
    local = np.full(matrix.shape[0], len(kept), dtype=np.int64)
    local[kept] = np.arange(len(kept))
    sub = matrix[kept][:, kept]  # kept is sorted: still upper-triangular
    # one symmetric matrix for every search (an undirected search re-transposes each time)
    sym = (sub + sub.T).tocsr()
    size = max(1, max_cells // (len(kept) + 1))
    for which in np.array_split(np.arange(len(sources)), -(-len(sources) // size)):
        found = csgraph.dijkstra(
            sym,
            directed=True,
            indices=local[sources[which]],
            limit=max(float(limits[which].max()), 0.0),
        )
        dist = np.full((len(which), len(kept) + 1), np.inf)
        dist[:, :-1] = found
        yield which, kept, local, dist


def network_diagnostics(graph: RoadGraph, *, dangle_gap_max_m: float = 100.0) -> gpd.GeoDataFrame:
    """Topology problems that matter to planners, as a layer (metric CRS).

    Rows of kind ``dangle_gap``: a dead end within ``dangle_gap_max_m`` of a road it is
    not joined to (a probable digitising gap), with the gap length. Rows of kind
    ``component``: every connected component but the largest, with its edge count and
    length (km), drawn as its edges' union.

    Returns
    -------
    GeoDataFrame
        Columns ``kind``, ``node``, ``gap_m``, ``component``, ``n_edges``, ``length_km``,
        ``road_ids`` and geometry.
    """
    u = graph.edges["u"].to_numpy()
    v = graph.edges["v"].to_numpy()
    degree = np.bincount(np.concatenate([u, v]), minlength=graph.n_nodes)
    adj = sparse.csr_array((np.ones(len(u)), (u, v)), shape=(graph.n_nodes,) * 2)
    n_comp, comp = csgraph.connected_components(adj, directed=False)
    rows: list[dict[str, object]] = []
    geoms: list[shapely.Geometry] = []
    dead = np.flatnonzero(degree == 1)
    if len(dead):
        pts = shapely.points(graph.node_xy[dead])
        tree = shapely.STRtree(graph.edge_geoms)
        qi, ti = tree.query(pts, predicate="dwithin", distance=dangle_gap_max_m)
        # exclude the edge(s) incident to the dead end itself
        incident = (u[ti] == dead[qi]) | (v[ti] == dead[qi])
        qi, ti = qi[~incident], ti[~incident]
        if len(qi):
            d = shapely.distance(pts[qi], graph.edge_geoms[ti])
            best = pd.DataFrame({"q": qi, "t": ti, "d": d}).sort_values("d").drop_duplicates("q")
            for q, t, dist in best.itertuples(index=False):
                near = shapely.shortest_line(pts[q], graph.edge_geoms[t])
                rows.append(
                    {
                        "kind": "dangle_gap",
                        "node": int(dead[q]),
                        "gap_m": float(dist),
                        "component": int(comp[dead[q]]),
                        "n_edges": 0,
                        "length_km": 0.0,
                        "road_ids": str(graph.edges["road_id"].iloc[t]),
                    }
                )
                geoms.append(near)
    if n_comp > 1:
        edge_comp = comp[u]
        lengths = np.bincount(
            edge_comp, weights=graph.edges["length_m"].to_numpy(), minlength=n_comp
        )
        main = int(np.argmax(lengths))
        counts = np.bincount(edge_comp, minlength=n_comp)
        for c in np.flatnonzero(counts):
            if c == main:
                continue
            members = np.flatnonzero(edge_comp == c)
            ids = graph.edges["road_id"].iloc[members].astype(str).unique()
            rows.append(
                {
                    "kind": "component",
                    "node": -1,
                    "gap_m": np.nan,
                    "component": int(c),
                    "n_edges": int(counts[c]),
                    "length_km": float(lengths[c] / 1000),
                    "road_ids": ";".join(ids[:20]),
                }
            )
            geoms.append(shapely.multilinestrings(graph.edge_geoms[members]))
    frame = pd.DataFrame(
        rows, columns=["kind", "node", "gap_m", "component", "n_edges", "length_km", "road_ids"]
    )
    return gpd.GeoDataFrame(frame, geometry=geoms if geoms else [], crs=graph.crs)
