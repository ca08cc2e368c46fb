"""Benchmark the PDF reports on the demo county: time, pages and size of each kind.

Reports, side by side in one run (CPU seconds, best of ``--repeat``): one village's 一村一图,
a township's and the county's 体检报告, and a batch of ``--batch`` villages in one PDF
against as many single-village PDFs (the ratio: the font is parsed and embedded once per
document), and the map PNG written straight from the Agg buffer against matplotlib's PNG
quantised afterwards (the ratio).

    python -m scripts.bench_reports [--data data/demo/tongxin.gpkg] [--repeat 3] [--batch 10]
"""

from __future__ import annotations

import argparse
import io
import logging
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def _best(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    return best, out


def _pages(pdf: bytes) -> int:
    return pdf.count(b"/Type /Page\n") or pdf.count(b"/Type /Page ") or pdf.count(b"/Type/Page")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "demo" / "tongxin.gpkg")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=10)
    args = parser.parse_args(argv)
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    from app.reports import (
        county_report,
        report_inputs,
        township_report,
        village_report,
        villages_report,
    )
    from app.reports.maps import MapFrame, _png, village_map_figure
    from geo.assessment import assess
    from geo.settings import load_settings
    from layers.dataset import read_dataset

    dataset = read_dataset(args.data)
    a = assess(dataset, load_settings())
    inputs = report_inputs(dataset, a, ledger=None, data_name=args.data.name)
    av = a.rollup.admin_villages.sort_values(["problems", "code"], ascending=[False, True])
    code = str(av["code"].iloc[0])
    township = str(a.rollup.townships["code"].iloc[0])
    rows = [
        ("一村一图 one village", lambda: village_report(inputs, code)),
        ("乡镇体检报告 township", lambda: township_report(inputs, township)),
        ("县体检报告 county", lambda: county_report(inputs)),
    ]
    print(f"{'report':<26} {'CPU s':>7} {'pages':>6} {'MB':>6}")
    for name, fn in rows:
        t, pdf = _best(fn, args.repeat)
        print(f"{name:<26} {t:7.2f} {_pages(pdf):6d} {len(pdf) / 1e6:6.2f}")
    codes = [str(c) for c in av["code"].iloc[: args.batch]]
    t_batch, pdf = _best(lambda: villages_report(inputs, codes), 1)
    t_single, _ = _best(lambda: [village_report(inputs, c) for c in codes], 1)
    print(
        f"batch of {len(codes)} villages in one PDF {t_batch:6.2f} s ({_pages(pdf)} pages) vs "
        f"{len(codes)} single PDFs {t_single:6.2f} s: {t_single / t_batch:.2f}x"
    )
    frame = MapFrame()
    fig = village_map_figure(dataset, a, code, frame=frame)

    def via_png() -> bytes:  # matplotlib's RGB PNG, then quantised (the first version)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=frame.dpi, facecolor="white")
        with Image.open(io.BytesIO(buf.getvalue())) as im:
            q = im.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=0)
            out = io.BytesIO()
            q.save(out, format="PNG", optimize=True)
        return out.getvalue()

    t_old, old = _best(via_png, args.repeat)
    t_new, new = _best(lambda: _png(fig, frame), args.repeat)
    print(
        f"village map PNG: via matplotlib PNG {t_old:5.2f} s ({len(old) / 1e3:.0f} kB), "
        f"from the Agg buffer {t_new:5.2f} s ({len(new) / 1e3:.0f} kB): {t_old / t_new:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
