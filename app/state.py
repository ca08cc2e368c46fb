"""The app's state: which dataset is active, the draft plan, cached assessments, map options.

Pages call :func:`page_context` once; it draws the shared sidebar (dataset, 现状/规划,
township, basemap) and returns what the page needs. Heavy work is cached per server process
by the dataset's content hash, so switching pages or townships does not recompute anything.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from app.clock import beijing_now_text
from app.layout import print_header
from app.maps.base import BASEMAPS, MapOptions, env_tianditu_key
from app.maps.builders import Scope
from app.maps.relief import Relief, grid_digest, relief_image
from geo.assessment import (
    Assessment,
    WaterAssessment,
    assess,
    with_terrain_grids,
    without_terrain_grids,
)
from geo.ledger import Ledger
from geo.plan import as_built, planned_counts
from geo.region import county_dem
from geo.settings import Settings, load_settings
from geo.terrain import Grid, read_dem
from geo.terrain_access import TerrainAccess, terrain_access
from layers import cache as results_cache
from layers.dataset import Dataset, read_dataset
from layers.epanet import InpModel
from layers.errors import GapMapError
from layers.region import (
    RegionError,
    RegionResults,
    file_sha256,
    read_progress,
    read_region,
    read_region_results,
)
from layers.schema import LAYERS
from layers.store.datasets import DatasetStore
from layers.store.region import RegionStore
from layers.tiles import TileSet, unpack_tiles

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
DEMO_PATH = Path(os.environ.get("GAPMAP_DEMO", ROOT / "data" / "demo" / "tongxin.gpkg"))
"""The dataset the app opens with; ``GAPMAP_DEMO`` points it at another GeoPackage."""
DEMO_DEM = Path(os.environ.get("GAPMAP_DEMO_DEM", DEMO_PATH.with_name("tongxin_dem.tif")))
"""The DEM of the demo dataset (the terrain analyses run when a dataset has one)."""
DEMO_NAME = "演示数据"
REGION_RESULTS = Path(os.environ.get("GAPMAP_REGION_RESULTS", ROOT / "out" / "region"))
"""The results of ``python -m scripts.region`` the 全区 page shows (``GAPMAP_REGION_RESULTS``)."""
ANALYSIS_LAYERS = (
    "county",
    "townships",
    "admin_villages",
    "natural_villages",
    "relocation_sites",
    "roads",
    "clinics",
    "service_points",
)
"""Layers every analysis page needs (the water layers are optional: 农村供水 only)."""
SCENARIOS = {"current": "现状", "planned": "规划（规划项目建成后）"}
ASSESSMENTS_KEPT = 16
"""How many computed assessments the disk cache (``GAPMAP_CACHE_DIR``) keeps, newest first."""


@st.cache_resource(show_spinner="正在读取演示数据…")
def load_demo() -> Dataset:
    """Read and validate the shipped 同心县 demo dataset (with its DEM) once per process."""
    demo = read_dataset(DEMO_PATH)
    return demo.with_dem(DEMO_DEM) if DEMO_DEM.exists() else demo


def ledger_dir() -> Path:
    """Where the 整改台账 database lives: ``GAPMAP_LEDGER_DIR``, else ``out/ledger``."""
    return Path(os.environ.get("GAPMAP_LEDGER_DIR", ROOT / "out" / "ledger"))


def server_db_url() -> str | None:
    """The server database (``GAPMAP_DB_URL``) in server mode; None in local mode."""
    if os.environ.get("GAPMAP_MODE", "").strip().lower() != "server":
        return None
    return os.environ.get("GAPMAP_DB_URL", "").strip() or None


@st.cache_resource(show_spinner=False)
def _ledger(where: str, evidence: str | None) -> Ledger:
    if "://" not in where:
        Path(where).mkdir(parents=True, exist_ok=True)
        return Ledger(Path(where))
    return Ledger(where, evidence_dir=evidence)


def ledger() -> Ledger:
    """The 整改台账, shared by every session.

    Local mode: one SQLite file in :func:`ledger_dir`. Server mode with ``GAPMAP_DB_URL``:
    the server's PostgreSQL (row-level security by user), evidence files in
    ``GAPMAP_EVIDENCE_DIR`` (default ``out/evidence``).
    """
    url = server_db_url()
    if url is None:
        return _ledger(str(ledger_dir()), None)
    evidence = os.environ.get("GAPMAP_EVIDENCE_DIR", str(ROOT / "out" / "evidence"))
    return _ledger(url, evidence)


@st.cache_resource(show_spinner=False)
def _dataset_store(url: str, files: str) -> DatasetStore:
    return DatasetStore(url, files_dir=files)


def dataset_store() -> DatasetStore | None:
    """The county's dataset versions (PostGIS) in server mode on PostgreSQL, else None."""
    url = server_db_url()
    if url is None or not url.startswith("postgresql"):
        return None
    return _dataset_store(url, os.environ.get("GAPMAP_FILES_DIR", str(ROOT / "out" / "files")))


@st.cache_resource(show_spinner="正在读取本县已采纳的数据版本…", max_entries=2)
def _accepted(_store: DatasetStore, where: str, version: int) -> Dataset:
    # ``where`` (the database) and ``version`` are the cache key; a version never changes
    return _store.read(version)


ACCEPTED_NAME = "本县数据（已采纳）"


def accepted_dataset() -> Dataset | None:
    """The county's accepted dataset version (server mode), read once per version."""
    store = dataset_store()
    if store is None:
        return None
    version = store.accepted_version()
    if version is None:
        return None
    return _accepted(store, store.engine.url.render_as_string(hide_password=True), version)


def ledger_place() -> str:
    """Where the ledger is, for the page caption (never a password)."""
    book = ledger()
    return str(ledger_dir()) if book.path is not None else "服务器数据库"


@st.cache_resource(show_spinner=False)
def _settings(profile: str) -> Settings:
    return load_settings(profile)


@st.cache_resource(show_spinner="正在读取高程数据…", max_entries=4)
def _read_dem(path: str, resolution_m: float, digest: str) -> Grid:
    # ``digest`` (the SHA-256 of the DEM's bytes) is part of the cache key: a new DEM
    # saved under the same path is read again
    return read_dem(path, resolution_m=resolution_m)


def dem_resolution_m(profile: str = "default") -> float:
    """Cell size of the terrain analysis grid (metres), from the settings."""
    return _settings(profile).terrain.resolution_m


_REGION_DEMS: dict[str, tuple[str, str, float]] = {}
"""An opened region county's partition (content hash) → (region data folder, code, buffer_m).

A partition has no DEM of its own: its terrain grids come from the region's DEM, cropped to
the county and its buffer as the county's task did (:func:`geo.region.county_dem`)."""


@st.cache_resource(show_spinner="正在读取全区高程数据…", max_entries=4)
def _region_dem(data: str, code: str, buffer_m: float, resolution_m: float, digest: str) -> Grid:
    # ``digest`` (the SHA-256 of the region's DEM file) is part of the key
    grid = county_dem(read_region(data), code, buffer_m=buffer_m, resolution_m=resolution_m)
    assert grid is not None  # registered only for a region with a DEM
    return grid


def dem_for(dataset: Dataset, *, profile: str = "default") -> Grid | None:
    """The DEM of ``dataset`` on the analysis grid, or None.

    Its own (:attr:`Dataset.dem`), else, for a county opened from the region's results, the
    region's DEM cropped to the county (:func:`open_region_county`).
    """
    res = _settings(profile).terrain.resolution_m
    if dataset.dem is None:
        source = _REGION_DEMS.get(dataset.content_hash)
        if source is None:
            return None
        data, code, buffer_m = source
        region = read_region(data)
        if region.dem is None or not region.dem.is_file():
            return None
        return _region_dem(data, code, buffer_m, res, file_sha256(region.dem))
    return _read_dem(str(dataset.dem), res, dataset.dem_sha256)


_GRID_DIGESTS: weakref.WeakKeyDictionary[Grid, str] = weakref.WeakKeyDictionary()
"""A cached DEM grid → its content hash (computed once per grid, not on every page run)."""


@st.cache_resource(show_spinner="正在绘制地形晕渲底图…", max_entries=4)
def _relief(_dem: Grid, digest: str) -> Relief:
    # ``digest`` (the DEM grid's content hash) is the key
    return relief_image(_dem, digest=digest)


def relief_for(dataset: Dataset, *, profile: str = "default") -> Relief | None:
    """The 地形晕渲 basemap of ``dataset``'s DEM (:func:`dem_for`), or None without one.

    Drawn once per DEM content (cached by its hash), its PNG written once to
    ``app/static/relief/``.
    """
    dem = dem_for(dataset, profile=profile)
    if dem is None:
        return None
    digest = _GRID_DIGESTS.get(dem)
    if digest is None:
        digest = _GRID_DIGESTS[dem] = grid_digest(dem)
    return _relief(dem, digest)


TILES_DIR = ROOT / "app" / "static" / "tiles"
"""Where the user's tile caches are unpacked (served at ``/app/static/tiles/``)."""
TILES_MARGIN = 0.25
"""A tile cache is unpacked for the county's extent and this fraction of it on each side."""


def tile_sources() -> list[Path]:
    """The user's tile caches: ``GAPMAP_TILES``, MBTiles files or XYZ folders (``:``-separated)."""
    raw = os.environ.get("GAPMAP_TILES", "")
    return [Path(p.strip()).expanduser() for p in raw.split(os.pathsep) if p.strip()]


@st.cache_resource(show_spinner="正在准备本地瓦片…", max_entries=8)
def _tiles(source: str, bounds: tuple[float, ...], max_zoom: int) -> TileSet:
    return unpack_tiles(source, TILES_DIR, bounds_lonlat=bounds, max_zoom=max_zoom)


def tiles_for(dataset: Dataset) -> tuple[tuple[TileSet, ...], list[str]]:
    """The tile caches of :func:`tile_sources`, unpacked for ``dataset``'s county.

    Only the county's extent (and :data:`TILES_MARGIN` around it) is unpacked, at zooms up
    to ``GAPMAP_TILES_MAX_ZOOM`` (default 16). Returns the tile sets and, for each cache that
    could not be used, a Chinese message.
    """
    sources = tile_sources()
    if not sources or "county" not in dataset or dataset["county"].empty:
        return (), []
    minx, miny, maxx, maxy = (float(v) for v in dataset["county"].total_bounds)
    dx, dy = (maxx - minx) * TILES_MARGIN, (maxy - miny) * TILES_MARGIN
    bounds = (minx - dx, miny - dy, maxx + dx, maxy + dy)
    max_zoom = int(os.environ.get("GAPMAP_TILES_MAX_ZOOM", "16"))
    found, problems = [], []
    for source in sources:
        try:
            found.append(_tiles(str(source), bounds, max_zoom))
        except GapMapError as exc:  # a wrong path must not take the maps away
            logger.warning("tile cache %s not used: %s", source, exc)
            problems.append(exc.zh)
    return tuple(t for t in found if t.count), problems


def set_dem(name: str, dataset: Dataset, path: str) -> None:
    """Use the DEM file at ``path`` for the dataset ``name`` (this session).

    The dataset becomes a new one (its content hash covers the DEM), so no cached result
    of the old DEM is reused.
    """
    add_upload(name, dataset.with_dem(path))


def set_water_model(name: str, dataset: Dataset, model: InpModel | None) -> None:
    """Use the EPANET model ``model`` as the water network of the dataset ``name``."""
    add_upload(name, dataset.with_water_model(model))


def _kept_assessment(dataset: Dataset, settings: Settings) -> tuple[Path, str]:
    """Where the disk cache keeps the assessment of ``dataset`` under ``settings``, and its key."""
    digest = results_cache.fingerprint(dataset.content_hash, settings.digest())
    return results_cache.default_dir() / f"assessment-{digest}.pkl", digest


@st.cache_resource(
    show_spinner="正在分析（路网、通硬化路、一刻钟生活圈、医疗、供水）…", max_entries=8
)
def _assess(_dataset: Dataset, key: str, profile: str, _dem: Grid | None) -> Assessment:
    # kept on disk too (layers.cache): a restarted server, another server process or a
    # region's county opened here reads it instead of computing it again
    settings = _settings(profile)
    path, digest = _kept_assessment(_dataset, settings)
    found = results_cache.read(path, key=digest)
    if isinstance(found, Assessment) and found.dataset_hash == _dataset.content_hash:
        return with_terrain_grids(found, _dataset, _dem)
    result = assess(_dataset, settings, dem=_dem)
    results_cache.write(path, without_terrain_grids(result), key=digest, keep=ASSESSMENTS_KEPT)
    return result


@st.cache_resource(show_spinner="正在计算考虑地形的步行时间（Tobler 坡度步速）…", max_entries=4)
def _terrain(_dataset: Dataset, _a: Assessment, key: str) -> TerrainAccess | None:
    if _a.terrain is None:
        return None
    return terrain_access(
        _dataset, _a.terrain, _a.settings, services=_a.services, clinics=_a.clinics
    )


def terrain_for(dataset: Dataset, assessment: Assessment) -> TerrainAccess | None:
    """Terrain walking times of ``dataset`` (None when it has no DEM)."""
    return _terrain(dataset, assessment, f"{dataset.content_hash}:{id(assessment.terrain)}")


def water_for(dataset: Dataset, *, profile: str = "default") -> WaterAssessment | None:
    """The water analysis of ``dataset`` (part of its cached assessment), or None."""
    return assessment_for(dataset, profile=profile).water


@st.cache_resource(show_spinner=False, max_entries=4)
def _as_built(_dataset: Dataset, key: str) -> Dataset:
    return as_built(_dataset)


def as_built_for(dataset: Dataset) -> Dataset:
    """Return the (cached) dataset with its 规划 features taken as built."""
    return _as_built(dataset, dataset.content_hash)


def assessment_for(dataset: Dataset, *, profile: str = "default") -> Assessment:
    """Return the (cached) assessment of ``dataset`` under a settings profile.

    With a DEM (:func:`dem_for`) the hard-road links follow the terrain.
    """
    dem = dem_for(dataset, profile=profile)
    return _assess(dataset, f"{dataset.content_hash}:{profile}", profile, dem)


@st.cache_resource(show_spinner=False)
def _region_store(url: str) -> RegionStore:
    return RegionStore(url)  # a failure is not cached: the next run tries again


REGION_DB_RETRY_S = 30.0
"""Seconds the app reads the results folder, without asking again, after the server
database failed (a page run never waits for, nor logs, the same outage again and again)."""
_region_db_down: dict[str, float] = {}
"""Database URL → ``time.monotonic()`` of its last failure, while it is down."""


def _region_db_failed(url: str, exc: GapMapError) -> None:
    """Remember that ``url`` failed now; log it once per outage."""
    if url not in _region_db_down:
        logger.warning(
            "region results unavailable from the server database (reading the results "
            "folder; retrying every %.0f s): %s", REGION_DB_RETRY_S, exc
        )  # fmt: skip
    _region_db_down[url] = time.monotonic()


def region_store() -> RegionStore | None:
    """The region results in the server database (server mode on PostgreSQL), else None.

    None too while the database has no region tables or cannot be reached (logged once per
    outage, asked again after :data:`REGION_DB_RETRY_S`): the page then reads the results
    folder, if there is one.
    """
    url = server_db_url()
    if url is None or not url.startswith("postgresql"):
        return None
    down = _region_db_down.get(url)
    if down is not None and time.monotonic() - down < REGION_DB_RETRY_S:
        return None
    try:
        return _region_store(url)
    except GapMapError as exc:
        _region_db_failed(url, exc)
        return None


@st.cache_resource(show_spinner="正在读取全区计算结果…", max_entries=2)
def _region_results(path: str, stamp: int) -> RegionResults:
    # ``stamp`` (region.json's mtime) is part of the key: a new run is read again
    return read_region_results(path)


@st.cache_resource(show_spinner="正在从服务器数据库读取全区计算结果…", max_entries=2)
def _region_results_db(_store: RegionStore, where: str, run_id: int) -> RegionResults:
    # ``where`` (the database) and ``run_id`` are the key: a run never changes
    results = _store.read_results(run_id)
    assert results is not None
    return results


def region_results() -> RegionResults | None:
    """The region's results, or None when there are none yet.

    Server mode: the newest run in the server database (``python -m scripts.region --db``),
    when there is one; otherwise (and in local mode) the results folder
    :data:`REGION_RESULTS`.
    """
    run_id, store = _latest_region_run()
    if store is not None and run_id is not None:
        try:
            return _region_results_db(store, store.where, run_id)
        except GapMapError as exc:  # the server went away since: the folder, if any
            _region_db_failed(str(server_db_url()), exc)
    manifest = REGION_RESULTS / "region.json"
    if not manifest.is_file():
        return None
    return _region_results(str(REGION_RESULTS), manifest.stat().st_mtime_ns)


def region_available() -> bool:
    """True when a region has been computed (folder or server database) or is computing."""
    if any((REGION_RESULTS / name).is_file() for name in ("region.json", "progress.json")):
        return True
    return _latest_region_run()[0] is not None


def _latest_region_run() -> tuple[int | None, RegionStore | None]:
    """The newest run in the server database and its store; (None, …) without one."""
    store = region_store()
    if store is None:
        return None, None
    url = str(server_db_url())
    try:
        run_id = store.latest_run()
    except GapMapError as exc:  # the server went away: the folder, if any; never a crash
        _region_db_failed(url, exc)
        return None, None
    if _region_db_down.pop(url, None) is not None:
        logger.info("region results: the server database answers again")
    return run_id, store


def region_progress() -> dict | None:
    """A running ``scripts.region``'s progress (``progress.json``), or None when none runs.

    A run on this machine whose process is gone is reported with ``interrupted = True``.
    """
    progress = read_progress(REGION_RESULTS)
    if not progress or not progress.get("running"):
        return None
    if progress.get("host") == socket.gethostname():
        try:
            os.kill(int(progress["pid"]), 0)
        except (ProcessLookupError, ValueError, KeyError):
            return {**progress, "interrupted": True}
        except PermissionError:  # alive, another user's
            pass
    return {**progress, "interrupted": False}


def open_region_county(results: RegionResults, code: str, *, profile: str = "default") -> str:
    """Make a county of the region's results the active dataset, without recomputing it.

    The county's stored partition becomes this session's dataset; its stored assessment
    goes into the assessment cache under the key the pages look it up by, so every page
    opens on it. Settings other than the app's (another profile) are computed anew. A county
    computed on the region's DEM gets its terrain grids back from it (:func:`dem_for`), cropped
    as its task cropped it; the region's data folder must still be there.

    Returns
    -------
    str
        The dataset's name in the sidebar (``同心县（全区结果）``).
    """
    # the partition, its assessment and its meta.json of one publish (one database snapshot)
    dataset, stored, meta = results.county_with_meta(code)
    settings = _settings(profile)
    if stored.settings == settings and stored.dataset_hash == dataset.content_hash:
        path, digest = _kept_assessment(dataset, settings)
        results_cache.write(path, stored, key=digest, keep=ASSESSMENTS_KEPT)
    entry = results.manifest["counties"][code]
    # the county's own meta.json: a county kept from an earlier run (another --buffer-m, or
    # a run of other counties) was cropped with its run's buffer, not this run's
    if meta.get("dem"):  # computed on the region's DEM: the pages get its terrain grids back
        try:
            region = read_region(results.manifest.get("data", ""))
        except RegionError as exc:
            logger.warning("county %s opened without its terrain grids: %s", code, exc)
        else:
            if region.dem is not None:
                buffer_m = float(meta["buffer_m"])
                _REGION_DEMS[dataset.content_hash] = (str(region.folder), code, buffer_m)
    name = f"{entry['name']}（全区结果）"
    add_upload(name, dataset)
    st.session_state["township"] = ""
    return name


def datasets() -> dict[str, Dataset]:
    """All datasets the user can switch between: the demo and this session's uploads."""
    out: dict[str, Dataset] = {}
    accepted = accepted_dataset()  # server mode: the county's accepted version comes first
    if accepted is not None:
        out[ACCEPTED_NAME] = accepted
    if DEMO_PATH.exists():
        out[DEMO_NAME] = load_demo()
    out.update(st.session_state.get("uploads", {}))
    return out


def add_upload(name: str, dataset: Dataset) -> None:
    """Keep an uploaded dataset for this session and make it the active one."""
    uploads = dict(st.session_state.get("uploads", {}))
    uploads[name] = dataset
    st.session_state["uploads"] = uploads
    if st.session_state.get("dataset_name") != name:  # the sidebar's widget may hold it already
        st.session_state["dataset_name"] = name


@dataclass(frozen=True)
class PageContext:
    """What a page needs: the dataset and its assessment in the chosen scenario."""

    name: str
    dataset: Dataset
    scenario_dataset: Dataset
    assessment: Assessment
    baseline: Assessment | None
    scenario: str
    scope: Scope
    options: MapOptions

    @property
    def township_name(self) -> str:
        """Name of the selected township, or the county name."""
        tw = self.dataset["townships"]
        if self.scope.township_code is not None:
            sel = tw.loc[tw["code"] == self.scope.township_code, "name"]
            if not sel.empty:
                return str(sel.iloc[0])
        county = self.dataset["county"]
        return str(county["name"].iloc[0]) if not county.empty else "全县"


def drill_down(township_code: str) -> None:
    """Select a township (from a map click) and rerun so the sidebar shows it."""
    st.session_state["pending_township"] = township_code
    st.rerun()


def page_context() -> PageContext | None:
    """Draw the shared sidebar and return the page context (None when there is no data)."""
    available = datasets()
    sb = st.sidebar
    if not available:
        sb.warning("没有可用数据：请在「数据」页上传，或运行 `python -m scripts.build_demo`。")
        return None
    names = list(available)
    if st.session_state.get("dataset_name") not in names:
        st.session_state["dataset_name"] = names[0]
    name = sb.selectbox("数据集", names, key="dataset_name")
    dataset = available[name]
    if dataset.errors:
        sb.error(f"该数据集有 {len(dataset.errors)} 个错误，请在「数据」页查看并修正。")
        return None
    missing = [layer for layer in ANALYSIS_LAYERS if layer not in dataset]
    if missing:
        names = "、".join(LAYERS[layer].title_zh for layer in missing)
        st.error(f"该数据集缺少分析所需的图层：{names}。请在「数据」页补充上传（单个图层）。")
        return None
    plans = planned_counts(dataset)
    scenario = "current"
    if plans:
        scenario = sb.radio(
            "方案",
            list(SCENARIOS),
            format_func=SCENARIOS.get,
            key="scenario",
            help="规划：把状态为「规划」的道路、卫生室、商店、供水管道当作已建成，重新计算各项指标。",
        )
    baseline = assessment_for(dataset)
    scenario_dataset = as_built_for(dataset) if scenario == "planned" else dataset
    assessment = assessment_for(scenario_dataset) if scenario == "planned" else baseline
    townships = dataset["townships"].sort_values("code")
    codes = ["", *townships["code"].tolist()]
    labels = dict(zip(townships["code"], townships["name"], strict=True))
    linked = follow_link("township", "township", codes)
    if "pending_township" in st.session_state:  # set by a map click on the previous run
        st.session_state["township"] = st.session_state.pop("pending_township")
    if st.session_state.get("township") not in codes:
        st.session_state["township"] = ""
    township = sb.selectbox(
        "乡镇",
        codes,
        key="township",
        format_func=lambda c: "全县" if c == "" else f"{labels[c]}（{c}）",
    )
    share_link("township", township, linked=linked)
    relief = relief_for(dataset)
    tiles, tile_problems = tiles_for(dataset)
    choices = [
        b for b in BASEMAPS if (b != "relief" or relief is not None) and (b != "tiles" or tiles)
    ]
    if st.session_state.get("basemap") not in choices:
        st.session_state["basemap"] = choices[0]
    with sb.expander("地图设置"):
        basemap = st.radio(
            "底图",
            choices,
            format_func=BASEMAPS.get,
            key="basemap",
            help="无网络时选「地形晕渲」（本县高程数据绘制）、「本地瓦片」（环境变量 "
            "GAPMAP_TILES 指定的 MBTiles 文件或 XYZ 瓦片文件夹）或「无底图」；在线底图"
            "加载不出瓦片时，地图自动换成离线底图。",
        )
        for problem in tile_problems:
            st.warning(problem)
        # server mode: never the server's key (it would reach every browser); the user's own
        key = st.text_input(
            "天地图密钥 tk",
            value=env_tianditu_key(),
            type="password",
            key="tianditu_key",
            help="在 https://console.tianditu.gov.cn 申请；"
            + (
                "服务器模式下请填写您本人的密钥（只保存在本次登录的会话中）。"
                if os.environ.get("GAPMAP_MODE", "").strip().lower() == "server"
                else "也可设置环境变量 TIANDITU_KEY。"
            ),
        )
    ctx = PageContext(
        name=name,
        dataset=dataset,
        scenario_dataset=scenario_dataset,
        assessment=assessment,
        baseline=baseline if scenario == "planned" else None,
        scenario=scenario,
        scope=Scope(township_code=township or None),
        options=MapOptions(basemap=basemap, tianditu_key=key, relief=relief, tiles=tiles),
    )
    county = dataset["county"]
    print_header(
        page_zh=str(st.session_state.get("_page_zh", "")),
        county_zh=str(county["name"].iloc[0]) if not county.empty else "全县",
        township_zh=labels.get(township),
        facts={
            "方案": SCENARIOS[scenario],
            "数据": name
            + (f"（{files}）" if (files := "、".join(p.name for p in dataset.inputs)) else ""),
            "生成时间": beijing_now_text(),
        },
    )
    return ctx


def follow_link(param: str, key: str, options: list[str]) -> str | None:
    """Take a shared link's ``?<param>=`` into the widget ``key`` (before it is drawn).

    The address wins when it is new to this session (a link opened, an address typed);
    afterwards the widget does, and :func:`share_link` writes its value back. A value not
    among ``options`` is ignored (an old link, another county's code).

    Returns
    -------
    str or None
        The address's value (None without one).
    """
    linked = st.query_params.get(param)
    seen = st.session_state.get(f"_linked_{param}")
    if linked is not None and linked != seen and linked in options:
        st.session_state[key] = linked
    return linked


def share_link(param: str, value: str | None, *, linked: str | None) -> None:
    """Keep ``?<param>=<value>`` in the address (none for the whole county / no choice)."""
    st.session_state[f"_linked_{param}"] = value or None
    if value and linked != value:
        st.query_params[param] = value
    elif not value and linked is not None:
        del st.query_params[param]
