"""Run every access analysis on a county dataset and write results.gpkg and report.xlsx.

Usage::

    python -m scripts.analyze --data data/demo/tongxin.gpkg --out out/ [--profile mofcom]
        [--dem data/demo/tongxin_dem.tif]
        [--inp data/demo/tongxin.inp --inp-crs EPSG:4544 [--village-nodes table.csv]]

A county's delivery as it comes (a folder or zip of Shapefiles, XLSX, GeoJSON, FileGDB, an
``.inp`` and a DEM) is analysed in one command with the manifest ``scripts.ingest`` wrote
for it: ``--data 资料包.zip --manifest 资料包清单.toml`` (its ``.inp`` and DEM come with it).

With ``--inp`` the water bureau's EPANET model is the water network (it runs as given:
pumps, valves, controls and demands kept); ``--inp-crs`` declares the coordinate system of
its [COORDINATES] (an EPSG code, or ``schematic`` for a model without real coordinates,
whose villages are linked only by ``--village-nodes``). Without ``--inp`` the water
network is built from the dataset's water layers, when it has them. The water results go
into ``results.gpkg`` (``water_*`` layers) and ``report.xlsx`` (``供水-*`` sheets).

With ``--dem`` new road links follow the terrain (具备建设条件 by slope), and the terrain
results are written too: ``terrain/slope_pct.tif`` and one walking-time surface per facility
kind (``terrain/walk_min_*.tif``, Cloud-Optimised GeoTIFF), and the tables
``terrain_services``, ``terrain_clinics``, ``terrain_townships`` in ``results.gpkg``.

Bad input stops with the full validation report and exit code 2; nothing is written. Any
other failure also ends with exit code 2 and a message, never a traceback (``--debug``
shows it). Outputs are written atomically (a temporary file, then a rename).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from geo.assessment import STEPS, Assessment, assess
from geo.report import report_sheets, result_layers
from geo.settings import Settings, load_settings
from geo.terrain import Grid, read_dem, write_cog
from geo.terrain_access import terrain_access
from layers import GapMapError, LayerValidationError, read_dataset
from layers.dataset import Dataset
from layers.delivery import read_delivery
from layers.epanet import read_inp, read_village_nodes
from layers.manifest import read_manifest
from layers.write import write_excel, write_layers
from scripts.guard import guarded

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
    "water": "农村供水",
    "indicators": "各项指标",
    "rollup": "逐级汇总",
}


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; every failure becomes exit code 2 and a message (see the docstring)."""

    def run() -> int:
        with tempfile.TemporaryDirectory(prefix="gapmap-analyze-") as tmp:
            return _main(argv, Path(tmp))

    return guarded(run, argv, inputs_zh="输入数据")


def _main(argv: list[str] | None, tmp: Path) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.analyze",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    t0 = time.perf_counter()
    loaded = read_inputs(args, parser, tmp, nothing_written="nothing was written")
    if loaded is None:
        return 2
    dataset, settings, dem = loaded
    t_read = time.perf_counter() - t0

    result = assess_with_progress(dataset, settings, dem=dem, quiet=args.quiet)
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
    county = result.county_kpis  # every table indicator once, then the water diagnostics
    water = result.water
    print(f"读取 {t_read:.1f} s，分析 {t_analysis:.1f} s → {gpkg}、{xlsx}")
    for row in county.itertuples():
        if pd.isna(row.value):
            print(f"  {row.indicator}: 无数据（目标 {row.comparison} {row.target:g}{row.unit}）")
            continue
        mark = "达标" if row.met else "未达标"
        print(
            f"  {row.indicator}: {row.value:g}{row.unit}（目标 {row.comparison} "
            f"{row.target:g}{row.unit}，{mark}）"
        )
    if water is not None:
        if water.model is not None:
            for change in water.model.changes:
                print(f"  供水模型修改：{change}")
        warnings_ = [p for p in water.problems if p.severity == "warning"]
        if warnings_:
            print(f"  供水提示 {len(warnings_)} 条（详见 report.xlsx「供水-模型问题与修改」）：")
            for p in warnings_[:10]:
                print(f"    - {p.message_zh}")
        if water.error is not None:
            print(f"供水计算未完成（其他结果已写出）：\n{water.error.zh}", file=sys.stderr)
            return 2
    return 0


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the county inputs' options (--data, --manifest, --profile, --coords, --dem, --inp …)."""
    parser.add_argument(
        "--data", required=True, type=Path, help="county GeoPackage (or a delivery: --manifest)"
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        default=None,
        help="the delivery's manifest (scripts.ingest): --data is then the delivery folder/zip",
    )
    parser.add_argument(
        "--profile", default="default", help="settings profile: default, mofcom, or a .toml file"
    )
    parser.add_argument(
        "--coords",
        default=None,
        help="coordinate declaration if the file has no CRS (wgs84, gcj02 ...)",
    )
    parser.add_argument("--dem", type=Path, default=None, help="DEM GeoTIFF (terrain analyses)")
    parser.add_argument("--inp", type=Path, default=None, help="the county's EPANET model (.inp)")
    parser.add_argument(
        "--inp-crs",
        default=None,
        help="CRS of the .inp coordinates: an EPSG code (EPSG:4544) or 'schematic'; required "
        "with --inp",
    )
    parser.add_argument(
        "--village-nodes",
        type=Path,
        default=None,
        help="CSV/XLSX: natural village id → junction of the .inp (id, node columns)",
    )


def load_inputs(
    args: argparse.Namespace, parser: argparse.ArgumentParser, tmp: Path
) -> tuple[Dataset, Settings, Grid | None]:
    """Read the county inputs named by :func:`add_input_arguments`' options.

    Returns the dataset (with its EPANET model and DEM when given), validated; the
    settings; the DEM grid or None. Raises what the readers raise (LayerValidationError
    with every problem, GapMapError) for the caller to print.
    """
    settings = load_settings(args.profile)
    if args.manifest is not None:
        manifest = read_manifest(args.manifest)
        dataset = read_delivery(args.data, manifest, extras_dir=tmp).dataset
    else:
        dataset = read_dataset(args.data, coords=args.coords)
    if args.inp is not None:
        inp = read_inp(args.inp, crs=args.inp_crs)
        if args.village_nodes is not None:
            inp = inp.with_village_nodes(read_village_nodes(args.village_nodes))
        dataset = dataset.with_water_model(inp)
    elif args.inp_crs or args.village_nodes:
        parser.error("--inp-crs and --village-nodes go with --inp")
    if args.dem is not None:
        dataset = dataset.with_dem(args.dem)
    dataset.raise_if_errors()
    dem = (
        read_dem(dataset.dem, resolution_m=settings.terrain.resolution_m)
        if dataset.dem is not None
        else None
    )
    return dataset, settings, dem


def read_inputs(
    args: argparse.Namespace, parser: argparse.ArgumentParser, tmp: Path, *, nothing_written: str
) -> tuple[Dataset, Settings, Grid | None] | None:
    """:func:`load_inputs`, or None after printing what is wrong (every problem, in Chinese)."""
    try:
        return load_inputs(args, parser, tmp)
    except LayerValidationError as err:
        print(err.zh, file=sys.stderr)
        print(f"\n{len(err.problems)} problem(s); {nothing_written}.", file=sys.stderr)
    except (GapMapError, ValueError) as err:
        print(getattr(err, "zh", str(err)), file=sys.stderr)
    return None


def assess_with_progress(
    dataset: Dataset, settings: Settings, *, dem: Grid | None, quiet: bool
) -> Assessment:
    """:func:`geo.assessment.assess` with a progress bar of its steps (tqdm, Chinese)."""
    bar = tqdm(total=len(STEPS), disable=quiet, unit="步", desc="分析")

    def progress(step: str) -> None:
        bar.set_description(STEP_ZH.get(step, step))
        if step != STEPS[0]:
            bar.update(1)

    result = assess(dataset, settings, progress=progress, dem=dem)
    bar.update(1)
    bar.close()
    return result


if __name__ == "__main__":
    sys.exit(main())
