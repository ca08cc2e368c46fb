"""Coordinate declarations and the GCJ-02 / BD-09 conversions against published test points."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Geod, Transformer

from layers import CRSError, ProblemKind, Severity
from layers.coords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    guess_projected_epsg,
    out_of_china,
    parse_coords,
    to_wgs84,
    transform_lonlat,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

GEOD = Geod(ellps="WGS84")


def error_m(lon, lat, ref_lon, ref_lat):
    """Geodesic distance (metres) between computed and reference points."""
    return GEOD.inv(np.asarray(lon), np.asarray(lat), np.asarray(ref_lon), np.asarray(ref_lat))[2]


# googollee/eviltransform, python/test.py (MIT): TESTS = (wgsLat, wgsLng, gcjLat, gcjLng).
# Generated with the forward formula, so both directions must match.
EVILTRANSFORM_GCJ = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # beijing
]
# eviltransform's TESTS_bd are NOT used: they were generated with the Math.PI-for-x_pi bug
# (googollee/eviltransform issue #43, still open); they are 10–41 m off the BD-09 formula.

# wandergis/coordtransform, test/app.js (MIT): results published for input (116.404, 39.915),
# as (lon, lat). Its gcj02towgs84 is the one-step approximate inverse (error ~0.1–1 m).
WANDERGIS_IN = (116.404, 39.915)
WANDERGIS = {
    "bd09togcj02": (116.39762729119315, 39.90865673957631),
    "gcj02tobd09": (116.41036949371029, 39.92133699351021),
    "wgs84togcj02": (116.41024449916938, 39.91640428150164),
    "gcj02towgs84": (116.39775550083061, 39.91359571849836),
}

# ipcjs/coordtransform, library CoordinateTransformUtilTest.java (asserted with delta 0).
IPCJS_WGS84_TO_BD09 = ((118.3013077, 32.2719040), (118.31309502519456, 32.27614034221775))
# Its bd09ToWgs84 uses the one-step GCJ inverse: (120.698967, 31.324966) → this, ≈ 1.1 m off
# the exact inverse; the forward of our answer reproduces the BD-09 input to < 1 mm instead.
IPCJS_BD09_TO_WGS84 = ((120.698967, 31.324966), (120.68817433685123, 31.320969743354603))


def test_wgs84_to_gcj02_matches_eviltransform():
    wlat, wlon, glat, glon = np.array(EVILTRANSFORM_GCJ).T
    lon, lat = wgs84_to_gcj02(wlon, wlat)
    assert error_m(lon, lat, glon, glat).max() <= 0.01  # measured 0.000 m


def test_gcj02_to_wgs84_matches_eviltransform():
    wlat, wlon, glat, glon = np.array(EVILTRANSFORM_GCJ).T
    lon, lat = gcj02_to_wgs84(glon, glat)
    assert error_m(lon, lat, wlon, wlat).max() <= 0.01  # measured 0.000 m


@pytest.mark.parametrize(
    ("func", "key", "tol_m"),
    [
        (bd09_to_gcj02, "bd09togcj02", 1.0),  # reference uses the one-step inverse: 0.05 m
        (gcj02_to_bd09, "gcj02tobd09", 0.01),
        (wgs84_to_gcj02, "wgs84togcj02", 0.01),
        (gcj02_to_wgs84, "gcj02towgs84", 1.0),  # reference uses the one-step inverse: 0.06 m
    ],
)
def test_matches_wandergis_coordtransform(func, key, tol_m):
    lon, lat = func(*WANDERGIS_IN)
    assert error_m(lon, lat, *WANDERGIS[key]) <= tol_m


def test_wgs84_to_bd09_matches_ipcjs():
    (lon_in, lat_in), ref = IPCJS_WGS84_TO_BD09
    lon, lat = wgs84_to_bd09(lon_in, lat_in)
    assert error_m(lon, lat, *ref) <= 0.01


def test_bd09_to_wgs84_is_exact_where_the_reference_is_approximate():
    (lon_in, lat_in), ref = IPCJS_BD09_TO_WGS84
    lon, lat = bd09_to_wgs84(lon_in, lat_in)
    assert error_m(lon, lat, *ref) <= 1.5  # the reference's own approximation error
    back = wgs84_to_bd09(lon, lat)
    assert error_m(*back, lon_in, lat_in) <= 0.001


def test_round_trips_over_china_to_a_tenth_of_a_millimetre():
    rng = np.random.default_rng(20240501)
    lon = rng.uniform(74, 134, 5000)
    lat = rng.uniform(18, 53, 5000)
    assert error_m(*gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat)), lon, lat).max() < 1e-4
    assert error_m(*bd09_to_gcj02(*gcj02_to_bd09(lon, lat)), lon, lat).max() < 1e-4
    assert error_m(*bd09_to_wgs84(*wgs84_to_bd09(lon, lat)), lon, lat).max() < 1e-4


def test_shift_in_ningxia_is_as_documented():
    # STANDARDS.md: GCJ-02 ≈ 350–470 m, BD-09 ≈ 1.1–1.3 km from WGS84 in Ningxia.
    # 同心, 银川, 原州, 中宁, 泾源, 盐池
    lon = np.array([105.9, 106.3, 106.2, 105.7, 106.3, 107.4])
    lat = np.array([36.98, 38.47, 36.0, 37.5, 35.5, 37.8])
    gcj = error_m(*wgs84_to_gcj02(lon, lat), lon, lat)
    bd = error_m(*wgs84_to_bd09(lon, lat), lon, lat)
    assert gcj.min() >= 330 and gcj.max() <= 480
    assert bd.min() >= 1100 and bd.max() <= 1300


def test_points_outside_china_and_nan_are_unchanged():
    lon = np.array([139.6917, -0.1276, 151.2093, 37.6173, np.nan])  # Tokyo, London, Sydney, Moscow
    lat = np.array([35.6895, 51.5072, -33.8688, 55.7558, np.nan])
    assert out_of_china(lon, lat).all()
    for func in (wgs84_to_gcj02, gcj02_to_wgs84, wgs84_to_bd09, bd09_to_wgs84):
        x, y = func(lon, lat)
        np.testing.assert_array_equal(x, lon)
        np.testing.assert_array_equal(y, lat)


def test_inputs_are_not_modified_and_scalars_work():
    lon, lat = np.array([105.9]), np.array([36.98])
    wgs84_to_gcj02(lon, lat)
    assert lon[0] == 105.9 and lat[0] == 36.98
    x, _ = gcj02_to_wgs84(105.9, 36.98)
    assert x.shape == () and 105.89 < float(x) < 105.9


def test_transform_lonlat_keeps_z_types_and_missing():
    geoms = [
        shapely.Point(105.9, 36.98, 1700.0),
        shapely.LineString([(105.9, 36.98), (105.91, 36.99)]),
        shapely.Polygon([(105.9, 36.98), (105.91, 36.98), (105.91, 36.99)]),
        None,
    ]
    out = transform_lonlat(geoms, gcj02_to_wgs84)
    assert shapely.has_z(out[0]) and out[0].z == 1700.0
    assert out[1].geom_type == "LineString" and out[2].geom_type == "Polygon"
    assert out[3] is None
    x, _ = gcj02_to_wgs84(105.9, 36.98)
    assert out[0].x == pytest.approx(float(x), abs=1e-12)


# ------------------------------------------------------------------------ declarations


@pytest.mark.parametrize(
    ("text", "kind", "epsg"),
    [
        ("wgs84", "wgs84", 4326),
        ("WGS-84", "wgs84", 4326),
        (4326, "wgs84", 4326),
        ("EPSG:4490", "cgcs2000", 4490),
        ("CGCS2000", "cgcs2000", 4490),
        ("国家2000", "cgcs2000", 4490),
        ("GCJ-02", "gcj02", 4326),
        ("高德", "gcj02", 4326),
        ("bd09", "bd09", 4326),
        ("BD-09", "bd09", 4326),
        ("百度", "bd09", 4326),
        (4545, "epsg", 4545),
        ("EPSG:4545", "epsg", 4545),
        ("epsg 4524", "epsg", 4524),
        ("4534", "epsg", 4534),
        ("EPSG:4554", "epsg", 4554),
        ("EPSG:4513", "epsg", 4513),
    ],
)
def test_parse_coords(text, kind, epsg):
    d = parse_coords(text)
    assert (d.kind, d.epsg) == (kind, epsg)


@pytest.mark.parametrize("bad", ["mars2", "EPSG:999999", "bd09mc", 3.5, True])
def test_parse_coords_refuses_unknown_with_chinese_message(bad):
    with pytest.raises(CRSError) as info:
        parse_coords(bad)
    assert info.value.zh and info.value.zh != str(info.value)


def test_parse_coords_none_is_none():
    assert parse_coords(None) is None


# ------------------------------------------------------------------------- to_wgs84


def series(points, crs):
    return gpd.GeoSeries([shapely.Point(p) for p in points], crs=crs)


def test_gauss_kruger_zone_36_to_wgs84_matches_pyproj():
    # EPSG:4545 = CGCS2000 3-degree GK CM 108°E (zone 36, no zone prefix in the easting)
    lonlat = [(106.6, 35.9), (107.3, 37.6), (108.2, 36.1)]
    fwd = Transformer.from_crs(4490, 4545, always_xy=True)
    xy = [fwd.transform(*p) for p in lonlat]
    res = to_wgs84(series(xy, 4545), layer="natural_villages")
    assert res.geometry.crs.to_epsg() == 4326
    assert res.problems == ()
    assert "EPSG:4545 → EPSG:4490" in res.conversion and "CGCS2000" in res.conversion
    got = np.array([(p.x, p.y) for p in res.geometry])
    assert error_m(got[:, 0], got[:, 1], *np.array(lonlat).T).max() < 0.001


def test_declared_gk_zone_on_a_file_without_crs():
    fwd = Transformer.from_crs(4490, 4544, always_xy=True)
    xy = [fwd.transform(105.9, 36.98)]
    res = to_wgs84(series(xy, None), "EPSG:4544")
    assert res.problems == ()
    p = res.geometry.iloc[0]
    assert error_m(p.x, p.y, 105.9, 36.98) < 0.001


def test_cgcs2000_is_relabelled_not_shifted():
    res = to_wgs84(series([(105.9, 36.98)], 4490))
    assert res.geometry.crs.to_epsg() == 4326
    assert res.geometry.iloc[0].equals(shapely.Point(105.9, 36.98))
    assert "CGCS2000 taken as WGS84" in res.conversion


def test_gcj02_declared_on_a_wgs84_file_is_not_a_disagreement():
    wlat, wlon, glat, glon = EVILTRANSFORM_GCJ[0]
    res = to_wgs84(series([(glon, glat)], 4326), "gcj02")
    assert res.problems == ()
    p = res.geometry.iloc[0]
    assert error_m(p.x, p.y, wlon, wlat) < 0.01
    assert "GCJ-02 → WGS84" in res.conversion


def test_no_crs_lonlat_in_china_is_assumed_with_a_warning():
    res = to_wgs84(series([(105.9, 36.98), (105.91, 36.99)], None), file="a.shp", layer="roads")
    assert res.geometry.crs.to_epsg() == 4326
    [p] = res.problems
    assert (p.kind, p.severity, p.file, p.layer) == (
        ProblemKind.CRS_MISSING,
        Severity.WARNING,
        "a.shp",
        "roads",
    )


def test_no_crs_metres_is_an_error_that_guesses_the_zone():
    fwd = Transformer.from_crs(4490, 4524, always_xy=True)  # zone 36 WITH the zone prefix
    res = to_wgs84(series([fwd.transform(106.6, 35.9)], None))
    assert res.geometry.crs is None
    [p] = res.problems
    assert p.severity is Severity.ERROR and p.kind is ProblemKind.CRS_MISSING
    assert "EPSG:4524" in p.message_zh and "coords=" in p.fix_zh


def test_metres_labelled_as_degrees_is_an_error():
    res = to_wgs84(series([(560_000.0, 4_090_000.0)], 4326))
    [p] = res.problems
    assert p.severity is Severity.ERROR and "EPSG:4544" in p.message


def test_file_crs_and_declaration_disagree():
    fwd = Transformer.from_crs(4490, 4545, always_xy=True)
    xy = fwd.transform(106.6, 35.9)
    # A GeoJSON in projected metres: GDAL labels it EPSG:4326; the user declares 4545.
    res = to_wgs84(series([xy], 4326), "EPSG:4545")
    [p] = res.problems
    assert p.severity is Severity.WARNING and "EPSG:4326" in p.message_zh
    q = res.geometry.iloc[0]
    assert error_m(q.x, q.y, 106.6, 35.9) < 0.001
    # Declared web Mercator for a file that says 4545: the result is outside China.
    res = to_wgs84(series([xy], 4545), "EPSG:3857")
    [p] = res.problems
    assert p.severity is Severity.ERROR and "中国境内" in p.message_zh


def test_declared_lonlat_on_metres_is_an_error():
    res = to_wgs84(series([(560_000.0, 4_090_000.0)], None), "wgs84")
    [p] = res.problems
    assert p.severity is Severity.ERROR and "EPSG:4544" in p.message


def test_other_datum_gets_an_accuracy_warning():
    # Xian 1980 (EPSG:4610): pyproj has only a ballpark shift to WGS84.
    res = to_wgs84(series([(105.9, 36.98)], 4610))
    assert res.geometry.crs.to_epsg() == 4326
    assert [p.severity for p in res.problems] == [Severity.WARNING]


def test_guess_projected_epsg():
    assert guess_projected_epsg([36_500_000.0], [4_000_000.0]) == (4524,)
    assert guess_projected_epsg([18_500_000.0], [4_000_000.0]) == (4496,)
    assert guess_projected_epsg([500_000.0], [4_000_000.0]) == (4544, 4545, 4507)
    assert guess_projected_epsg([105.9], [36.9]) == ()


def test_datum_declaration_keeps_the_files_projection():
    # "cgcs2000" names the datum; a file in a CGCS2000 GK zone keeps its projection
    fwd = Transformer.from_crs(4490, 4544, always_xy=True)
    res = to_wgs84(series([fwd.transform(105.9, 36.98)], 4544), "cgcs2000")
    assert res.problems == ()
    p = res.geometry.iloc[0]
    assert error_m(p.x, p.y, 105.9, 36.98) < 0.001
    # but GCJ-02 is lon/lat only: declared on a projected file it disagrees
    res = to_wgs84(series([fwd.transform(105.9, 36.98)], 4544), "gcj02")
    assert [p.severity for p in res.problems] == [Severity.ERROR]
