"""Terrain: DEM on a metric grid, slope and aspect (Horn, as ``gdaldem``), Tobler walking time.

Everything here works on a :class:`Grid`: a single-band array on a north-up grid of square
cells in a metric CRS, NaN where there is no data.

- :func:`read_dem` reads any single-band DEM GeoTIFF in any CRS and resamples it to the
  analysis grid (rasterio ``WarpedVRT``, windowed: only the cells asked for are read).
- :func:`slope_aspect` — Horn's (1981) 3 × 3 method, the default of ``gdaldem slope`` and
  ``gdaldem aspect``; cells whose window touches nodata or the edge are NaN, as in
  ``gdaldem`` without ``-compute_edges``. :func:`hillshade` for display.
- :func:`slope_to_cog` — the same slope for a raster larger than memory: tile by tile with a
  one-cell halo, written as a Cloud-Optimised GeoTIFF (tiled, DEFLATE, overviews).
- :func:`tobler_kmh` — Tobler's hiking function ``W = 6·exp(−3.5·|S + 0.05|)`` km/h on the
  signed grade S (rise over run); :func:`walking_friction` makes a minutes-per-metre surface
  from slope, roads burned in and no-go masks; :func:`travel_minutes` accumulates it from
  sources with an 8-connected geometric cost-distance (``skimage.graph.MCP_Geometric``);
  :func:`isochrone` turns a surface into the polygon within a time limit.
- :func:`least_cost_path` — the cheapest route across a cost surface (a new road's line).
- :func:`population_grid` (village points) or :func:`read_population` (a population
  raster, counts summed into cells) and :func:`zonal_population` — people per cell and per
  zone, beyond a time limit (``rasterio.features``).

Walking cost is **isotropic**: a cell's pace is the mean of Tobler's uphill and downhill
paces along its steepest gradient (``(1/W(+g) + 1/W(−g)) / 2``), since a round trip climbs
what it descends and a cost surface cannot know the direction of travel. On flat ground it is
exactly ``1/W(0)``, W(0) ≈ 5.04 km/h; :func:`walking_friction` rescales Tobler so that flat
ground walks at the network's flat speed (``NetworkSettings.walk_speed_kmh``), so that the
network-only and the terrain answers differ by terrain alone.

Discretisation bound of the 8-connected cost-distance on uniform cost: the grid path is the
octile distance, between 1 and ``√(4 − 2√2) ≈ 1.0824`` times the straight distance (worst at
22.5° off an axis), plus at most half a cell diagonal at each end from placing points at cell
centres.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.shutil
import shapely
import shapely.geometry
from affine import Affine
from pyproj import CRS, Transformer
from rasterio import features
from rasterio.enums import MergeAlg, Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window
from skimage.graph import MCP_Geometric

from geo.crs import gk3_zone_epsg
from layers.errors import LayerError
from layers.raster import cog_path

__all__ = [
    "OCTILE_MAX_RATIO",
    "Grid",
    "hillshade",
    "isochrone",
    "least_cost_path",
    "population_grid",
    "read_dem",
    "read_population",
    "slope_aspect",
    "slope_to_cog",
    "tobler_kmh",
    "travel_minutes",
    "walking_friction",
    "write_cog",
    "zonal_population",
]

logger = logging.getLogger(__name__)

OCTILE_MAX_RATIO = math.sqrt(4 - 2 * math.sqrt(2))
"""Largest ratio of an 8-connected grid path to the straight distance (≈ 1.0824)."""


@dataclass(frozen=True, eq=False)
class Grid:
    """A single-band raster on a north-up metric grid of square cells.

    Attributes
    ----------
    data : ndarray, shape (rows, cols)
        Values; NaN where there is no data.
    transform : affine.Affine
        Cell (col, row) → CRS coordinates of the cell's upper-left corner.
    crs : pyproj.CRS
        A projected CRS in metres.
    """

    data: np.ndarray
    transform: Affine
    crs: CRS

    def __post_init__(self) -> None:
        t = self.transform
        if t.b != 0 or t.d != 0 or t.e >= 0:
            raise ValueError("a Grid must be north-up (no rotation, negative row step)")
        if not math.isclose(t.a, -t.e, rel_tol=1e-9):
            raise ValueError(f"a Grid needs square cells, got {t.a} × {-t.e}")

    @property
    def res_m(self) -> float:
        """Cell size (metres)."""
        return float(self.transform.a)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols)."""
        return self.data.shape  # type: ignore[return-value]

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) in the grid's CRS."""
        rows, cols = self.shape
        x0, y0 = self.transform.c, self.transform.f
        return (x0, y0 - rows * self.res_m, x0 + cols * self.res_m, y0)

    def like(self, data: np.ndarray) -> Grid:
        """Return a grid with the same georeference and other values."""
        if data.shape != self.shape:
            raise ValueError(f"shape {data.shape} differs from the grid's {self.shape}")
        return Grid(data=data, transform=self.transform, crs=self.crs)

    def rowcol(self, geoms: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row, col of the cell holding each geometry's representative point, and inside."""
        pts = geoms.to_crs(self.crs).representative_point()
        x, y = shapely.get_x(pts.to_numpy()), shapely.get_y(pts.to_numpy())
        col = np.floor((x - self.transform.c) / self.res_m).astype(np.int64)
        row = np.floor((self.transform.f - y) / self.res_m).astype(np.int64)
        rows, cols = self.shape
        inside = (row >= 0) & (row < rows) & (col >= 0) & (col < cols) & np.isfinite(x)
        return row, col, inside

    def mask(self, geoms: gpd.GeoSeries | None, *, all_touched: bool = False) -> np.ndarray:
        """Return the cells covered by ``geoms`` (any CRS; None or empty: no cell).

        Polygons cover the cells whose centres they contain; lines and points, with
        ``all_touched``, every cell they touch.
        """
        if geoms is None or len(geoms) == 0:
            return np.zeros(self.shape, dtype=bool)
        shapes = [(g, 1) for g in geoms.to_crs(self.crs) if g is not None and not g.is_empty]
        if not shapes:
            return np.zeros(self.shape, dtype=bool)
        return features.rasterize(
            shapes,
            out_shape=self.shape,
            transform=self.transform,
            all_touched=all_touched,
            dtype="uint8",
        ).astype(bool)

    def sample(self, geoms: gpd.GeoSeries) -> np.ndarray:
        """Return the value of the cell under each geometry (NaN outside the grid)."""
        row, col, inside = self.rowcol(geoms)
        out = np.full(len(row), np.nan)
        out[inside] = self.data[row[inside], col[inside]]
        return out


def _metric_crs_of(src: rasterio.io.DatasetReader) -> CRS:
    with WarpedVRT(src, crs="EPSG:4326") as vrt:
        left, _, right, _ = vrt.bounds
    return CRS.from_epsg(gk3_zone_epsg((left + right) / 2))


def read_dem(
    path: str | os.PathLike[str],
    *,
    crs: CRS | str | int | None = None,
    resolution_m: float = 50.0,
    bounds: tuple[float, float, float, float] | None = None,
    resampling: str = "bilinear",
) -> Grid:
    """Read a single-band DEM and resample it to a metric analysis grid.

    Parameters
    ----------
    path : path-like
        A GeoTIFF (or any raster GDAL reads) with one band and a CRS.
    crs : CRS-like, optional
        The analysis CRS (metres); default the CGCS2000 3° Gauss-Krüger zone of the DEM's
        centre (:func:`geo.crs.gk3_zone_epsg`).
    resolution_m : float
        Cell size of the analysis grid (metres).
    bounds : tuple, optional
        (minx, miny, maxx, maxy) in ``crs`` to read; default the whole DEM. Only the cells
        inside are read from disk (windowed warping).
    resampling : str
        A :class:`rasterio.enums.Resampling` name (``bilinear``, ``cubic``, ``nearest`` …).

    Returns
    -------
    Grid
        Float32 elevations (metres), NaN where the source has nodata or no coverage.

    Raises
    ------
    LayerError
        When the file is not a single-band raster with a CRS.
    """
    path = Path(path)
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise LayerError(
            f"{path}: cannot read the DEM ({exc})",
            zh=f"无法读取高程文件 {path.name}：请提供单波段 GeoTIFF 高程数据",
        ) from exc
    with src:
        if src.count != 1 or src.crs is None:
            raise LayerError(
                f"{path}: a DEM needs exactly one band and a CRS "
                f"(found {src.count} band(s), CRS {src.crs})",
                zh=f"高程文件 {path.name} 应为单波段且带坐标系（现有 {src.count} 个波段，"
                f"坐标系：{src.crs or '无'}）",
            )
        dst_crs = CRS.from_user_input(crs) if crs is not None else _metric_crs_of(src)
        if bounds is None:
            with WarpedVRT(src, crs=dst_crs) as probe:
                bounds = tuple(probe.bounds)
        minx, miny, maxx, maxy = bounds
        res = float(resolution_m)
        minx, maxy = math.floor(minx / res) * res, math.ceil(maxy / res) * res
        cols = max(1, math.ceil((maxx - minx) / res))
        rows = max(1, math.ceil((maxy - miny) / res))
        transform = Affine(res, 0.0, minx, 0.0, -res, maxy)
        with WarpedVRT(
            src,
            crs=dst_crs,
            transform=transform,
            width=cols,
            height=rows,
            resampling=Resampling[resampling],
            src_nodata=src.nodata,
            nodata=np.nan,
            dtype="float32",
            tolerance=1e-9,  # ~exact transformer: a window reads what the whole grid does
        ) as vrt:
            data = vrt.read(1, masked=True).filled(np.nan).astype(np.float32)
    logger.info("DEM %s → %d × %d cells of %g m in %s", path.name, rows, cols, res, dst_crs.name)
    return Grid(data=data, transform=transform, crs=dst_crs)


def _windows3(z: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return the nine neighbours a…i of every interior cell (a = north-west)."""
    return (
        z[:-2, :-2], z[:-2, 1:-1], z[:-2, 2:],
        z[1:-1, :-2], z[1:-1, 1:-1], z[1:-1, 2:],
        z[2:, :-2], z[2:, 1:-1], z[2:, 2:],
    )  # fmt: skip


def _horn(z: np.ndarray, res_x: float, res_y: float) -> tuple[np.ndarray, np.ndarray]:
    """dz/dx (east) and dz/dy (south) for the interior cells, Horn's weights."""
    a, b, c, d, _, f, g, h, i = _windows3(z.astype(np.float64, copy=False))
    dzdx = ((c + 2 * f + i) - (a + 2 * d + g)) / (8.0 * res_x)
    dzdy = ((g + 2 * h + i) - (a + 2 * b + c)) / (8.0 * res_y)
    return dzdx, dzdy


def slope_aspect(
    dem: Grid | np.ndarray, *, res_m: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slope (degrees and percent) and aspect by Horn's method, as ``gdaldem``.

    Parameters
    ----------
    dem : Grid or ndarray
        Elevations (metres); NaN is nodata.
    res_m : float, optional
        Cell size when ``dem`` is a bare array.

    Returns
    -------
    slope_deg, slope_pct, aspect_deg : ndarray
        Same shape as the DEM. Aspect is the compass direction the slope faces (0 = north,
        90 = east), NaN on flat cells (``gdaldem`` gives −9999 there). Cells on the edge or
        next to nodata are NaN.
    """
    z, res = (dem.data, dem.res_m) if isinstance(dem, Grid) else (np.asarray(dem), res_m)
    if res is None:
        raise ValueError("res_m is required with a bare array")
    shape = z.shape
    slope_deg = np.full(shape, np.nan)
    slope_pct = np.full(shape, np.nan)
    aspect = np.full(shape, np.nan)
    if min(shape) < 3:
        return slope_deg, slope_pct, aspect
    dzdx, dzdy = _horn(z, res, res)
    grad = np.hypot(dzdx, dzdy)
    slope_deg[1:-1, 1:-1] = np.degrees(np.arctan(grad))
    slope_pct[1:-1, 1:-1] = 100.0 * grad
    with np.errstate(invalid="ignore"):
        asp = np.degrees(np.arctan2(dzdy, -dzdx))
        asp = np.where(asp > 90.0, 450.0 - asp, 90.0 - asp)
    asp = np.where(asp == 360.0, 0.0, asp)
    asp[(dzdx == 0) & (dzdy == 0)] = np.nan
    aspect[1:-1, 1:-1] = asp
    hole = ~np.isfinite(z)  # gdaldem: no answer on a nodata cell either
    slope_deg[hole], slope_pct[hole], aspect[hole] = np.nan, np.nan, np.nan
    return slope_deg, slope_pct, aspect


def hillshade(
    dem: Grid, *, azimuth_deg: float = 315.0, altitude_deg: float = 45.0, z_factor: float = 1.0
) -> np.ndarray:
    """Hillshade 1–255 (uint8; 0 where slope is unknown) for map display, as ``gdaldem``.

    Lambertian, scaled as ``gdaldem hillshade`` scales it: ``1 + 254 · max(0, n · s)`` with n
    the surface normal (Horn gradients) and s the direction to the sun (azimuth clockwise
    from north, altitude above the horizon); 0 (gdaldem's nodata) on the edge ring and next to
    nodata, as ``gdaldem`` without ``-compute_edges``. ``z_factor`` exaggerates the heights
    (``gdaldem -z``).
    """
    out = np.zeros(dem.shape, dtype=np.uint8)
    if min(dem.shape) < 3:
        return out
    dzdx, dzdy_south = _horn(dem.data, dem.res_m / z_factor, dem.res_m / z_factor)
    az, alt = math.radians(azimuth_deg), math.radians(altitude_deg)
    sun = np.array([math.sin(az) * math.cos(alt), math.cos(az) * math.cos(alt), math.sin(alt)])
    # normal of z(x east, y north): (−dz/dx, −dz/dy_north, 1) and dz/dy_north = −dz/dy_south
    norm = np.sqrt(dzdx**2 + dzdy_south**2 + 1.0)
    shade = (-dzdx * sun[0] + dzdy_south * sun[1] + sun[2]) / norm
    val = np.nan_to_num(1.0 + 254.0 * np.clip(shade, 0.0, 1.0), nan=0.0)
    out[1:-1, 1:-1] = np.round(val).astype(np.uint8)
    return out


def write_cog(
    grid: Grid, path: str | os.PathLike[str], *, nodata: float = np.nan, dtype: str = "float32"
) -> Path:
    """Write ``grid`` as a Cloud-Optimised GeoTIFF (512-px tiles, DEFLATE, overviews).

    Written to a temporary file beside ``path`` and renamed: a crash leaves no half file.
    """
    path = Path(path)
    profile = {
        "driver": "GTiff",
        "height": grid.shape[0],
        "width": grid.shape[1],
        "count": 1,
        "dtype": dtype,
        "crs": grid.crs.to_wkt(),
        "transform": grid.transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
    }
    data = grid.data.astype(dtype)
    if not np.isnan(nodata):
        data = np.where(np.isnan(grid.data), nodata, data).astype(dtype)
    with cog_path(path) as scratch, rasterio.open(scratch, "w", **profile) as dst:
        dst.write(data, 1)
    return path


def slope_to_cog(
    src_path: str | os.PathLike[str],
    dst_path: str | os.PathLike[str],
    *,
    tile: int = 2048,
    units: str = "degrees",
) -> Path:
    """Slope of a DEM of any size, tile by tile (one-cell halo), as a COG.

    The DEM must already be on a metric grid of square cells (run :func:`read_dem` and
    :func:`write_cog`, or ``gdalwarp``, first). Memory stays about ``24 · tile²`` bytes
    whatever the raster's size; the result equals :func:`slope_aspect` on the whole array.

    Parameters
    ----------
    src_path, dst_path : path-like
    tile : int
        Tile edge in cells.
    units : str
        ``"degrees"`` or ``"percent"``.
    """
    if units not in {"degrees", "percent"}:
        raise ValueError(f"units must be 'degrees' or 'percent', got {units!r}")
    dst_path = Path(dst_path)
    with (
        cog_path(dst_path, overview_resampling=None, BIGTIFF="IF_SAFER") as scratch,
        rasterio.open(src_path) as src,
    ):
        t = src.transform
        if t.b != 0 or t.d != 0 or not math.isclose(t.a, -t.e, rel_tol=1e-9):
            raise LayerError(
                f"{src_path}: slope_to_cog needs a north-up grid of square cells",
                zh="计算坡度需要正北朝上、方形像元的投影坐标栅格，请先重投影",
            )
        res = float(t.a)
        profile = {
            "driver": "GTiff",
            "height": src.height,
            "width": src.width,
            "count": 1,
            "dtype": "float32",
            "crs": src.crs,
            "transform": t,
            "nodata": np.nan,
            "tiled": True,
            "blockxsize": 512,
            "blockysize": 512,
            "compress": "deflate",
            "BIGTIFF": "IF_SAFER",
        }
        with rasterio.open(scratch, "w", **profile) as dst:
            for r0 in range(0, src.height, tile):
                for c0 in range(0, src.width, tile):
                    h = min(tile, src.height - r0)
                    w = min(tile, src.width - c0)
                    # one-cell halo, clipped at the raster's edge (NaN outside)
                    rr0, cc0 = max(r0 - 1, 0), max(c0 - 1, 0)
                    rr1 = min(r0 + h + 1, src.height)
                    cc1 = min(c0 + w + 1, src.width)
                    block = src.read(1, window=Window(cc0, rr0, cc1 - cc0, rr1 - rr0), masked=True)
                    z = np.full((h + 2, w + 2), np.nan, dtype=np.float32)
                    z[rr0 - r0 + 1 : rr1 - r0 + 1, cc0 - c0 + 1 : cc1 - c0 + 1] = block.filled(
                        np.nan
                    )
                    deg, pct, _ = slope_aspect(z, res_m=res)
                    out = deg if units == "degrees" else pct
                    dst.write(out[1:-1, 1:-1].astype(np.float32), 1, window=Window(c0, r0, w, h))
    return dst_path


def tobler_kmh(grade: np.ndarray | float) -> np.ndarray:
    """Tobler's hiking function: walking speed (km/h) on a signed grade (rise / run).

    ``W = 6·exp(−3.5·|S + 0.05|)``: 6 km/h at S = −0.05 (a gentle descent), ≈ 5.04 km/h on
    the flat, ≈ 3.0 km/h at S = +0.15.
    """
    return 6.0 * np.exp(-3.5 * np.abs(np.asarray(grade, dtype=float) + 0.05))


def _iso_pace_h_per_km(grade: np.ndarray) -> np.ndarray:
    """Mean of Tobler's uphill and downhill paces (h/km) on an unsigned gradient."""
    g = np.abs(grade)
    return 0.5 * (1.0 / tobler_kmh(g) + 1.0 / tobler_kmh(-g))


def walking_friction(
    dem: Grid,
    *,
    flat_kmh: float,
    off_road_factor: float = 0.6,
    roads: gpd.GeoDataFrame | None = None,
    road_grade_max: float = 0.08,
    barriers: gpd.GeoDataFrame | None = None,
) -> Grid:
    """Minutes per metre of walking in each cell (inf where one cannot walk).

    Off road: Tobler's isotropic pace on the cell's Horn gradient, scaled so that flat ground
    walks at ``flat_kmh``, divided by ``off_road_factor`` (Tobler's 3/5 off paths). On a road
    (cells the lines touch): the same pace on the cell's gradient capped at
    ``road_grade_max`` (roads climb by switchbacks, not along the fall line), no off-road
    factor. Barriers (water, cliffs, no-go polygons) and cells without elevation are
    impassable.

    Parameters
    ----------
    dem : Grid
    flat_kmh : float
        Walking speed on flat ground (the network's ``walk_speed_kmh``).
    off_road_factor : float
        Speed off roads relative to on roads (0 < f ≤ 1).
    roads : GeoDataFrame, optional
        Walkable lines (any CRS); burned with ``all_touched``.
    road_grade_max : float
        Largest grade (rise / run) a road is taken to climb.
    barriers : GeoDataFrame, optional
        Polygons (any CRS) no one walks through.
    """
    if not 0 < off_road_factor <= 1:
        raise ValueError(f"off_road_factor must be in (0, 1], got {off_road_factor}")
    grade = np.full(dem.shape, np.nan)
    if min(dem.shape) >= 3:
        dzdx, dzdy = _horn(dem.data, dem.res_m, dem.res_m)
        grade[1:-1, 1:-1] = np.hypot(dzdx, dzdy)
        del dzdx, dzdy
        grade[~np.isfinite(dem.data)] = np.nan
    # edge cells: take the nearest interior gradient rather than losing a ring of cells
    if min(dem.shape) >= 3:
        grade[0, :], grade[-1, :] = grade[1, :], grade[-2, :]
        grade[:, 0], grade[:, -1] = grade[:, 1], grade[:, -2]
    scale = tobler_kmh(0.0) / flat_kmh  # Tobler's flat 5.04 km/h → flat_kmh
    pace = _iso_pace_h_per_km(grade) * scale / off_road_factor
    if roads is not None and len(roads):
        on = dem.mask(roads.geometry, all_touched=True)
        road_pace = _iso_pace_h_per_km(np.minimum(grade, road_grade_max)) * scale
        pace = np.where(on & np.isfinite(road_pace), road_pace, pace)
    minutes_per_m = pace * 60.0 / 1000.0
    minutes_per_m[~np.isfinite(dem.data) | ~np.isfinite(minutes_per_m)] = np.inf
    if barriers is not None:
        minutes_per_m[dem.mask(barriers.geometry)] = np.inf
    return dem.like(minutes_per_m)


def _starts(
    grid: Grid, sources: gpd.GeoSeries | Iterable[tuple[int, int]]
) -> list[tuple[int, int]]:
    if isinstance(sources, gpd.GeoSeries | gpd.GeoDataFrame):
        geoms = sources.geometry if isinstance(sources, gpd.GeoDataFrame) else sources
        row, col, inside = grid.rowcol(geoms)
        cells = set(zip(row[inside].tolist(), col[inside].tolist(), strict=True))
    else:
        cells = {(int(r), int(c)) for r, c in sources}
    return sorted(c for c in cells if np.isfinite(grid.data[c]))


def travel_minutes(
    friction: Grid,
    sources: gpd.GeoSeries | Iterable[tuple[int, int]],
    *,
    max_minutes: float | None = None,
) -> Grid:
    """Minutes from the nearest source to every cell (8-connected geometric cost-distance).

    A step between neighbouring cell centres costs its length times the mean of the two
    cells' minutes per metre (``skimage.graph.MCP_Geometric``). Sources are the cells
    holding the given points (points outside the grid or on impassable cells are dropped).

    Parameters
    ----------
    friction : Grid
        Minutes per metre (:func:`walking_friction`); inf is impassable.
    sources : GeoSeries or iterable of (row, col)
    max_minutes : float, optional
        Cells beyond this are set to inf (the whole surface is still computed: scikit-image
        0.26 deprecated its cumulative-cost cut-off).

    Returns
    -------
    Grid
        Minutes (inf where unreachable).
    """
    starts = _starts(friction, sources)
    if not starts:
        return friction.like(np.full(friction.shape, np.inf))
    costs = friction.data * friction.res_m  # minutes per cell length
    mcp = MCP_Geometric(costs, fully_connected=True)
    cum, _ = mcp.find_costs(starts)
    cum = np.asarray(cum, dtype=np.float64)
    if max_minutes is not None:
        cum[cum > max_minutes] = np.inf
    return friction.like(cum)


def isochrone(minutes: Grid, *, limit_min: float, valid: np.ndarray | None = None) -> gpd.GeoSeries:
    """Return the area within ``limit_min`` on a travel-time surface (EPSG:4326 polygons).

    Cell outlines of the reachable cells (``rasterio.features.shapes``), merged and
    simplified by a quarter cell; an empty series when nothing is within the limit.
    """
    inside = np.isfinite(minutes.data) & (minutes.data <= limit_min)
    if valid is not None:
        inside &= valid
    if not inside.any():
        return gpd.GeoSeries([], crs=4326)
    polys = [
        shapely.geometry.shape(geom)
        for geom, value in features.shapes(
            inside.astype(np.uint8), mask=inside, transform=minutes.transform
        )
        if value == 1
    ]
    merged = shapely.union_all(polys).simplify(minutes.res_m / 4)
    return gpd.GeoSeries([merged], crs=minutes.crs).to_crs(4326)


def least_cost_path(
    cost_per_m: Grid, start: shapely.Point, ends: gpd.GeoSeries | np.ndarray
) -> tuple[shapely.LineString | None, float]:
    """Cheapest 8-connected route from ``start`` to the nearest cell of ``ends``.

    Parameters
    ----------
    cost_per_m : Grid
        Cost of one metre through each cell (inf is impassable).
    start : shapely.Point
        In the grid's CRS.
    ends : GeoSeries or ndarray of bool
        Target geometries (any CRS; cells they touch), or a boolean mask of target cells.

    Returns
    -------
    line, cost : LineString or None, float
        The route through cell centres (grid CRS) from ``start``'s cell to the first target
        reached, and its cost; ``(None, inf)`` when no target is reachable.
    """
    if isinstance(ends, np.ndarray):
        mask = ends.astype(bool)
    else:
        mask = cost_per_m.mask(ends, all_touched=True)
    s = _starts(cost_per_m, gpd.GeoSeries([start], crs=cost_per_m.crs))
    targets = [tuple(rc) for rc in np.argwhere(mask & np.isfinite(cost_per_m.data)).tolist()]
    if not s or not targets:
        return None, math.inf
    if s[0] in set(targets):
        return None, 0.0
    mcp = MCP_Geometric(cost_per_m.data * cost_per_m.res_m, fully_connected=True)
    cum, _ = mcp.find_costs(s, ends=targets, find_all_ends=False)
    reached = [t for t in targets if np.isfinite(cum[t])]
    if not reached:
        return None, math.inf
    end = min(reached, key=lambda t: cum[t])
    cells = np.asarray(mcp.traceback(end))
    t = cost_per_m.transform
    x = t.c + (cells[:, 1] + 0.5) * t.a
    y = t.f + (cells[:, 0] + 0.5) * t.e
    return shapely.LineString(np.column_stack([x, y])), float(cum[end])


def population_grid(
    points: gpd.GeoDataFrame | gpd.GeoSeries, weights: np.ndarray, like: Grid
) -> Grid:
    """People per cell: each point's weight added to the cell holding it."""
    geoms = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    pts = geoms.to_crs(like.crs).representative_point()
    w = np.nan_to_num(np.asarray(weights, dtype=float), nan=0.0)
    shapes = [(g, v) for g, v in zip(pts, w, strict=True) if g is not None and v > 0]
    data = (
        features.rasterize(
            shapes,
            out_shape=like.shape,
            transform=like.transform,
            merge_alg=MergeAlg.add,
            dtype="float64",
            fill=0.0,
        )
        if shapes
        else np.zeros(like.shape)
    )
    return like.like(data)


def _xy(t: Affine, cols: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the CRS coordinates of fractional (col, row) positions under transform ``t``."""
    return t.c + cols * t.a + rows * t.b, t.f + cols * t.d + rows * t.e


def read_population(path: str | os.PathLike[str], like: Grid, *, block_rows: int = 256) -> Grid:
    """Read a population raster (people per cell, any CRS) onto ``like``'s grid.

    Each source cell is split into ``k × k`` equal parts (``k`` so that a part is at most
    half a target cell) whose centres are projected to the target grid and binned: the
    total is kept exactly for the part of the source inside the grid, whether the source
    is finer or coarser than the grid. Nodata counts as nobody. Rows are read in blocks, so
    a national raster does not need to fit in memory.

    Raises
    ------
    LayerError
        When the file is not a single-band raster with a CRS.
    """
    path = Path(path)
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise LayerError(
            f"{path}: cannot read the population raster ({exc})",
            zh=f"无法读取人口栅格 {path.name}：请提供单波段 GeoTIFF（每个像元的人数）",
        ) from exc
    rows_out, cols_out = like.shape
    total = np.zeros(rows_out * cols_out, dtype=np.float64)
    with src:
        if src.count != 1 or src.crs is None:
            raise LayerError(
                f"{path}: a population raster needs one band and a CRS",
                zh=f"人口栅格 {path.name} 应为单波段且带坐标系",
            )
        to_grid = Transformer.from_crs(src.crs, like.crs, always_xy=True)
        t = src.transform
        mid_r, mid_c = src.height // 2, src.width // 2
        x, y = _xy(t, np.array([mid_c, mid_c + 1, mid_c]), np.array([mid_r, mid_r, mid_r + 1]))
        gx, gy = to_grid.transform(x, y)
        cell_m = max(np.hypot(gx[1:] - gx[0], gy[1:] - gy[0]))
        k = max(1, math.ceil(2 * cell_m / like.res_m))
        sub = (np.arange(k) + 0.5) / k
        for r0 in range(0, src.height, block_rows):
            h = min(block_rows, src.height - r0)
            block = src.read(1, window=Window(0, r0, src.width, h), masked=True)
            counts = block.filled(0.0).astype(np.float64)
            rr, cc = np.nonzero(counts > 0)
            if not len(rr):
                continue
            w = np.repeat(counts[rr, cc] / (k * k), k * k)
            dr, dc = np.meshgrid(sub, sub, indexing="ij")
            fr = (rr[:, None] + r0 + dr.ravel()[None, :]).ravel()
            fc = (cc[:, None] + dc.ravel()[None, :]).ravel()
            px, py = _xy(t, fc, fr)
            gx, gy = to_grid.transform(px, py)
            col = np.floor((gx - like.transform.c) / like.res_m).astype(np.int64)
            row = np.floor((like.transform.f - gy) / like.res_m).astype(np.int64)
            ok = (row >= 0) & (row < rows_out) & (col >= 0) & (col < cols_out)
            total += np.bincount(
                row[ok] * cols_out + col[ok], weights=w[ok], minlength=rows_out * cols_out
            )
    return like.like(total.reshape(rows_out, cols_out))


def zonal_population(
    population: Grid,
    minutes: Grid,
    zones: gpd.GeoDataFrame,
    *,
    limit_min: float,
    id_field: str = "code",
) -> pd.DataFrame:
    """Return the population per zone and the part beyond ``limit_min`` minutes.

    Returns
    -------
    DataFrame
        ``id_field``, ``population``, ``beyond`` (people in cells above the limit or
        unreachable), ``beyond_pct``, ``mean_minutes`` (population-weighted over reachable
        cells).
    """
    z = zones.to_crs(population.crs)
    ids = np.arange(1, len(z) + 1)
    label = features.rasterize(
        ((g, int(i)) for g, i in zip(z.geometry, ids, strict=True) if g is not None),
        out_shape=population.shape,
        transform=population.transform,
        dtype="int32",
        fill=0,
    )
    pop = population.data
    m = minutes.data
    n = len(z) + 1
    total = np.bincount(label.ravel(), weights=pop.ravel(), minlength=n)
    beyond = np.bincount(label.ravel(), weights=(pop * ~(m <= limit_min)).ravel(), minlength=n)
    reach = np.isfinite(m)
    w_min = np.bincount(label.ravel(), weights=(pop * np.where(reach, m, 0.0)).ravel(), minlength=n)
    w_pop = np.bincount(label.ravel(), weights=np.where(reach, pop, 0.0).ravel(), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = pd.DataFrame(
            {
                id_field: z[id_field].to_numpy(),
                "population": total[1:],
                "beyond": beyond[1:],
                "beyond_pct": 100.0 * beyond[1:] / total[1:],
                "mean_minutes": w_min[1:] / w_pop[1:],
            }
        )
    return out
