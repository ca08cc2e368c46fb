"""Raster overlays on Folium maps: slope over hillshade, walking-time surfaces; with legends.

A :class:`geo.terrain.Grid` (metric CRS) is warped to Web Mercator (EPSG:3857), the CRS
Leaflet draws in, so that an ``ImageOverlay`` given the grid's latitude/longitude bounds lies
exactly on the map; the image is embedded as a PNG data URL, so it shows with no network.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import folium
import geopandas as gpd
import numpy as np
from affine import Affine
from pyproj import Transformer
from rasterio.warp import Resampling, reproject

from app.maps.base import LegendItem
from geo.terrain import Grid, hillshade

__all__ = [
    "MINUTE_CLASSES",
    "PANE",
    "SLOPE_CLASSES",
    "add_overlays",
    "inside",
    "minutes_legend",
    "minutes_overlay",
    "slope_legend",
    "slope_overlay",
    "to_mercator",
]

SLOPE_CLASSES: tuple[tuple[float, str, str], ...] = (
    (8.0, "#1a9850", "坡度 < 8 %（平缓）"),
    (15.0, "#a6d96a", "8–15 %"),
    (25.0, "#fee08b", "15–25 %"),
    (35.0, "#fc8d59", "25–35 %（不宜建路）"),
    (np.inf, "#d73027", "≥ 35 %（陡坡）"),
)
"""(upper bound %, colour, label) of the slope classes."""

MINUTE_CLASSES: tuple[tuple[float, str, str], ...] = (
    (5.0, "#084594", "< 5 分钟"),
    (10.0, "#2171b5", "5–10 分钟"),
    (15.0, "#4292c6", "10–15 分钟"),
    (30.0, "#9ecae1", "15–30 分钟"),
    (60.0, "#deebf7", "30–60 分钟"),
    (np.inf, "#969696", "≥ 60 分钟或不可达"),
)
"""(upper bound in minutes, colour, label) of the walking-time classes."""

MAX_PIXELS = 1_500_000
"""Overlays are resampled to at most this many pixels (a tablet-friendly PNG)."""


def _rgb(hex_color: str) -> tuple[int, int, int]:
    h = hex_color.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def _classify(values: np.ndarray, classes: tuple[tuple[float, str, str], ...]) -> np.ndarray:
    """RGBA uint8 of each value by class; transparent where the value is NaN."""
    out = np.zeros((*values.shape, 4), dtype=np.uint8)
    bounds = np.array([c[0] for c in classes])
    idx = np.searchsorted(bounds, np.nan_to_num(values, nan=-1.0, posinf=np.inf), side="right")
    idx = np.minimum(idx, len(classes) - 1)
    palette = np.array([(*_rgb(c[1]), 255) for c in classes], dtype=np.uint8)
    out[...] = palette[idx]
    out[~np.isfinite(values) & ~np.isposinf(values), 3] = 0
    return out


def to_mercator(
    data: np.ndarray, grid: Grid, resampling: Resampling, *, max_pixels: int = MAX_PIXELS
) -> tuple[np.ndarray, list]:
    """Warp a band of ``grid``'s shape to EPSG:3857; return it and its [[s, w], [n, e]].

    The result has at most about ``max_pixels`` cells (coarser than ``grid`` if need be).
    """
    rows, cols = grid.shape
    to_merc = Transformer.from_crs(grid.crs, "EPSG:3857", always_xy=True)
    left, bottom, right, top = to_merc.transform_bounds(*grid.bounds, densify_pts=21)
    res = max((right - left) / cols, (top - bottom) / rows)
    res *= max(1.0, float(np.sqrt(cols * rows / max_pixels)))
    width = max(1, math.ceil((right - left) / res))
    height = max(1, math.ceil((top - bottom) / res))
    transform = Affine(res, 0.0, left, 0.0, -res, top)
    out = np.full((height, width), np.nan, dtype=np.float64)
    reproject(
        source=data.astype(np.float64),
        destination=out,
        src_transform=grid.transform,
        src_crs=grid.crs,
        src_nodata=np.nan,
        dst_transform=transform,
        dst_crs="EPSG:3857",
        dst_nodata=np.nan,
        resampling=resampling,
    )
    to_ll = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    west, north = to_ll.transform(transform.c, transform.f)
    east, south = to_ll.transform(
        transform.c + width * transform.a, transform.f + height * transform.e
    )
    return out, [[south, west], [north, east]]


PANE = "gapmap-raster"
"""A map pane between the basemap tiles (z 200) and the vector layers (z 400)."""


def _overlay(rgba: np.ndarray, bounds: list, name: str, opacity: float, show: bool):
    return folium.raster_layers.ImageOverlay(
        image=rgba,
        bounds=bounds,
        name=name,
        opacity=opacity,
        interactive=False,
        cross_origin=False,
        show=show,
        pane=PANE,
    )


def add_overlays(
    m: folium.Map, overlays: Iterable[tuple[folium.Layer, list[LegendItem]]]
) -> list[LegendItem]:
    """Add raster overlays under the vector layers; return their legend rows."""
    legend: list[LegendItem] = []
    overlays = list(overlays)
    if overlays:
        folium.map.CustomPane(PANE, z_index=350, pointer_events=False).add_to(m)
    for layer, items in overlays:
        layer.add_to(m)
        legend += items
    return legend


def inside(grid: Grid, area: gpd.GeoDataFrame | None) -> np.ndarray:
    """Cells of ``grid`` inside the polygons of ``area`` (all cells when None)."""
    if area is None or area.empty:
        return np.ones(grid.shape, dtype=bool)
    return grid.mask(area.geometry)


def slope_overlay(
    dem: Grid,
    slope_pct: np.ndarray,
    *,
    clip: gpd.GeoDataFrame | None = None,
    opacity: float = 0.6,
    show: bool = True,
) -> folium.raster_layers.ImageOverlay:
    """Slope classes shaded by a hillshade (sun from the north-west), as one overlay.

    ``clip``: polygons (e.g. the county) outside which the overlay is transparent.
    """
    slope_pct = np.where(inside(dem, clip), slope_pct, np.nan)
    shade = hillshade(dem).astype(np.float64)
    shade[~np.isfinite(slope_pct)] = np.nan
    s_m, bounds = to_mercator(slope_pct, dem, Resampling.bilinear)
    h_m, _ = to_mercator(shade, dem, Resampling.bilinear)
    rgba = _classify(s_m, SLOPE_CLASSES)
    light = np.clip(np.nan_to_num(h_m, nan=180.0) / 255.0, 0.0, 1.0)
    factor = 0.45 + 0.55 * light  # keep colours readable in the shadows
    rgba[..., :3] = np.clip(rgba[..., :3] * factor[..., None], 0, 255).astype(np.uint8)
    return _overlay(rgba, bounds, "坡度与地形晕渲", opacity, show)


def minutes_overlay(
    minutes: Grid,
    *,
    name: str,
    valid: np.ndarray | None = None,
    opacity: float = 0.55,
    show: bool = True,
) -> folium.raster_layers.ImageOverlay:
    """A walking-time surface (minutes) in the classes of :data:`MINUTE_CLASSES`.

    Unreachable cells (inf) show in the last class; cells outside ``valid`` (e.g. beyond
    the DEM) are transparent.
    """
    data = np.where(np.isinf(minutes.data), 1e9, minutes.data)
    if valid is not None:
        data = np.where(valid, data, np.nan)
    m_m, bounds = to_mercator(data, minutes, Resampling.nearest)
    return _overlay(_classify(m_m, MINUTE_CLASSES), bounds, name, opacity, show)


def slope_legend() -> list[LegendItem]:
    """Legend rows of the slope overlay."""
    return [LegendItem(c, label, "square") for _, c, label in SLOPE_CLASSES]


def minutes_legend() -> list[LegendItem]:
    """Legend rows of a walking-time overlay."""
    return [LegendItem(c, f"步行 {label}", "square") for _, c, label in MINUTE_CLASSES]
