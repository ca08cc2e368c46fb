"""地形晕渲 basemap: a shaded-relief image of the county's DEM, drawn under every map.

With no network (a tablet on a site inspection) a map has no tiles; the relief drawn from
the dataset's own DEM gives it context (valleys, ridges, the plain) with nothing to fetch.
:func:`relief_image` computes it once per DEM (``gdaldem hillshade``'s numbers, from
:func:`geo.terrain.hillshade`), tinted lightly by elevation and kept light enough for the
vector layers on top; warped to Web Mercator, so an ``ImageOverlay`` lies exactly on the map.

In the app the PNG is a static file (``app/static/relief/<dem hash>.png``, written once,
atomically; the browser caches it); in a self-contained HTML file it is a data: URI
(:meth:`Relief.cropped` keeps one village's surroundings only, to keep the file small).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import logging
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from affine import Affine
from PIL import Image
from rasterio.warp import Resampling
from scipy.ndimage import gaussian_filter

from app.maps.assets import STATIC_ROOT
from app.maps.terrain import to_mercator
from geo.terrain import Grid, hillshade
from layers.write import atomic_path

__all__ = [
    "RELIEF_DIR",
    "RELIEF_MAX_PIXELS",
    "Relief",
    "grid_digest",
    "relief_image",
]

logger = logging.getLogger(__name__)

RELIEF_DIR = Path(__file__).resolve().parents[1] / "static" / "relief"
"""Where the app keeps the relief PNGs (served at ``/app/static/relief/``)."""
RELIEF_MAX_PIXELS = 1_000_000
"""The relief image has at most about this many pixels (a county at ~100 m)."""

SHADOW_MIN = 0.55
"""Brightness of a slope facing away from the sun (flat ground is 1): dark enough to read the
relief, light enough for thin grey roads and village points on top."""
Z_FACTOR = 2.5
"""Vertical exaggeration of the hillshade: the loess hills read at county scale."""
SMOOTH_CELLS = 1.5
"""Gaussian smoothing (display cells of ~100 m) before the hillshade."""
LIGHT_MAX = 1.08
"""Brightness of a slope facing the sun."""
TINT_LOW = (236, 240, 226)
"""Colour of the lowest ground (2nd percentile of the DEM): a pale green-grey."""
TINT_HIGH = (240, 228, 206)
"""Colour of the highest ground (98th percentile): a pale tan."""


@dataclass(frozen=True, eq=False)
class Relief:
    """A shaded-relief image in Web Mercator, ready for a Leaflet ``ImageOverlay``.

    Attributes
    ----------
    rgba : ndarray, shape (rows, cols, 4), uint8
        The image (transparent beyond the DEM), north up.
    bounds : tuple
        ``((south, west), (north, east))`` of the image in degrees (EPSG:4326).
    digest : str
        Hash of the DEM grid's content (:func:`grid_digest`), of the drawing parameters and
        of the crop, if any: the file name of its PNG.
    """

    rgba: np.ndarray
    bounds: tuple[tuple[float, float], tuple[float, float]]
    digest: str

    @functools.cached_property
    def png(self) -> bytes:
        """The image as a PNG (zlib level 6: level 9 is ten times slower for 9 % less)."""
        buf = io.BytesIO()
        Image.fromarray(self.rgba, mode="RGBA").save(buf, format="PNG", compress_level=6)
        return buf.getvalue()

    @property
    def url(self) -> str:
        """Root-relative URL of the static PNG (after :meth:`publish`)."""
        return f"{STATIC_ROOT}/relief/{self.digest}.png"

    def data_uri(self) -> str:
        """The PNG as a data: URI (for a self-contained HTML file)."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")

    def publish(self, folder: Path = RELIEF_DIR) -> Path:
        """Write the PNG as ``folder/<digest>.png`` unless it is there (atomically)."""
        path = Path(folder) / f"{self.digest}.png"
        if not path.is_file():
            with atomic_path(path) as tmp:
                tmp.write_bytes(self.png)
            logger.info("relief basemap %s (%d bytes)", path.name, len(self.png))
        return path

    def cropped(
        self,
        bounds_lonlat: tuple[float, float, float, float],
        *,
        margin: float = 1.0,
        min_km: float = 30.0,
    ) -> Relief | None:
        """The part of the image around ``bounds_lonlat`` (minx, miny, maxx, maxy, degrees).

        ``margin``: how much of the box's width and height to add on each side (1.0: a box
        three times as wide and as tall, for zooming out around one village); the box is
        at least ``min_km`` wide and tall. None when the box misses the image.
        """
        (south, west), (north, east) = self.bounds
        rows, cols = self.rgba.shape[:2]
        minx, miny, maxx, maxy = (float(v) for v in bounds_lonlat)
        km_lat = 1 / 111.32  # degrees of latitude per km
        km_lon = km_lat / max(0.1, math.cos(math.radians((miny + maxy) / 2)))
        dx = max((maxx - minx) * margin, (min_km * km_lon - (maxx - minx)) / 2)
        dy = max((maxy - miny) * margin, (min_km * km_lat - (maxy - miny)) / 2)
        minx, maxx, miny, maxy = minx - dx, maxx + dx, miny - dy, maxy + dy

        def merc_y(lat: float) -> float:
            return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

        def row(lat: float) -> int:
            frac = (merc_y(north) - merc_y(lat)) / (merc_y(north) - merc_y(south))
            return int(np.clip(round(frac * rows), 0, rows))

        def col(lon: float) -> int:
            return int(np.clip(round((lon - west) / (east - west) * cols), 0, cols))

        r0, r1, c0, c1 = row(min(maxy, north)), row(max(miny, south)), col(minx), col(maxx)
        if r1 - r0 < 1 or c1 - c0 < 1:
            return None

        def lat(r: int) -> float:
            y = merc_y(north) - r / rows * (merc_y(north) - merc_y(south))
            return math.degrees(2 * math.atan(math.exp(y)) - math.pi / 2)

        def lon(c: int) -> float:
            return west + c / cols * (east - west)

        box = f"{r0}:{r1}:{c0}:{c1}"
        digest = hashlib.sha256(f"{self.digest}:{box}".encode()).hexdigest()[:32]
        return Relief(
            rgba=np.ascontiguousarray(self.rgba[r0:r1, c0:c1]),
            bounds=((lat(r1), lon(c0)), (lat(r0), lon(c1))),
            digest=digest,
        )


def grid_digest(grid: Grid) -> str:
    """SHA-256 (32 hex digits) of a grid's values, georeference and CRS."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(grid.data).tobytes())
    h.update(repr(tuple(grid.transform)[:6]).encode())
    h.update(grid.crs.to_wkt().encode())
    h.update(str(grid.data.dtype).encode())
    return h.hexdigest()[:32]


def _display_grid(dem: Grid, *, max_pixels: int, smooth_cells: float) -> Grid:
    """``dem`` block-averaged to at most ``max_pixels`` cells, then lightly smoothed.

    A Gaussian of ``smooth_cells`` cells (NaN-aware) softens the creases a bilinear
    resampling of a coarse DEM leaves, which a hillshade would show as a chequer.
    """
    rows, cols = dem.shape
    step = max(1, math.ceil(math.sqrt(rows * cols / max_pixels)))
    z = dem.data.astype(np.float64)
    if step > 1:
        r, c = rows // step * step, cols // step * step
        blocks = z[:r, :c].reshape(r // step, step, c // step, step)
        with warnings.catch_warnings():  # an all-NaN block is NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            z = np.nanmean(blocks, axis=(1, 3))
    if smooth_cells > 0:
        ok = np.isfinite(z)
        num = gaussian_filter(np.where(ok, z, 0.0), smooth_cells, mode="nearest")
        den = gaussian_filter(ok.astype(np.float64), smooth_cells, mode="nearest")
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.where(ok, num / den, np.nan)
    t = dem.transform
    return Grid(data=z, transform=Affine(t.a * step, 0.0, t.c, 0.0, t.e * step, t.f), crs=dem.crs)


def relief_image(
    dem: Grid,
    *,
    azimuth_deg: float = 315.0,
    altitude_deg: float = 45.0,
    z_factor: float = Z_FACTOR,
    smooth_cells: float = SMOOTH_CELLS,
    max_pixels: int = RELIEF_MAX_PIXELS,
    digest: str | None = None,
) -> Relief:
    """Draw the 地形晕渲 basemap of ``dem``.

    Parameters
    ----------
    dem : Grid
        Elevations (metres) on a metric grid; NaN is nodata.
    azimuth_deg, altitude_deg : float
        The sun (``gdaldem hillshade``'s defaults: from the north-west, 45° up).
    z_factor : float
        Vertical exaggeration (``gdaldem -z``).
    smooth_cells : float
        Gaussian smoothing (display cells) before the hillshade; 0 for none.
    max_pixels : int
        Upper bound of the image's size (pixels); the DEM is block-averaged to it first.
    digest : str, optional
        The DEM grid's content hash, if known (else :func:`grid_digest`).

    Returns
    -------
    Relief
        Brightness ``SHADOW_MIN`` (slopes away from the sun) to ``LIGHT_MAX`` (towards it),
        1 on flat ground, times a pale tint from low to high ground; transparent where the
        DEM has no data (and on its edge ring, where gdaldem has no hillshade).
    """
    # the image's name: the DEM's content and every drawing parameter (a new style, a new file)
    style = (azimuth_deg, altitude_deg, z_factor, smooth_cells, max_pixels)
    style += (SHADOW_MIN, LIGHT_MAX, TINT_LOW, TINT_HIGH)
    name = f"{digest or grid_digest(dem)}:{style}"
    digest = hashlib.sha256(name.encode()).hexdigest()[:32]
    small = _display_grid(dem, max_pixels=max_pixels, smooth_cells=smooth_cells)
    shade = hillshade(
        small, azimuth_deg=azimuth_deg, altitude_deg=altitude_deg, z_factor=z_factor
    ).astype(np.float64)
    shade[shade == 0] = np.nan  # gdaldem's nodata
    # the heights beside the shade: cells with no hillshade are left out of the tint's range
    z = np.where(np.isfinite(shade), small.data, np.nan)
    shade_m, bounds = to_mercator(shade, small, Resampling.bilinear, max_pixels=max_pixels)
    z_m, _ = to_mercator(z, small, Resampling.bilinear, max_pixels=max_pixels)
    valid = np.isfinite(shade_m) & np.isfinite(z_m)
    rgba = np.zeros((*shade_m.shape, 4), dtype=np.uint8)
    if valid.any():
        flat = 1.0 + 254.0 * math.sin(math.radians(altitude_deg))
        light = np.clip(
            SHADOW_MIN + (1.0 - SHADOW_MIN) * np.nan_to_num(shade_m, nan=flat) / flat,
            SHADOW_MIN,
            LIGHT_MAX,
        )
        low, high = np.nanpercentile(z_m[valid], [2.0, 98.0])
        t = np.clip((np.nan_to_num(z_m, nan=low) - low) / max(high - low, 1e-6), 0.0, 1.0)
        tint = np.asarray(TINT_LOW) + t[..., None] * (np.asarray(TINT_HIGH) - np.asarray(TINT_LOW))
        rgba[..., :3] = np.clip(np.round(tint * light[..., None]), 0, 255).astype(np.uint8)
        rgba[..., 3] = np.where(valid, 255, 0).astype(np.uint8)
    (south, west), (north, east) = bounds
    return Relief(
        rgba=rgba,
        bounds=((float(south), float(west)), (float(north), float(east))),
        digest=digest,
    )
