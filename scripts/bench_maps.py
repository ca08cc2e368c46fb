"""Benchmark the app's maps on the demo county: analysis once, then every map builder.

Reports, side by side in one run: the cold analysis, each page's map build + HTML render
time and size, and the effect of display simplification and of merging road segments
(ratios). The browser side is measured by the end-to-end tests (test-artifacts/*_render_s.txt).

    python -m scripts.bench_maps [--data data/demo/tongxin.gpkg] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from app.maps import builders as b
from app.maps.assets import self_contained_html
from app.maps.base import MapOptions
from geo.assessment import assess
from geo.settings import load_settings
from layers.dataset import read_dataset

ROOT = Path(__file__).resolve().parents[1]


def _best(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "demo" / "tongxin.gpkg")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    t_read, dataset = _best(lambda: read_dataset(args.data), 1)
    t_assess, a = _best(lambda: assess(dataset, load_settings()), 1)
    print(f"read + validate {args.data.name:<28} {t_read:6.2f} s")
    print(f"assess (graph + 3 analyses + isochrones)  {t_assess:6.2f} s   (cached by the app)")
    code = a.rollup.admin_villages.sort_values("problems")["code"].iloc[-1]
    builders = {
        "总览 overview": lambda o: b.build_overview_map(dataset, a, options=o),
        "通硬化路 hard_road": lambda o: b.build_hard_road_map(dataset, a, options=o),
        "一刻钟 services": lambda o: b.build_services_map(dataset, a, options=o),
        "医疗 clinics": lambda o: b.build_clinics_map(dataset, a, options=o),
        "一村一图 village": lambda o: b.build_village_map(
            dataset, a, options=o, admin_village_code=code
        ),
    }
    print(f"\n{'map':<22}{'build+render s':>15}{'HTML MB':>9}{'no simplify s':>15}{'MB':>7}")
    for name, build in builders.items():
        t, html = _best(lambda bld=build: bld(MapOptions()).get_root().render(), args.repeat)
        t0, html0 = _best(
            lambda bld=build: bld(MapOptions(simplify_m=0)).get_root().render(), args.repeat
        )
        print(f"{name:<22}{t:>15.3f}{len(html) / 1e6:>9.2f}{t0:>15.3f}{len(html0) / 1e6:>7.2f}")
    t, html = _best(
        lambda: self_contained_html(b.build_package_map(dataset, a, options=MapOptions())), 1
    )
    print(f"\noffline package (self-contained HTML)   {t:6.2f} s, {len(html) / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
