"""PDF reports for leaders: 一村一图 sheets, 乡镇 and 县 体检报告.

Usage::

    python -m scripts.report --data data/demo/tongxin.gpkg --village 640324201224 --out 套塘村.pdf
    python -m scripts.report --data data/demo/tongxin.gpkg --township 640324105 --out 王团镇.pdf
    python -m scripts.report --data data/demo/tongxin.gpkg --county --out 同心县.pdf
    # every admin village's 一村一图 in one PDF (a township's, or the county's with --county)
    python -m scripts.report --data data/demo/tongxin.gpkg --township 640324105 --villages \\
        --out 王团镇一村一图.pdf

The inputs are those of ``scripts.analyze`` (``--manifest``, ``--profile``, ``--dem``,
``--inp`` …). The ledger sections (整改台账 states, snapshots, overdue items) read the
ledger the app uses (``GAPMAP_LEDGER_DIR``, default ``out/ledger``), or ``--ledger`` (a
folder or a database URL); ``--no-ledger`` leaves them out. ``--planned`` reports the 规划
scenario (planned features taken as built). The PDF is written atomically (a temporary
file, then a rename); bad input stops with exit code 2 and a message in Chinese.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from geo.ledger import Ledger
from geo.plan import as_built
from layers.write import atomic_path
from scripts.analyze import add_input_arguments, assess_with_progress, read_inputs
from scripts.guard import guarded

log = logging.getLogger("gapmap.report")

DEFAULT_LEDGER = Path(__file__).resolve().parents[1] / "out" / "ledger"


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; every failure becomes exit code 2 and a message (see the docstring)."""

    def run() -> int:
        with tempfile.TemporaryDirectory(prefix="gapmap-report-") as tmp:
            return _main(argv, Path(tmp))

    return guarded(run, argv, inputs_zh="输入数据")


def _ledger(args: argparse.Namespace) -> Ledger | None:
    if args.no_ledger:
        return None
    where = args.ledger or os.environ.get("GAPMAP_LEDGER_DIR") or str(DEFAULT_LEDGER)
    if "://" not in str(where) and not Path(where).exists():
        log.warning("no ledger at %s: the report has no 整改台账 sections", where)
        return None
    return Ledger(where)


def _main(argv: list[str] | None, tmp: Path) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_input_arguments(parser)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--village", metavar="CODE", help="一村一图 of this admin village")
    what.add_argument("--township", metavar="CODE", help="乡镇体检报告 of this township")
    what.add_argument("--county", action="store_true", help="县体检报告")
    parser.add_argument(
        "--villages",
        action="store_true",
        help="with --township or --county: every admin village's 一村一图 in one PDF",
    )
    parser.add_argument("--out", required=True, type=Path, help="the PDF to write")
    parser.add_argument("--ledger", default=None, help="ledger folder or database URL")
    parser.add_argument("--no-ledger", action="store_true", help="no 整改台账 sections")
    parser.add_argument("--planned", action="store_true", help="the 规划 scenario")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.villages and args.village:
        parser.error("--villages goes with --township or --county")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # the report builders' tables share the app's Chinese labels; nothing of Streamlit runs
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    from app.reports import (
        county_report,
        report_inputs,
        township_report,
        village_report,
        villages_report,
    )

    t0 = time.perf_counter()
    loaded = read_inputs(args, parser, tmp, nothing_written="no report was made")
    if loaded is None:
        return 2
    dataset, settings, dem = loaded
    if args.planned:
        dataset = as_built(dataset)
    assessment = assess_with_progress(dataset, settings, dem=dem, quiet=args.quiet)
    t_analysis = time.perf_counter() - t0
    inputs = report_inputs(
        dataset, assessment, ledger=_ledger(args), data_name=Path(args.data).name
    )
    t1 = time.perf_counter()
    if args.villages:
        av = dataset["admin_villages"].sort_values(["township_code", "code"])
        if args.township:
            inputs.township_name(args.township)  # a clear error for an unknown code
            av = av.loc[av["township_code"] == args.township]
        codes = list(av["code"])
        with tqdm(total=len(codes), disable=args.quiet, unit="村", desc="一村一图") as vbar:

            def done(i: int, n: int, name: str) -> None:
                vbar.set_postfix_str(name)
                vbar.update(1)

            pdf = villages_report(inputs, codes, progress=done)
    elif args.village:
        pdf = village_report(inputs, args.village)
    elif args.township:
        pdf = township_report(inputs, args.township)
    else:
        pdf = county_report(inputs)
    with atomic_path(args.out, inputs=dataset.inputs) as path:
        path.write_bytes(pdf)
    print(
        f"分析 {t_analysis:.1f} s，报告 {time.perf_counter() - t1:.1f} s → {args.out}"
        f"（{len(pdf) / 1e6:.1f} MB）"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
