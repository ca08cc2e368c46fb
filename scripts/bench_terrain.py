"""Benchmark the terrain engine on a county-sized synthetic DEM, side by side with gdaldem.

A ``--size`` × ``--size`` DEM of 30 m cells (default 10,000 × 10,000: 300 km × 300 km, 10⁸
cells, fixed seed: sums of random sinusoids, 1,200–2,600 m) is written once as a tiled
GeoTIFF. Then, each stage in its own process so that its peak memory (``ru_maxrss``) is its
own:

1. ``ours-slope``: :func:`geo.terrain.slope_to_cog` (tiles of ``--tile`` cells, one-cell halo);
2. ``gdaldem``: ``gdaldem slope`` on the same file (Debian gdal-bin), same output options;
3. ``cost``: Tobler friction from the slope and :func:`geo.terrain.travel_minutes` from
   ``--sources`` random facility cells (8-connected ``MCP_Geometric`` over all 10⁸ cells).

Prints time and peak memory of each and the ratios ours / gdaldem; checks the two slopes
agree. Usage::

    python -m scripts.bench_terrain [--size 10000] [--sources 500] [--tile 2048] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.windows import Window

RES = 30.0
X0, Y0 = 400_000.0, 4_200_000.0
EPSG = 4544


def make_dem(path: Path, size: int, *, seed: int = 20261124, block: int = 2048) -> None:
    """Write the synthetic DEM block by block (never the whole array in memory)."""
    rng = np.random.default_rng(seed)
    waves = [
        (rng.uniform(200, 800) / k, rng.uniform(2e3, 4e4) / k, rng.uniform(0, 2 * np.pi, 2),
         rng.uniform(0, np.pi))
        for k in (1, 2, 4, 8, 16)
    ]  # fmt: skip
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 1,
        "dtype": "float32",
        "crs": f"EPSG:{EPSG}",
        "transform": Affine(RES, 0, X0, 0, -RES, Y0),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
        "BIGTIFF": "YES",
    }
    with rasterio.open(path, "w", **profile) as dst:
        for r0 in range(0, size, block):
            for c0 in range(0, size, block):
                h, w = min(block, size - r0), min(block, size - c0)
                rows, cols = np.mgrid[r0 : r0 + h, c0 : c0 + w]
                x, y = cols * RES, rows * RES
                z = np.full((h, w), 1900.0)
                for amp, wavelength, (p1, p2), angle in waves:
                    u = x * np.cos(angle) + y * np.sin(angle)
                    v = -x * np.sin(angle) + y * np.cos(angle)
                    z += (
                        amp
                        * np.sin(2 * np.pi * u / wavelength + p1)
                        * np.cos(2 * np.pi * v / (wavelength * 1.3) + p2)
                    )
                dst.write(z.astype(np.float32), 1, window=Window(c0, r0, w, h))


def _stage(args: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    if args.stage == "ours-slope":
        from geo.terrain import slope_to_cog

        slope_to_cog(args.dem, args.out, tile=args.tile)
    elif args.stage == "cost":
        from geo.terrain import Grid, travel_minutes, walking_friction

        with rasterio.open(args.dem) as src:
            dem = Grid(data=src.read(1), transform=src.transform, crs=src.crs)
        t1 = time.perf_counter()
        friction = walking_friction(dem, flat_kmh=4.5)
        del dem
        rng = np.random.default_rng(7)
        n = friction.shape[0]
        starts = list(zip(rng.integers(0, n, args.sources).tolist(),
                          rng.integers(0, n, args.sources).tolist(), strict=True))  # fmt: skip
        t2 = time.perf_counter()
        minutes = travel_minutes(friction, starts)
        t3 = time.perf_counter()
        finite = minutes.data[np.isfinite(minutes.data)]
        return {
            "seconds": t3 - t0,
            "friction_s": t2 - t1,
            "cost_distance_s": t3 - t2,
            "max_minutes": float(finite.max()),
            "median_minutes": float(np.median(finite)),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    return {
        "seconds": time.perf_counter() - t0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _run(stage: str, dem: Path, out: Path, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, "-m", "scripts.bench_terrain", "--stage", stage, "--dem", str(dem),
           "--out", str(out), "--tile", str(args.tile), "--sources", str(args.sources)]  # fmt: skip
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def _gdaldem(dem: Path, out: Path) -> dict:
    exe = shutil.which("gdaldem")
    if exe is None:
        return {}
    t0 = time.perf_counter()
    subprocess.run(
        [exe, "slope", str(dem), str(out), "-q", "-of", "COG", "-co", "COMPRESS=DEFLATE",
         "-co", "BIGTIFF=IF_SAFER"],
        check=True,
    )  # fmt: skip
    return {
        "seconds": time.perf_counter() - t0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=10_000)
    ap.add_argument("--sources", type=int, default=500)
    ap.add_argument("--tile", type=int, default=2048)
    ap.add_argument("--keep", type=Path, default=None, help="keep the rasters in this folder")
    ap.add_argument("--stage", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--dem", type=Path, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.stage:
        print(json.dumps(_stage(args)))
        return
    work = args.keep or Path(tempfile.mkdtemp(prefix="gapmap-bench-terrain-"))
    work.mkdir(parents=True, exist_ok=True)
    dem = work / "dem.tif"
    t0 = time.perf_counter()
    make_dem(dem, args.size)
    took = time.perf_counter() - t0
    print(f"synthetic DEM {args.size} × {args.size} (30 m) written in {took:.1f} s")
    gdal = _gdaldem(dem, work / "slope_gdal.tif")  # first: RUSAGE_CHILDREN is a running max
    ours = _run("ours-slope", dem, work / "slope_ours.tif", args)
    peak = ours["peak_rss_mb"]
    print(f"slope, ours (tiles {args.tile}): {ours['seconds']:.1f} s, peak {peak:,.0f} MB")
    if gdal:
        peak = gdal["peak_rss_mb"]
        print(f"slope, gdaldem:             {gdal['seconds']:.1f} s, peak {peak:,.0f} MB")
        print(
            f"ratio ours / gdaldem: time ×{ours['seconds'] / gdal['seconds']:.2f}, "
            f"memory ×{ours['peak_rss_mb'] / gdal['peak_rss_mb']:.2f}"
        )
        with (
            rasterio.open(work / "slope_ours.tif") as a,
            rasterio.open(work / "slope_gdal.tif") as b,
        ):
            worst = 0.0
            for _, win in a.block_windows(1):
                x = a.read(1, window=win, masked=True).filled(np.nan)
                y = b.read(1, window=win, masked=True).filled(np.nan)
                both = np.isfinite(x) & np.isfinite(y)
                if both.any():
                    worst = max(worst, float(np.abs(x[both] - y[both]).max()))
        print(f"largest slope difference ours vs gdaldem: {worst:.2e}°")
    cost = _run("cost", dem, work / "unused.tif", args)
    print(
        f"cost-distance from {args.sources} sources over {args.size**2:,} cells: "
        f"{cost['seconds']:.1f} s in all (friction {cost['friction_s']:.1f} s, "
        f"MCP {cost['cost_distance_s']:.1f} s), peak {cost['peak_rss_mb']:,.0f} MB; "
        f"median {cost['median_minutes']:.0f} min, max {cost['max_minutes']:.0f} min"
    )
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
