"""Compute a region county by county on dask.distributed (``python -m scripts.region``).

Usage::

    python -m scripts.region --data data/region_sample --out out/region
        [--counties 640324,640303] [--workers N] [--scheduler tcp://host:8786]
        [--buffer-m 10000] [--profile default] [--force] [--no-dem] [--db URL | --no-db]

Each county is one task (:func:`run_county`): its own dataset plus its neighbours' roads
and facilities within ``--buffer-m`` of its border (:func:`layers.region.read_region_county`),
every analysis (:func:`geo.assessment.assess`), its results written by the worker under
``OUT/counties/<code>/`` (GeoParquet + the pickled Assessment + ``meta.json``). Then the
client rolls the counties' outcome rows up (region → city → county,
:func:`geo.region.region_rollup`) into ``OUT/rollup.parquet`` and writes
``OUT/boundaries.parquet`` and ``OUT/region.json``.

The cluster: a LocalCluster sized to the machine (process workers, one thread each;
``--workers N``), or a running scheduler (``--scheduler``, or ``[region] scheduler_address``
of the settings); its workers must import this repository and see ``--data`` and ``--out``
at the same paths (a shared file system). A failed county is printed with its error while
the others complete; the exit code is then 1. A rerun recomputes only the counties whose
input hash (their own GPKG/INP, the neighbours' GPKGs they read, the DEM, the settings and
the buffer) changed, unless ``--force``.

Server mode: with ``--db URL`` (default ``$GAPMAP_DB_OWNER_URL``, else ``$GAPMAP_DB_URL``
when ``GAPMAP_MODE=server``) the results are also written to PostGIS
(:mod:`layers.store.region`), each county's rows replaced in one transaction, for the
app's 全区 page. Only the database owner may write them; that is checked first.

This module also holds the one ``Client.map`` path every region run goes through: the demo
region's 22 counties, a county office's own counties and the simulated national benchmark
(:mod:`scripts.bench_region`) all call :func:`map_counties`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import logging
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("gapmap.region")

DEFAULT_DATA = Path("out/region_data")
"""The region data folder when neither ``--data`` nor ``$GAPMAP_REGION_DATA`` is given."""
DEFAULT_OUT = Path("out/region")
"""The results folder when ``--out`` is not given."""
RESULTS_VERSION = 1
"""Bumped when a county's stored results change meaning: every county is recomputed."""


@dataclass(frozen=True)
class CountyOutcome:
    """What one county task gave back.

    Attributes
    ----------
    key : hashable
        The county's key as passed to :func:`map_counties` (its 6-digit code).
    value : object or None
        The task's return value; None when it failed.
    error : str or None
        ``"ExceptionType: message"`` when the task raised (the others still run).
    traceback : str or None
        The worker-side traceback of that exception, for the log.
    seconds : float
        Wall time from submission to the result arriving at the client.
    """

    key: Hashable
    value: Any = None
    error: str | None = None
    traceback: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the task returned."""
        return self.error is None


def map_counties(
    client: Any,
    fn: Callable[..., Any],
    keys: Iterable[Hashable],
    *args: Any,
    on_done: Callable[[CountyOutcome, int, int], None] | None = None,
    **kwargs: Any,
) -> dict[Hashable, CountyOutcome]:
    """Run ``fn(key, *args, **kwargs)`` for every county key on a dask cluster.

    One task per county (``Client.map`` with ``pure=False``); results are gathered as
    they finish, so a failed county is reported with its error while the others
    complete.

    Parameters
    ----------
    client : distributed.Client
        A client of a LocalCluster or of a separately started scheduler.
    fn : callable
        The county task; it must be importable by the workers (a module-level function).
    keys : iterable of hashable
        The counties (6-digit codes), in the order to submit them.
    *args, **kwargs
        Passed to every call of ``fn`` (scattered once by dask when large).
    on_done : callable, optional
        Called as ``on_done(outcome, done, total)`` after each county (progress).

    Returns
    -------
    dict
        Key → :class:`CountyOutcome`, in submission order.
    """
    from distributed import as_completed

    keys = list(keys)
    t0 = time.perf_counter()
    futures = client.map(fn, keys, *[[a] * len(keys) for a in args], pure=False, **kwargs)
    key_of = {f.key: k for f, k in zip(futures, keys, strict=True)}
    outcomes: dict[Hashable, CountyOutcome] = {}
    for done, future in enumerate(as_completed(futures), start=1):
        key = key_of[future.key]
        seconds = time.perf_counter() - t0
        if future.status == "error":
            exc = future.exception()
            tb = "".join(traceback.format_tb(future.traceback()))
            outcome = CountyOutcome(
                key, error=f"{type(exc).__name__}: {exc}", traceback=tb, seconds=seconds
            )
            log.error("county %s failed: %s", key, outcome.error)
        else:
            outcome = CountyOutcome(key, value=future.result(), seconds=seconds)
        future.release()
        outcomes[key] = outcome
        if on_done is not None:
            on_done(outcome, done, len(keys))
    return {k: outcomes[k] for k in keys}


# ----------------------------------------------------------------------------- the run


class CountyError(Exception):
    """A county task's failure, with the Chinese message (pickles plainly to the client)."""


def settings_hash(settings: Any) -> str:
    """SHA-256 (hex) of every setting (:meth:`geo.settings.Settings.digest`, as the app's cache)."""
    return str(settings.digest())


def county_input_hash(region: Any, code: str, *, buffer_m: float, settings_digest: str) -> str:
    """Return the content hash of everything county ``code``'s task reads and depends on.

    Its own GPKG and INP, the neighbours' GPKGs within the buffer, the DEM (file bytes),
    the settings hash, the buffer, :data:`RESULTS_VERSION` and the version of GapMap's
    own code (:func:`layers.cache.code_fingerprint`: after an upgrade every county is
    computed again, and the app never opens results of other code).
    """
    from layers.cache import code_fingerprint
    from layers.region import county_input_files, file_sha256

    county = region.county(code)
    h = hashlib.sha256()
    h.update(f"v{RESULTS_VERSION}|{code}|{float(buffer_m)!r}|{settings_digest}|".encode())
    h.update(f"code={code_fingerprint()}|".encode())
    h.update(f"inp_crs={county.inp_crs}|".encode())
    for path in county_input_files(region, code, buffer_m=buffer_m):
        h.update(f"{path.name}:{file_sha256(path)}|".encode())
    return h.hexdigest()


def run_county(
    code: str,
    data: str,
    out: str,
    *,
    settings: Any,
    buffer_m: float,
    input_hashes: Mapping[str, str],
    use_dem: bool = True,
) -> dict[str, Any]:
    """The county task: read with the buffer, assess, write the county's results.

    Runs on a worker; ``input_hashes[code]`` (:func:`county_input_hash`, computed by the
    client) goes into the county's ``meta.json``. Returns a small summary (``code``,
    ``name``, ``seconds`` in the task, ``villages``, ``problems``); raises
    :class:`CountyError` with the Chinese message when the county cannot be analysed.
    """
    from geo.assessment import assess, without_terrain_grids
    from geo.region import county_dem, county_result_frames
    from layers import GapMapError
    from layers.region import read_region, read_region_county, write_county_results

    t0 = time.perf_counter()
    region = read_region(data)
    county = region.county(code)
    try:
        dataset = read_region_county(region, code, buffer_m=buffer_m).raise_if_errors()
        dem = (
            county_dem(region, code, buffer_m=buffer_m, resolution_m=settings.terrain.resolution_m)
            if use_dem
            else None
        )
        t_read = time.perf_counter() - t0
        result = assess(dataset, settings, dem=dem)
    except GapMapError as exc:
        raise CountyError(f"{county.name}（{code}）：{exc.zh}") from None
    t_assess = time.perf_counter() - t0 - t_read
    frames = county_result_frames(result, dataset)
    seconds = time.perf_counter() - t0
    meta = {
        "name": county.name,
        "input_hash": input_hashes[code],
        "settings_hash": settings_hash(settings),
        "buffer_m": float(buffer_m),
        "dataset_hash": result.dataset_hash,
        "seconds": round(seconds, 3),
        "seconds_read": round(t_read, 3),
        "seconds_assess": round(t_assess, 3),
        "buffer": dict(dataset.provenance.get("region_buffer", {})),
        "dem": result.terrain is not None,
        "finished": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    write_county_results(
        out, code, assessment=without_terrain_grids(result), dataset=dataset, meta=meta, **frames
    )
    outcomes = frames["outcomes"]
    return {
        "code": code,
        "name": county.name,
        "seconds": time.perf_counter() - t0,
        "villages": len(dataset["natural_villages"]),
        "problems": int((outcomes["status"] == "problem").sum()),
        "pid": os.getpid(),
    }


@dataclass(frozen=True)
class RegionRun:
    """What :func:`run_region` did.

    Attributes
    ----------
    out : Path
        The results folder.
    computed : dict
        County code → :class:`CountyOutcome` of the counties run this time.
    skipped : tuple of str
        Counties whose results were current (same input hash): not recomputed.
    seconds : float
        Wall time of the whole run.
    """

    out: Path
    computed: dict[str, CountyOutcome] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()
    seconds: float = 0.0

    @property
    def failed(self) -> tuple[str, ...]:
        """The counties whose task failed."""
        return tuple(k for k, o in self.computed.items() if not o.ok)


def _print(text: str) -> None:
    print(text, flush=True)


def local_cluster(n_workers: int, **kwargs: Any) -> Any:
    """A LocalCluster of ``n_workers`` process workers with one thread each.

    The workers' statistical profiler is off: it keeps a call-stack profile of every
    second in memory (the dashboard's history), which grew a worker by ≈ 0.35 MB per
    county of a national run (310 → 450 MB over 200 counties, flat at 294 MB without it).
    On a separately started cluster, start the workers with
    ``DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False`` for the same.
    ``kwargs`` go to :class:`distributed.LocalCluster`.
    """
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.worker.profile.enabled": False}):  # nannies pass it on
        return LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # any free port: never a clash with a running one
            **kwargs,
        )


def _make_client(scheduler: str | None, workers: int | None) -> tuple[Any, Any]:
    from distributed import Client

    logging.getLogger("distributed").setLevel(logging.WARNING)  # no INFO lines per worker
    if scheduler:
        return Client(scheduler, timeout="30s"), None
    cluster = local_cluster(workers or max(1, os.cpu_count() or 1), silence_logs=logging.ERROR)
    return Client(cluster), cluster


def run_region(
    data: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    counties: Sequence[str] | None = None,
    settings: Any = None,
    buffer_m: float | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    force: bool = False,
    use_dem: bool = True,
    db: Any = None,
    progress: Callable[[str], None] | None = _print,
) -> RegionRun:
    """Compute a region's counties on dask and write the results (the CLI's body).

    Parameters
    ----------
    data : path-like
        The region data folder (``region.json``).
    out : path-like
        The results folder.
    counties : sequence of str, optional
        Codes to compute (default: every county of the manifest).
    settings : Settings, optional
        Default :func:`geo.settings.load_settings` ``("default")``.
    buffer_m : float, optional
        Default ``settings.region.buffer_m``.
    workers : int, optional
        LocalCluster size (default: the machine's cores).
    scheduler : str, optional
        A running scheduler's address (default ``settings.region.scheduler_address``; ""
        = a LocalCluster).
    client : distributed.Client, optional
        Use this client (and its cluster) instead of making one.
    force : bool
        Recompute every selected county even when its results are current.
    use_dem : bool
        Use the region's DEM when it has one (terrain-routed links).
    db : str, URL, Engine or RegionStore, optional
        Server mode: also publish the results to this PostGIS database
        (:func:`layers.store.region.publish_results`: counties and run in one transaction). Its
        role must be the database owner's; that is checked before any county is computed.
    progress : callable, optional
        Called with each progress line (Chinese); None for silence.

    Returns
    -------
    RegionRun
    """
    say = progress or (lambda _text: None)
    t0 = time.perf_counter()
    store = _region_store(db)
    try:
        return _run_region(data, out, counties=counties, settings=settings, buffer_m=buffer_m,
                           workers=workers, scheduler=scheduler, client=client, force=force,
                           use_dem=use_dem, store=store, say=say, t0=t0)  # fmt: skip
    finally:
        if store is not None and store is not db:
            store.close()


def _region_store(db: Any) -> Any:
    """The RegionStore of ``db`` (None: no database), checked writable before any work."""
    if db is None or db == "":
        return None
    from layers.store.region import RegionStore

    store = db if isinstance(db, RegionStore) else RegionStore(db)
    try:
        store.require_writer()
    except BaseException:
        if store is not db:
            store.close()
        raise
    return store


def _run_region(
    data: Any,
    out: Any,
    *,
    counties: Sequence[str] | None,
    settings: Any,
    buffer_m: float | None,
    workers: int | None,
    scheduler: str | None,
    client: Any,
    force: bool,
    use_dem: bool,
    store: Any,
    say: Callable[[str], None],
    t0: float,
) -> RegionRun:
    import geopandas as gpd
    import pandas as pd

    from geo.indicators import indicator_table
    from geo.region import region_rollup
    from geo.settings import load_settings
    from layers.region import (
        read_county_meta,
        read_region,
        remove_county_results,
        write_progress,
        write_region_results,
    )

    settings = settings if settings is not None else load_settings("default")
    buffer_m = float(settings.region.buffer_m if buffer_m is None else buffer_m)
    scheduler = scheduler if scheduler is not None else settings.region.scheduler_address
    region = read_region(data)
    out = Path(out).resolve()
    selected = list(counties) if counties else list(region.codes)
    for code in selected:
        region.county(code)  # unknown codes fail before any work
    digest = settings_hash(settings)
    hashes = {
        c: county_input_hash(region, c, buffer_m=buffer_m, settings_digest=digest)
        for c in region.codes
    }
    todo, skipped = [], []
    for code in selected:
        meta = read_county_meta(out, code)
        if not force and meta is not None and meta.get("input_hash") == hashes[code]:
            skipped.append(code)
        else:
            todo.append(code)
    if skipped:
        names = "、".join(region.county(c).name for c in skipped)
        say(f"跳过 {len(skipped)} 个结果未过期的县（输入未变）：{names}")
    computed: dict[str, CountyOutcome] = {}
    if todo:
        own_client = client is None
        cluster = None
        if own_client:
            client, cluster = _make_client(scheduler or None, workers)
        n_workers = len(client.scheduler_info().get("workers", {}))
        say(f"计算 {len(todo)} 个县，{n_workers} 个 worker（{client.scheduler.address}）")
        state = {
            "running": True,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "total": len(todo),
            "done": 0,
            "failed": 0,
            "workers": n_workers,
            "started": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "counties": dict.fromkeys(todo, "queued"),
        }
        write_progress(out, state)  # the app's 全区 page shows it while the run lasts

        def done(outcome: CountyOutcome, k: int, total: int) -> None:
            name = region.county(str(outcome.key)).name
            if outcome.ok:
                say(f"县 {k}/{total} 完成 ({name} {outcome.value['seconds']:.0f} s)")
            else:
                say(f"县 {k}/{total} 失败 ({name}): {outcome.error}")
            state["done"] = k
            state["failed"] += 0 if outcome.ok else 1
            state["counties"][str(outcome.key)] = "ok" if outcome.ok else "failed"
            write_progress(out, state)

        try:
            results = map_counties(
                client,
                run_county,
                todo,
                str(region.folder),
                str(out),
                on_done=done,
                settings=settings,
                buffer_m=buffer_m,
                input_hashes={c: hashes[c] for c in todo},
                use_dem=use_dem,
            )
        finally:
            state["running"] = False
            state["finished"] = dt.datetime.now().astimezone().isoformat(timespec="seconds")
            write_progress(out, state)
            if own_client:
                client.close()
                if cluster is not None:
                    cluster.close()
        computed = {str(k): v for k, v in results.items()}
        for code, outcome in computed.items():
            if not outcome.ok:
                remove_county_results(out, code)

    # the roll-up from every county's stored outcome rows (computed now or before)
    outcomes, entries = {}, {}
    for c in region.counties:
        meta = read_county_meta(out, c.code)
        failed = c.code in computed and not computed[c.code].ok
        base = {"name": c.name, "city_code": c.city_code, "city_name": c.city_name,
                "key": c.key, "input_hash": hashes[c.code]}  # fmt: skip
        if failed:
            entries[c.code] = {**base, "status": "failed", "error": computed[c.code].error,
                               "seconds": round(computed[c.code].seconds, 3)}  # fmt: skip
        elif meta is not None:
            entries[c.code] = {**base, "status": "ok", "error": None,
                               "seconds": meta.get("seconds"), "dem": bool(meta.get("dem")),
                               "stale": meta.get("input_hash") != hashes[c.code]}  # fmt: skip
            frame = pd.read_parquet(out / "counties" / c.code / "outcomes.parquet")
            outcomes[c.code] = frame.drop(columns="geometry", errors="ignore")
    table = indicator_table(settings)
    counties_frame = pd.DataFrame(
        [{"code": c.code, "name": c.name, "city_code": c.city_code, "city_name": c.city_name,
          "key": c.key} for c in region.counties]
    )  # fmt: skip
    rollup = region_rollup(
        outcomes,
        counties_frame,
        table,
        settings,
        region_code=region.province_code or "640000",
        region_name=region.name,
    )
    boundaries = _boundaries(region, gpd)
    manifest = {
        "format": 1,
        "region_code": region.province_code or "640000",
        "region_name": region.name,
        "data": str(region.folder),
        "settings_hash": digest,
        "profile": settings.profile,
        "buffer_m": buffer_m,
        "counties": entries,
        "finished": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    write_region_results(out, manifest=manifest, rollup=rollup, boundaries=boundaries)
    if store is not None:
        from layers.store.region import publish_results

        report = publish_results(out, store)
        say(
            f"已写入服务器数据库（{store.where}，第 {report.run_id} 次）：写入 "
            f"{len(report.written)} 个县 {report.rows} 行，失败 {len(report.failed)} 个，"
            f"未变 {len(report.unchanged)} 个，用时 {report.seconds:.1f} s"
        )
    seconds = time.perf_counter() - t0
    failed = [c for c, o in computed.items() if not o.ok]
    say(
        f"全区完成：计算 {len(computed) - len(failed)} 个县，失败 {len(failed)} 个，"
        f"跳过 {len(skipped)} 个，用时 {seconds:.1f} s → {out}"
    )
    return RegionRun(out=out, computed=computed, skipped=tuple(skipped), seconds=seconds)


def _boundaries(region: Any, gpd: Any) -> Any:
    """The region's, cities' and counties' polygons (boundaries.gpkg, else the counties')."""
    import pandas as pd
    import pyogrio

    from layers.region import county_boundary

    keys = {c.code: c.key for c in region.counties}
    rows = []
    layers = (
        {str(n) for n, _ in pyogrio.list_layers(region.boundaries)} if region.boundaries else set()
    )
    if {"county", "city"} <= layers:
        prov = (
            gpd.read_file(region.boundaries, layer="province").to_crs(4326)
            if "province" in layers
            else None
        )
        city = gpd.read_file(region.boundaries, layer="city").to_crs(4326)
        county = gpd.read_file(region.boundaries, layer="county").to_crs(4326)
        if prov is not None and len(prov):
            rows.append(gpd.GeoDataFrame(
                {"level": "region", "code": region.province_code or "640000", "name": region.name,
                 "parent_code": "", "key": bool(any(keys.values()))},
                geometry=[prov.geometry.union_all()], crs=4326, index=[0],
            ))  # fmt: skip
        city_key = {}
        ck = county.get("city_code", pd.Series([""] * len(county))).astype(str)
        kk = county["code"].astype(str).map(keys).fillna(county.get("key", False)).astype(bool)
        for cc, k in zip(ck, kk, strict=True):
            city_key[cc] = city_key.get(cc, False) or bool(k)
        rows.append(gpd.GeoDataFrame(
            {"level": "city", "code": city["code"].astype(str), "name": city["name"].astype(str),
             "parent_code": region.province_code or "640000",
             "key": city["code"].astype(str).map(city_key).fillna(False).astype(bool)},
            geometry=city.geometry, crs=4326,
        ))  # fmt: skip
        rows.append(gpd.GeoDataFrame(
            {"level": "county", "code": county["code"].astype(str),
             "name": county["name"].astype(str), "parent_code": ck, "key": kk},
            geometry=county.geometry, crs=4326,
        ))  # fmt: skip
    else:
        geoms = [county_boundary(c).union_all() for c in region.counties]
        rows.append(gpd.GeoDataFrame(
            {"level": "county", "code": list(keys), "name": [c.name for c in region.counties],
             "parent_code": [c.city_code for c in region.counties], "key": list(keys.values())},
            geometry=geoms, crs=4326,
        ))  # fmt: skip
    return gpd.GeoDataFrame(pd.concat(rows, ignore_index=True), crs=4326)


def server_db_url() -> str | None:
    """The database the CLI publishes to by default: the owner's, else server mode's.

    ``$GAPMAP_DB_OWNER_URL`` (``scripts/server.sh`` writes it to ``server.env``: only the
    owner may write region results), else ``$GAPMAP_DB_URL`` when ``GAPMAP_MODE=server`` (whose
    app role is then refused with a message saying to use the owner's), else None.
    """
    owner = os.environ.get("GAPMAP_DB_OWNER_URL", "").strip()
    if owner:
        return owner
    if os.environ.get("GAPMAP_MODE", "").strip().lower() == "server":
        return os.environ.get("GAPMAP_DB_URL", "").strip() or None
    return None


def _ensure_data(path: Path, say: Callable[[str], None]) -> Path:
    """Return the region data folder, building it first when it is missing (GEN's builder)."""
    if (path / "region.json").is_file() or path.is_file():
        return path
    try:
        from scripts.build_region import ensure_region_data
    except ImportError:
        from layers.region import RegionError

        raise RegionError(
            f"no region data at {path}; build it with python -m scripts.build_region",
            zh=f"{path} 中没有全区数据（region.json）：请先运行 python -m scripts.build_region",
        ) from None
    say(f"首次使用：生成全区数据到 {path} …")
    return Path(ensure_region_data(path, progress=say))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; exit 0, 1 when a county failed, 2 on bad input (see the docstring)."""
    from scripts.guard import guarded

    return guarded(lambda: _main(argv), argv, inputs_zh="全区数据")


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.region",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="region data folder (region.json); default $GAPMAP_REGION_DATA or out/region_data",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder")
    parser.add_argument("--counties", default="", help="county codes, comma-separated")
    parser.add_argument("--workers", type=int, default=None, help="LocalCluster worker processes")
    parser.add_argument(
        "--scheduler", default=None, help="a running dask scheduler tcp://host:port"
    )
    parser.add_argument("--buffer-m", type=float, default=None, help="buffer beyond the border (m)")
    parser.add_argument("--profile", default="default", help="settings profile or .toml file")
    parser.add_argument("--force", action="store_true", help="recompute every selected county")
    parser.add_argument("--no-dem", action="store_true", help="do not use the region's DEM")
    parser.add_argument(
        "--db",
        default=None,
        help="server mode: also write the results to this PostGIS database (the owner's URL); "
        "default $GAPMAP_DB_OWNER_URL, else $GAPMAP_DB_URL when GAPMAP_MODE=server",
    )
    parser.add_argument("--no-db", action="store_true", help="write the results folder only")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from geo.settings import load_settings

    say = (lambda _t: None) if args.quiet else _print
    data = args.data or Path(os.environ.get("GAPMAP_REGION_DATA") or DEFAULT_DATA)
    data = _ensure_data(data, say)
    codes = [c.strip() for c in args.counties.replace("，", ",").split(",") if c.strip()]
    run = run_region(
        data,
        args.out,
        counties=codes or None,
        settings=load_settings(args.profile),
        buffer_m=args.buffer_m,
        workers=args.workers,
        scheduler=args.scheduler,
        force=args.force,
        use_dem=not args.no_dem,
        db=None if args.no_db else (args.db or server_db_url()),
        progress=say,
    )
    for code in run.failed:
        outcome = run.computed[code]
        print(f"失败：{code} {outcome.error}", file=sys.stderr)
        if args.debug and outcome.traceback:
            print(outcome.traceback, file=sys.stderr)
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())
