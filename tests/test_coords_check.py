"""Coordinate sanity beyond declarations: units, GK zone prefix, swapped axes, GCJ/BD offsets."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from layers.coords import check_coords, check_layer_coords, wgs84_to_bd09, wgs84_to_gcj02
from layers.errors import ProblemKind, Severity


@pytest.fixture(scope="module")
def refs(demo_dataset):
    return demo_dataset["county"], demo_dataset["roads"]


def _xy(frame: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    return frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy()


@pytest.mark.parametrize(("shift", "kind"), [(wgs84_to_gcj02, "gcj02"), (wgs84_to_bd09, "bd09")])
def test_web_map_offset_declared_as_wgs84_is_found_by_the_fit_to_roads(
    demo_dataset, refs, shift, kind
):
    county, roads = refs
    x, y = shift(*_xy(demo_dataset["clinics"]))
    check = check_coords(
        x, y, declared="wgs84", boundary=county, roads=roads, file="卫生机构.xlsx", layer="clinics"
    )
    assert check.unit == "degrees"
    assert check.best.coords == kind and not check.best.swapped
    declared = check.declared
    assert declared.coords == "wgs84"
    # the inverse shift brings the clinics back beside the roads they were placed on
    assert check.best.road_median_m < 25 < 150 < declared.road_median_m
    assert check.best.inside_share == 1.0
    (warning,) = check.problems
    assert warning.severity is Severity.WARNING and warning.file == "卫生机构.xlsx"
    assert "明显更吻合" in warning.message_zh and "到路网距离中位数" in warning.message_zh
    assert check.needs_confirmation


def test_a_right_declaration_gives_no_warning(demo_dataset, refs):
    county, roads = refs
    x, y = wgs84_to_gcj02(*_xy(demo_dataset["service_points"]))
    check = check_coords(x, y, declared="gcj02", boundary=county, roads=roads)
    assert check.best.coords == "gcj02" and check.problems == ()
    assert not check.needs_confirmation
    x, y = _xy(demo_dataset["service_points"])
    check = check_coords(x, y, declared="cgcs2000", boundary=county, roads=roads)
    assert check.best.coords == "wgs84" and check.declared.coords == "cgcs2000"
    assert check.problems == ()


def test_gauss_krueger_with_and_without_the_zone_prefix(demo_dataset, refs):
    county, _ = refs
    to_gk = Transformer.from_crs(4326, 4523, always_xy=True)  # CM 105°E, zone prefix 35
    east, north = to_gk.transform(*_xy(demo_dataset["natural_villages"]))
    assert 35_000_000 < np.median(east) < 36_000_000
    check = check_coords(east, north)
    assert check.unit == "metres" and [c.coords for c in check.candidates] == ["EPSG:4523"]
    assert "带号" in check.findings_zh[0] and "8 位" in check.findings_zh[0]
    # without the prefix, the values alone allow three Ningxia zones; the county decides
    bare = east - 35_000_000
    alone = check_coords(bare, north)
    assert {c.coords for c in alone.candidates} == {"EPSG:4544", "EPSG:4545", "EPSG:4507"}
    assert "6 位" in alone.findings_zh[0] and alone.needs_confirmation
    fitted = check_coords(bare, north, boundary=county)
    assert fitted.best.coords in ("EPSG:4544", "EPSG:4507")  # the same CM 105°E projection
    by_code = {c.coords: c for c in fitted.candidates}
    assert by_code["EPSG:4544"].inside_share == 1.0 and by_code["EPSG:4545"].inside_share == 0.0


def test_metres_declared_as_degrees_and_degrees_declared_as_metres(demo_dataset):
    to_gk = Transformer.from_crs(4326, 4544, always_xy=True)
    east, north = to_gk.transform(*_xy(demo_dataset["clinics"]))
    check = check_coords(east, north, declared="wgs84", file="卫生机构.shp")
    (warning,) = check.problems
    assert "是经纬度，但数值不符" in warning.message_zh and "米" in warning.message_zh
    check = check_coords(*_xy(demo_dataset["clinics"]), declared="EPSG:4544")
    (warning,) = check.problems
    assert "投影坐标（米），但数值不符" in warning.message_zh
    assert check.best.coords == "wgs84"


def test_swapped_axes_are_reported(demo_dataset, refs):
    county, _ = refs
    x, y = _xy(demo_dataset["clinics"])
    check = check_coords(y, x, declared="wgs84", boundary=county)
    assert check.best.swapped and check.best.inside_share == 1.0
    assert ProblemKind.SWAPPED_LONLAT in {p.kind for p in check.problems}
    to_gk = Transformer.from_crs(4326, 4544, always_xy=True)
    east, north = to_gk.transform(x, y)
    check = check_coords(north, east, boundary=county)
    assert check.unit == "metres" and check.best.swapped and check.best.coords == "EPSG:4544"


def test_nothing_recognisable_and_no_coordinates():
    check = check_coords([1.0, 2.0], [3.0, 4.0])
    assert check.unit == "unknown" and check.best is None and check.needs_confirmation
    assert "既不是" in check.findings_zh[0]
    assert check_coords([], []).best is None


def test_layer_check_takes_the_files_own_crs_as_the_declaration(demo_dataset, refs):
    county, roads = refs
    clinics = demo_dataset["clinics"]
    shifted = gpd.GeoSeries(
        shapely.points(*wgs84_to_gcj02(*_xy(clinics))), crs=4490
    )  # GCJ-02 picks saved as if CGCS2000
    check = check_layer_coords(shifted, boundary=county, roads=roads)
    assert check.declared.coords == "cgcs2000" and check.best.coords == "gcj02"
    assert check.problems


def test_a_files_cgcs2000_crs_is_the_same_reading_as_wgs84(demo_dataset, refs):
    county, _ = refs
    x, y = _xy(demo_dataset["townships"].representative_point().to_frame("geometry"))
    check = check_coords(x, y, declared=4490, boundary=county)
    assert check.declared.coords == "cgcs2000" and check.best.coords == "wgs84"
    assert check.problems == () and not check.needs_confirmation
    assert "x 中位数" in check.findings_zh[0]
