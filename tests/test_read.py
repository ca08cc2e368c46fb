"""The reader: every format, encodings, coordinate declarations, zips and failures.

Every input is built in ``tmp_path`` from the tiny fixture county's valid layers.
"""

from __future__ import annotations

import logging
import zipfile

import geopandas as gpd
import numpy as np
import openpyxl
import pyogrio
import pytest
import shapely
from pyproj import Geod

from layers import (
    ArchiveError,
    CRSError,
    LayerReadError,
    LayerValidationError,
    ProblemKind,
    Severity,
    list_sublayers,
    load,
    read,
    read_dataset,
)
from tests.fixtures import tiny_county

GEOD = Geod(ellps="WGS84")
K = ProblemKind


@pytest.fixture(scope="module")
def frames():
    return tiny_county.build()


def errors(loaded):
    return [p for p in loaded.problems if p.severity is Severity.ERROR]


def max_shift_m(a: gpd.GeoSeries, b: gpd.GeoSeries) -> float:
    """Largest distance (metres) between matching vertices of two EPSG:4326 series."""
    ca, cb = shapely.get_coordinates(a.to_numpy()), shapely.get_coordinates(b.to_numpy())
    assert ca.shape == cb.shape
    return float(GEOD.inv(ca[:, 0], ca[:, 1], cb[:, 0], cb[:, 1])[2].max())


def chinese_villages(frames, *, code_column="行政村代码") -> gpd.GeoDataFrame:
    """natural_villages with the Chinese column names a county office uses.

    .dbf field names hold 10 bytes: 行政村代码 fits in GBK, not in UTF-8 (15 bytes).
    """
    nv = frames["natural_villages"]
    return gpd.GeoDataFrame(
        {
            "编号": nv["id"],
            "名称": nv["name"],
            code_column: nv["admin_village_code"],
            "户数": nv["households"],
            "人口": nv["population"],
        },
        geometry=nv.geometry,
        crs=4326,
    )


def zip_folder(folder, dest, *, prefix=""):
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            zf.write(p, prefix + p.relative_to(folder.parent).as_posix())
    return dest


# ------------------------------------------------------------------------- shapefiles


def test_gbk_shapefile_without_cpg(tmp_path, frames):
    path = tmp_path / "自然村.shp"
    pyogrio.write_dataframe(chinese_villages(frames), path, encoding="GBK")
    path.with_suffix(".cpg").unlink()
    dbf = path.with_suffix(".dbf").read_bytes()
    assert "户数".encode("gbk") in dbf and "东庄".encode("gbk") in dbf
    loaded = load(path, layer="natural_villages")
    assert errors(loaded) == []
    nv = frames["natural_villages"]
    assert loaded.frame["name"].tolist() == nv["name"].tolist()  # 东庄, 西湾 ...
    assert loaded.frame["households"].tolist() == nv["households"].tolist()
    prov = loaded.provenance
    assert (prov.encoding, prov.format) == ("GBK", "Shapefile")
    assert prov.encoding_source.startswith("detected")
    assert prov.field_mapping["户数"] == "households" and prov.field_mapping["名称"] == "name"
    assert loaded.frame.attrs["provenance"]["encoding"] == "GBK"


def test_utf8_shapefile_without_cpg_is_detected(tmp_path, frames):
    path = tmp_path / "nv.shp"
    pyogrio.write_dataframe(chinese_villages(frames, code_column="村代码"), path, encoding="UTF-8")
    path.with_suffix(".cpg").unlink()
    loaded = load(path, layer="natural_villages")
    assert errors(loaded) == []
    assert loaded.provenance.encoding == "UTF-8"
    assert loaded.frame["name"].iloc[0] == "东庄"


# GDAL cuts 行政村代码 (15 UTF-8 bytes) to 10 bytes, mid-character, and warns about it in a
# message pyogrio cannot decode; that write-time warning is expected here.
@pytest.mark.filterwarnings("ignore:Could not decode error message:RuntimeWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_utf8_detection_survives_names_cut_mid_character(tmp_path, frames):
    path = tmp_path / "nv.shp"
    pyogrio.write_dataframe(chinese_villages(frames), path, encoding="UTF-8")
    path.with_suffix(".cpg").unlink()
    loaded = load(path, layer="natural_villages")
    assert loaded.provenance.encoding == "UTF-8"
    assert loaded.frame["name"].iloc[0] == "东庄"
    # the cut name, trimmed to whole characters, is mapped as what it was cut from
    assert loaded.provenance.field_mapping["行政村"] == "admin_village_code"
    assert errors(loaded) == []


@pytest.mark.parametrize(("cpg", "written"), [("UTF-8", "UTF-8"), ("936", "GBK")])
def test_shapefile_cpg_is_honoured(tmp_path, frames, cpg, written):
    path = tmp_path / "nv.shp"
    villages = chinese_villages(frames, code_column="村代码")
    pyogrio.write_dataframe(villages, path, encoding=written)
    path.with_suffix(".cpg").write_text(cpg)
    loaded = load(path, layer="natural_villages")
    assert errors(loaded) == []
    assert loaded.provenance.encoding_source == ".cpg"
    assert loaded.provenance.encoding == written
    assert loaded.frame["name"].iloc[1] == "西湾"


def test_gauss_kruger_4545_shapefile_is_converted(tmp_path, frames):
    nv = chinese_villages(frames, code_column="村代码")
    path = tmp_path / "nv_4545.shp"
    pyogrio.write_dataframe(nv.to_crs(4545), path, encoding="UTF-8")
    loaded = load(path, layer="natural_villages")
    assert errors(loaded) == [] and loaded.problems == []
    assert loaded.frame.crs.to_epsg() == 4326
    assert max_shift_m(loaded.frame.geometry, nv.geometry) < 0.001
    assert loaded.provenance.source_crs == "EPSG:4545"
    assert "EPSG:4545 → EPSG:4490" in loaded.provenance.conversion


def test_shapefile_without_prj(tmp_path, frames):
    nv = chinese_villages(frames, code_column="村代码")
    path = tmp_path / "nv.shp"
    pyogrio.write_dataframe(nv.to_crs(4544), path, encoding="UTF-8")
    path.with_suffix(".prj").unlink()
    loaded = load(path, layer="natural_villages")
    [crs] = [p for p in loaded.problems if p.kind is K.CRS_MISSING]
    assert crs.severity is Severity.ERROR and "EPSG:4544" in crs.message_zh
    assert loaded.frame.crs is None
    fixed = load(path, layer="natural_villages", coords="EPSG:4544")
    assert fixed.problems == []
    assert max_shift_m(fixed.frame.geometry, nv.geometry) < 0.001


def test_declaration_that_disagrees_with_the_file_is_reported(tmp_path, frames):
    path = tmp_path / "nv.gpkg"
    pyogrio.write_dataframe(frames["natural_villages"].to_crs(4544), path, layer="nv")
    # the wrong zone: the declaration is used, the disagreement reported (still in China)
    loaded = load(path, layer="natural_villages", coords="EPSG:4545")
    [p] = [p for p in loaded.problems if p.kind is K.CRS_MISSING]
    assert p.severity is Severity.WARNING
    assert "EPSG:4544" in p.message_zh and "EPSG:4545" in p.message_zh
    assert "overridden" in loaded.provenance.conversion
    # GCJ-02 lon/lat declared on metres: an error
    loaded = load(path, layer="natural_villages", coords="gcj02")
    [p] = [p for p in loaded.problems if p.kind is K.CRS_MISSING]
    assert p.severity is Severity.ERROR
    # "cgcs2000" names the file's datum: no disagreement, its GK zone is used
    assert load(path, layer="natural_villages", coords="cgcs2000").problems == []


# ------------------------------------------------------------------------ spreadsheets


# eviltransform's published test points (googollee/eviltransform, python/test.py):
# (WGS84 lat, lon, GCJ-02 lat, lon); see tests/test_coords.py.
GCJ_POINTS = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),
]


def test_xlsx_in_gcj02_is_converted_to_wgs84(tmp_path):
    path = tmp_path / "商店.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "便民服务设施"
    ws.append(["编号", "名称", "类别", "经度", "纬度"])
    for i, (_, _, glat, glon) in enumerate(GCJ_POINTS):
        ws.append([f"P{i}", f"超市{i}", "超市", glon, glat])
    wb.create_sheet("说明").append(["坐标来自高德地图"])
    wb.save(path)
    loaded = load(path, layer="service_points", coords="gcj02")
    assert loaded.problems == []
    got = loaded.frame.geometry
    want = gpd.GeoSeries([shapely.Point(lon, lat) for lat, lon, _, _ in GCJ_POINTS], crs=4326)
    assert max_shift_m(got, want) <= 1.0
    assert loaded.frame["kind"].tolist() == ["综合超市"] * 3
    prov = loaded.provenance
    assert prov.sublayer == "便民服务设施" and prov.lonlat_columns == ("经度", "纬度")
    assert "GCJ-02 → WGS84" in prov.conversion and prov.declared_coords.startswith("GCJ-02")


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig"])
def test_csv_with_bad_coordinate_rows(tmp_path, encoding):
    path = tmp_path / "shops.csv"
    path.write_text(
        "编号,名称,类别,经度,纬度\n"
        "P1,镇口超市,综合超市,105.91,36.98\n"
        "P2,镇口菜店,便利菜店,105.92,\n"
        "P3,丙村药店,药店,东经105度,36.97\n"
        "P4,公交站,公交站点,105.93°,36.99\n",
        encoding=encoding,
    )
    loaded = load(path, layer="service_points", coords="wgs84")
    assert loaded.frame["name"].tolist() == ["镇口超市", "镇口菜店", "丙村药店", "公交站"]
    got = {(p.kind, p.row, p.field, p.severity) for p in loaded.problems}
    assert got == {
        (K.EMPTY_GEOMETRY, 2, "纬度", Severity.ERROR),
        (K.WRONG_TYPE, 3, "经度", Severity.ERROR),
    }
    bad = next(p for p in loaded.problems if p.row == 3)
    assert bad.value == "东经105度" and "表格第 4 行" in bad.message_zh
    assert loaded.frame.geometry.iloc[3].equals(shapely.Point(105.93, 36.99))
    assert loaded.provenance.encoding == ("GBK" if encoding == "gbk" else "UTF-8")


def test_csv_without_coords_declaration_warns_and_assumes_wgs84(tmp_path):
    path = tmp_path / "shops.csv"
    path.write_text("id,name,kind,lng,lat\nP1,超市,综合超市,105.91,36.98\n", encoding="utf-8")
    loaded = load(path, layer="service_points")
    [p] = loaded.problems
    assert (p.kind, p.severity) == (K.CRS_MISSING, Severity.WARNING)
    assert loaded.frame.crs.to_epsg() == 4326


def test_csv_with_one_lonlat_column_in_bd09(tmp_path):
    # ipcjs/coordtransform's published pair: WGS84 (118.3013077, 32.2719040) →
    # BD-09 (118.31309502519456, 32.27614034221775); see tests/test_coords.py.
    path = tmp_path / "baidu.csv"
    path.write_text(
        'id,name,kind,经纬度\nP1,药店,药店,"118.31309502519456,32.27614034221775"\n',
        encoding="utf-8",
    )
    loaded = load(path, layer="service_points", coords="bd09")
    assert loaded.problems == []
    p = loaded.frame.geometry.iloc[0]
    assert GEOD.inv(p.x, p.y, 118.3013077, 32.2719040)[2] < 0.01
    assert loaded.provenance.lonlat_columns == ("经纬度",)


def test_csv_without_coordinate_columns(tmp_path):
    path = tmp_path / "shops.csv"
    path.write_text("id,name,kind\nP1,超市,综合超市\nP2,药店,药店\n", encoding="utf-8")
    loaded = load(path, layer="service_points")
    assert [(p.kind, p.row) for p in loaded.problems] == [(K.MISSING_FIELD, None)]
    assert "经度" in loaded.problems[0].message_zh


# ---------------------------------------------------------------- KML, GeoJSON, GPKG, GDB


def test_kml_and_kmz(tmp_path, frames):
    shops = frames["service_points"]
    kml, kmz, kmz_gdal = tmp_path / "商店.kml", tmp_path / "商店.kmz", tmp_path / "shops.kmz"
    pyogrio.write_dataframe(shops, kml, driver="LIBKML", layer="商店")
    with zipfile.ZipFile(kmz, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.write(kml, "doc.kml")  # a Google Earth style KMZ: one doc.kml
    # GDAL's own KMZ: doc.kml links layers/<layer>.kml; GDAL 3.12 escapes a Chinese layer
    # name in the member but not in the link, so GDAL cannot read it back from the zip.
    # GapMap extracts the KMZ and reads its .kml files, which works.
    pyogrio.write_dataframe(shops, kmz_gdal, driver="LIBKML", layer="商店")
    for path, fmt in ((kml, "KML"), (kmz, "KMZ"), (kmz_gdal, "KMZ")):
        loaded = load(path, layer="service_points")
        assert loaded.problems == [], loaded.problems
        assert loaded.frame["id"].tolist() == shops["id"].tolist()
        assert loaded.frame["name"].tolist() == shops["name"].tolist()
        assert max_shift_m(loaded.frame.geometry, shops.geometry) < 0.01
        assert loaded.provenance.format == fmt


def test_kmz_with_path_traversal_is_refused(tmp_path):
    path = tmp_path / "evil.kmz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("doc.kml", "<kml/>")
        zf.writestr("../evil.txt", "x")
    with pytest.raises(ArchiveError):
        load(path, layer="service_points")


def test_geojson(tmp_path, frames):
    path = tmp_path / "roads.geojson"
    pyogrio.write_dataframe(frames["roads"], path, driver="GeoJSON")
    loaded = load(path, layer="roads")
    assert loaded.problems == []
    assert max_shift_m(loaded.frame.geometry, frames["roads"].geometry) < 0.01
    assert loaded.provenance.driver == "GeoJSON"


def test_gpkg_with_several_layers(tmp_path, frames):
    path = tmp_path / "county.gpkg"
    pyogrio.write_dataframe(frames["roads"], path, layer="道路")
    pyogrio.write_dataframe(frames["clinics"], path, layer="医疗机构")
    pyogrio.write_dataframe(frames["service_points"], path, layer="其他")
    roads = load(path, layer="roads")  # picked by its Chinese name
    assert roads.provenance.sublayer == "道路" and roads.problems == []
    clinics = load(path, layer="clinics", sublayer="医疗机构")
    assert len(clinics.frame) == 3
    with pytest.raises(LayerReadError) as info:
        load(path, layer="service_points")  # no layer named like it, several layers
    assert "sublayer" in info.value.zh
    with pytest.raises(LayerReadError) as info:
        load(path, layer="roads", sublayer="公路")
    assert "公路" in info.value.zh and "道路" in info.value.zh


def test_filegdb_folder_and_zipped(tmp_path, frames):
    gdb = tmp_path / "成果" / "示例县.gdb"
    gdb.parent.mkdir()
    # ArcGIS before Pro 3.2 has no 64-bit integers: write int32, as FileGDBs hold them
    clinics = frames["clinics"].astype({"doctors": "int32"})
    pyogrio.write_dataframe(frames["roads"], gdb, driver="OpenFileGDB", layer="roads")
    pyogrio.write_dataframe(clinics, gdb, driver="OpenFileGDB", layer="clinics")
    loaded = load(gdb, layer="roads")
    assert loaded.problems == [] and len(loaded.frame) == len(frames["roads"])
    assert loaded.provenance.format == "FileGDB"
    archive = zip_folder(gdb.parent, tmp_path / "规划成果.zip")
    zipped = load(archive, layer="clinics")
    assert zipped.problems == []
    assert zipped.frame["name"].tolist() == frames["clinics"]["name"].tolist()
    assert zipped.provenance.member == "成果/示例县.gdb"
    assert zipped.provenance.sublayer == "clinics"
    assert all(
        p.file == "规划成果.zip/成果/示例县.gdb" for p in load(archive, layer="roads").problems
    )


def test_zip_of_shapefiles_picks_the_file_named_like_the_layer(tmp_path, frames):
    folder = tmp_path / "县数据"
    folder.mkdir()
    pyogrio.write_dataframe(chinese_villages(frames), folder / "自然村.shp", encoding="GBK")
    (folder / "自然村.cpg").unlink()
    pyogrio.write_dataframe(frames["roads"], folder / "道路.shp", encoding="UTF-8")
    archive = zip_folder(folder, tmp_path / "县数据.zip")
    nv = load(archive, layer="natural_villages")
    assert errors(nv) == [] and nv.provenance.member == "县数据/自然村.shp"
    assert nv.provenance.encoding == "GBK" and nv.frame["name"].iloc[0] == "东庄"
    roads = load(archive, layer="roads", sublayer="道路")
    assert len(roads.frame) == len(frames["roads"])
    with pytest.raises(LayerReadError) as info:
        load(archive, layer="clinics")
    assert "sublayer" in info.value.zh


# -------------------------------------------------------------------------- failures


def test_missing_file(tmp_path):
    with pytest.raises(LayerReadError) as info:
        load(tmp_path / "没有.gpkg", layer="roads")
    assert "找不到文件" in info.value.zh


@pytest.mark.parametrize(("name", "hint"), [("a.txt", "不支持"), ("a.xls", ".xlsx")])
def test_unknown_format(tmp_path, name, hint):
    (tmp_path / name).write_text("x")
    with pytest.raises(LayerReadError) as info:
        load(tmp_path / name, layer="roads")
    assert hint in info.value.zh and name in info.value.zh


def test_unreadable_file(tmp_path):
    path = tmp_path / "broken.gpkg"
    path.write_bytes(b"not a geopackage" * 100)
    with pytest.raises(LayerReadError) as info:
        load(path, layer="roads")
    assert "broken.gpkg" in info.value.zh and "无法" in info.value.zh


def test_corrupt_zip_upload(tmp_path):
    path = tmp_path / "upload.zip"
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ArchiveError) as info:
        load(path, layer="roads")
    assert "upload.zip" in info.value.zh


def test_bad_declaration_and_layer():
    with pytest.raises(CRSError):
        load("whatever.gpkg", layer="roads", coords="mars-ish")
    with pytest.raises(ValueError, match="unknown layer"):
        load("whatever.gpkg", layer="rivers")


# ------------------------------------------------------------------- read and datasets


def test_read_raises_every_error_at_once_and_logs_warnings(tmp_path, caplog):
    path = tmp_path / "shops.csv"
    path.write_text(
        "编号,名称,类别,经度,纬度,备注\nP1,超市,玻璃店,105.91,36.98,\nP2,,药店,abc,36.98,\n",
        encoding="utf-8",
    )
    with pytest.raises(LayerValidationError) as info:
        read(path, layer="service_points", coords="wgs84")
    got = {(p.kind, p.row) for p in info.value.problems if p.severity is Severity.ERROR}
    assert got == {(K.VALUE_NOT_ALLOWED, 1), (K.MISSING_VALUE, 2), (K.WRONG_TYPE, 2)}
    assert "3 validation error(s)" in str(info.value)
    ok = tmp_path / "ok.csv"
    ok.write_text("编号,名称,类别,经度,纬度,备注\nP1,超市,超市,105.91,36.98,\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="layers.read"):
        frame = read(ok, layer="service_points", coords="gcj02")
    assert "备注" in caplog.text  # the unknown-field warning is logged
    assert frame.attrs["provenance"]["declared_coords"].startswith("GCJ-02")
    assert frame.attrs["provenance"]["feature_count"] == 1
    assert frame.crs.to_epsg() == 4326


def test_read_dataset_on_the_fixture_has_no_errors():
    dataset = read_dataset(tiny_county.PATH)
    assert dataset.errors == ()
    assert set(dataset.layers) == set(tiny_county.build())
    prov = dataset.provenance["roads"]
    assert prov["format"] == "GeoPackage" and prov["sublayer"] == "roads"
    assert prov["feature_count"] == len(dataset["roads"])


def test_frames_are_normalised_in_4326(tmp_path, frames):
    path = tmp_path / "nv.geojson"
    nv = frames["natural_villages"].rename(columns={"households": "户数"})
    pyogrio.write_dataframe(nv, path, driver="GeoJSON")
    frame = read(path, layer="natural_villages")
    assert list(frame.columns[:5]) == [
        "id",
        "name",
        "admin_village_code",
        "households",
        "population",
    ]
    assert frame["households"].dtype == np.int64
    assert frame.attrs["provenance"]["field_mapping"] == {"户数": "households"}


def test_list_sublayers(tmp_path, frames):
    gpkg = tmp_path / "county.gpkg"
    pyogrio.write_dataframe(frames["roads"], gpkg, layer="roads")
    pyogrio.write_dataframe(frames["clinics"], gpkg, layer="clinics")
    assert sorted(list_sublayers(gpkg)) == ["clinics", "roads"]
    folder = tmp_path / "shp"
    folder.mkdir()
    for name in ("roads", "clinics"):
        frame = frames[name].astype({c: "int32" for c in ("doctors",) if c in frames[name]})
        pyogrio.write_dataframe(frame, folder / f"{name}.gpkg")
    archive = zip_folder(folder, tmp_path / "layers.zip")
    assert sorted(list_sublayers(archive)) == ["clinics", "roads"]
    # each one loads from the zip by that name
    assert len(load(archive, layer="clinics", sublayer="clinics").frame) == 3
    with pytest.raises(LayerReadError, match=r"not found"):
        list_sublayers(tmp_path / "nope.zip")


def test_layers_are_picked_by_the_longest_layer_name_they_contain(tmp_path, frames):
    path = tmp_path / "县.gpkg"
    clinics = frames["clinics"]
    pyogrio.write_dataframe(clinics[clinics["kind"] == "卫生院"], path, layer="乡镇卫生院")
    pyogrio.write_dataframe(frames["townships"], path, layer="同心县乡镇界")
    assert load(path, layer="townships").provenance.sublayer == "同心县乡镇界"
    assert load(path, layer="clinics").provenance.sublayer == "乡镇卫生院"


# ------------------------------------------------- issue 15: the new layers by name and field

SCHOOLS = [  # 学校.shp as a county education bureau gives it (GBK, names ≤ 10 bytes)
    {"学校编号": "X1", "学校名称": "韦州中学", "学校类型": "初级中学", "是否寄宿": "是",
     "村代码": "640324102203", "乡镇代码": "640324102", "服务范围": "640324102203；640324102204"},
    {"学校编号": "X2", "学校名称": "马家湾教学点", "学校类型": "教学点", "是否寄宿": "否",
     "村代码": "640324102204", "乡镇代码": "640324102", "服务范围": ""},
    {"学校编号": "X3", "学校名称": "同德九年制学校", "学校类型": "九年制", "是否寄宿": "",
     "村代码": "640324101222", "乡镇代码": "640324101", "服务范围": ""},
]  # fmt: skip


@pytest.mark.parametrize("name", ["学校", "同心县中小学", "幼儿园"])
def test_school_shapefile_is_read_as_public_facilities(tmp_path, name):
    frame = gpd.GeoDataFrame(
        SCHOOLS,
        geometry=[shapely.Point(106.2 + 0.01 * i, 37.1) for i in range(3)],
        crs=4326,
    )
    path = tmp_path / f"{name}.shp"
    pyogrio.write_dataframe(frame, path, encoding="GBK")
    from layers.read import layer_of

    assert layer_of(name)[0] == "public_facilities"
    loaded = load(path, layer="public_facilities")
    assert [p for p in loaded.problems if p.severity is Severity.ERROR] == []
    f = loaded.frame
    assert f["id"].tolist() == ["X1", "X2", "X3"]
    assert f["kind"].tolist() == ["初中", "小学", "九年一贯制学校"]
    assert f["boarding"].tolist() == [True, False, False]  # empty = default 否
    assert f["serves_codes"].iloc[0] == "640324102203；640324102204"
    assert f["township_code"].tolist() == ["640324102", "640324102", "640324101"]


def test_housing_survey_csv_with_points_and_chinese_columns(tmp_path):
    path = tmp_path / "危房排查.csv"
    rows = [
        "房屋编号,行政村代码,自然村编号,危房类别,涉及户数,是否完成改造,经度,纬度",
        "F1,640324104205,640324104205-02,危窑洞,2,否,106.3512,36.8201",
        "F2,640324104205,640324104205-04,D级,,是,106.3561,36.8233",
        "F3,640324105209,,C级危房,1,,106.1022,37.0014",
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    loaded = load(path, layer="housing_survey", coords="wgs84")
    assert loaded.problems == []
    f = loaded.frame
    assert f["id"].tolist() == ["F1", "F2", "F3"]
    assert f["village_id"].tolist() == ["640324104205-02", "640324104205-04", ""]
    assert f["kind"].tolist() == ["危窑", "危房", "危房"]
    assert f["households"].tolist() == [2, 1, 1]  # empty = default 1
    assert f["rectified"].tolist() == [False, True, False]
    assert f.geometry.x.iloc[0] == pytest.approx(106.3512)


def test_housing_survey_xlsx_and_telecom_geojson(tmp_path):
    path = tmp_path / "农村危房.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["户编号", "行政村代码", "危房类型", "已改造", "经度", "纬度"])
    ws.append(["H1", "640324201213", "危窑", "否", 106.41, 36.73])
    wb.save(path)
    f = read(path, layer="housing_survey", coords="wgs84")
    assert f[["id", "kind"]].values.tolist() == [["H1", "危窑"]] and not f["rectified"].iloc[0]
    cover = gpd.GeoDataFrame(
        {
            "覆盖区编号": ["C1", "C2"],
            "网络类型": ["5G网络", "千兆"],
            "所属运营商": ["移动", "电信"],
        },
        geometry=[shapely.box(106.0, 37.0, 106.1, 37.1), shapely.box(106.2, 37.0, 106.3, 37.1)],
        crs=4326,
    )
    gj = tmp_path / "5G覆盖.geojson"
    pyogrio.write_dataframe(cover, gj, driver="GeoJSON")
    from layers.read import layer_of

    assert layer_of("5G覆盖")[0] == "telecom_coverage"
    assert layer_of("同心县环卫设施")[0] == "env_facilities"
    assert layer_of("危房排查")[0] == "housing_survey"
    t = read(gj, layer="telecom_coverage")
    assert t[["id", "kind", "operator"]].values.tolist() == [
        ["C1", "5G", "移动"],
        ["C2", "千兆光纤", "电信"],
    ]


def test_admin_village_attributes_by_pinyin_code_and_chinese_name(tmp_path):
    path = tmp_path / "行政村.csv"
    rows = [
        "XZQDM,XZQMC,XZDM,CZFL,CZRK,SFZDC,SFT5G,千兆光纤,WSZL,LJCL,WCHS,经度,纬度",
        "640324100201,A村,640324100,集聚提升,800,是,1,否,,是,120,105.91,36.98",
        "640324100202,B村,640324100,集聚提升,600,否,,,否,,,105.92,36.98",
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    f = read(path, layer="admin_villages", coords="wgs84")
    assert f["key_village"].tolist() == [True, False]
    assert f["has_5g"].tolist()[0] is True and f["has_5g"].isna().tolist() == [False, True]
    assert f["has_gigabit"].tolist()[0] is False and f["has_gigabit"].isna().tolist()[1]
    assert f["sewage_treated"].isna().tolist() == [True, False]
    assert f["waste_treated"].isna().tolist() == [False, True]
    assert f["toilet_households"].isna().tolist() == [False, True]


def test_geoparquet_folder_round_trip_and_problems(tmp_path):
    """write_layers to a folder writes GeoParquet; read_dataset reads it back, checked."""
    from layers import Dataset, read_dataset, write_layers
    from tests.fixtures import tiny_county

    ds = Dataset.from_frames(tiny_county.build(), name="tiny")
    folder = write_layers(tmp_path / "tiny", dict(ds.layers))
    assert sorted(p.name for p in folder.glob("*.parquet")) == sorted(
        f"{k}.parquet" for k in ds.layers
    )
    back = read_dataset(folder)
    assert back.ok and sorted(back.layers) == sorted(ds.layers)
    for layer, frame in ds.layers.items():
        assert (
            back[layer]
            .drop(columns="geometry")
            .astype(str)
            .equals(frame.drop(columns="geometry").astype(str))
        ), layer
        assert back[layer].geometry.geom_equals_exact(frame.geometry, 1e-12).all(), layer
    roads = ds["roads"].copy()
    roads.loc[roads.index[1], "width_m"] = 900.0
    roads.to_parquet(folder / "roads.parquet")
    bad = [p for p in read_dataset(folder).errors if p.layer == "roads"]
    assert [(p.file, p.row, p.field) for p in bad] == [("tiny/roads.parquet", 2, "width_m")]


def test_read_dataset_pauses_the_cyclic_collector_and_restores_it(tmp_path, monkeypatch):
    """No full collection while a dataset is read; the collector's state after is the
    state before (enabled or not), also when the read fails."""
    import gc
    import sys

    from layers.read import load

    seen = []
    monkeypatch.setattr(  # (``layers.read`` is also the name of a function)
        sys.modules["layers.read"],
        "load",
        lambda *a, **k: (seen.append(gc.isenabled()), load(*a, **k))[1],
    )
    from layers import write_layers

    path = write_layers(tmp_path / "tiny.gpkg", tiny_county.build())
    assert gc.isenabled()
    assert read_dataset(path).layers
    assert seen and not any(seen) and gc.isenabled()
    gc.disable()
    try:
        read_dataset(path)
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(LayerReadError):
        read_dataset(tmp_path / "missing.gpkg")
    assert gc.isenabled()
