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


@pytest.mark.parametrize(
    ("bounds", "epsg"),
    [
        ((105.5, 36.5, 106.3, 37.3), 4544),  # 同心县
        ((106.9, 37.2, 107.6, 38.1), 4545),  # 盐池县
        ((2.2, 48.8, 2.5, 48.9), 32631),  # Paris: UTM 31N
        ((-70.8, -33.6, -70.5, -33.3), 32719),  # Santiago: UTM 19S
        ((150.0, -34.0, 151.0, -33.0), 32756),  # beyond the last zone of China
        ((105.0, 60.0, 106.0, 61.0), 32648),  # north of China's latitudes
    ],
)
def test_one_chooser_gk_in_china_utm_elsewhere(bounds, epsg):
    from layers.crs import metric_crs as layers_metric_crs

    frame = gpd.GeoDataFrame(geometry=[shapely.box(*bounds)], crs=4326)
    assert layers_metric_crs(frame).to_epsg() == epsg
    assert layers_metric_crs(bounds).to_epsg() == epsg
    assert metric_crs(frame).to_epsg() == epsg  # geo.crs is the same function


def test_utm_fallback_measures_in_metres():
    # 0.1° of latitude at 48.85°N is 11,120 m (GRS80 meridian arc), in UTM 31N
    frame = gpd.GeoDataFrame(geometry=[shapely.LineString([(2.35, 48.8), (2.35, 48.9)])], crs=4326)
    assert frame.to_crs(metric_crs(frame)).length.iloc[0] == pytest.approx(11_120, abs=8)


def test_layers_modules_use_the_one_chooser():
    from geo import crs as geo_crs
    from layers import crs, osm, validate

    assert geo_crs.metric_crs is crs.metric_crs
    assert osm.metric_crs is crs.metric_crs and validate.metric_crs is crs.metric_crs
    frame = gpd.GeoDataFrame(geometry=[shapely.Point(105.9, 36.9)], crs=4326)
    assert osm._metric_crs({"x": frame}, None) == "EPSG:4544"
    with pytest.raises(ValueError, match="empty"):
        metric_crs(gpd.GeoDataFrame(geometry=[], crs=4326))
