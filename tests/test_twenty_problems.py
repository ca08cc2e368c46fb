"""One GeoPackage with 20 different problems: all of them reported at once, located exactly."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from layers import LayerValidationError, ProblemKind, Severity, read_dataset, write_layers
from tests.fixtures import tiny_county

K = ProblemKind


def pt(x, y):
    """A point x, y metres from the fixture origin, in EPSG:4326."""
    g = gpd.GeoSeries(
        [shapely.Point(tiny_county.ORIGIN_E + x, tiny_county.ORIGIN_N + y)],
        crs=tiny_county.METRIC_EPSG,
    )
    return g.to_crs(4326).iloc[0]


@pytest.fixture(scope="module")
def broken_gpkg(tmp_path_factory):
    frames = tiny_county.build()
    # the housing survey names natural villages whose admin codes are broken below: its
    # follow-on warning is not one of the twenty
    frames.pop("housing_survey", None)
    nv = frames["natural_villages"].copy()
    nv["households"] = nv["households"].astype(object)
    nv["population"] = nv["population"].astype(object)
    nv["relocation_planned"] = nv["relocation_planned"].astype(object)
    lon, lat = pt(1000, 5000).x, pt(1000, 5000).y
    nv.loc[0, "households"] = "三十"  # 1 wrong type
    nv.loc[1, "population"] = -3  # 2 out of range
    nv.loc[2, "admin_village_code"] = "64039910020"  # 3 eleven digits
    nv.loc[3, "admin_village_code"] = "640399100299"  # 4 no such admin village
    nv.loc[5, "id"] = "NV05"  # 5, 6 duplicate id (rows 5 and 6)
    nv.loc[6, "name"] = ""  # 7 required value empty
    nv.loc[7, "relocation_planned"] = "也许"  # 8 not yes/no
    nv.loc[8, "geometry"] = shapely.Point(lat, lon)  # 9 swapped (10: so outside the county)
    nv.loc[9, "geometry"] = shapely.Point(-lon, lat)  # 11 west (12: so outside the county)
    nv.loc[10, "geometry"] = pt(60_000, 4000)  # 13 ~50 km east of the county
    nv.loc[11, "geometry"] = shapely.Point()  # 14 empty geometry
    roads = frames["roads"].copy()
    roads.loc[0, "surface"] = "玻璃"  # 15
    roads["width_m"] = roads["width_m"].astype(object)
    roads.loc[1, "width_m"] = 0.1  # 16
    roads.loc[2, "road_class"] = "高架"  # 17
    roads.loc[3, "geometry"] = pt(3000, 4000)  # 18 a point in a line layer
    clinics = frames["clinics"].drop(columns="doctors")  # 19 missing field
    townships = frames["townships"].copy()
    a, b = pt(0, 0), pt(5000, 8000)
    townships.loc[0, "geometry"] = shapely.Polygon(
        [(a.x, a.y), (b.x, b.y), (b.x, a.y), (a.x, b.y)]  # 20 self-intersecting bow-tie
    )
    shops = frames["service_points"].assign(备注="")  # warning only: an unknown field
    frames.update(
        natural_villages=nv, roads=roads, clinics=clinics, townships=townships, service_points=shops
    )
    path = tmp_path_factory.mktemp("broken") / "示例县_有问题.gpkg"
    return write_layers(path, frames)


def test_all_twenty_problems_are_reported_at_once(broken_gpkg):
    dataset = read_dataset(broken_gpkg)
    got = {(p.layer, p.row, p.field, p.kind) for p in dataset.errors}
    expected = {
        ("natural_villages", 1, "households", K.WRONG_TYPE),
        ("natural_villages", 2, "population", K.OUT_OF_RANGE),
        ("natural_villages", 3, "admin_village_code", K.BAD_PATTERN),
        ("natural_villages", 4, "admin_village_code", K.UNKNOWN_CODE),
        ("natural_villages", 5, "id", K.DUPLICATE_ID),
        ("natural_villages", 6, "id", K.DUPLICATE_ID),
        ("natural_villages", 7, "name", K.MISSING_VALUE),
        ("natural_villages", 8, "relocation_planned", K.WRONG_TYPE),
        ("natural_villages", 9, None, K.SWAPPED_LONLAT),
        ("natural_villages", 9, None, K.OUTSIDE_COUNTY),
        ("natural_villages", 10, None, K.WRONG_HEMISPHERE),
        ("natural_villages", 10, None, K.OUTSIDE_COUNTY),
        ("natural_villages", 11, None, K.OUTSIDE_COUNTY),
        ("natural_villages", 12, None, K.EMPTY_GEOMETRY),
        ("roads", 1, "surface", K.VALUE_NOT_ALLOWED),
        ("roads", 2, "width_m", K.OUT_OF_RANGE),
        ("roads", 3, "road_class", K.VALUE_NOT_ALLOWED),
        ("roads", 4, None, K.WRONG_GEOMETRY_TYPE),
        ("clinics", None, "doctors", K.MISSING_FIELD),
        ("townships", 1, None, K.INVALID_GEOMETRY),
    }
    assert got == expected
    assert len(dataset.errors) == 20
    warnings = [p for p in dataset.problems if p.severity is Severity.WARNING]
    assert [(p.layer, p.field, p.kind) for p in warnings] == [
        ("service_points", "备注", K.UNKNOWN_FIELD)
    ]
    for p in dataset.errors:
        assert p.file == broken_gpkg.name
        assert p.message_zh and p.fix_zh
    assert {p.feature_id for p in dataset.errors if p.layer == "roads" and p.row} == {
        "T00",
        "T01",
        "T02",
        "T03",
    }
    with pytest.raises(LayerValidationError) as info:
        dataset.raise_if_errors()
    assert "20 validation error(s)" in str(info.value)
    assert "发现 20 个数据问题" in info.value.zh
