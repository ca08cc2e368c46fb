"""Benchmark region and national runs through the one ``Client.map`` path.

Two modes:

- **Nation, simulated** (default): ``--counties`` synthetic counties (default 2,800, ≈ 850
  natural villages each, ≈ 2.4 M in all) are GENERATED INSIDE THE WORKERS: a task gets a
  seed, builds its county's frames (:func:`scripts.bench_access.synthetic_province` at
  county scale), validates them (:meth:`layers.Dataset.from_frames`), builds the road graph,
  runs 通硬化路, 一刻钟 (with isochrones) and 医疗 (``--rollup``: also the roll-up, which
  evaluates the whole indicator table), and returns a small summary.
  The tasks go through :func:`scripts.region.map_counties` on a LocalCluster of process
  workers with one thread each. Reported: villages per second per worker, peak memory
  per worker, scheduler overhead per task (task wall time vs in-task time) and the
  projected wall time on 100 workers.
- **Region** (``--region DIR``): the demo region end to end with 1 worker and with 2
  workers, ``python -m scripts.region --data DIR --out … --workers N`` as a subprocess
  (each run into a fresh results folder, so nothing is skipped as unchanged), timed;
  reported: wall time, speed-up, peak memory per worker process (sampled with psutil).

Usage::

    python -m scripts.bench_region [--counties 2800] [--workers 2] [--villages 850]
    python -m scripts.bench_region --region out/region_data [--workers-list 1,2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

PROJECTED_WORKERS = 100


def county_task(seed: int, *, villages: int = 850, with_rollup: bool = False) -> dict[str, Any]:
    """Build one synthetic county from ``seed`` and run the inner loop on it.

    Runs in a worker. Returns the in-task seconds per step, the counts found, the
    worker's pid and its peak resident memory so far (MB, ``ru_maxrss``).
    """
    t_start = time.time()
    t0 = time.perf_counter()
    from geo.clinics import clinic_gaps
    from geo.network import build_graph
    from geo.roads import hard_road_access
    from geo.rollup import rollup
    from geo.services import isochrones, service_access
    from geo.settings import load_settings
    from layers import Dataset
    from scripts.bench_access import county_kwargs, synthetic_province

    steps: dict[str, float] = {}

    def lap(name: str, t: float) -> float:
        now = time.perf_counter()
        steps[name] = now - t
        return now

    t = lap("import", t0)
    kw = county_kwargs(villages)
    # counties side by side on a 60 × 60 km grid of a band of GK zone 105°E
    x0 = 310_000.0 + (seed % 5) * 60_000.0
    y0 = 3_700_000.0 + (seed // 5 % 10) * 60_000.0
    frames = synthetic_province(kw.pop("grid"), seed, x0=x0, y0=y0, **kw)
    t = lap("generate", t)
    settings = load_settings()
    dataset = Dataset.from_frames(frames, name=f"county-{seed}")
    if not dataset.ok:
        raise ValueError(f"synthetic county {seed} does not validate: {dataset.errors[:3]}")
    t = lap("validate", t)
    _ = dataset.content_hash
    t = lap("content_hash", t)
    graph = build_graph(dataset["roads"])
    t = lap("graph", t)
    hard = hard_road_access(dataset, graph, settings)
    t = lap("hard_road", t)
    svc = service_access(dataset, graph, settings)
    t = lap("services", t)
    isochrones(dataset, graph, settings)
    t = lap("isochrones", t)
    cl = clinic_gaps(dataset, graph, settings)
    t = lap("clinics", t)
    if with_rollup:  # the roll-up evaluates the whole indicator table again
        rollup(dataset, settings, hard_road=hard, services=svc, clinics=cl)
        lap("rollup", t)
    hv = hard.villages
    return {
        "seed": seed,
        "villages": len(dataset["natural_villages"]),
        "edges": graph.n_edges,
        "not_connected": int((hv["status"] == "not_connected").sum()),
        "sites_ok": int(svc.units["ok"].sum()),
        "blank_admin_villages": int(cl.admin_villages["blank"].sum()),
        "steps": steps,
        "in_task_s": time.perf_counter() - t0,
        "start": t_start,
        "end": time.time(),
        "pid": os.getpid(),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def nation(
    n_counties: int, *, workers: int, villages: int, with_rollup: bool = False
) -> dict[str, Any]:
    """Run ``n_counties`` synthetic counties on a LocalCluster; return the figures."""
    from distributed import Client

    from scripts.region import local_cluster, map_counties

    print(f"nation, simulated: {n_counties:,} counties × ≈{villages} villages, {workers} workers")
    with (
        local_cluster(workers, memory_limit=0) as cluster,
        Client(cluster) as client,
    ):
        # warm each worker (imports, pyproj's database) so the figures are steady state
        client.run(_warm)
        last = [time.perf_counter()]

        def progress(outcome, done: int, total: int) -> None:
            now = time.perf_counter()
            if done == total or now - last[0] > 10:
                last[0] = now
                print(f"  县 {done:,}/{total:,} ({outcome.seconds:6.1f} s)", flush=True)

        t0 = time.perf_counter()
        outcomes = map_counties(
            client,
            county_task,
            list(range(n_counties)),
            on_done=progress,
            villages=villages,
            with_rollup=with_rollup,
        )
        wall = time.perf_counter() - t0
    failed = [o for o in outcomes.values() if not o.ok]
    for o in failed[:5]:
        print(f"  failed county {o.key}: {o.error}")
    done = [o.value for o in outcomes.values() if o.ok]
    n_villages = sum(d["villages"] for d in done)
    in_task = sum(d["in_task_s"] for d in done)
    analysis = sum(d["in_task_s"] - d["steps"]["generate"] - d["steps"]["import"] for d in done)
    # scheduler overhead per task: the workers' wall time not spent inside a task
    overhead = (wall * workers - in_task) / max(len(done), 1)
    per_worker: dict[int, dict[str, float]] = {}
    for d in done:
        w = per_worker.setdefault(d["pid"], {"tasks": 0, "busy_s": 0.0, "peak_mb": 0.0})
        w["tasks"] += 1
        w["busy_s"] += d["in_task_s"]
        w["peak_mb"] = max(w["peak_mb"], d["peak_mb"])
    mean_task = (in_task + overhead * len(done)) / max(len(done), 1)
    steps = {k: statistics.fmean(d["steps"][k] for d in done) for k in done[0]["steps"]}
    figures = {
        "counties": n_counties,
        "completed": len(done),
        "failed": len(failed),
        "villages": n_villages,
        "wall_s": wall,
        "workers": workers,
        "villages_per_s_per_worker": n_villages / wall / workers,
        "villages_per_s_per_worker_analysis_only": n_villages / max(analysis, 1e-9),
        "mean_in_task_s": in_task / max(len(done), 1),
        "mean_step_s": steps,
        "overhead_per_task_s": overhead,
        "peak_mb_per_worker": {str(k): v["peak_mb"] for k, v in per_worker.items()},
        "tasks_per_worker": {str(k): v["tasks"] for k, v in per_worker.items()},
        "projected_100_workers_s": -(-n_counties // PROJECTED_WORKERS) * mean_task,
        "projected_100_workers_2800_counties_s": -(-2800 // PROJECTED_WORKERS) * mean_task,
    }
    _print_nation(figures)
    return figures


def _warm() -> None:
    from pyproj import Transformer

    import geo.assessment  # noqa: F401

    Transformer.from_crs(4326, 4544, always_xy=True)


def _print_nation(f: dict[str, Any]) -> None:
    print(
        f"counties {f['completed']:,}/{f['counties']:,} ({f['failed']} failed), "
        f"{f['villages']:,} natural villages, wall {f['wall_s']:.1f} s on {f['workers']} workers"
    )
    print(f"  villages / s / worker            {f['villages_per_s_per_worker']:10.0f}")
    print(
        f"  … inner loop only (no generation) {f['villages_per_s_per_worker_analysis_only']:9.0f}"
    )
    print(f"  mean in-task time per county     {f['mean_in_task_s']:10.3f} s")
    print("  mean step times: " + ", ".join(f"{k} {v:.3f}" for k, v in f["mean_step_s"].items()))
    print(f"  scheduler overhead per task      {f['overhead_per_task_s'] * 1000:10.1f} ms")
    peaks = ", ".join(f"{v:.0f}" for v in f["peak_mb_per_worker"].values())
    print(f"  peak memory per worker (MB)      {peaks}")
    print(
        f"  projected wall time on {PROJECTED_WORKERS} workers "
        f"{f['projected_100_workers_s']:8.1f} s "
        f"(⌈counties / {PROJECTED_WORKERS}⌉ × mean task wall incl. overhead); "
        f"2,800 counties: {f['projected_100_workers_2800_counties_s']:.1f} s"
    )


def _peak_rss(pid: int, stop: threading.Event, peaks: dict[int, dict[str, Any]]) -> None:
    """Sample the resident memory of ``pid`` and its descendants until ``stop``."""
    import psutil

    root = psutil.Process(pid)
    while not stop.is_set():
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for p in procs:
            try:
                rss = p.memory_info().rss / 1024**2
                cmd = " ".join(p.cmdline())
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            entry = peaks.setdefault(p.pid, {"peak_mb": 0.0, "cmd": cmd})
            entry["peak_mb"] = max(entry["peak_mb"], rss)
        stop.wait(0.2)


def region(data: Path, *, workers_list: list[int]) -> dict[str, Any]:
    """Run the region CLI with each worker count; return wall times and memory."""
    runs: dict[int, dict[str, Any]] = {}
    for n in workers_list:
        with tempfile.TemporaryDirectory(prefix=f"gapmap-bench-region-{n}-") as tmp:
            out = Path(tmp) / "results"
            cmd = [sys.executable, "-m", "scripts.region", "--data", str(data)]
            cmd += ["--out", str(out), "--workers", str(n)]
            print(f"region, {n} worker(s): {' '.join(cmd)}", flush=True)
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd)
            stop, peaks = threading.Event(), {}
            sampler = threading.Thread(target=_peak_rss, args=(proc.pid, stop, peaks))
            sampler.start()
            code = proc.wait()
            wall = time.perf_counter() - t0
            stop.set()
            sampler.join()
            counties = {}
            manifest = out / "region.json"
            if manifest.exists():
                counties = json.loads(manifest.read_text(encoding="utf-8")).get("counties", {})
            workers = [v["peak_mb"] for v in peaks.values() if "spawn" in v["cmd"]]
            runs[n] = {
                "exit_code": code,
                "wall_s": wall,
                "counties": len(counties),
                "failed": sum(1 for c in counties.values() if c.get("status") != "ok"),
                "county_seconds": sum(float(c.get("seconds") or 0) for c in counties.values()),
                "peak_mb_per_worker": sorted(workers, reverse=True)[:n] if workers else [],
                "peak_mb_client": peaks.get(proc.pid, {}).get("peak_mb", float("nan")),
            }
            r = runs[n]
            print(
                f"  exit {code}, wall {wall:.1f} s, {r['counties']} counties "
                f"({r['failed']} failed), county task time {r['county_seconds']:.1f} s, "
                f"peak MB per worker {[round(x) for x in r['peak_mb_per_worker']]}, "
                f"client {r['peak_mb_client']:.0f} MB"
            )
    if 1 in runs:
        for n, r in runs.items():
            if n != 1:
                print(f"  speed-up {n} workers vs 1: {runs[1]['wall_s'] / r['wall_s']:.2f}×")
    return {str(k): v for k, v in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--counties", type=int, default=2800, help="synthetic counties")
    parser.add_argument("--villages", type=int, default=850, help="natural villages per county")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--region", type=Path, default=None, help="a region data folder")
    parser.add_argument("--workers-list", default="1,2", help="worker counts of --region runs")
    parser.add_argument("--rollup", action="store_true", help="also run the roll-up per county")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if args.region is not None:
        figures = region(args.region, workers_list=[int(x) for x in args.workers_list.split(",")])
    else:
        figures = nation(
            args.counties, workers=args.workers, villages=args.villages, with_rollup=args.rollup
        )
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
