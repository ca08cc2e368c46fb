"""Metric CRS choice: CGCS2000 3-degree Gauss-Krüger zones."""

import geopandas as gpd
import pytest
import shapely
from pyproj import CRS

from geo.crs import gk3_zone_epsg, metric_crs


@pytest.mark.parametrize(
    ("lon", "epsg", "cm"),
    [
        (105.9, 4544, 105),
        (106.6, 4545, 108),
        (104.2, 4544, 105),
        (75.0, 4534, 75),
        (135.0, 4554, 135),
    ],
)
def test_zone_epsg_and_its_central_meridian(lon, epsg, cm):
    assert gk3_zone_epsg(lon) == epsg
    # the EPSG definition itself says which central meridian it has
    params = {p.name: p.value for p in CRS.from_epsg(epsg).coordinate_operation.params}
    assert params["Longitude of natural origin"] == cm
    assert "CGCS2000" in CRS.from_epsg(epsg).name


@pytest.mark.parametrize("lon", [0.0, 60.0, 140.0, float("nan")])
def test_outside_china_is_refused(lon):
    with pytest.raises(ValueError, match="longitude"):
        gk3_zone_epsg(lon)


def test_metric_crs_of_a_frame_and_lengths_in_metres():
    frame = gpd.GeoDataFrame(
        geometry=[shapely.LineString([(105.9, 36.9), (105.9, 37.0)])], crs=4326
    )
    crs = metric_crs(frame)
    assert crs.to_epsg() == 4544
    # 0.1° of latitude at 37°N is 11,095 m on the ellipsoid (GRS80 meridian arc)
    assert frame.to_crs(crs).length.iloc[0] == pytest.approx(11_095, abs=5)
