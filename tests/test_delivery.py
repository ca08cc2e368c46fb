"""A county's delivery, as it comes, becomes the same dataset as the demo GeoPackage."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from geo.assessment import assess
from geo.indicators.table import indicator_table
from geo.settings import Settings
from layers.delivery import (
    Manifest,
    ManifestEntry,
    read_delivery,
    read_manifest,
    scan_delivery,
    write_manifest,
)
from layers.errors import LayerError, LayerReadError, Severity
from layers.read import load
from tests.fixtures import delivery as fx

# Round-trip tolerance per layer (metres): datum relabelling / GK projections vs the
# GCJ-02 and BD-09 inverses (iterative, ≈ 0.1 mm; the CSV/XLSX text keeps 15+ digits).
TOLERANCE_M = {
    "county": 0.01, "townships": 0.01, "admin_villages": 0.01, "natural_villages": 0.01,
    "relocation_sites": 0.01, "roads": 0.01, "clinics": 0.5, "service_points": 0.5,
}  # fmt: skip


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return fx.build(tmp_path_factory.mktemp("delivery") / "同心县资料包")


@pytest.fixture(scope="module")
def scan(folder):
    return scan_delivery(folder)


def test_scan_proposes_the_layer_and_coordinates_of_every_file(scan):
    got = {p.path: (p.role, p.coords) for p in scan.files}
    assert got == fx.EXPECTED
    by = {p.path: p for p in scan.files}
    # the reasons name what was recognised
    assert "县界" in by["县界.geojson"].reason_zh and by["县界.geojson"].source_crs == "EPSG:4490"
    assert "卫生机构" in by["卫生机构.xlsx"].reason_zh
    assert by["道路.gdb.zip"].geometry_type == "MultiLineString"
    assert by["行政村.xlsx"].coords_hint.startswith("行政村.xlsx")  # the 数据说明 line
    # encodings: GBK without .cpg detected; the UTF-8 one from its .cpg
    nv = by["自然村.shp"]
    assert nv.encoding == "GBK" and nv.encoding_source.startswith("detected")
    assert by["移民安置区.shp"].encoding_source == ".cpg"
    # coordinates: evidence for the GK zone prefix, and the fit that picked CM 105°E
    assert "6 位" in nv.coords_check.findings_zh[0]
    fits = {c.coords: c.inside_share for c in nv.coords_check.candidates}
    assert fits["EPSG:4544"] == 1.0 and fits["EPSG:4545"] == 0.0
    assert "带号" in by["道路.gdb.zip"].coords_check.findings_zh[0]
    assert "35 是带号" in by["供水管网.inp"].coords_check.findings_zh[0]
    sp = by["便民设施.csv"].coords_check  # not in the 数据说明: found by the fit to the roads
    assert sp.best.coords == "bd09" and sp.best.road_median_m < 50
    assert by["高程.tif"].source_crs == "EPSG:4326"
    # what only the values say must be confirmed; what the file or the 数据说明 says need not
    detected = {p.path for p in scan.files if p.coords_detected}
    assert detected == {"自然村.shp", "便民设施.csv", "供水管网.inp"}
    assert {p.path for p in scan.files if p.needs_confirmation} == detected
    assert "同心县" in scan.readme


def test_field_mapping_with_truncated_names_and_sample_values(scan):
    rs = scan.proposal("移民安置区.shp")
    # the reader maps names cut to 10 bytes itself (layers.fields.truncated_aliases); 安置区
    # is cut from both 安置区编号 and 安置区名称, so only the sample values tell
    assert rs.field_mapping == {"安置区": "id"}
    auto = {s.column: s.field for s in rs.fields if s.reason == "alias"}
    assert auto.items() >= {
        "行政村": "admin_village_code", "安置户": "households", "安置人": "population",
        "重点移": "key_site",
    }.items()  # fmt: skip
    assert rs.missing_fields == ()
    by_col = {s.column: s for s in rs.fields}
    assert "安置区编号" in by_col["安置区"].reason_zh
    assert by_col["行政村"].samples and all(len(v) == 12 for v in by_col["行政村"].samples)
    assert by_col["名称"].reason == "alias"  # known names are mapped by the reader itself
    cl = scan.proposal("卫生机构.xlsx")
    assert cl.field_mapping == {} and {s.field for s in cl.fields} >= {"id", "kind", "doctors"}


def test_scan_without_the_description_finds_web_map_offsets_by_fit(tmp_path):
    scan = scan_delivery(fx.build(tmp_path / "d", readme=False))
    cl = scan.proposal("卫生机构.xlsx")
    assert cl.coords == "gcj02" and cl.coords_check.declared is None
    by = {c.coords: c for c in cl.coords_check.candidates}
    assert by["gcj02"].road_median_m < 25 and by["wgs84"].road_median_m > 150
    assert scan.proposal("便民设施.csv").coords == "bd09"
    assert scan.proposal("行政村.xlsx").coords == "wgs84"
    assert scan.proposal("自然村.shp").coords == "EPSG:4544"


def test_manifest_round_trips_through_toml_and_is_written_atomically(scan, folder, tmp_path):
    manifest = scan.manifest(county="同心县")
    text = manifest.to_toml()
    assert "# 自然村" in text and '"安置区" = "id"' in text
    back = Manifest.from_toml(text)
    assert back.entries == manifest.entries and back.county == "同心县"
    path = write_manifest(tmp_path / "m" / "同心县.toml", manifest)
    assert read_manifest(path).entries == manifest.entries
    assert [p.name for p in path.parent.iterdir()] == ["同心县.toml"]  # no temporary left
    with pytest.raises(LayerReadError, match="overwrite"):
        write_manifest(folder / "数据说明.txt", manifest, inputs=(folder / "数据说明.txt",))


def test_zip_delivery_gives_the_demo_dataset_and_the_demo_results(
    tmp_path, monkeypatch, demo_dataset, demo_assessment
):
    work = tmp_path / "tmp"
    work.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(work))  # to see that extractions are removed
    zipped = fx.build_zip(tmp_path / "同心县资料包.zip")
    scan = scan_delivery(zipped)
    assert {p.path: (p.role, p.coords) for p in scan.files} == fx.EXPECTED
    result = read_delivery(zipped, scan.manifest(county="同心县"), extras_dir=tmp_path / "x")
    assert list(work.iterdir()) == []
    ds = result.dataset
    assert ds.problems == () and ds.name == "同心县"
    assert tuple(ds.layers) == fx.DELIVERY_LAYERS
    for layer in fx.DELIVERY_LAYERS:
        got, want = ds[layer], demo_dataset[layer]
        pd.testing.assert_frame_equal(
            pd.DataFrame(got.drop(columns="geometry")), pd.DataFrame(want.drop(columns="geometry"))
        )
        assert list(got.geom_type) == list(want.geom_type), layer
        dist = shapely.hausdorff_distance(
            got.to_crs(4544).geometry.to_numpy(), want.to_crs(4544).geometry.to_numpy()
        )
        assert np.nanmax(dist) <= TOLERANCE_M[layer], (layer, np.nanmax(dist))
    assert ds.provenance["clinics"]["declared_coords"].startswith("GCJ-02")
    assert ds.provenance["relocation_sites"]["field_mapping"]["安置区"] == "id"
    # the water model and the DEM: paths (copied out of the removed extraction) and CRS
    assert result.water_model == tmp_path / "x" / "供水管网.inp" and result.water_model.exists()
    assert result.water_model_coords == "EPSG:4523"
    assert result.dem.exists() and result.dem_crs == "EPSG:4326"
    # ... and the dataset's own: the .inp read with its declared CRS, the DEM
    assert ds.water_model is not None and ds.water_model.crs == "EPSG:4523"
    assert ds.dem == result.dem
    # the same analyses give the same roll-up, water from the county's .inp included
    a = assess(ds, Settings())
    assert a.water.model.source == "供水管网.inp"
    pd.testing.assert_frame_equal(a.water.result.county, demo_assessment.water.result.county)
    pd.testing.assert_series_equal(
        a.water.result.villages["status"], demo_assessment.water.result.villages["status"]
    )
    # every indicator the delivery has data for: the demo's own figures
    table = indicator_table(Settings()).without(*fx.LACKING_INDICATORS)
    lacking = a.rollup.county.set_index("code").loc[list(fx.LACKING_INDICATORS)]
    assert lacking["value"].isna().all() and (lacking["status"] == "无数据").all()
    a = assess(ds, Settings(), table=table)
    got = a.rollup
    want = assess(demo_dataset, Settings(), table=table).rollup
    assert set(want.county["code"]) == set(table.codes) and want.county["value"].notna().all()
    pd.testing.assert_frame_equal(got.county, want.county)
    pd.testing.assert_frame_equal(got.townships, want.townships)
    pd.testing.assert_frame_equal(got.admin_villages, want.admin_villages)


def test_without_the_mapping_the_truncated_fields_are_missing_in_that_file(folder, scan):
    manifest = scan.manifest()
    entries = tuple(
        replace(e, fields={}) if e.path == "移民安置区.shp" else e for e in manifest.entries
    )
    ds = read_delivery(folder, replace(manifest, entries=entries)).dataset
    errors = [p for p in ds.errors if p.layer == "relocation_sites"]
    assert errors and {p.file for p in errors} == {"移民安置区.shp"}
    # the reader maps 安置户 → households itself; the ambiguous 安置区 (id or name?) it cannot
    assert "id" in {p.field for p in errors} and "households" not in {p.field for p in errors}


def test_a_wrong_declaration_is_read_as_declared_but_warned_about(folder, scan):
    manifest = scan.manifest()
    entries = tuple(
        replace(e, coords="wgs84") if e.path == "卫生机构.xlsx" else e for e in manifest.entries
    )
    ds = read_delivery(folder, replace(manifest, entries=entries)).dataset
    (warning,) = [p for p in ds.problems if "系统偏移" in p.message_zh]
    assert warning.file == "卫生机构.xlsx" and warning.severity is Severity.WARNING
    assert "GCJ-02" in warning.message_zh and "到路网距离中位数" in warning.message_zh
    assert ds.provenance["clinics"]["declared_coords"].startswith("WGS84")  # not converted


def test_manifest_mistakes_are_located(folder, scan):
    bad = """version = 1
[[files]]
path = "卫生机构.xlsx"
layer = "clinic"
[[files]]
path = "便民设施.csv"
layer = "service_points"
coords = "mars2000"
[[files]]
path = "移民安置区.shp"
layer = "relocation_sites"
[files.fields]
"安置区" = "identifier"
"""
    with pytest.raises(LayerError) as err:
        Manifest.from_toml(bad, source="同心县.toml")
    zh = err.value.zh
    assert "同心县.toml" in zh and "第 1 个文件（卫生机构.xlsx）" in zh and "clinic" in zh
    assert "mars2000" in zh and "identifier" in zh
    with pytest.raises(LayerReadError, match="TOML"):
        Manifest.from_toml("files = [", source="x.toml")
    missing = Manifest(entries=(ManifestEntry("道路.shp", "roads"),))
    with pytest.raises(LayerReadError) as err:
        read_delivery(folder, missing)
    assert "道路.shp" in err.value.zh
    twice = Manifest(
        entries=(
            ManifestEntry("卫生机构.xlsx", "clinics"),
            ManifestEntry("便民设施.csv", "clinics"),
        )
    )
    with pytest.raises(LayerError, match="both"):
        read_delivery(folder, twice)


def test_load_applies_given_column_renames_before_the_aliases(folder):
    renames = {"安置区": "id", "行政村": "admin_village_code", "安置户": "households",
               "安置人": "population", "重点移": "key_site"}  # fmt: skip
    loaded = load(folder / "移民安置区.shp", layer="relocation_sites", columns=renames)
    assert loaded.ok, loaded.errors
    assert loaded.provenance.field_mapping["安置区"] == "id"
    assert loaded.provenance.field_mapping["名称"] == "name"  # the automatic alias still applies


def test_a_geopackage_in_a_delivery_is_proposed_layer_by_layer(tmp_path, demo_dataset):
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "tongxin.gpkg").write_bytes(fx.DEMO.read_bytes())
    scan = scan_delivery(folder)
    roles = {p.sublayer: p.role for p in scan.files}
    assert roles == {name: name for name in demo_dataset.layers}  # all 15, water included
    assert all(p.coords is None for p in scan.files)  # EPSG:4326 in the file, nothing to do
    ds = read_delivery(folder, scan.manifest()).dataset
    assert ds.problems == () and ds.content_hash == demo_dataset.content_hash


def test_the_water_models_crs_from_the_description_is_checked_against_its_values(tmp_path):
    folder = fx.build(tmp_path / "d")
    readme = folder / "数据说明.txt"
    readme.write_text(
        readme.read_text(encoding="utf-8").replace("坐标同道路", "坐标 EPSG:4544"), encoding="utf-8"
    )
    inp = scan_delivery(folder).proposal("供水管网.inp")
    assert inp.coords_hint.startswith("供水管网.inp")
    # the description says 4544 (no prefix) but the eastings carry zone 35: warned, 4523 proposed
    assert inp.coords == "EPSG:4523"
    assert inp.warnings_zh and "数值不符" in inp.warnings_zh[0]


def test_a_zipped_shapefile_in_a_subfolder_is_looked_into(tmp_path):
    import zipfile

    folder = fx.build(tmp_path / "d")
    sub = folder / "矢量"
    sub.mkdir()
    with zipfile.ZipFile(sub / "自然村.zip", "w") as zf:
        for part in sorted(folder.glob("自然村.*")):
            zf.write(part, part.name)
            part.unlink()
    scan = scan_delivery(folder)
    nv = scan.proposal("矢量/自然村.zip")
    assert (nv.role, nv.coords, nv.encoding) == ("natural_villages", "EPSG:4544", "GBK")
    ds = read_delivery(folder, scan.manifest()).dataset
    assert ds.ok and len(ds["natural_villages"]) == 670
    assert ds.provenance["natural_villages"]["member"] == "自然村.shp"


@pytest.mark.parametrize(
    ("stem", "layer"),
    [
        ("同心县自然村", "natural_villages"),
        ("tongxin_daolu", "roads"),
        ("乡镇卫生院", "clinics"),  # the longer name wins over 乡镇
        ("XiangZhen_2025", "townships"),
        ("移民安置点", "relocation_sites"),
        ("640324县界", "county"),
        ("bianmin_fuwu", "service_points"),
        ("admin_villages", "admin_villages"),
        ("学校", "public_facilities"),
        ("同心县中小学分布", "public_facilities"),
        ("农村互助幸福院", "public_facilities"),
        ("5G覆盖", "telecom_coverage"),
        ("千兆光纤覆盖范围", "telecom_coverage"),
        ("环卫设施", "env_facilities"),
        ("垃圾收集点2025", "env_facilities"),
        ("危房排查", "housing_survey"),
        ("农村危窑危房台账", "housing_survey"),
        ("weifang_2025", "housing_survey"),
    ],
)
def test_layer_names_in_chinese_pinyin_and_english(stem, layer):
    from layers.delivery import _name_scores

    assert list(_name_scores(stem)) == [layer]


def test_without_a_telling_name_the_fields_and_codes_decide(demo_dataset):
    import geopandas as gpd

    from layers.delivery import _propose_layer

    def frame(layer: str, names: dict[str, str]) -> gpd.GeoDataFrame:
        f = demo_dataset[layer]
        return gpd.GeoDataFrame(
            f.drop(columns="geometry").rename(columns=names), geometry=f.geometry
        )

    boundary = {"code": "XZQDM", "name": "XZQMC"}
    # the same XZQDM/XZQMC fields: the 6- or 9-digit codes tell county from townships
    for layer in ("county", "townships"):
        p = _propose_layer("2025新增.geojson", None, "GeoJSON", frame(layer, boundary), None, "", 1)
        assert p.role == layer, (layer, p.scores)
    p = _propose_layer("新建.xlsx", None, "Excel", frame("clinics", {}), None, "", 1)
    assert p.role == "clinics" and "必填字段 4/4" in p.reason_zh
    nothing = gpd.GeoDataFrame({"备注": ["x"]}, geometry=[None])
    assert _propose_layer("其他.csv", None, "CSV", nothing, None, "", 1).role == "ignore"


# ------------------------------------------------- issue 15: the new layers in a delivery

_SCHOOL_COLUMNS = {
    "id": "学校编号", "name": "学校名称", "kind": "学校类型",
    "admin_village_code": "所在行政村代码", "township_code": "所在乡镇代码",
    "boarding": "寄宿制", "serves_codes": "服务范围", "status": "状态", "source": "来源",
}  # fmt: skip
_HOUSING_COLUMNS = {
    "id": "房屋编号", "admin_village_code": "行政村代码", "village_id": "自然村编号",
    "kind": "危房类别", "households": "户数", "rectified": "是否改造", "source": "来源",
}  # fmt: skip
_ENV_COLUMNS = {"id": "设施编号", "name": "设施名称", "kind": "设施类别",
                "serves_codes": "服务行政村", "status": "状态", "source": "来源"}  # fmt: skip
_TELECOM_COLUMNS = {"id": "覆盖区编号", "kind": "网络类型", "operator": "运营商", "status": "状态",
                    "source": "来源"}  # fmt: skip


def _with_new_layers(folder: Path, demo) -> Path:
    """Add the issue-15 files, with Chinese file and column names, to a delivery folder."""
    import pyogrio

    def table(layer: str, names: dict[str, str]) -> pd.DataFrame:
        frame = demo[layer]
        out = pd.DataFrame(frame.drop(columns="geometry")).rename(columns=names)
        out["经度"] = [repr(float(v)) for v in frame.geometry.x]
        out["纬度"] = [repr(float(v)) for v in frame.geometry.y]
        return out

    schools = table("public_facilities", _SCHOOL_COLUMNS)
    schools["寄宿制"] = np.where(schools["寄宿制"], "是", "否")
    schools.to_excel(folder / "学校.xlsx", index=False)
    housing = table("housing_survey", _HOUSING_COLUMNS)
    housing["是否改造"] = np.where(housing["是否改造"], "已改造", "未改造")  # as ledgers write it
    housing.to_excel(folder / "危房排查.xlsx", index=False)
    table("env_facilities", _ENV_COLUMNS).to_csv(
        folder / "环卫设施.csv", index=False, encoding="utf-8"
    )
    cover = demo["telecom_coverage"].rename(columns=_TELECOM_COLUMNS)
    pyogrio.write_dataframe(cover, folder / "5G覆盖.geojson", driver="GeoJSON")
    return folder


NEW_FILES = {
    "学校.xlsx": "public_facilities",
    "危房排查.xlsx": "housing_survey",
    "环卫设施.csv": "env_facilities",
    "5G覆盖.geojson": "telecom_coverage",
}


def test_a_delivery_with_the_new_layers_in_chinese_is_recognised_and_read(tmp_path, demo_dataset):
    import pyogrio

    demo = {n: pyogrio.read_dataframe(fx.DEMO, layer=n) for n in NEW_FILES.values()}
    folder = _with_new_layers(fx.build(tmp_path / "同心县资料包"), demo)
    scan = scan_delivery(folder)
    got = {p.path: p.role for p in scan.files if p.path in NEW_FILES}
    assert got == NEW_FILES
    school = scan.proposal("学校.xlsx")
    mapped = {s.column: s.field for s in school.fields}
    assert mapped["学校类型"] == "kind" and mapped["寄宿制"] == "boarding"
    assert mapped["服务范围"] == "serves_codes" and school.missing_fields == ()
    assert scan.proposal("危房排查.xlsx").coords in (None, "wgs84")
    manifest = scan.manifest(county="同心县")
    assert "危房排查.xlsx" in manifest.to_toml()
    ds = read_delivery(folder, manifest).dataset
    errors = [p for p in ds.problems if p.severity is Severity.ERROR]
    assert errors == []
    for layer in NEW_FILES.values():
        got, want = ds[layer], demo_dataset[layer]
        pd.testing.assert_frame_equal(
            pd.DataFrame(got.drop(columns="geometry")),
            pd.DataFrame(want.drop(columns="geometry")),
            obj=layer,
        )
        dist = shapely.hausdorff_distance(
            got.to_crs(4544).geometry.to_numpy(), want.to_crs(4544).geometry.to_numpy()
        )
        assert np.nanmax(dist) <= 0.5, layer


def test_manifest_roles_and_fields_of_the_new_layers():
    from layers.manifest import ROLE_ZH, ROLES

    for layer, title in (
        ("public_facilities", "公共服务设施"),
        ("telecom_coverage", "通信覆盖"),
        ("env_facilities", "环卫设施"),
        ("housing_survey", "农村住房安全排查"),
    ):
        assert layer in ROLES and ROLE_ZH[layer] == title
    text = """version = 1
county = "同心县"
[[files]]
path = "危房排查.xlsx"
layer = "housing_survey"
coords = "gcj02"
[files.fields]
"户主编号" = "id"
"所在组" = "village_id"
"""
    manifest = Manifest.from_toml(text, source="同心县.toml")
    (entry,) = manifest.entries
    assert entry.layer == "housing_survey" and entry.fields == {
        "户主编号": "id",
        "所在组": "village_id",
    }
    assert Manifest.from_toml(manifest.to_toml()).entries == manifest.entries
    with pytest.raises(LayerError) as err:
        Manifest.from_toml(text.replace('"village_id"', '"doctors"'), source="同心县.toml")
    assert "doctors" in err.value.zh and "农村住房安全排查" in err.value.zh
