"""Dataset.from_frames shares work between normalising, fingerprinting and hashing.

The shortcuts (geometry facts, text columns hashed by code, the China-box test that
skips the coordinate checks, the content hash computed with the layers' facts) must give
exactly what the plain paths give: the same normalised frames, the same problems (file,
row, field, Chinese message) and the same content hash. Each shortcut is switched off
here (the code before it) and the results compared, on the shipped demo layers, a small
synthetic province and frames with injected errors; the content hash is also compared
with the hash as written before any of this (:func:`_reference_content_hash`) and with
values it had then (stored dataset versions and caches key on them).
"""

from __future__ import annotations

import hashlib
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

import layers.validate as v
from layers import Dataset, ProblemKind
from layers.validate import _column_texts, text_digest
from scripts.bench_access import county_kwargs, synthetic_province
from tests.conftest import DEMO

# --------------------------------------------------------------- the hash as it was


def _reference_text_digest(texts: np.ndarray, missing: np.ndarray) -> bytes:
    """text_digest as first written: the texts joined, then lengths, then missing."""
    n = len(texts)
    joined = "\x1f".join(texts.tolist()).encode("utf-8", "surrogatepass")
    h = hashlib.sha256(f"{n}\0{len(joined)}\0".encode())
    h.update(joined)
    if n and joined.count(b"\x1f") != n - 1:
        h.update(b"L" + np.fromiter(map(len, texts), np.int64, n).tobytes())
    h.update(b"M" + np.packbits(missing).tobytes() if missing.any() else b"-")
    return h.digest()


def _reference_geometries(h, geoms: np.ndarray) -> None:
    """hash_geometries as first written, each shapely fact fetched afresh."""
    types, dims = shapely.get_type_id(geoms), shapely.get_coordinate_dimension(geoms)
    h.update(f"\0geometries\0{len(geoms)}\0".encode())
    h.update(types.astype(np.int8).tobytes())
    h.update(dims.astype(np.int8).tobytes())
    with_z = with_m = False
    if (dims > 2).any():
        has_z, has_m = shapely.has_z(geoms), shapely.has_m(geoms)
        h.update(np.packbits(has_z).tobytes() + np.packbits(has_m).tobytes())
        with_z, with_m = bool(has_z.any()), bool(has_m.any())
    simple = (types == 0) | (types == 1)
    counts = shapely.get_num_coordinates(geoms)
    h.update(counts[simple].astype(np.int64).tobytes())
    coords = shapely.get_coordinates(geoms[simple], include_z=with_z, include_m=with_m)
    h.update(np.ascontiguousarray(coords, dtype="<f8").tobytes())
    other = ~simple & (types >= 0)
    if other.any():
        wkb = shapely.to_wkb(
            geoms[other], output_dimension=4 if with_m else 3, byte_order=1, include_srid=False
        )
        h.update(np.fromiter(map(len, wkb), np.int64, len(wkb)).tobytes())
        h.update(b"".join(wkb))


def _reference_content_hash(layers) -> str:
    """Dataset.content_hash (no water model, no DEM) as first written, value by value."""
    h = hashlib.sha256(b"gapmap-content-2\0")
    for layer, frame in layers.items():
        columns = "\x1f".join(map(str, frame.columns))
        h.update(f"\0layer\0{layer}\0{len(frame.columns)}\0{len(columns)}\0{columns}\0".encode())
        for name, col in frame.items():
            if name != frame.geometry.name:
                text = col.astype(str)
                missing = text.isna().to_numpy()
                texts = np.array(
                    ["" if m else str(t) for t, m in zip(text.tolist(), missing, strict=True)],
                    dtype=object,
                )
                h.update(_reference_text_digest(texts, missing))
        _reference_geometries(h, frame.geometry.to_numpy())
    return h.hexdigest()


# ----------------------------------------------------------------------------- cases


def _demo_frames():
    """The demo's layers as read by geopandas (not normalised)."""
    return {str(n): gpd.read_file(DEMO, layer=str(n)) for n, _ in pyogrio.list_layers(DEMO)}


def _province():
    return synthetic_province(**county_kwargs(850))


def _injected(base):
    """Bad ids, missing fields, aliases, bad values and bad geometries in every layer kind."""
    f = {k: frame.copy() for k, frame in base.items()}
    nv = f["natural_villages"]
    ids = nv["id"].astype(object).to_numpy().copy()
    ids[1], ids[2], ids[3], ids[4], ids[6] = ids[0], None, "", " " + ids[5], ids[6] + " "
    hh = nv["households"].astype(object).to_numpy().copy()
    hh[7], hh[8], hh[9], hh[10], hh[11], hh[12] = "二十", np.inf, -3, 10**9, 2.5, None
    g = nv.geometry.to_numpy().copy()
    x, y = shapely.get_x(g[13]), shapely.get_y(g[13])
    g[13], g[14], g[15], g[16] = None, shapely.Point(), shapely.Point(y, x), shapely.Point(-x, y)
    g[17], g[18] = shapely.Point(x, 97.0), shapely.LineString([(x, y), (x + 0.01, y)])
    g[19], g[20] = shapely.Point(np.nan, np.nan), shapely.Point(x + 3, y)  # outside
    code = nv["admin_village_code"].astype(object).to_numpy().copy()
    code[21], code[22], code[23] = "640000999999", "123", None
    nv = nv.assign(id=ids, households=hh, admin_village_code=code).set_geometry(g)
    f["natural_villages"] = nv.rename(columns={"name": "村名"}).assign(备注="x")
    r = f["roads"].drop(columns=["surface"]).rename(columns={"width_m": "路面宽度（米）"})
    rg = r.geometry.to_numpy().copy()
    rg[0] = shapely.LineString([(0, 0), (0, 0)])
    rg[1] = shapely.MultiLineString([[(106, 37), (106.1, 37.1)], [(106.2, 37), (106.3, 37)]])
    rg[2], rg[3] = None, shapely.from_wkt("LINESTRING EMPTY")
    rg[4] = shapely.LineString([(37, 106), (37.1, 106.1)])  # swapped
    rg[5] = shapely.LineString([(106, 37, 5), (106.1, 37.1, 6)])
    rg[6] = shapely.Point(106, 37)
    rid = r["id"].astype(object).to_numpy().copy()
    rid[7], rid[9] = rid[8], None
    rc = r["road_class"].astype(object).to_numpy().copy()
    rc[10], rc[11], rc[12], rc[13] = "飞机道", None, " 村道 ", "X"
    st = r["status"].astype(object).to_numpy().copy()
    st[14], st[15] = "拟建", None
    f["roads"] = r.assign(
        id=pd.array(rid, dtype="str"), road_class=rc, status=pd.array(st, dtype="str")
    ).set_geometry(rg)
    tg = f["townships"].geometry.to_numpy().copy()
    x0, y0, x1, y1 = tg[0].bounds
    tg[0] = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])  # a bow-tie
    f["townships"] = f["townships"].set_geometry(tg)
    av = f["admin_villages"].drop(columns=["village_class"])
    f["admin_villages"] = av.assign(
        township_code=av["township_code"].where(np.arange(len(av)) % 50 != 0, "640000999")
    )
    cl = f["clinics"]
    f["clinics"] = gpd.GeoDataFrame(
        pd.concat([cl.drop(columns="geometry"), cl[["name"]]], axis=1), geometry=cl.geometry
    )
    f["service_points"] = f["service_points"].set_crs(None, allow_override=True)
    return f


def _as_objects(base):
    """Text columns as Python objects (older readers), population as floats."""
    f = {}
    for k, frame in base.items():
        frame = frame.copy()
        for c in frame.columns:
            if c != frame.geometry.name and isinstance(frame[c].dtype, pd.StringDtype):
                frame[c] = frame[c].astype(object)
        f[k] = frame
    f["admin_villages"]["population"] = f["admin_villages"]["population"].astype(float)
    return f


@pytest.fixture(scope="module")
def demo_frames():
    return _demo_frames()


@pytest.fixture(scope="module")
def province():
    return _province()


CASES = ["demo", "province", "demo_injected", "province_injected", "province_objects"]


def _case(name, demo_frames, province):
    base = demo_frames if name.startswith("demo") else province
    if name.endswith("injected"):
        return _injected(base)
    if name.endswith("objects"):
        return _as_objects(base)
    return {k: frame.copy() for k, frame in base.items()}


# ------------------------------------------------------------------------ comparison


def _plain_paths(monkeypatch) -> None:
    """Switch every shortcut off: the code as it ran before them."""
    monkeypatch.setattr(v, "_within_china_box", lambda xy: False)  # bounds checked
    monkeypatch.setattr(v, "_by_code", lambda n_texts, n: False)  # texts joined
    monkeypatch.setattr(
        v._Geoms,
        "missing",
        property(lambda self: shapely.is_missing(self.arr) | shapely.is_empty(self.arr)),
    )


def _assert_same_layers(a, b) -> None:
    assert list(a) == list(b)
    for k in a:
        x, y = a[k], b[k]
        assert list(x.columns) == list(y.columns) and x.crs == y.crs, k
        assert list(map(str, x.dtypes)) == list(map(str, y.dtypes)), k
        plain = [c for c in x.columns if c != x.geometry.name]
        pd.testing.assert_frame_equal(pd.DataFrame(x[plain]), pd.DataFrame(y[plain]))
        for c in plain:
            if x[c].dtype == object:  # the very types (str, None …)
                assert list(map(type, x[c])) == list(map(type, y[c])), (k, c)
        wkb = [shapely.to_wkb(f.geometry.to_numpy(), output_dimension=4) for f in (x, y)]
        assert wkb[0].tolist() == wkb[1].tolist(), k
        mark = v.NORMALISED_ATTR
        assert {a: b for a, b in x.attrs.items() if a != mark} == {
            a: b for a, b in y.attrs.items() if a != mark
        }, k


def _from_frames(frames) -> Dataset:
    with warnings.catch_warnings():
        # NaN coordinates injected on purpose: shapely warns while measuring them
        warnings.simplefilter("ignore", RuntimeWarning)
        return Dataset.from_frames(frames, name="case")


@pytest.mark.parametrize("name", CASES)
def test_shared_work_gives_what_the_plain_paths_give(name, demo_frames, province, monkeypatch):
    fast = _from_frames(_case(name, demo_frames, province))
    with monkeypatch.context() as m:
        _plain_paths(m)
        plain = _from_frames(_case(name, demo_frames, province))
        plain_hash = Dataset(layers=dict(plain.layers)).content_hash  # no facts: hashed afresh
    assert fast.problems == plain.problems
    if name.endswith("injected"):  # the errors are found, located, in Chinese
        kinds = {p.kind for p in fast.problems}
        assert {ProblemKind.DUPLICATE_ID, ProblemKind.MISSING_FIELD} <= kinds
        assert {ProblemKind.INVALID_GEOMETRY, ProblemKind.SWAPPED_LONLAT} <= kinds
        assert {ProblemKind.COORDINATE_RANGE, ProblemKind.WRONG_HEMISPHERE} <= kinds
        assert {ProblemKind.EMPTY_GEOMETRY, ProblemKind.VALUE_NOT_ALLOWED} <= kinds
        assert all(p.message_zh and p.fix_zh for p in fast.problems)
    _assert_same_layers(dict(fast.layers), dict(plain.layers))
    # the hash computed with the layers' facts: the plain one and the one first written
    assert "content_hash" in fast.__dict__  # computed in from_frames, with the facts
    assert fast.content_hash == plain_hash == _reference_content_hash(fast.layers)
    assert Dataset(layers=dict(fast.layers)).content_hash == fast.content_hash
    # the fingerprint computed with the facts: the one without them
    for frame in fast.layers.values():
        assert v.normalised_as(frame) == frame.attrs[v.NORMALISED_ATTR][0]
    # known as normalised: the facts of the fingerprint check give the same hash
    again = _from_frames(dict(fast.layers))
    assert again.problems == fast.problems and again.content_hash == fast.content_hash


def _outside(base):
    """Two natural villages moved out of China (150°E), one into its box but far away."""
    f = {k: frame.copy() for k, frame in base.items()}
    nv = f["natural_villages"]
    g = nv.geometry.to_numpy().copy()
    g[3], g[4], g[5] = shapely.Point(150, 37), shapely.Point(150.5, 36), shapely.Point(80, 45)
    f["natural_villages"] = nv.set_geometry(g)
    return f


@pytest.mark.parametrize("fmt", ["gpkg", "parquet"])
@pytest.mark.parametrize("name", ["demo", "province", "demo_outside"])
def test_read_files_share_work_as_from_frames_does(
    name, fmt, demo_frames, province, monkeypatch, tmp_path
):
    """A dataset read from a GeoPackage or GeoParquet folder: its checks and content hash
    with the layers' facts (the China-box shortcut of outside_china, the hash computed
    while reading) give what the plain paths give."""
    from layers import read_dataset, write_layers

    base = demo_frames if name.startswith("demo") else province
    frames = _outside(base) if name.endswith("outside") else base
    written = _from_frames({k: frame.copy() for k, frame in frames.items()})
    target = tmp_path / ("case.gpkg" if fmt == "gpkg" else "case")
    path = write_layers(target, dict(written.layers))
    fast = read_dataset(path)
    assert "content_hash" in fast.__dict__  # computed while reading, with the facts
    with monkeypatch.context() as m:
        _plain_paths(m)
        plain = read_dataset(path)
        plain_hash = Dataset(layers=dict(plain.layers)).content_hash
    assert fast.problems == plain.problems
    outside = [p for p in fast.problems if p.kind is ProblemKind.OUTSIDE_CHINA]
    assert len(outside) == (2 if name.endswith("outside") else 0)  # (80°E, 45°N) is in China
    _assert_same_layers(dict(fast.layers), dict(plain.layers))
    assert fast.content_hash == plain_hash == _reference_content_hash(fast.layers)


def test_replaced_layers_are_hashed_as_the_plain_path_hashes(demo_dataset):
    villages = demo_dataset["natural_villages"].iloc[::-1]
    plan = demo_dataset.replace_layers(natural_villages=villages)
    assert "content_hash" in plan.__dict__  # computed in replace_layers, with the facts
    assert plan.content_hash != demo_dataset.content_hash
    assert plan.content_hash == _reference_content_hash(plan.layers)
    assert plan.content_hash == Dataset(layers=dict(plan.layers)).content_hash
    # with a DEM the hash is computed when asked (the DEM's bytes are read then)
    with_dem = demo_dataset.with_dem(DEMO.with_name("tongxin_dem.tif"))
    plan = with_dem.replace_layers(natural_villages=villages)
    assert "content_hash" not in plan.__dict__
    fresh = Dataset(layers=dict(plan.layers), dem=plan.dem)
    assert plan.content_hash == fresh.content_hash != _reference_content_hash(plan.layers)


def _tiny_layers():
    """Hand-built layers of every column kind the content hash meets."""
    roads = gpd.GeoDataFrame(
        {
            "id": ["R1", "R2", "R3", "R4"],
            "road_class": ["村道", "县道", "村道", "其他"],
            "width_m": [4.5, 7.5, -0.0, np.nan],
            "n": np.array([1, 2, 3, 4]),
            "ok": [True, False, True, True],
            "t": pd.array(["x", None, "a\x1fb", " y"], dtype="str"),
            "mixed": ["a", None, 1.5, 2],
        },
        geometry=[
            shapely.LineString([(105.9, 36.9), (105.91, 36.95)]),
            shapely.MultiLineString(
                [[(105.9, 36.9), (106.0, 37.0)], [(106.1, 37.0), (106.2, 37.1)]]
            ),
            None,
            shapely.LineString([(105.9, 36.9, 1.0), (105.91, 36.95, 2.0)]),
        ],
        crs=4326,
    )
    villages = gpd.GeoDataFrame(
        {"id": ["NV1", "NV2"], "name": ["马家庄", ""]},
        geometry=[shapely.Point(105.9, 36.9), shapely.Point()],
        crs=4326,
    )
    county = gpd.GeoDataFrame(
        {"code": ["640324"], "name": ["同心县"]},
        geometry=[shapely.box(105.5, 36.5, 106.5, 37.5)],
        crs=4326,
    )
    return {"county": county, "natural_villages": villages, "roads": roads}


def _tiled_layers():
    """The tiny layers with 2,000 roads: their text columns are hashed by code."""
    layers = _tiny_layers()
    roads = layers["roads"]
    tiled = gpd.GeoDataFrame(pd.concat([roads] * 500, ignore_index=True), crs=roads.crs)
    layers["roads"] = tiled.assign(id=[f"R{i}" for i in range(len(tiled))])
    return layers


def test_content_hash_values_are_the_ones_stored_before():
    """Hashes of commit e757e3d (2026-12-02): stored versions and caches key on them."""
    assert Dataset(layers=_tiny_layers()).content_hash == (
        "ceb6c8a1aab3b48bcb3134afe0817cf092d5430765f25e5b1daecaabe6fd4a45"
    )
    assert Dataset.from_frames(_tiny_layers()).content_hash == (
        "ae5415697cef0e3cfe1b2ca6e9d6674ad60fa2e32d42776112320e5aeb0d3c7e"
    )
    assert Dataset(layers=_tiled_layers()).content_hash == (
        "f1c78afd6ec113053bcdb7887002c61d4f7e655846f410b7032b1d5096ec3a5f"
    )
    assert Dataset.from_frames(_tiled_layers()).content_hash == (
        "ac0abd2153e71c29559730e41015c476485dc6e7a76932875ac4c7029f0a9eb7"
    )


# ------------------------------------------------------------------------ the pieces


@pytest.mark.parametrize(
    "texts",
    [
        ["村道", "县道", "省道"],  # one length: NumPy's take
        ["a", "bb", "中文", ""],  # lengths differ: Arrow's take
        [""],
        ["x\x1fy", "z"],  # a separator in a text: the lengths are hashed too
        ["\ud800x", "ab"],  # a lone surrogate
        ["only"],
    ],
)
@pytest.mark.parametrize("n", [0, 5, 1024, 5000])
def test_texts_by_code_digest_as_joined_texts(texts, n):
    rng = np.random.default_rng(n)
    uniq = np.array(texts, dtype=object)
    codes = rng.integers(0, len(uniq), n)
    for missing in (None, rng.random(len(uniq)) < 0.5):
        rows = np.zeros(n, bool) if missing is None else missing[codes]
        want = _reference_text_digest(uniq[codes], rows)
        assert v._codes_digest(codes, uniq, missing) == want
        assert text_digest(uniq[codes], rows) == want


COLUMNS = {
    "s": ["a", "", "中文", "a"],
    "o": ["a", None, 1.5, 2],
    "i": np.array([1, -2, 3, 1]),
    "b": [True, False, True, True],
    "I": pd.array([1, None, 3, 3], dtype="Int64"),
    "f": [1.0, np.nan, 1e16, 0.1 + 0.2],
    "z": [0.0, -0.0, 2.5, 0.0],
    "t": pd.array(["x", None, "x\x1fy", " x"], dtype="str"),
    "e": ["é", "a\x1fb", "b", "é"],
}


@pytest.mark.parametrize("name", list(COLUMNS))
@pytest.mark.parametrize("repeat", [1, 600])  # 2,400 rows: numbers are hashed by code
def test_column_digest_is_the_digest_of_its_texts(name, repeat):
    col = pd.Series(COLUMNS[name]).take(np.tile(np.arange(4), repeat)).reset_index(drop=True)
    for c in (col, col.iloc[:0], col.iloc[::-1]):
        assert v._column_digest(c) == _reference_text_digest(*_column_texts(c))
        strings = v._strings_digest(c)
        is_strings = c.dtype == object and all(isinstance(x, str) for x in c)
        assert (strings is not None) == is_strings
        if is_strings:
            assert strings == v._column_digest(c)


def test_no_coordinates_is_empty_or_missing():
    """_Geoms.missing (no coordinates) is is_missing | is_empty, NaN and collections too."""
    wkts = [
        "POINT EMPTY", "POINT (1 2)", "POINT Z EMPTY", "LINESTRING EMPTY", "LINEARRING EMPTY",
        "POLYGON EMPTY", "MULTIPOINT EMPTY", "MULTIPOINT (EMPTY, (1 2))", "MULTIPOINT (EMPTY)",
        "MULTILINESTRING (EMPTY)", "MULTIPOLYGON (EMPTY)", "GEOMETRYCOLLECTION EMPTY",
        "GEOMETRYCOLLECTION (POINT EMPTY)", "GEOMETRYCOLLECTION (GEOMETRYCOLLECTION EMPTY)",
        "GEOMETRYCOLLECTION (POINT EMPTY, POINT (1 2))", "POINT M (1 2 3)",
        "LINESTRING (0 0, 0 0)", "POLYGON ((0 0, 1 0, 1 1, 0 0))",
    ]  # fmt: skip
    geoms = [*shapely.from_wkt(wkts), shapely.Point(np.nan, np.nan), shapely.Point(1, np.nan)]
    arr = np.array([*geoms, None], dtype=object)
    want = shapely.is_missing(arr) | shapely.is_empty(arr)
    assert v._Geoms(arr).missing.tolist() == want.tolist()
    assert 0 < want.sum() < len(want)


def test_china_box_says_yes_only_when_every_vertex_is_in_it():
    inside = np.array([[73.0, 3.0], [136.0, 54.0], [105.9, 36.9]])
    assert v._within_china_box(inside)
    for bad in ([72.9, 30.0], [137.0, 30.0], [100.0, 2.9], [100.0, 54.1], [np.nan, 30.0]):
        assert not v._within_china_box(np.vstack([inside, bad]))
    assert not v._within_china_box(np.zeros((0, 2)))
