"""Choose the metric CRS that analyses compute in.

Layers are stored in EPSG:4326 (CGCS2000 EPSG:4490 is treated as equal at map scale);
distances, lengths and buffers are computed in the CGCS2000 3-degree Gauss-Krüger zone
(no zone-number prefix) whose central meridian is nearest the data's centre: EPSG:4534
(CM 75°E) to EPSG:4554 (CM 135°E). Ningxia falls in CM 105°E (EPSG:4544) and CM 108°E
(EPSG:4545). Within ±1.5° of the central meridian the scale error is below 0.03 % at
Ningxia's latitudes, small against road-length and snap tolerances.
"""

from __future__ import annotations

import math

import geopandas as gpd
from pyproj import CRS

__all__ = ["gk3_zone_epsg", "metric_crs"]

_FIRST_CM, _LAST_CM, _FIRST_EPSG = 75, 135, 4534


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


def metric_crs(frame: gpd.GeoDataFrame | gpd.GeoSeries) -> CRS:
    """Return the CGCS2000 GK zone CRS for the centre of ``frame``'s extent.

    Parameters
    ----------
    frame : GeoDataFrame or GeoSeries
        Data with a CRS (any; its extent is taken in EPSG:4326).

    Returns
    -------
    pyproj.CRS
    """
    minx, _, maxx, _ = frame.to_crs(4326).total_bounds
    return CRS.from_epsg(gk3_zone_epsg((minx + maxx) / 2))
