"""Benchmark facility siting: greedy vs exact (HiGHS MILP) side by side, time and optimality gap.

Two kinds of instance, in one run:

1. the shipped demo county: 卫生室 (670 natural villages, 30 min on foot) and each 生活圈 kind
   (relocation sites, 15 min), k = 5, 10, 20, 40 — the coverage matrix built from the road
   graph once per kind;
2. synthetic random-geometric instances (fixed seed) large enough for the gap to show:
   ``n`` demand points and candidates uniform in a square, coverage within a radius, weights
   log-normal, for several k.

For each: the greedy and exact gains, the gap ``(exact − greedy) / exact``, both times, and
their ratio. Usage::

    python -m scripts.bench_siting [--sizes 500 2000 5000] [--time-limit 60]
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree

from geo.assessment import assess
from geo.settings import Settings
from geo.siting import (
    SITING_KINDS,
    CoverageProblem,
    coverage_problem,
    exact_cover,
    greedy_cover,
)
from layers.dataset import read_dataset

DEMO = "data/demo/tongxin.gpkg"


def _row(label: str, k: int, p: CoverageProblem, time_limit_s: float) -> str:
    g = greedy_cover(p, k=k)
    e = exact_cover(p, k=k, time_limit_s=time_limit_s)
    gap = 0.0 if e.gain == 0 else (e.gain - g.gain) / e.gain
    ratio = e.seconds / max(g.seconds, 1e-6)
    flag = "" if e.optimal else " (time limit)"
    return (
        f"{label:<28} k={k:>3}  greedy {g.gain:>10,.0f} in {g.seconds * 1e3:7.1f} ms   "
        f"exact {e.gain:>10,.0f} in {e.seconds * 1e3:8.1f} ms{flag}   "
        f"gap {gap:6.2%}   exact/greedy time ×{ratio:,.0f}"
    )


def demo(time_limit_s: float) -> None:
    dataset = read_dataset(DEMO)
    settings = Settings()
    a = assess(dataset, settings)
    nv = dataset["natural_villages"]
    sites = dataset["relocation_sites"]
    cand = np.concatenate([sites.geometry.representative_point(), nv.geometry])
    import geopandas as gpd

    cand = gpd.GeoSeries(cand, crs=nv.crs)
    for kind in SITING_KINDS:
        t0 = time.perf_counter()
        if kind == "卫生室":
            clinics = dataset["clinics"]
            existing = clinics.loc[(clinics["kind"] == kind) & (clinics["status"] == "现状")]
            pop = nv["population"].fillna(nv["households"] * 3.8).to_numpy(dtype=float)
            p = coverage_problem(
                a.graph,
                settings,
                demand=nv.geometry,
                weight=pop,
                candidates=cand,
                existing=existing.geometry,
                limit_min=settings.clinics.clinic_max_time_min,
            )
        else:
            sp = dataset["service_points"]
            existing = sp.loc[(sp["kind"] == kind) & (sp["status"] == "现状")]
            p = coverage_problem(
                a.graph,
                settings,
                demand=sites.geometry,
                weight=sites["population"].to_numpy(dtype=float),
                candidates=cand,
                existing=existing.geometry,
                limit_min=settings.services.limit_min(kind),
            )
        build = time.perf_counter() - t0
        print(f"demo {kind}: coverage matrix {p.cover.shape}, nnz {p.cover.nnz:,} in {build:.2f} s")
        for k in (5, 10, 20, 40):
            print("  " + _row(f"demo {kind}", k, p, time_limit_s))


def synthetic(n: int, *, radius: float, seed: int = 20261124) -> CoverageProblem:
    """Random geometric MCLP: n demand points and n candidates in the unit square."""
    rng = np.random.default_rng(seed + n)
    demand = rng.random((n, 2))
    cand = rng.random((n, 2))
    pairs = cKDTree(demand).sparse_distance_matrix(cKDTree(cand), radius, output_type="coo_matrix")
    cover = sparse.csr_array((np.ones(pairs.nnz, dtype=bool), (pairs.row, pairs.col)), shape=(n, n))
    return CoverageProblem(
        weight=np.round(rng.lognormal(5.0, 1.0, n)),
        cover=cover,
        covered_before=rng.random(n) < 0.2,
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 2000, 5000])
    ap.add_argument("--time-limit", type=float, default=60.0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    demo(args.time_limit)
    for n in args.sizes:
        # about 8 candidates reach each demand point whatever n
        p = synthetic(n, radius=float(np.sqrt(8 / (np.pi * n))))
        print(f"synthetic n={n}: nnz {p.cover.nnz:,}")
        for k in (5, 20, 50):
            print("  " + _row(f"synthetic n={n}", k, p, args.time_limit))


if __name__ == "__main__":
    main()
