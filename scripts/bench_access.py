"""Benchmark the access analyses on a synthetic Ningxia-scale province.

Generates ≈ 2,900 admin villages, 20,000 natural villages, 300,000 road edges and
5,000 facilities (fixed seed), then times in one run: validation, the dataset's content
hash, graph build, snapping, each analysis, the isochrones, the roll-up, GeoPackage and
GeoParquet write and read; then the same nearest-facility query with networkx
``multi_source_dijkstra_path_length`` and, if installed, pandana. Prints the times, each
step's ratio to the bare multi-source Dijkstra and to networkx's query (side by side in
the same run), and peak memory (max RSS).

Usage::

    python -m scripts.bench_access [--grid 400] [--skip-networkx] [--out /tmp/bench]

pandana is optional (``pip install pandana==0.8``); it is not a GapMap dependency.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from geo.clinics import clinic_gaps
from geo.network import build_graph, shortest_from, snap
from geo.roads import hard_road_access
from geo.rollup import rollup
from geo.services import isochrones, service_access
from geo.settings import load_settings
from layers import Dataset, read_dataset, write_layers

EPSG = 4544  # CGCS2000 GK CM 105°E
TIMES: dict[str, float] = {}


@contextmanager
def timed(name: str):
    t0 = time.perf_counter()
    yield
    TIMES[name] = time.perf_counter() - t0
    print(f"  {name:<34s} {TIMES[name]:8.2f} s")


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def synthetic_province(
    grid: int = 400,
    seed: int = 20261123,
    *,
    n_villages: int = 20_000,
    n_admin: int = 2900,
    n_sites: int = 300,
    n_centres: int = 250,
    n_rooms: int = 2600,
    n_shops: int = 2150,
    side: int = 16,
    x0: float = 310_000.0,
    y0: float = 3_900_000.0,
    code: str = "640000",
) -> dict[str, gpd.GeoDataFrame]:
    """A jittered road lattice with villages, sites and facilities (EPSG:4326 layers).

    The defaults are the Ningxia-scale province of this benchmark; :func:`county_kwargs`
    gives one county's sizes (:mod:`scripts.bench_region` builds thousands of them).
    ``side`` × ``side`` townships; ``code`` is the 6-digit code the township and village
    codes start with.
    """
    rng = np.random.default_rng(seed)
    spacing = 1000.0
    gx, gy = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
    nodes = np.c_[x0 + gx.ravel() * spacing, y0 + gy.ravel() * spacing]
    nodes += rng.uniform(-150, 150, nodes.shape)
    idx = np.arange(grid * grid).reshape(grid, grid)
    a = np.r_[idx[:-1, :].ravel(), idx[:, :-1].ravel()]
    b = np.r_[idx[1:, :].ravel(), idx[:, 1:].ravel()]
    line_no = np.r_[gy[:-1, :].ravel(), gx[:, :-1].ravel()]  # the row/column a road runs on
    keep = rng.random(len(a)) > 0.06
    a, b, line_no = a[keep], b[keep], line_no[keep]
    mid = (nodes[a] + nodes[b]) / 2 + rng.normal(0, 60, (len(a), 2))
    coords = np.stack([nodes[a], mid, nodes[b]], axis=1)
    n_e = len(a)
    road_class = np.where(line_no % 100 == 0, "省道", np.where(line_no % 25 == 0, "县道", "村道"))
    trunk = road_class != "村道"
    surface = np.where(
        trunk, "沥青", rng.choice(["水泥", "砂石", "土路"], n_e, p=[0.93, 0.04, 0.03])
    )
    width = np.where(trunk, 7.5, np.where(rng.random(n_e) < 0.05, 3.0, 4.5))
    roads = gpd.GeoDataFrame(
        {
            "id": [f"R{i:06d}" for i in range(n_e)],
            "road_class": road_class,
            "surface": surface,
            "width_m": width,
            "status": "现状",
            "source": "模拟",
        },
        geometry=shapely.linestrings(coords),
        crs=EPSG,
    )
    lo, hi = nodes.min(axis=0), nodes.max(axis=0)
    county = gpd.GeoDataFrame(
        {"code": [code], "name": ["模拟省"]},
        geometry=[shapely.box(*(lo - 2000), *(hi + 2000))],
        crs=EPSG,
    )
    # side × side townships, each a grid cell
    tx = np.linspace(lo[0] - 2000, hi[0] + 2000, side + 1)
    ty = np.linspace(lo[1] - 2000, hi[1] + 2000, side + 1)
    tw_boxes, tw_codes = [], []
    for i in range(side):
        for j in range(side):
            tw_boxes.append(shapely.box(tx[i], ty[j], tx[i + 1], ty[j + 1]))
            tw_codes.append(f"{code[:4]}{i * side + j:05d}")
    townships = gpd.GeoDataFrame(
        {"code": tw_codes, "name": [f"乡镇{c[-3:]}" for c in tw_codes]}, geometry=tw_boxes, crs=EPSG
    )

    def township_of(xy: np.ndarray) -> np.ndarray:
        i = np.clip(np.searchsorted(tx, xy[:, 0]) - 1, 0, side - 1)
        j = np.clip(np.searchsorted(ty, xy[:, 1]) - 1, 0, side - 1)
        return np.array(tw_codes)[i * side + j]

    av_xy = nodes[rng.choice(len(nodes), n_admin, replace=False)] + rng.uniform(
        -100, 100, (n_admin, 2)
    )
    av_tw = township_of(av_xy)
    av_codes = [f"{t}{k:03d}" for k, t in enumerate(av_tw)]
    av_codes = [f"{t}{200 + (k % 700):03d}" for k, t in enumerate(av_tw)]
    av = gpd.GeoDataFrame(
        {
            "code": av_codes,
            "name": [f"行政村{k}" for k in range(n_admin)],
            "township_code": av_tw,
            "village_class": rng.choice(
                ["集聚提升", "城郊融合", "特色保护", "搬迁撤并"], n_admin, p=[0.8, 0.1, 0.05, 0.05]
            ),
            "population": rng.integers(300, 4000, n_admin),
        },
        geometry=shapely.points(av_xy),
        crs=EPSG,
    )
    av = av.drop_duplicates("code")
    nv_xy = nodes[rng.integers(0, len(nodes), n_villages)] + rng.uniform(-300, 300, (n_villages, 2))
    _, nearest_av = cKDTree(
        np.c_[shapely.get_x(av.geometry.values), shapely.get_y(av.geometry.values)]
    ).query(nv_xy)
    households = np.maximum(3, rng.lognormal(3.9, 0.6, n_villages)).astype(int)
    nv = gpd.GeoDataFrame(
        {
            "id": [f"NV{i:05d}" for i in range(n_villages)],
            "name": [f"自然村{i}" for i in range(n_villages)],
            "admin_village_code": av["code"].to_numpy()[nearest_av],
            "households": households,
            "population": (households * 3.8).astype(int),
            "relocation_planned": rng.random(n_villages) < 0.01,
        },
        geometry=shapely.points(nv_xy),
        crs=EPSG,
    )
    site_xy = nodes[rng.choice(len(nodes), n_sites, replace=False)]
    _, site_av = cKDTree(
        np.c_[shapely.get_x(av.geometry.values), shapely.get_y(av.geometry.values)]
    ).query(site_xy)
    sites = gpd.GeoDataFrame(
        {
            "id": [f"S{i:03d}" for i in range(n_sites)],
            "name": [f"安置区{i}" for i in range(n_sites)],
            "admin_village_code": av["code"].to_numpy()[site_av],
            "households": (site_hh := rng.integers(200, 3000, n_sites)),
            "population": (site_hh * rng.uniform(3.2, 4.5, n_sites)).astype(int),
        },
        geometry=shapely.points(site_xy),
        crs=EPSG,
    )
    # facilities: 250 health centres, 2,600 clinics, 2,150 shops and stops ≈ 5,000
    hc_idx = rng.choice(side * side, n_centres, replace=False)
    hc_xy = np.c_[((tx[:-1] + tx[1:]) / 2)[hc_idx // side], ((ty[:-1] + ty[1:]) / 2)[hc_idx % side]]
    room_av = rng.choice(len(av), n_rooms, replace=False)
    room_xy = np.c_[shapely.get_x(av.geometry.values), shapely.get_y(av.geometry.values)][room_av]
    clinics = gpd.GeoDataFrame(
        {
            "id": [f"C{i:05d}" for i in range(n_centres + n_rooms)],
            "name": [f"卫生院{i}" for i in range(n_centres)]
            + [f"卫生室{i}" for i in range(n_rooms)],
            "kind": ["卫生院"] * n_centres + ["卫生室"] * n_rooms,
            "admin_village_code": [""] * n_centres + list(av["code"].to_numpy()[room_av]),
            "township_code": list(np.array(tw_codes)[hc_idx])
            + list(av["township_code"].to_numpy()[room_av]),
            "doctors": np.r_[rng.integers(3, 20, n_centres), rng.integers(0, 4, n_rooms)],
        },
        geometry=shapely.points(np.r_[hc_xy, room_xy]),
        crs=EPSG,
    )
    shop_xy = nodes[rng.integers(0, len(nodes), n_shops)] + rng.uniform(-50, 50, (n_shops, 2))
    shops = gpd.GeoDataFrame(
        {
            "id": [f"P{i:05d}" for i in range(n_shops)],
            "name": [f"设施{i}" for i in range(n_shops)],
            "kind": rng.choice(["综合超市", "便利菜店", "药店", "公交站点"], n_shops),
        },
        geometry=shapely.points(shop_xy),
        crs=EPSG,
    )
    frames = {
        "county": county,
        "townships": townships,
        "admin_villages": av,
        "natural_villages": nv,
        "relocation_sites": sites,
        "roads": roads,
        "clinics": clinics,
        "service_points": shops,
    }
    return {k: v.to_crs(4326) for k, v in frames.items()}


def county_kwargs(n_villages: int = 850) -> dict[str, int]:
    """Sizes of one synthetic county with ``n_villages`` natural villages.

    The province's densities scaled down: 15 road edges, 0.145 admin villages, 0.13
    卫生室 and 0.11 shops per natural village; a 6 × 6 township grid (36; counties have
    10–20) so that each township gets its 卫生院 or misses one as in the province.
    """
    r = n_villages / 20_000
    grid = max(8, round(np.sqrt(15 * n_villages / 2)))
    return {
        "grid": grid,
        "n_villages": n_villages,
        "n_admin": max(4, round(2900 * r)),
        "n_sites": max(2, round(300 * r)),
        "n_centres": 34,
        "n_rooms": max(2, round(2600 * r)),
        "n_shops": max(4, round(2150 * r)),
        "side": 6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--grid", type=int, default=400, help="lattice size (400 → ≈300k edges)")
    parser.add_argument("--skip-networkx", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="folder for the GPKG round trip")
    args = parser.parse_args()
    settings = load_settings()

    print("generating the synthetic province …")
    frames = synthetic_province(args.grid)
    print({k: len(v) for k, v in frames.items()})
    print("GapMap:")
    with timed("validate (Dataset.from_frames)"):
        dataset = Dataset.from_frames(frames, name="province")
    assert dataset.ok, dataset.errors[:5]
    with timed("content hash (once per dataset)"):
        _ = dataset.content_hash
    with timed("graph build"):
        graph = build_graph(dataset["roads"])
    print(f"    {graph.n_nodes:,} nodes, {graph.n_edges:,} edges")
    with timed("snap 20,000 villages (kept)"):
        snap(graph, dataset["natural_villages"].geometry, max_m=settings.network.snap_max_m)
    with timed("analysis 通硬化路"):
        hard = hard_road_access(dataset, graph, settings)
    with timed("analysis 一刻钟 (300 sites)"):
        svc = service_access(dataset, graph, settings)
    with timed("isochrones (300 sites)"):
        isochrones(dataset, graph, settings)
    with timed("analysis 医疗空白点"):
        cl = clinic_gaps(dataset, graph, settings)
    with timed("roll-up"):
        rollup(dataset, settings, hard_road=hard, services=svc, clinics=cl)
    analyses = sum(TIMES[k] for k in TIMES if k.startswith(("graph", "snap", "analysis", "roll")))
    print(
        f"  {'three analyses end to end':<34s} {analyses:8.2f} s "
        f"(graph + snap + 3 analyses + roll-up; excluding read/validate and isochrones)"
    )
    # the snap is counted: the analyses reuse its nearest edges (the graph's snap memo),
    # so without it 通硬化路 would pay the same work
    everything = sum(TIMES[k] for k in list(TIMES))
    TIMES["everything excluding the file read"] = everything
    print(f"  {'everything excluding the file read':<34s} {everything:8.2f} s (snap included)")
    out = args.out or Path(tempfile.mkdtemp(prefix="gapmap-bench-"))
    with timed("write GPKG (all layers)"):
        path = write_layers(out / "province.gpkg", dict(dataset.layers))
    with timed("read + validate GPKG"):
        read_dataset(path)
    try:
        with timed("write GeoParquet (all layers)"):
            folder = write_layers(out / "province", dict(dataset.layers))
        with timed("read GeoParquet (columns only)"):
            for f in sorted(folder.glob("*.parquet")):
                gpd.read_parquet(f)
        with timed("read + validate GeoParquet"):
            read_dataset(folder)
    except Exception as exc:  # an older GapMap without the GeoParquet path
        print(f"  GeoParquet read path not available: {exc}")

    # the same nearest-facility query three ways: nearest 药店 from every node
    print("nearest 药店 from every node:")
    pts = dataset["service_points"]
    ph = pts.loc[pts["kind"] == "药店"]
    s = snap(graph, ph.geometry, max_m=settings.network.snap_max_m)
    aug = graph.with_points(s)
    with timed("GapMap: CSR matrix"):
        matrix = aug.matrix(aug.length_m)
    with timed("GapMap: multi-source Dijkstra"):
        ours, _, _ = shortest_from(matrix, aug.point_node)
    sources = np.unique(aug.point_node[aug.point_node >= 0])
    if not args.skip_networkx:
        import networkx as nx

        with timed("networkx: graph build"):
            g = nx.Graph()
            g.add_weighted_edges_from(
                zip(aug.u.tolist(), aug.v.tolist(), aug.length_m.tolist(), strict=True)
            )
        with timed("networkx: multi_source_dijkstra"):
            ref = nx.multi_source_dijkstra_path_length(g, set(sources.tolist()))
        check = np.array([ref.get(i, np.inf) for i in range(graph.n_nodes)])
        assert np.allclose(check, ours[: graph.n_nodes], atol=1e-6), "networkx disagrees"
    try:
        import pandana
    except ImportError:
        pandana = None
        print("  pandana not installed (pip install pandana==0.8) — skipped")
    if pandana is not None:
        with timed("pandana: network build (CH)"):
            net = pandana.Network(
                pd.Series(aug.node_xy[:, 0]),
                pd.Series(aug.node_xy[:, 1]),
                pd.Series(aug.u),
                pd.Series(aug.v),
                pd.DataFrame({"w": aug.length_m}),
                twoway=True,
            )
        with timed("pandana: set_pois + nearest_pois"):
            net.set_pois(
                "ph",
                200_000,
                1,
                pd.Series(aug.node_xy[sources, 0]),
                pd.Series(aug.node_xy[sources, 1]),
            )
            near = net.nearest_pois(200_000, "ph", num_pois=1)
        p = near[1].to_numpy()[: graph.n_nodes]
        finite = np.isfinite(ours[: graph.n_nodes]) & (p < 200_000)
        err = np.abs(p[finite] - ours[: graph.n_nodes][finite]).max()
        print(f"    pandana max |Δ| vs GapMap: {err:.3f} m (pandana stores float32 weights)")

    print("ratios (measured side by side in this run):")
    q = TIMES["GapMap: multi-source Dijkstra"]
    nxq = TIMES.get("networkx: multi_source_dijkstra")
    if nxq is not None:
        print(f"  networkx query / GapMap query       = {nxq / q:6.1f}×")
        nx_total = TIMES["networkx: graph build"] + nxq
        ours_total = TIMES["GapMap: CSR matrix"] + q
        print(f"  networkx build+query / GapMap       = {nx_total / ours_total:6.1f}×")
    if "pandana: set_pois + nearest_pois" in TIMES:
        print(
            f"  pandana query / GapMap query        = "
            f"{TIMES['pandana: set_pois + nearest_pois'] / q:6.2f}×"
        )
        pd_total = TIMES["pandana: network build (CH)"] + TIMES["pandana: set_pois + nearest_pois"]
        print(
            f"  pandana build+query / GapMap        = "
            f"{pd_total / (TIMES['GapMap: CSR matrix'] + q):6.2f}×"
        )
    print("each step against the bare Dijkstra (one multi-source query) and networkx's:")
    print(f"  {'step':<36s} {'s':>8s} {'× Dijkstra':>11s} {'× networkx':>11s}")
    for name, t in TIMES.items():
        if name.startswith(("GapMap:", "networkx:", "pandana:")):
            continue
        rel_nx = f"{t / nxq:10.2f}×" if nxq else f"{'—':>11s}"
        print(f"  {name:<36s} {t:8.2f} {t / q:10.1f}× {rel_nx}")
    print(f"  three analyses end to end           = {analyses:6.2f} s (target ≤ 10 s)")
    print(f"peak memory (max RSS)                 = {peak_rss_gb():6.2f} GB (target ≤ 4 GB)")


if __name__ == "__main__":
    main()
