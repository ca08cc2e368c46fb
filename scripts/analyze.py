"""Run every access analysis on a county dataset and write results.gpkg and report.xlsx.

Usage::

    python -m scripts.analyze --data data/demo/tongxin.gpkg --out out/ [--profile mofcom]
        [--dem data/demo/tongxin_dem.tif]

With ``--dem`` new road links follow the terrain (具备建设条件 by slope), and the terrain
results are written too: ``terrain/slope_pct.tif`` and one walking-time surface per facility
kind (``terrain/walk_min_*.tif``, Cloud-Optimised GeoTIFF), and the tables
``terrain_services``, ``terrain_clinics``, ``terrain_townships`` in ``results.gpkg``.

Bad input stops with the full validation report and exit code 2; nothing is written.
Outputs are written atomically (a temporary file, then a rename).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from geo.assessment import STEPS, assess
from geo.report import report_sheets, result_layers
from geo.settings import load_settings
from geo.terrain import read_dem, write_cog
from geo.terrain_access import terrain_access
from layers import GapMapError, LayerValidationError, read_dataset
from layers.write import write_excel, write_layers

log = logging.getLogger("gapmap.analyze")

KIND_FILE = {
    "综合超市": "supermarket",
    "便利菜店": "grocery",
    "药店": "pharmacy",
    "公交站点": "bus_stop",
    "卫生室": "clinic",
}
"""File-name slug of each walking-time surface."""

STEP_ZH = {
    "graph": "构建路网",
    "diagnostics": "路网拓扑检查",
    "hard_road": "通硬化路",
    "services": "一刻钟生活圈",
    "isochrones": "等时圈",
    "clinics": "医疗空白点",
    "rollup": "逐级汇总",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.analyze",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", required=True, type=Path, help="county GeoPackage")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument(
        "--profile", default="default", help="settings profile: default, mofcom, or a .toml file"
    )
    parser.add_argument(
        "--coords",
        default=None,
        help="coordinate declaration if the file has no CRS (wgs84, gcj02 ...)",
    )
    parser.add_argument("--dem", type=Path, default=None, help="DEM GeoTIFF (terrain analyses)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    t0 = time.perf_counter()
    try:
        settings = load_settings(args.profile)
        dataset = read_dataset(args.data, coords=args.coords)
        dataset.raise_if_errors()
        dem = read_dem(args.dem, resolution_m=settings.terrain.resolution_m) if args.dem else None
    except LayerValidationError as err:
        print(err.zh, file=sys.stderr)
        print(f"\n{len(err.problems)} problem(s); nothing was written.", file=sys.stderr)
        return 2
    except (GapMapError, ValueError) as err:
        print(getattr(err, "zh", str(err)), file=sys.stderr)
        return 2
    t_read = time.perf_counter() - t0

    bar = tqdm(total=len(STEPS), disable=args.quiet, unit="步", desc="分析")

    def progress(step: str) -> None:
        bar.set_description(STEP_ZH.get(step, step))
        if step != STEPS[0]:
            bar.update(1)

    result = assess(dataset, settings, progress=progress, dem=dem)
    bar.update(1)
    bar.close()
    t_analysis = time.perf_counter() - t0 - t_read

    args.out.mkdir(parents=True, exist_ok=True)
    layers = result_layers(result)
    if result.terrain is not None:
        ter = terrain_access(
            dataset, result.terrain, settings, services=result.services, clinics=result.clinics
        )
        layers.update(
            terrain_services=ter.services,
            terrain_clinics=ter.clinics,
            terrain_townships=ter.townships,
        )
        folder = args.out / "terrain"
        write_cog(result.terrain.dem.like(result.terrain.slope_pct), folder / "slope_pct.tif")
        for kind, surface in ter.surfaces.items():
            minutes = np.where(np.isfinite(result.terrain.dem.data), surface.data, np.nan)
            write_cog(surface.like(minutes), folder / f"walk_min_{KIND_FILE.get(kind, kind)}.tif")
    gpkg = write_layers(args.out / "results.gpkg", layers, inputs=dataset.inputs)
    xlsx = write_excel(args.out / "report.xlsx", report_sheets(result), inputs=dataset.inputs)
    county = result.rollup.county
    print(f"读取 {t_read:.1f} s，分析 {t_analysis:.1f} s → {gpkg}、{xlsx}")
    for row in county.itertuples():
        mark = "达标" if row.met else "未达标"
        print(
            f"  {row.indicator}: {row.value:g}{row.unit}（目标 {row.comparison} "
            f"{row.target:g}{row.unit}，{mark}）"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
