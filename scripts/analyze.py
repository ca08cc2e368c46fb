"""Run every access analysis on a county dataset and write results.gpkg and report.xlsx.

Usage::

    python -m scripts.analyze --data data/demo/tongxin.gpkg --out out/ [--profile mofcom]

Bad input stops with the full validation report and exit code 2; nothing is written.
Outputs are written atomically (a temporary file, then a rename).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from tqdm import tqdm

from geo.assessment import STEPS, assess
from geo.report import report_sheets, result_layers
from geo.settings import load_settings
from layers import GapMapError, LayerValidationError, read_dataset
from layers.write import write_excel, write_layers

log = logging.getLogger("gapmap.analyze")

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
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    t0 = time.perf_counter()
    try:
        settings = load_settings(args.profile)
        dataset = read_dataset(args.data, coords=args.coords)
        dataset.raise_if_errors()
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

    result = assess(dataset, settings, progress=progress)
    bar.update(1)
    bar.close()
    t_analysis = time.perf_counter() - t0 - t_read

    args.out.mkdir(parents=True, exist_ok=True)
    gpkg = write_layers(args.out / "results.gpkg", result_layers(result), inputs=dataset.inputs)
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
