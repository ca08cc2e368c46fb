"""Benchmark the water engine on a synthetic county network of ≈ 5,000 junctions.

Generates (fixed seed) a looped grid of junctions on sloping ground: every row is a
distribution main, five columns are trunk mains that close the loops, one reservoir feeds
a corner through a rising main and three tanks float on the grid. About 2,500 natural
villages sit near the junctions (half linked by their ``water_node`` field, half by the
nearest junction), 40 lie beyond the snap distance. Then times, in one run:
``build_water_model`` (checks, WNTR model via ``from_gis``, village links),
``run_hydraulics`` (24 h EPANET extended-period run) and ``water_coverage`` (pressures,
supply, statuses, roll-up). Target: build + solve + analysis ≤ 10 s.

Usage::

    python -m scripts.bench_water [--nx 72] [--ny 70] [--repeat 3]
"""

from __future__ import annotations

import argparse
import logging
import time

import geopandas as gpd
import numpy as np
import shapely

from geo.settings import load_settings
from geo.water import build_water_model, run_hydraulics, water_coverage
from layers import Dataset

EPSG = 4544  # CGCS2000 GK CM 105°E
E0, N0 = 560_000.0, 4_090_000.0
SPACING_M = 250.0
TRUNK_EVERY = 18  # a trunk column every 18 junctions closes the row loops


def synthetic_county(nx: int = 72, ny: int = 70, seed: int = 20251124) -> dict:
    """County, townships, admin and natural villages and the water layers (EPSG:4326)."""
    rng = np.random.default_rng(seed)
    gx, gy = np.meshgrid(np.arange(nx), np.arange(ny), indexing="ij")
    x, y = gx.ravel() * SPACING_M, gy.ravel() * SPACING_M
    ground = 1500.0 + 0.003 * x + 0.002 * y + 12.0 * np.sin(x / 2300.0) * np.cos(y / 1900.0)
    names = np.array([f"J{i:03d}-{j:03d}" for i, j in zip(gx.ravel(), gy.ravel(), strict=True)])
    idx = np.arange(nx * ny).reshape(nx, ny)
    # rows: along x within each y; trunks: along y on every TRUNK_EVERY-th column and the last
    row_a, row_b = idx[:-1, :].ravel(), idx[1:, :].ravel()
    cols = sorted({*range(0, nx, TRUNK_EVERY), nx - 1})
    col_a = np.concatenate([idx[c, :-1] for c in cols])
    col_b = np.concatenate([idx[c, 1:] for c in cols])
    a, b = np.r_[row_a, col_a], np.r_[row_b, col_b]
    dia = np.r_[np.full(len(row_a), 110.0), np.full(len(col_a), 315.0)]
    xy = np.c_[E0 + x, N0 + y]
    pipes = {
        "name": [f"P{k:05d}" for k in range(len(a))],
        "start_node_name": names[a],
        "end_node_name": names[b],
        "length_m": np.hypot(*(xy[a] - xy[b]).T),
        "diameter_mm": dia,
        "roughness": 140.0,
    }
    geoms = list(shapely.linestrings(np.stack([xy[a], xy[b]], axis=1)))
    # the reservoir feeds the corner junction through a rising main
    r_xy = np.array([E0 - 1500.0, N0 - 1500.0])
    sources = gpd.GeoDataFrame(
        {"name": ["R1"], "title": ["模拟水厂"], "kind": ["水厂"], "head_m": [1700.0],
         "capacity_m3d": [30_000.0]},
        geometry=[shapely.Point(r_xy)], crs=EPSG,
    )  # fmt: skip
    extra = [("R1", names[0], r_xy, xy[0], 600.0)]
    # three tanks on higher ground next to the grid
    tank_rows = []
    for k, (i, j) in enumerate(((nx // 2, ny // 2), (nx - 1, 0), (nx - 1, ny - 1))):
        t_xy = xy[idx[i, j]] + np.array([120.0, 120.0])
        tank_rows.append(
            {"name": f"T{k + 1}", "node_type": "Tank", "elevation_m": 1660.0,
             "init_level_m": 3.0, "min_level_m": 0.5, "max_level_m": 6.0,
             "tank_diameter_m": 25.0, "xy": t_xy}
        )  # fmt: skip
        extra.append((f"T{k + 1}", names[idx[i, j]], t_xy, xy[idx[i, j]], 250.0))
    pipes["name"] += [f"M{k:02d}" for k in range(len(extra))]
    pipes["start_node_name"] = [*pipes["start_node_name"], *(e[0] for e in extra)]
    pipes["end_node_name"] = [*pipes["end_node_name"], *(e[1] for e in extra)]
    pipes["length_m"] = np.r_[pipes["length_m"], [np.hypot(*(e[2] - e[3])) for e in extra]]
    pipes["diameter_mm"] = np.r_[pipes["diameter_mm"], [e[4] for e in extra]]
    geoms += [shapely.LineString([e[2], e[3]]) for e in extra]
    water_pipes = gpd.GeoDataFrame(pipes, geometry=geoms, crs=EPSG)
    water_nodes = gpd.GeoDataFrame(
        {
            "name": [*names, *(t["name"] for t in tank_rows)],
            "node_type": ["Junction"] * len(names) + ["Tank"] * len(tank_rows),
            "elevation_m": np.r_[ground, [t["elevation_m"] for t in tank_rows]].round(1),
            "init_level_m": [0.0] * len(names) + [t["init_level_m"] for t in tank_rows],
            "min_level_m": [0.0] * len(names) + [t["min_level_m"] for t in tank_rows],
            "max_level_m": [0.0] * len(names) + [t["max_level_m"] for t in tank_rows],
            "tank_diameter_m": [0.0] * len(names) + [t["tank_diameter_m"] for t in tank_rows],
        },
        geometry=shapely.points(np.r_[xy, [t["xy"] for t in tank_rows]]),
        crs=EPSG,
    )
    # boundaries: 10 townships (strips along x), 10 admin villages each (blocks along y)
    lo, hi = xy.min(axis=0) - 3000, xy.max(axis=0) + 3000
    county = gpd.GeoDataFrame(
        {"code": ["640399"], "name": ["模拟县"]}, geometry=[shapely.box(*lo, *hi)], crs=EPSG
    )
    tx = np.linspace(lo[0], hi[0], 11)
    tw_codes = [f"6403991{k:02d}" for k in range(10)]
    townships = gpd.GeoDataFrame(
        {"code": tw_codes, "name": [f"乡镇{k}" for k in range(10)]},
        geometry=[shapely.box(tx[k], lo[1], tx[k + 1], hi[1]) for k in range(10)],
        crs=EPSG,
    )
    ty = np.linspace(lo[1], hi[1], 11)
    av_codes = [f"{t}{200 + k:03d}" for t in tw_codes for k in range(10)]
    av_xy = [
        ((tx[i] + tx[i + 1]) / 2, (ty[k] + ty[k + 1]) / 2) for i in range(10) for k in range(10)
    ]
    # villages: one per two junctions (jittered), plus 40 beyond the snap distance
    pick = rng.choice(len(names), len(names) // 2, replace=False)
    v_xy = xy[pick] + rng.uniform(-120, 120, (len(pick), 2))
    far = np.c_[rng.uniform(lo[0], lo[0] + 1500, 40), rng.uniform(lo[1], hi[1], 40)]
    v_xy = np.r_[v_xy, far]
    n_v = len(v_xy)
    explicit = np.r_[np.where(rng.random(len(pick)) < 0.5, names[pick], ""), [""] * 40]
    households = np.maximum(5, rng.lognormal(3.3, 0.5, n_v)).astype(int)
    i_tw = np.clip(np.searchsorted(tx, v_xy[:, 0]) - 1, 0, 9)
    i_av = np.clip(np.searchsorted(ty, v_xy[:, 1]) - 1, 0, 9)
    villages = gpd.GeoDataFrame(
        {
            "id": [f"NV{k:05d}" for k in range(n_v)],
            "name": [f"自然村{k}" for k in range(n_v)],
            "admin_village_code": np.array(av_codes)[i_tw * 10 + i_av],
            "households": households,
            "population": (households * rng.uniform(3.4, 4.3, n_v)).astype(int),
            "water_node": explicit,
        },
        geometry=shapely.points(v_xy),
        crs=EPSG,
    )
    pop = villages.groupby("admin_village_code")["population"].sum()
    admin = gpd.GeoDataFrame(
        {
            "code": av_codes,
            "name": [f"行政村{k}" for k in range(100)],
            "township_code": [c[:9] for c in av_codes],
            "village_class": "集聚提升类",
            "population": pop.reindex(av_codes).fillna(0).astype(int).to_numpy(),
        },
        geometry=shapely.points(av_xy),
        crs=EPSG,
    )
    frames = {
        "county": county,
        "townships": townships,
        "admin_villages": admin,
        "natural_villages": villages,
        "water_sources": sources,
        "water_nodes": water_nodes,
        "water_pipes": water_pipes,
    }
    return {k: v.to_crs(4326) for k, v in frames.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nx", type=int, default=72, help="junctions along x")
    parser.add_argument("--ny", type=int, default=70, help="junctions along y")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is reported")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = load_settings()

    t0 = time.perf_counter()
    dataset = Dataset.from_frames(synthetic_county(args.nx, args.ny), name="bench")
    assert dataset.ok, dataset.errors[:5]
    print(
        f"synthetic county: {len(dataset['water_nodes']):,} nodes, "
        f"{len(dataset['water_pipes']):,} pipes, {len(dataset['natural_villages']):,} villages "
        f"(generated and validated in {time.perf_counter() - t0:.1f} s, not timed below)"
    )
    best: dict[str, float] = {}
    for k in range(args.repeat):
        t = [time.perf_counter()]
        model = build_water_model(dataset, settings)
        t.append(time.perf_counter())
        run = run_hydraulics(model, settings)
        t.append(time.perf_counter())
        result = water_coverage(dataset, model, run, settings)
        t.append(time.perf_counter())
        split = {
            "build": t[1] - t[0],
            "solve (24 h EPS)": t[2] - t[1],
            "analysis": t[3] - t[2],
            "total": t[3] - t[0],
        }
        print(f"run {k + 1}: " + ", ".join(f"{n} {s:.2f} s" for n, s in split.items()))
        if not best or split["total"] < best["total"]:
            best = split
    wn = model.wn
    print(
        f"model: {wn.num_junctions:,} junctions, {wn.num_tanks} tanks, "
        f"{wn.num_reservoirs} reservoir, {wn.num_pipes:,} pipes; {run.simulator}, "
        f"{len(run.pressure_m)} time steps (EPANET itself {run.seconds:.2f} s)"
    )
    p = result.nodes.loc[result.nodes["node_type"] == "Junction", "min_pressure_m"]
    print(
        f"junction minimum pressure over the day: {p.min():.1f}–{p.max():.1f} m "
        f"(median {p.median():.1f}); peak hour {result.peak_hour:g}"
    )
    print("village status:", result.villages["status"].value_counts().to_dict())
    print(f"tap rate {result.county.iloc[0]['value']:.2f} %")
    print("best of", args.repeat, "runs:")
    for name, s in best.items():
        print(f"  {name:<18s} {s:6.2f} s")
    print(f"target ≤ 10 s: {'met' if best['total'] <= 10 else 'NOT met'}")


if __name__ == "__main__":
    main()
