"""Named regressions for the crash and silent classes of issue 13 (layers as they come).

Each test builds one input of a class (from the tiny county or a demo sample, written into
``tmp_path``) and checks the located error, or the right value, GapMap now gives. The
corpus (``tests/test_corpus.py``) covers the same classes in every format.
"""

from __future__ import annotations

import dataclasses
import tempfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.assessment import assess
from geo.network import build_graph
from geo.roads import hard_road_access
from geo.settings import Settings
from layers import (
    ArchiveError,
    Dataset,
    LayerReadError,
    LayerValidationError,
    ProblemKind,
    Severity,
    load,
    read_dataset,
)
from layers.archive import extract_zip
from layers.schema import CORE_LAYERS
from tests import corpus
from tests.fixtures import tiny_county


@pytest.fixture(scope="module")
def tiny():
    return tiny_county.build()


def gpkg(frames, path, names=None):
    return corpus._write_gpkg(frames, path, names)


def errors(problems, kind=None):
    return [
        p
        for p in problems
        if p.severity is Severity.ERROR and (kind is None or p.kind is ProblemKind(kind))
    ]


def nv_sample(n=16, seed=1):
    return corpus.sample("natural_villages", np.random.default_rng(seed), n=n)


# ----------------------------------------------------------------------------- crashes


@pytest.mark.parametrize("how", ["missing", "empty"])
def test_absent_or_empty_service_points_give_no_data_not_a_crash(tmp_path, tiny, how):
    frames = dict(tiny)
    if how == "missing":
        del frames["service_points"]
    else:
        frames["service_points"] = tiny["service_points"].iloc[0:0]
    dataset = read_dataset(gpkg(frames, tmp_path / "c.gpkg")).raise_if_errors()
    result = assess(dataset, Settings())
    assert result.services.no_data
    row = result.rollup.county.set_index("indicator").loc["移民安置区一刻钟便民生活服务圈达标率"]
    assert np.isnan(row["value"]) and pd.isna(row["met"]) and row["status"] == "无数据"
    assert result.rollup.admin_villages["sv_not_ok"].sum() == 0  # not counted as problems


@pytest.mark.parametrize("layer", ["townships", "admin_villages", "county"])
def test_boundary_layer_without_code_is_a_located_error(tmp_path, tiny, layer):
    frames = dict(tiny) | {layer: tiny[layer].drop(columns="code")}
    dataset = read_dataset(gpkg(frames, tmp_path / "c.gpkg"))
    (p,) = errors(dataset.problems, "missing_field")
    assert (p.file, p.layer, p.field) == ("c.gpkg", layer, "code")


@pytest.mark.parametrize("layer", CORE_LAYERS)
def test_missing_core_layer_is_a_located_error_not_a_key_error(tmp_path, tiny, layer):
    frames = {k: v for k, v in tiny.items() if k != layer}
    dataset = read_dataset(gpkg(frames, tmp_path / "c.gpkg"))
    (p,) = errors(dataset.problems, "missing_layer")
    assert (p.file, p.layer) == ("c.gpkg", layer) and p.message_zh and p.fix_zh
    with pytest.raises(LayerValidationError):
        dataset.raise_if_errors()


def test_missing_core_layer_of_frames_is_caught_before_analysis(tiny):
    dataset = Dataset.from_frames({k: v for k, v in tiny.items() if k != "roads"})
    assert dataset.ok  # a partial dataset is fine for what needs only part of it ...
    with pytest.raises(LayerValidationError) as info:  # ... but not for a county analysis
        dataset.raise_if_errors()
    assert [p.layer for p in info.value.problems if p.kind is ProblemKind.MISSING_LAYER] == [
        "roads"
    ]
    Dataset.from_frames({"roads": tiny["roads"]}).raise_if_errors(required=("roads",))


def test_chinese_layer_names_are_read(tmp_path, tiny):
    names = {
        "natural_villages": "自然村",
        "roads": "道路",
        "clinics": "医疗机构",
        "county": "同心县县界",
    }
    dataset = read_dataset(gpkg(tiny, tmp_path / "c.gpkg", names)).raise_if_errors()
    assert set(dataset.layers) == set(tiny)
    assert dataset.provenance["roads"]["sublayer"] == "道路"
    assert len(dataset["natural_villages"]) == len(tiny["natural_villages"])


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_duplicated_column_name_is_a_located_error(tmp_path, fmt):
    table = corpus._table(nv_sample())
    table.columns = [*table.columns[:3], "name", *table.columns[4:]]  # households → name
    path = tmp_path / f"自然村.{fmt}"
    table.to_csv(path, index=False) if fmt == "csv" else table.to_excel(path, index=False)
    loaded = load(path, layer="natural_villages")
    (p,) = errors(loaded.problems, "duplicate_field")
    assert (p.file, p.field) == (path.name, "name") and "2 列" in p.message_zh


def _zip(path, members):
    return corpus._zip_members(path, members)


CSV = b"id,name\n1,a\n"


@pytest.mark.parametrize(
    ("name", "members"),
    [
        ("deep", [("/".join(["d"] * 2000) + "/x.csv", CSV)]),
        ("long", [("x" * 300 + ".csv", CSV)]),
        ("file-and-folder", [("data", b"x"), ("data/x.csv", CSV)]),
        ("duplicate", [("x.csv", CSV), ("x.csv", CSV)]),
        ("duplicate-case", [("x.csv", CSV), ("X.CSV", CSV)]),
        ("small-bombs", [(f"{i}.bin", bytes(1024 * 1024 - 1)) for i in range(30)]),
    ],
)
def test_unsafe_zip_is_an_archive_error_and_leaves_nothing(tmp_path, monkeypatch, name, members):
    archive = _zip(tmp_path / "up.zip", members)
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    with pytest.raises(ArchiveError) as info:
        load(archive, layer="natural_villages")
    assert "up.zip" in str(info.value) and "up.zip" in info.value.zh
    assert list(temp.iterdir()) == []
    with pytest.raises(ArchiveError):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_empty_roads_layer_is_a_located_error(tmp_path, tiny):
    frames = dict(tiny) | {"roads": tiny["roads"].iloc[0:0]}
    dataset = read_dataset(gpkg(frames, tmp_path / "c.gpkg"))
    (p,) = errors(dataset.problems, "empty_layer")
    assert (p.file, p.layer) == ("c.gpkg", "roads")


def test_coordinates_outside_china_are_located_errors(tmp_path, tiny):
    far = {k: v.set_geometry(v.geometry.translate(-100.0, 0.0)) for k, v in tiny.items()}
    dataset = read_dataset(gpkg(far, tmp_path / "c.gpkg"))
    found = errors(dataset.problems, "outside_china")
    assert {p.layer for p in found} == set(tiny)
    assert all(p.row is not None and p.file == "c.gpkg" for p in found)
    with pytest.raises(LayerValidationError):  # the CLI stops here, with exit code 2
        dataset.raise_if_errors()


# ------------------------------------------------------------------------------ silent


@pytest.mark.parametrize("layer", ["clinics", "natural_villages", "townships", "admin_villages"])
def test_empty_core_layer_is_an_error_not_analysed(tmp_path, tiny, layer):
    frames = dict(tiny) | {layer: tiny[layer].iloc[0:0]}
    dataset = read_dataset(gpkg(frames, tmp_path / "c.gpkg"))
    assert [p.layer for p in errors(dataset.problems, "empty_layer")] == [layer]


def test_dataset_without_county_layer_is_an_error(tmp_path, tiny):
    frames = {k: v for k, v in tiny.items() if k != "county"}
    dataset = read_dataset(gpkg(frames, tmp_path / "c.gpkg"))
    assert [p.layer for p in errors(dataset.problems, "missing_layer")] == ["county"]


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity", "1e999"])
def test_inf_in_an_integer_field_is_an_error(tmp_path, value):
    frame = corpus._set(nv_sample(), "households", 3, value)
    path = corpus.write(frame, "csv", tmp_path, "自然村")
    loaded = load(path, layer="natural_villages")
    (p,) = errors(loaded.problems, "wrong_type")
    assert (p.row, p.field) == (4, "households")
    assert loaded.frame["households"].min() > -(2**62)  # no −9223372036854775808


@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "csv"])
def test_latitude_over_90_is_an_error(tmp_path, fmt):
    frame = corpus._move(
        nv_sample(), np.array([2]), lambda c: np.column_stack([c[:, 0], c[:, 1] * 0 + 97])
    )
    loaded = load(corpus.write(frame, fmt, tmp_path, "自然村"), layer="natural_villages")
    (p,) = errors(loaded.problems, "coordinate_range")
    assert p.row == 3 and "97" in (p.value or "")


def test_damaged_xlsx_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "自然村.xlsx"
    corpus._table(corpus.demo_layer("natural_villages")).to_excel(path, index=False)
    corpus._damage_xlsx(path, seed=0)
    with pytest.raises(LayerReadError) as info:
        load(path, layer="natural_villages")
    assert path.name in str(info.value) and "损坏" in info.value.zh


def test_csv_with_one_stray_quote_is_an_error_at_its_row(tmp_path):
    table = corpus._table(corpus.demo_layer("natural_villages"))
    table.loc[99, "name"] = '"' + table.loc[99, "name"]
    path = tmp_path / "自然村.csv"
    path.write_text(table.to_csv(index=False, quoting=3), encoding="utf-8")
    loaded = load(path, layer="natural_villages")
    (p,) = errors(loaded.problems, "malformed_row")
    assert (p.row, p.field) == (100, "name") and "670" in p.message_zh


@pytest.mark.parametrize(("written", "cpg"), [("UTF-8", "936"), ("GBK", "UTF-8")])
def test_lying_cpg_does_not_give_mojibake(tmp_path, written, cpg):
    frame = nv_sample()
    path = corpus.write_shp(frame, tmp_path / "自然村.shp", encoding=written, cpg=cpg)
    loaded = load(path, layer="natural_villages")
    assert errors(loaded.problems) == []
    assert sorted(loaded.frame["name"]) == sorted(frame["name"])
    assert loaded.provenance.encoding == written
    (w,) = [p for p in loaded.problems if p.kind is ProblemKind.ENCODING]
    assert w.severity is Severity.WARNING and ".cpg" in w.message_zh and written in w.message_zh


def test_mixed_encodings_are_located_errors(tmp_path):
    frame = nv_sample()
    path = corpus.write_shp(frame, tmp_path / "自然村.shp", encoding="GBK", cpg=None)
    corpus._recode_dbf_record(path.with_suffix(".dbf"), 5, "gbk", "utf-8")
    loaded = load(path, layer="natural_villages")
    (p,) = errors(loaded.problems, "encoding")
    assert (p.row, p.file) == (6, path.name)


def test_households_greater_than_population_is_an_error(tmp_path, tiny):
    nv = tiny["natural_villages"].copy()
    nv.loc[4, "households"] = nv.loc[4, "population"] + 1
    dataset = read_dataset(gpkg(dict(tiny) | {"natural_villages": nv}, tmp_path / "c.gpkg"))
    (p,) = errors(dataset.problems, "inconsistent_values")
    assert (p.layer, p.row, p.field, p.feature_id) == ("natural_villages", 5, "households", "NV05")


@pytest.mark.parametrize("fmt", ["kml", "kmz"])
def test_kml_without_ids_is_an_error_not_positional_ids(tmp_path, fmt):
    frame = nv_sample().drop(columns="id")
    loaded = load(corpus.write(frame, fmt, tmp_path, "自然村"), layer="natural_villages")
    (p,) = errors(loaded.problems, "missing_field")
    assert p.field == "id"
    assert "id" not in loaded.frame or not loaded.frame["id"].str.contains(r"\.\d+$").any()


# --------------------------------------------------------------------------- unhelpful


def test_dataset_pass_problems_name_the_file_and_are_listed_once(tmp_path, tiny):
    """A layer replaced from an upload, as the app does: every problem once, with its file."""
    base = read_dataset(gpkg(tiny, tmp_path / "c.gpkg"))
    nv = tiny["natural_villages"].astype({"admin_village_code": object, "households": object})
    nv.loc[1, "admin_village_code"] = "640399999999"
    nv.loc[3, "households"] = "很多"
    loaded = load(corpus.write(nv, "csv", tmp_path, "自然村"), layer="natural_villages")
    new = base.replace_layers(natural_villages=loaded.frame)
    merged = Dataset(layers=new.layers, problems=(*loaded.problems, *new.problems))
    assert all(p.file == "自然村.csv" for p in merged.errors)
    kinds = sorted((str(p.kind), p.row) for p in merged.errors)
    assert kinds == [("unknown_code", 2), ("wrong_type", 4)]


@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "csv", "shp"])
def test_fully_swapped_lonlat_is_reported_as_swapped(tmp_path, fmt):
    frame = nv_sample()
    frame = corpus._move(frame, np.arange(len(frame)), lambda c: c[:, ::-1])
    loaded = load(corpus.write(frame, fmt, tmp_path, "自然村"), layer="natural_villages")
    found = errors(loaded.problems, "swapped_lonlat")
    assert len(found) == len(frame) and "经纬度" in found[0].message_zh
    assert errors(loaded.problems, "crs_missing") == []


@pytest.mark.parametrize("fmt", ["kml", "kmz"])
def test_kml_name_column_is_used_when_name_is_empty(tmp_path, fmt):
    frame = nv_sample().rename(columns={"name": "名称"})
    loaded = load(corpus.write(frame, fmt, tmp_path, "自然村"), layer="natural_villages")
    assert errors(loaded.problems) == []
    assert sorted(loaded.frame["name"]) == sorted(frame["名称"])


# ---------------------------------------------------------------------------- refused


@pytest.mark.parametrize("encoding", ["UTF-8", "GBK"])
@pytest.mark.parametrize(
    ("layer", "columns"),
    [
        ("natural_villages", {}),  # admin_village_code → admin_vill, relocation_planned → ...
        ("roads", {"road_class": "道路等级", "surface": "路面类型", "width_m": "路面宽度(米)"}),
        ("natural_villages", {"admin_village_code": "所属行政村代码", "households": "常住户数"}),
    ],
)
def test_shapefile_field_names_cut_to_10_bytes_are_mapped(tmp_path, encoding, layer, columns):
    frame = corpus.sample(layer, np.random.default_rng(3)).rename(columns=columns)
    path = corpus.write_shp(frame, tmp_path / f"{layer}.shp", encoding=encoding)
    loaded = load(path, layer=layer)
    assert errors(loaded.problems) == []
    cut = [k for k in loaded.provenance.field_mapping if k not in columns.values()]
    assert cut and all(len(k.encode(encoding)) <= 10 for k in cut)  # e.g. admin_vill, 道路等
    for field in columns or {"admin_village_code": 0}:
        assert field in loaded.frame and loaded.frame[field].notna().all()


# ------------------------------------------------------------------------- trunk roads


def test_trunk_of_unknown_surface_counts_as_hard_and_is_flagged(tiny):
    roads = tiny["roads"].copy()
    roads.loc[roads["road_class"] == "县道", "surface"] = "未知"  # the trunk, untagged (OSM)
    dataset = Dataset.from_frames(dict(tiny) | {"roads": roads})
    graph = build_graph(dataset["roads"], node_tolerance_m=0.01)
    on = Settings()
    off = dataclasses.replace(
        on, hard_road=dataclasses.replace(on.hard_road, trunk_unknown_surface_hard=False)
    )
    known = hard_road_access(Dataset.from_frames(tiny), graph_of(tiny), on).villages
    assumed = hard_road_access(dataset, graph, on).villages
    strict = hard_road_access(dataset, graph, off).villages
    # with the setting on, the same villages connect as with the trunk tagged asphalt ...
    assert assumed["connected"].tolist() == known["connected"].tolist()
    # ... flagged 路面待核实; with it off, none reaches a hard trunk
    assert (assumed.loc[assumed["connected"], "reason"] == "unverified_surface").all()
    assert assumed.loc[assumed["connected"], "surface_unverified"].all()
    assert not known["surface_unverified"].any()
    assert not strict["connected"].any()


def graph_of(frames):
    return build_graph(Dataset.from_frames(frames)["roads"], node_tolerance_m=0.01)


def test_households_check_ignores_missing_values():
    frame = gpd.GeoDataFrame(
        {
            "id": ["a", "b"],
            "name": ["x", "y"],
            "admin_village_code": ["640324100201"] * 2,
            "households": [30, None],
            "population": [None, 5],
        },
        geometry=[shapely.Point(105.9, 36.9)] * 2,
        crs=4326,
    )
    problems = Dataset.from_frames({"natural_villages": frame}).problems
    assert not [p for p in problems if p.kind is ProblemKind.INCONSISTENT_VALUES]
    assert pd.api.types.is_integer_dtype(
        Dataset.from_frames({"natural_villages": frame})["natural_villages"]["households"]
    )


@pytest.mark.parametrize("case", ["empty-roads", "outside-china", "missing-clinics", "自然村"])
def test_cli_stops_with_a_located_message_not_a_traceback(tmp_path, tiny, capsys, case):
    from scripts.analyze import main

    frames = dict(tiny)
    names = None
    if case == "empty-roads":
        frames["roads"] = tiny["roads"].iloc[0:0]
    elif case == "outside-china":
        frames = {k: v.set_geometry(v.geometry.translate(-100.0, 0.0)) for k, v in tiny.items()}
    elif case == "missing-clinics":
        del frames["clinics"]
    else:  # Chinese layer names and a dataset that misses its natural villages' admin codes
        names = {"natural_villages": "自然村", "roads": "道路", "clinics": "医疗机构"}
        nv = tiny["natural_villages"].drop(columns="admin_village_code")
        frames["natural_villages"] = nv
    path = gpkg(frames, tmp_path / "县.gpkg", names)
    assert main(["--data", str(path), "--out", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "县.gpkg" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_replacing_a_core_layer_by_an_empty_one_is_an_error(tmp_path, tiny):
    base = read_dataset(gpkg(tiny, tmp_path / "c.gpkg"))
    empty = corpus.write(tiny["clinics"].iloc[0:0], "gpkg", tmp_path, "医疗机构")
    loaded = load(empty, layer="clinics")
    new = base.replace_layers(clinics=loaded.frame)
    (p,) = errors(new.problems, "empty_layer")
    assert (p.layer, p.file) == ("clinics", "医疗机构.gpkg")
