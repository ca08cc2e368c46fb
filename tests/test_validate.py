"""Validation: every problem kind, located to row and field, all reported together."""

from __future__ import annotations

import hashlib

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from layers import LayerValidationError, ProblemKind, Severity, normalise_layer, validate_dataset
from layers.fields import column_mapping, fold_name
from layers.schema import LAYERS, get_schema

TX, TY = 105.91, 36.98  # inside 同心县


def nv(**overrides):
    """A valid natural_villages frame of three rows; overrides replace whole columns."""
    data = {
        "id": ["NV1", "NV2", "NV3"],
        "name": ["马家庄", "李家湾", "王家沟"],
        "admin_village_code": ["640324100201"] * 3,
        "households": [25, 40, 12],
        "population": [100, 150, 45],
    }
    geometry = overrides.pop("geometry", [shapely.Point(TX + i * 0.01, TY) for i in range(3)])
    crs = overrides.pop("crs", 4326)
    data.update(overrides)
    return gpd.GeoDataFrame(data, geometry=geometry, crs=crs)


def kinds(problems):
    return {p.kind for p in problems}


def test_valid_layer_has_no_problems_and_is_typed():
    frame, problems = normalise_layer(nv(), "natural_villages", file="nv.gpkg")
    assert problems == []
    assert frame["households"].dtype == np.int64
    assert frame["relocation_planned"].tolist() == [False] * 3  # optional default
    assert frame["storeys"].tolist() == [1, 1, 1]
    assert list(frame.columns[:5]) == [
        "id",
        "name",
        "admin_village_code",
        "households",
        "population",
    ]


def test_input_frame_is_not_modified():
    raw = nv(户数=["25", "x", "3"]).drop(columns="households")
    before = raw.copy()
    normalise_layer(raw, "natural_villages")
    assert raw.equals(before)
    assert list(raw.columns) == list(before.columns)


# One bad frame per problem kind: (layer, frame, expected row, expected field).
CASES = {
    ProblemKind.MISSING_FIELD: (
        "natural_villages",
        lambda: nv().drop(columns="households"),
        None,
        "households",
    ),
    ProblemKind.MISSING_VALUE: ("natural_villages", lambda: nv(name=["a", None, "c"]), 2, "name"),
    ProblemKind.WRONG_TYPE: (
        "natural_villages",
        lambda: nv(households=[25, "二十", 12]),
        2,
        "households",
    ),
    ProblemKind.VALUE_NOT_ALLOWED: (
        "roads",
        lambda: gpd.GeoDataFrame(
            {
                "id": ["R1", "R2"],
                "road_class": ["村道", "村道"],
                "surface": ["水泥", "玻璃"],
                "width_m": [4.5, 4.5],
            },
            geometry=[shapely.LineString([(TX, TY), (TX + 0.01, TY)])] * 2,
            crs=4326,
        ),
        2,
        "surface",
    ),
    ProblemKind.OUT_OF_RANGE: (
        "natural_villages",
        lambda: nv(population=[100, -5, 45]),
        2,
        "population",
    ),
    ProblemKind.BAD_PATTERN: (
        "natural_villages",
        lambda: nv(admin_village_code=["640324100201", "6403241002", "640324100201"]),
        2,
        "admin_village_code",
    ),
    # both rows that share the id are reported; the first is row 2
    ProblemKind.DUPLICATE_ID: ("natural_villages", lambda: nv(id=["NV1", "NV2", "NV2"]), 2, "id"),
    ProblemKind.EMPTY_GEOMETRY: (
        "natural_villages",
        lambda: nv(geometry=[shapely.Point(TX, TY), None, shapely.Point()]),
        2,
        None,
    ),
    ProblemKind.INVALID_GEOMETRY: (
        "townships",
        lambda: gpd.GeoDataFrame(
            {"code": ["640324100"], "name": ["豫海镇"]},
            geometry=[
                shapely.Polygon([(TX, TY), (TX + 0.1, TY + 0.1), (TX + 0.1, TY), (TX, TY + 0.1)])
            ],
            crs=4326,
        ),  # a bow-tie
        1,
        None,
    ),
    ProblemKind.WRONG_GEOMETRY_TYPE: (
        "natural_villages",
        lambda: nv(
            geometry=[
                shapely.Point(TX, TY),
                shapely.LineString([(TX, TY), (TX, 37)]),
                shapely.Point(TX, TY),
            ]
        ),
        2,
        None,
    ),
    ProblemKind.SWAPPED_LONLAT: (
        "natural_villages",
        lambda: nv(geometry=[shapely.Point(TX, TY), shapely.Point(TY, TX), shapely.Point(TX, TY)]),
        2,
        None,
    ),
    ProblemKind.WRONG_HEMISPHERE: (
        "natural_villages",
        lambda: nv(geometry=[shapely.Point(TX, TY), shapely.Point(-TX, TY), shapely.Point(TX, TY)]),
        2,
        None,
    ),
    ProblemKind.CRS_MISSING: ("natural_villages", lambda: nv(crs=None), None, None),
    ProblemKind.UNKNOWN_FIELD: ("natural_villages", lambda: nv(备注=["", "", ""]), None, "备注"),
    ProblemKind.COORDINATE_RANGE: (
        "natural_villages",
        lambda: nv(
            geometry=[shapely.Point(TX, TY), shapely.Point(TX, 97.0), shapely.Point(TX, TY)]
        ),
        2,
        None,
    ),
    ProblemKind.INCONSISTENT_VALUES: (
        "natural_villages",
        lambda: nv(households=[25, 151, 12]),
        2,
        "households",
    ),
    ProblemKind.DUPLICATE_FIELD: (
        "natural_villages",
        lambda: gpd.GeoDataFrame(
            pd.concat([nv().drop(columns="geometry"), nv()[["name"]]], axis=1),
            geometry=nv().geometry,
        ),
        None,
        "name",
    ),
}
DATASET_KINDS = {ProblemKind.OUTSIDE_COUNTY, ProblemKind.UNKNOWN_CODE}
# analysis_problems (tests/test_malformed.py) and reader kinds (tests/test_read.py, the corpus)
OTHER_KINDS = {
    ProblemKind.MISSING_LAYER,
    ProblemKind.EMPTY_LAYER,
    ProblemKind.OUTSIDE_CHINA,
    ProblemKind.MALFORMED_ROW,
    ProblemKind.ENCODING,
}


def test_every_problem_kind_has_a_case():
    assert set(CASES) | DATASET_KINDS | OTHER_KINDS == set(ProblemKind)


@pytest.mark.parametrize("kind", list(CASES), ids=str)
def test_problem_kind_is_reported_at_its_row_and_field(kind):
    layer, make, row, field = CASES[kind]
    _, problems = normalise_layer(make(), layer, file="bad.gpkg")
    found = [p for p in problems if p.kind is kind]
    assert found, f"{kind} not reported; got {[str(p) for p in problems]}"
    p = found[0]
    assert (p.row, p.field, p.file, p.layer) == (row, field, "bad.gpkg", layer)
    assert p.message_zh and p.fix_zh and p.message
    # a case is about its own kind: nothing else is wrong except this one problem
    others = {q.kind for q in problems} - {kind}
    assert others <= {ProblemKind.MISSING_VALUE, ProblemKind.EMPTY_GEOMETRY}, others


def test_unknown_field_is_a_warning_and_kept():
    frame, problems = normalise_layer(nv(备注=["a", "b", "c"]), "natural_villages")
    assert [p.severity for p in problems] == [Severity.WARNING]
    assert frame["备注"].tolist() == ["a", "b", "c"]
    LayerValidationError.raise_if_errors(problems)  # warnings alone do not raise


def test_chinese_and_pinyin_columns_and_value_synonyms_are_mapped():
    raw = gpd.GeoDataFrame(
        {
            "BSM": ["R1", "R2", "R3"],
            "行政等级": ["X", "通村路", "乡道"],
            "路面类型": ["沥青混凝土", "砼", "砂石路"],
            "路面宽度（米）": ["7.5", 4.5, 3],
            "状态": ["现状", "拟建", None],
        },
        geometry=[shapely.LineString([(TX, TY), (TX + 0.01, TY)])] * 3,
        crs=4326,
    )
    frame, problems = normalise_layer(raw, "roads")
    assert problems == []
    assert frame["road_class"].tolist() == ["县道", "村道", "乡道"]
    assert frame["surface"].tolist() == ["沥青", "水泥", "砂石"]
    assert frame["width_m"].tolist() == [7.5, 4.5, 3.0]
    assert frame["status"].tolist() == ["现状", "规划", "现状"]
    assert frame.attrs["column_renames"]["路面类型"] == "surface"


def test_codes_read_as_numbers_keep_their_digits():
    frame, problems = normalise_layer(
        nv(admin_village_code=[640324100201.0, 640324100201, "640324100201"]), "natural_villages"
    )
    assert problems == []
    assert set(frame["admin_village_code"]) == {"640324100201"}


def test_xzqdm_maps_to_code_for_boundaries():
    mapping = column_mapping(["XZQDM", "XZQMC", "Shape_Area"], get_schema("townships"))
    assert mapping == {"XZQDM": "code", "XZQMC": "name"}
    assert fold_name(" 人口（人） ") == "人口"


def test_every_schema_field_has_a_chinese_title_and_id_is_declared():
    for schema in LAYERS.values():
        assert schema.id_field in schema.field_names
        for f in schema.fields:
            assert f.title_zh
            for target in f.value_aliases.values():
                assert f.allowed and target in f.allowed, (schema.name, f.name, target)


def _county():
    return gpd.GeoDataFrame(
        {"code": ["640324"], "name": ["同心县"]},
        geometry=[shapely.box(TX - 0.2, TY - 0.2, TX + 0.2, TY + 0.2)],
        crs=4326,
    )


def test_dataset_unknown_codes_and_points_outside_county():
    townships = gpd.GeoDataFrame(
        {"code": ["640324100"], "name": ["豫海镇"]},
        geometry=[shapely.box(TX - 0.2, TY - 0.2, TX + 0.2, TY + 0.2)],
        crs=4326,
    )
    admin = gpd.GeoDataFrame(
        {
            "code": ["640324100201", "640324101202"],
            "name": ["A", "B"],
            "township_code": ["640324100", "640324999"],
            "village_class": ["集聚提升"] * 2,
            "population": [500, 600],
        },
        geometry=[shapely.Point(TX, TY)] * 2,
        crs=4326,
    )
    villages = nv(
        admin_village_code=["640324100201", "640324100299", "640324100201"],
        # 0.2° + 0.01 east of the box edge is ~ 1 km outside; 0.2001 is ~ 9 m outside (kept)
        geometry=[
            shapely.Point(TX, TY),
            shapely.Point(TX + 0.2001, TY),
            shapely.Point(TX + 0.21, TY),
        ],
    )
    frames = {
        "county": _county(),
        "townships": townships,
        "admin_villages": admin,
        "natural_villages": villages,
    }
    norm = {k: normalise_layer(v, k)[0] for k, v in frames.items()}
    problems = validate_dataset(norm, files={"natural_villages": "nv.shp"})
    got = {(p.layer, p.kind, p.row, p.field, p.severity) for p in problems}
    assert got == {
        ("natural_villages", ProblemKind.UNKNOWN_CODE, 2, "admin_village_code", Severity.ERROR),
        ("natural_villages", ProblemKind.OUTSIDE_COUNTY, 3, None, Severity.ERROR),
        ("admin_villages", ProblemKind.UNKNOWN_CODE, 2, "township_code", Severity.ERROR),
        ("admin_villages", ProblemKind.UNKNOWN_CODE, 2, "township_code", Severity.WARNING),
    }
    outside = next(p for p in problems if p.kind is ProblemKind.OUTSIDE_COUNTY)
    assert outside.file == "nv.shp" and outside.feature_id == "NV3"
    assert outside.value == "0.7 km"  # 0.01° of longitude at 37°N ≈ 0.89 km, minus 200 m


def test_many_problems_in_one_layer_are_all_reported():
    n = 50
    frame = nv(
        id=[f"NV{i % 10}" for i in range(n)],
        name=["x"] * n,
        admin_village_code=["640324100201"] * n,
        households=["abc"] * n,
        population=[1] * n,
        geometry=[shapely.Point(TX, TY)] * n,
    )
    _, problems = normalise_layer(frame, "natural_villages")
    assert sum(p.kind is ProblemKind.WRONG_TYPE for p in problems) == n
    assert sum(p.kind is ProblemKind.DUPLICATE_ID for p in problems) == n
    err = LayerValidationError(problems)
    assert "100 validation error(s)" in str(err)
    assert err.zh.startswith("发现 100 个数据问题")


# ------------------------------------------------- issue 15: the new layers across layers


def _small_county():
    """County, one township, two admin villages and three natural villages (normalised)."""
    townships = gpd.GeoDataFrame(
        {"code": ["640324100"], "name": ["豫海镇"]},
        geometry=[shapely.box(TX - 0.2, TY - 0.2, TX + 0.2, TY + 0.2)],
        crs=4326,
    )
    admin = gpd.GeoDataFrame(
        {
            "code": ["640324100201", "640324100202"],
            "name": ["A", "B"],
            "township_code": ["640324100"] * 2,
            "village_class": ["集聚提升"] * 2,
            "population": [500, 600],
        },
        geometry=[shapely.Point(TX, TY), shapely.Point(TX + 0.02, TY)],
        crs=4326,
    )
    villages = nv(admin_village_code=["640324100201", "640324100201", "640324100202"])
    return {"county": _county(), "townships": townships, "admin_villages": admin,
            "natural_villages": villages}  # fmt: skip


def test_new_layers_unknown_codes_and_ids_are_located_errors():
    pub = gpd.GeoDataFrame(
        {
            "id": ["G1", "G2", "G3", "G4"],
            "name": ["A小学", "中心小学", "幼儿园", "文化室"],
            "kind": ["小学", "小学", "幼儿园", "文化室"],
            "admin_village_code": ["640324100201", "640324100299", "", "640324100202"],
            "township_code": ["640324100", "640324100", "640324999", "640324101"],
            "boarding": ["否", "是", "", ""],
            "serves_codes": ["", "640324100201；640324100288,640324100202", "", ""],
        },
        geometry=[shapely.Point(TX, TY)] * 3 + [shapely.Point(TX + 0.3, TY)],
        crs=4326,
    )
    env = gpd.GeoDataFrame(
        {
            "id": ["H1", "H2"],
            "name": ["污水站", "收集点"],
            "kind": ["污水处理站", "垃圾池"],
            "serves_codes": ["640324100201;640324100277", ""],
        },
        geometry=[shapely.Point(TX, TY)] * 2,
        crs=4326,
    )
    housing = gpd.GeoDataFrame(
        {
            "id": ["W1", "W2", "W3", "W4"],
            "admin_village_code": ["640324100201", "640324100266", "640324100202", "640324100201"],
            "village_id": ["NV1", "NV1", "NV1", "NVX"],
            "kind": ["危房", "危窑洞", "危房", "危房"],
            "rectified": ["是", "否", "否", ""],
        },
        geometry=[shapely.Point(TX, TY)] * 4,
        crs=4326,
    )
    far = shapely.box(TX + 1, TY, TX + 1.1, TY + 0.1)  # 0.8° east of the county box
    tele = gpd.GeoDataFrame(
        {"id": ["5G-1", "5G-2"], "kind": ["5G网络", "5G"]},
        geometry=[shapely.box(TX, TY, TX + 0.05, TY + 0.05), far],
        crs=4326,
    )
    frames = {**_small_county(), "public_facilities": pub, "telecom_coverage": tele,
              "env_facilities": env, "housing_survey": housing}  # fmt: skip
    norm = {}
    for k, v in frames.items():
        norm[k], own = normalise_layer(v, k)
        assert [p for p in own if p.severity is Severity.ERROR] == [], k
    files = {k: f"{k}.shp" for k in frames}
    problems = validate_dataset(norm, files=files)
    got = {(p.layer, p.kind, p.row, p.field, p.severity, p.value) for p in problems}
    err, warn = Severity.ERROR, Severity.WARNING
    code, out, odd = (
        ProblemKind.UNKNOWN_CODE,
        ProblemKind.OUTSIDE_COUNTY,
        ProblemKind.INCONSISTENT_VALUES,
    )
    assert got == {
        ("public_facilities", code, 2, "admin_village_code", err, "640324100299"),
        ("public_facilities", code, 2, "serves_codes", err, "640324100288"),
        ("public_facilities", code, 3, "township_code", err, "640324999"),
        ("public_facilities", code, 4, "township_code", err, "640324101"),
        ("public_facilities", code, 4, "township_code", warn, "640324101"),  # 202 is in 100
        ("public_facilities", out, 4, None, err, "8.7 km"),
        ("env_facilities", code, 1, "serves_codes", err, "640324100277"),
        ("housing_survey", code, 2, "admin_village_code", err, "640324100266"),
        ("housing_survey", code, 4, "village_id", err, "NVX"),
        ("housing_survey", odd, 2, "village_id", warn, "NV1 → 640324100201"),
        ("housing_survey", odd, 3, "village_id", warn, "NV1 → 640324100201"),
        ("telecom_coverage", out, 2, None, err, "71.0 km"),
    }
    # every problem is located and says how to fix it, in Chinese
    for p in problems:
        assert p.file == f"{p.layer}.shp" and p.feature_id and p.message_zh and p.fix_zh
    serves = next(
        p for p in problems if p.field == "serves_codes" and p.layer == "public_facilities"
    )
    assert serves.feature_id == "G2" and "分号分隔" in serves.fix_zh
    vid = next(p for p in problems if p.field == "village_id" and p.severity is err)
    assert "自然村编号" in vid.fix_zh and vid.feature_id == "W4"


def test_new_layers_normalise_aliases_and_nullable_attributes():
    pub, problems = normalise_layer(
        gpd.GeoDataFrame(
            {"编号": ["G1"], "名称": ["韦州中学"], "类型": ["初级中学"], "寄宿制": ["是"]},
            geometry=[shapely.Point(TX, TY)],
            crs=4326,
        ),
        "public_facilities",
    )
    assert problems == []
    assert pub.loc[0, "kind"] == "初中" and bool(pub.loc[0, "boarding"]) is True
    av, problems = normalise_layer(
        gpd.GeoDataFrame(
            {"code": ["640324100201", "640324100202"], "name": ["A", "B"],
             "township_code": ["640324100"] * 2, "village_class": ["集聚提升"] * 2,
             "population": [500, 600], "通5G": ["是", ""], "卫生厕所户数": [120, None]},
            geometry=[shapely.Point(TX, TY)] * 2,
            crs=4326,
        ),
        "admin_villages",
    )  # fmt: skip
    assert problems == []
    assert av["has_5g"].tolist()[0] is True and av["has_5g"].isna().tolist() == [False, True]
    assert av["toilet_households"].isna().tolist() == [False, True]
    assert av["sewage_treated"].isna().all()  # absent column: 无数据, not 否


def test_absent_optional_columns_equal_all_empty_columns():
    """The shortcut for an absent optional column (one empty value coerced, repeated)
    equals coercing an all-empty column value by value, for every optional field."""
    from layers.validate import _absent_column, _LayerChecker

    index = pd.RangeIndex(5, 9)
    for layer in LAYERS:
        schema = get_schema(layer)
        checker = _LayerChecker(pd.DataFrame(index=index), schema, "")
        for f in schema.fields:
            if f.required:
                continue
            for _ in range(2):  # computed, then from the memo
                fast = _absent_column(checker, f, index)
                slow = _LayerChecker(pd.DataFrame(index=index), schema, "").coerce(
                    f, pd.Series([None] * len(index), index=index, dtype=object)
                )
                pd.testing.assert_series_equal(fast, slow)
        assert checker.problems == []


def test_pattern_and_allowed_on_distinct_values_match_pandas():
    """The plain-Python matching of distinct values gives pandas' str answers."""
    from layers.validate import _fullmatch

    values = np.array(["640324100201", " 64032410020", "6403241002011", "", "abc", None, 5.0])
    want = pd.Series(values, dtype=object).str.fullmatch(r"\d{12}").fillna(False).to_numpy(bool)
    assert _fullmatch(r"\d{12}", values).tolist() == want.tolist()
    roads = gpd.GeoDataFrame(
        {
            "id": ["R1", "R2", "R3", "R4"],
            "road_class": ["村道", "CUN DAO", "乡道", "村道"],
            "surface": ["沥青混凝土", "ASPHALT", "水泥", "泥巴"],
            "width_m": [4.5, 5.0, 3.5, 4.0],
        },
        geometry=[shapely.LineString([(TX, TY), (TX + 0.01 * (i + 1), TY)]) for i in range(4)],
        crs=4326,
    )
    frame, problems = normalise_layer(roads, "roads")
    f = get_schema("roads").field("surface")
    aliases = {k.lower(): v for k, v in f.value_aliases.items()}
    aliases.update({a.lower(): a for a in f.allowed})
    raw = pd.Series(roads["surface"].to_numpy(dtype=object), dtype=object)
    mapped = raw.str.lower().map(aliases)
    mapped = mapped.where(mapped.notna(), raw)
    assert frame["surface"].tolist() == mapped.tolist()
    bad = {p.row for p in problems if p.field == "surface"}
    assert bad == {i + 1 for i, v in enumerate(mapped) if v not in f.allowed}


def test_text_codes_of_yes_no_columns_equal_their_text():
    """Yes/no columns are factorised before their text: the same text per row."""
    from layers.validate import _as_text, _text_codes

    for series in (
        pd.Series([True, False, True]),
        pd.Series(pd.array([True, None, False, True], dtype="boolean")),
        pd.Series(np.zeros(0, dtype=bool)),
    ):
        codes, uniq = _text_codes(series)
        assert uniq[codes].tolist() == _as_text(series).tolist()


TEXT_COLUMNS = [
    pd.Series(["a", " a", "a ", "b", "", None, "b", "中文 "], dtype="str"),
    pd.Series(["R1", "R2", None, "R3", ""], dtype="str"),
    pd.Series(["x", "x", "y"], dtype="str"),
    pd.Series(["a", None, " a", "b"], dtype=object),
    pd.Series([1.0, 2.0, np.nan, 2.0]),
    pd.Series([3, 1, 3]),
    pd.Series(["a", 1, 1.0, None], dtype=object),
    pd.Series(pd.array([True, None, False], dtype="boolean")),
    pd.Series([], dtype="str"),
]


@pytest.mark.parametrize("series", TEXT_COLUMNS, ids=range(len(TEXT_COLUMNS)))
def test_text_codes_equal_as_text_and_their_distinct_flag_holds(series):
    """The codes give each row its _as_text; when the non-empty texts are said to be
    distinct, they are (so equal codes are equal ids, nothing else)."""
    from layers.validate import _as_text, _text_codes, _text_codes_distinct

    text = _as_text(series).tolist()
    for codes, uniq in (_text_codes(series), _text_codes_distinct(series)[:2]):
        assert uniq[codes].tolist() == text
    _, uniq, distinct = _text_codes_distinct(series)
    filled = [t for t in uniq.tolist() if t != ""]
    if distinct:
        assert len(set(filled)) == len(filled)
    raw = series.dropna().tolist()
    if isinstance(series.dtype, pd.BooleanDtype):
        clean = False  # yes/no: not needed, not checked
    elif all(isinstance(v, str) for v in raw):  # factorised text
        clean = all(v == v.strip() for v in raw)
    else:  # factorised after _as_text: distinct texts
        clean = True
    assert distinct == clean  # known to be distinct exactly when nothing was stripped


@pytest.mark.parametrize(
    "ids",
    [
        pd.Series(["a", "b", "a", "", "", "c"], dtype=object),
        pd.Series(["a", "b", "c"], dtype=object),
        pd.Series([], dtype=object),
        pd.Series([1, 2, 1]),
        pd.Series(["a", None, None, "a"], dtype=object),
    ],
)
def test_duplicate_ids_equal_pandas_duplicated(ids):
    from layers.validate import _duplicate_ids

    text, dup = _duplicate_ids(ids)
    # the plain construction: the column's values as a new Series (dtype inferred)
    plain = pd.Series(ids.to_numpy(dtype=object)) if ids.dtype == object else ids.astype(str)
    want = (plain.duplicated(keep=False) & (plain != "")).to_numpy()
    assert dup.tolist() == want.tolist()
    assert [str(v) for v in text] == [str(v) for v in plain]


@pytest.mark.parametrize(
    "ids",
    [
        ["NV1", "NV2", "NV1", "", ""],  # distinct raw values: duplicates by code
        ["NV1", " NV1", "NV2", "NV2 ", None],  # stripping makes them equal
        pd.array(["NV1", "NV2", "NV1", None, None], dtype="str"),
    ],
)
def test_duplicate_ids_are_reported_as_plain_duplicated_says(ids):
    base = nv().drop(columns="geometry")
    columns = {k: [v.iloc[0]] * 5 for k, v in base.items() if k != "id"}
    points = [shapely.Point(TX + i * 0.01, TY) for i in range(5)]
    _, problems = normalise_layer(nv(id=ids, geometry=points, **columns), "natural_villages")
    text = pd.Series(pd.Series(ids, dtype=object).tolist(), dtype=object).map(
        lambda v: "" if v is None or v is pd.NA or v != v else str(v).strip()
    )
    want = {i + 1 for i in np.flatnonzero(text.duplicated(keep=False) & (text != ""))}
    got = {p.row for p in problems if p.kind is ProblemKind.DUPLICATE_ID}
    assert want and got == want


def test_fingerprint_notices_every_change():
    """A normalised frame is known as normalised until any value, geometry or row moves."""
    from layers.validate import normalised_as, remember_normalised

    frame, problems = normalise_layer(nv(), "natural_villages")
    remember_normalised(frame, "natural_villages", file="", problems=problems)
    assert normalised_as(frame) == "natural_villages"
    assert normalised_as(frame.copy()) == "natural_villages"

    edits = [
        lambda f: f.assign(name=["马家庄", "李家湾", "王家"]),
        lambda f: f.assign(households=[25, 40, 13]),
        lambda f: f.assign(households=f["households"].astype(float)),
        lambda f: f.set_geometry(
            [shapely.Point(TX, TY), shapely.Point(TX, TY), shapely.Point(TX, TY)]
        ),
        lambda f: f.set_geometry(shapely.force_3d(f.geometry.to_numpy())),
        lambda f: f.iloc[[1, 0, 2]],
        lambda f: f.assign(extra=1),
        lambda f: f.iloc[:2],
    ]
    for edit in edits:
        other = edit(frame.copy())
        other.attrs = dict(frame.attrs)
        assert normalised_as(other) is None
    frame.loc[frame.index[0], "name"] = "改了"  # in place
    assert normalised_as(frame) is None


def test_problems_are_not_copied_with_every_derived_frame():
    """pandas deep-copies ``frame.attrs`` on every derived frame; problems are immutable."""
    import copy

    from layers.errors import Problem, ProblemKind

    p = Problem(ProblemKind.MISSING_VALUE, "a.gpkg", "roads", 3, "R1", "surface", "缺", "填", "m")
    frame = pd.DataFrame({"x": [1, 2]})
    frame.attrs["problems"] = (p,)
    assert copy.deepcopy(p) is p and copy.deepcopy(p) == p
    assert frame[["x"]].attrs["problems"][0] is p


def _mixed_geometries():
    """Points, lines, a polygon, a multi-geometry, Z, missing and empty geometries."""
    return [
        [shapely.Point(TX, TY), shapely.Point(TX + 0.01, TY), shapely.Point(TX, TY + 0.01)],
        [shapely.LineString([(TX, TY), (TX + 0.01, TY + 0.02)]), None, shapely.Point()],
        [shapely.Point(TX, TY, 5.0), shapely.Point(TX, TY), shapely.box(TX, TY, TX + 1, TY + 1)],
        [
            shapely.MultiPoint([(TX, TY), (TX, TY + 1)]),
            shapely.LineString([(TX, TY, 1), (TX + 1, TY, 2)]),
            shapely.Point(TX + 0.5, TY),
        ],
    ]


@pytest.mark.parametrize("geoms", _mixed_geometries())
def test_shared_geometry_facts_give_what_fresh_ones_give(geoms):
    """The facts _normalise_layer hands on: the same fingerprint and first-vertex test."""
    from layers.validate import (
        _Core,
        _fingerprint,
        _Geoms,
        _hash_geometries,
        _normalise_layer,
        hash_geometries,
    )

    frame, _, facts = _normalise_layer(nv(geometry=geoms), "natural_villages")
    arr = frame.geometry.to_numpy()
    assert facts.arr is arr
    # the plain construction: each fact as shapely gives it for this array
    assert facts.types.tolist() == shapely.get_type_id(arr).tolist()
    assert facts.counts.tolist() == shapely.get_num_coordinates(arr).tolist()
    assert facts.missing.tolist() == (shapely.is_missing(arr) | shapely.is_empty(arr)).tolist()
    assert _fingerprint(frame, geometry_facts=facts) == _fingerprint(frame)
    h1, h2 = hashlib.sha1(), hashlib.sha1()
    hash_geometries(h1, arr)
    _hash_geometries(h2, arr, facts)
    assert h1.digest() == h2.digest()
    # facts of another array are not used
    other = _Geoms(np.array([shapely.Point(0, 0)] * len(arr), dtype=object))
    assert _fingerprint(frame, geometry_facts=other) == _fingerprint(frame)
    # an area in degrees (the core is 5 units inside it): the points at TX + 1 lie outside
    core = _Core(shapely.box(TX - 5.5, TY - 5.5, TX + 5.6, TY + 5.5), "EPSG:4326")
    with_facts = core.holds_first_vertex(arr, "EPSG:4326", facts=facts)
    plain = [
        g is not None
        and not g.is_empty
        and core.by_crs["EPSG:4326"].contains(shapely.points(shapely.get_coordinates(g)[0]))
        for g in arr
    ]
    assert with_facts.tolist() == plain
    assert any(plain)  # some first vertices inside: the comparison can fail


def test_first_vertex_grid_answers_as_contains_xy():
    """The grid of _Core._contains_xy: exactly shapely.contains_xy, boundary and NaN too."""
    from layers.validate import _Core

    ring = [(0, 0), (10, 0), (10, 10), (6, 10), (6, 3), (4, 3), (4, 10), (0, 10)]  # a U
    poly = shapely.Polygon(ring, holes=[[(1, 1), (2, 1), (2, 2), (1, 2)]])
    shapely.prepare(poly)
    rng = np.random.default_rng(16)
    edge = shapely.get_coordinates(shapely.segmentize(poly.boundary, 0.01))
    x = np.r_[rng.uniform(-1, 11, 20_000), edge[:, 0], np.nan, 5.0, np.inf]
    y = np.r_[rng.uniform(-1, 11, 20_000), edge[:, 1], 5.0, np.nan, 5.0]
    core = _Core(shapely.box(0, 0, 1, 1), "EPSG:3857")
    got = core._contains_xy("k", poly, x, y)
    want = shapely.contains_xy(poly, x, y)
    assert got.tolist() == want.tolist()
    assert 0 < want.sum() < len(want)
    assert core.grids["k"][2].any()  # the grid settled some points itself


@pytest.mark.parametrize(
    "values",
    [
        ["R1", "R2", "R3", ""],  # distinct: the sorted path
        ["a", " a", "b"],  # distinct as typed, not once stripped
        ["中文", "z", "A"],
        ["only"],
        [],
        ["R1", "R2", "R1"],  # a duplicate: factorize
        ["R1", None, "R2"],  # NA: factorize
        ["", ""],
    ],
)
def test_distinct_arrow_ids_give_what_factorize_gives(values, monkeypatch):
    """Arrow ids known distinct by sorting: the codes, texts and flag factorize gives."""
    import layers.validate as v

    series = pd.Series(values, dtype="str")
    plain = pd.Series(series.tolist(), dtype=object)
    assert v._all_distinct_arrow(series) == (not plain.isna().any() and plain.is_unique)
    codes, uniq, distinct = v._text_codes_distinct(series)
    monkeypatch.setattr(v, "_all_distinct_arrow", lambda s: False)
    codes0, uniq0, distinct0 = v._text_codes_distinct(series)
    assert codes.tolist() == codes0.tolist()
    assert uniq.tolist() == uniq0.tolist() and uniq.dtype == uniq0.dtype
    assert distinct == distinct0


def test_normalised_geometry_is_not_the_inputs_to_change():
    """The result takes the input's GeoSeries without a copy: a change to either stays there."""
    frame = nv().rename_geometry("geom")
    before = frame.geometry.copy()
    out, _ = normalise_layer(frame, "natural_villages")
    assert out.geometry.name == "geometry" and out.crs == frame.crs
    assert out.geometry.geom_equals(before).all()
    out.loc[out.index[0], "geometry"] = shapely.Point(0, 0)
    assert frame.geometry.geom_equals(before).all()
    frame.loc[frame.index[1], "geom"] = shapely.Point(1, 1)
    assert out.geometry.iloc[1].equals(before.iloc[1])
    assert out.geometry.iloc[0].equals(shapely.Point(0, 0))


def test_folded_aliases_are_the_folded_names():
    """column_mapping's kept alias sets: each alias tuple folded as fold_name folds it."""
    from layers.fields import ALIASES, LAYER_ALIASES, _folded

    sources = [ALIASES, *LAYER_ALIASES.values()]
    tuples = [names for source in sources for names in source.values()]
    assert tuples
    for names in tuples:
        assert _folded(names) == {fold_name(a) for a in names}
    schema = get_schema("roads")
    assert schema.field_names == tuple(f.name for f in schema.fields)
