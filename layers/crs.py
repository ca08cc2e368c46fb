"""The one chooser of the metric CRS that lengths, distances and buffers are computed in.

Layers are stored in EPSG:4326 (CGCS2000 EPSG:4490 is treated as equal at map scale);
metric work happens in the CGCS2000 3-degree Gauss-Krüger zone (no zone-number prefix)
whose central meridian is nearest the area's centre: EPSG:4534 (CM 75°E) to EPSG:4554
(CM 135°E). Ningxia falls in CM 105°E (EPSG:4544) and CM 108°E (EPSG:4545). Within ±1.5°
of the central meridian the scale error is below 0.03 % at Ningxia's latitudes, small
against road-length and snap tolerances.

Outside China (and outside the latitudes of its zones) the WGS84 UTM zone of the centre is
used instead (EPSG:326xx north, 327xx south), so a test county abroad or an OSM extract
that crosses a border still gets a metric CRS rather than an error.

``geo.crs`` re-exports these names; ``layers.osm`` and ``layers.validate`` call
:func:`metric_crs` too, so every module measures in the same CRS.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

__all__ = ["gk3_zone_epsg", "metric_crs", "metric_crs_at", "utm_epsg"]

_FIRST_CM, _LAST_CM, _FIRST_EPSG = 75, 135, 4534
_CHINA_LAT_DEG = (3.0, 54.0)  # latitudes the CGCS2000 zones are used at (as layers.coords)


def gk3_zone_epsg(lon_deg: float) -> int:
    """Return the EPSG code of the CGCS2000 3° GK zone (no prefix) for a longitude.

    Parameters
    ----------
    lon_deg : float
        Longitude in degrees east (China: 73.5–135).

    Returns
    -------
    int
        EPSG code from 4534 (CM 75°E) to 4554 (CM 135°E).

    Raises
    ------
    ValueError
        If the longitude is outside the zones defined for China.

    Examples
    --------
    >>> gk3_zone_epsg(105.9)  # 同心县
    4544
    >>> gk3_zone_epsg(106.6)
    4545
    """
    if not math.isfinite(lon_deg):
        raise ValueError(f"longitude must be finite, got {lon_deg}")
    cm = 3 * round(lon_deg / 3)
    if not _FIRST_CM <= cm <= _LAST_CM:
        raise ValueError(
            f"longitude {lon_deg:.3f} is outside China's CGCS2000 3-degree zones (73.5–136.5°E)"
        )
    return _FIRST_EPSG + (cm - _FIRST_CM) // 3


def utm_epsg(lon_deg: float, lat_deg: float) -> int:
    """Return the EPSG code of the WGS84 UTM zone of a point (326xx north, 327xx south).

    Parameters
    ----------
    lon_deg, lat_deg : float
        Degrees east / north.

    Examples
    --------
    >>> utm_epsg(105.9, 36.9)
    32648
    >>> utm_epsg(-70.6, -33.4)
    32719
    """
    if not (math.isfinite(lon_deg) and math.isfinite(lat_deg)):
        raise ValueError(f"coordinates must be finite, got {lon_deg}, {lat_deg}")
    zone = int((((lon_deg + 180.0) % 360.0) // 6.0) + 1)
    return (32600 if lat_deg >= 0 else 32700) + min(zone, 60)


def metric_crs_at(lon_deg: float, lat_deg: float) -> CRS:
    """Return the metric CRS for an area centred at ``(lon_deg, lat_deg)``.

    The CGCS2000 3° GK zone (no prefix) inside China's zones and latitudes, else the
    WGS84 UTM zone (:func:`utm_epsg`).
    """
    if _CHINA_LAT_DEG[0] <= lat_deg <= _CHINA_LAT_DEG[1]:
        try:
            return CRS.from_epsg(gk3_zone_epsg(lon_deg))
        except ValueError:
            pass
    return CRS.from_epsg(utm_epsg(lon_deg, lat_deg))


def metric_crs(
    area: gpd.GeoDataFrame | gpd.GeoSeries | shapely.Geometry | tuple[float, float, float, float],
) -> CRS:
    """Return the metric CRS for the centre of an area's extent.

    Parameters
    ----------
    area : GeoDataFrame, GeoSeries, shapely geometry or (minx, miny, maxx, maxy)
        Frames may be in any CRS (their extent is taken in EPSG:4326); a bare geometry or
        bounds tuple is taken as EPSG:4326 degrees.

    Returns
    -------
    pyproj.CRS
        A CGCS2000 3-degree GK zone (EPSG:4534–4554) in China, a WGS84 UTM zone elsewhere.

    Raises
    ------
    ValueError
        If the area is empty (no finite extent).

    Examples
    --------
    >>> metric_crs((105.5, 36.5, 106.3, 37.3)).to_epsg()
    4544
    >>> metric_crs((2.2, 48.8, 2.5, 48.9)).to_epsg()  # Paris: UTM 31N
    32631
    """
    if isinstance(area, (gpd.GeoDataFrame, gpd.GeoSeries)):
        bounds = area.to_crs(4326).total_bounds if area.crs is not None else area.total_bounds
    elif isinstance(area, shapely.Geometry):
        bounds = np.asarray(area.bounds, dtype=float)
    else:
        bounds = np.asarray(area, dtype=float)
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise ValueError("cannot choose a metric CRS for an empty area")
    return metric_crs_at((minx + maxx) / 2, (miny + maxy) / 2)
