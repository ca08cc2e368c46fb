"""Choose the metric CRS that analyses compute in (re-exported from :mod:`layers.crs`).

The one chooser lives in ``layers/crs.py`` so that ``layers`` (validation, OSM import) and
``geo`` (networks, water, terrain) measure in the same CRS: the CGCS2000 3-degree
Gauss-Krüger zone (no zone-number prefix) nearest the data's centre, EPSG:4534 (CM 75°E) to
EPSG:4554 (CM 135°E) — Ningxia: EPSG:4544 (CM 105°E) and EPSG:4545 (CM 108°E) — and the
WGS84 UTM zone outside China.
"""

from __future__ import annotations

from layers.crs import gk3_zone_epsg, metric_crs, metric_crs_at, utm_epsg

__all__ = ["gk3_zone_epsg", "metric_crs", "metric_crs_at", "utm_epsg"]
