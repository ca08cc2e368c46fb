"""The dataset content hash: same content, same hash; any change of a value, a geometry
or the row order, another hash; the fast per-column text equals ``astype(str)``."""

from __future__ import annotations

import hashlib

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from layers import Dataset
from layers.validate import _column_texts, hash_geometries, text_digest


def _plain_texts(col: pd.Series) -> tuple[list[str], list[bool]]:
    """``astype(str)`` value by value: the texts ("" where missing) and which are missing."""
    text = col.astype(str)
    missing = text.isna().tolist()
    return ["" if m else str(v) for v, m in zip(text.tolist(), missing, strict=True)], missing


def _plain_digest(texts: list[str], missing: list[bool]) -> bytes:
    """The digest of a text sequence written out plainly (the definition of text_digest)."""
    joined = "\x1f".join(texts).encode("utf-8", "surrogatepass")
    h = hashlib.sha256(f"{len(texts)}\0{len(joined)}\0".encode())
    h.update(joined)
    if any("\x1f" in t for t in texts):
        h.update(b"L" + np.array([len(t) for t in texts], dtype=np.int64).tobytes())
    h.update(b"M" + np.packbits(np.array(missing, dtype=bool)).tobytes() if any(missing) else b"-")
    return h.digest()


COLUMNS = pd.DataFrame(
    {
        "s": ["a", "", "中文", "a"],
        "o": ["a", None, 1.5, 2],
        "i": np.array([1, -2, 3, 1]),
        "b": [True, False, True, True],
        "I": pd.array([1, None, 3, 3], dtype="Int64"),
        "B": pd.array([True, None, False, False], dtype="boolean"),
        "f": [1.0, np.nan, 1e16, 0.1 + 0.2],
        "z": [0.0, -0.0, 2.5, 0.0],
        "u": np.array([1, 2, 3, 3], dtype=np.uint8),
        "t": pd.array(["x", None, "x\x1fy", " x"], dtype="str"),
        "e": ["é", "a\x1fb", "b", "é"],
    }
)


@pytest.mark.parametrize("name", list(COLUMNS.columns))
def test_column_texts_equal_astype_str(name):
    for col in (COLUMNS[name], COLUMNS[name].iloc[:0], COLUMNS[name].iloc[::-1]):
        texts, missing = _column_texts(col)
        want_texts, want_missing = _plain_texts(col)
        assert texts.tolist() == want_texts and missing.tolist() == want_missing
        assert text_digest(texts, missing) == _plain_digest(want_texts, want_missing)


def test_text_digest_tells_every_sequence_apart():
    cases = [
        ([], []),
        ([""], [False]),
        ([""], [True]),
        (["", ""], [False, False]),
        (["a\x1fb"], [False]),
        (["a", "b"], [False, False]),
        (["a\x1f", "b"], [False, False]),
        (["a", "\x1fb"], [False, False]),
        (["b", "a"], [False, False]),
        (["nan"], [False]),
    ]
    digests = {text_digest(np.array(t, dtype=object), np.array(m, dtype=bool)) for t, m in cases}
    assert len(digests) == len(cases)


GEOMS = [
    None,
    shapely.Point(1, 2),
    shapely.Point(1, 2, 3),
    shapely.Point(2, 1),
    shapely.from_wkt("POINT EMPTY"),
    shapely.from_wkt("POINT Z (1 2 NaN)"),
    shapely.LineString([(0, 0), (1, 1)]),
    shapely.LineString([(0, 0), (1, 1), (2, 2)]),
    shapely.LineString([(1, 1), (0, 0)]),
    shapely.from_wkt("LINESTRING EMPTY"),
    shapely.box(0, 0, 1, 1),
    shapely.box(0, 0, 1, 2),
    shapely.from_wkt("MULTIPOINT ((1 2))"),
    shapely.from_wkt("MULTILINESTRING ((0 0, 1 1))"),
    shapely.from_wkt("GEOMETRYCOLLECTION (POINT (1 2))"),
    shapely.from_wkt("POINT M (1 2 3)"),
]


def _geometry_digest(geoms) -> str:
    h = hashlib.sha256()
    hash_geometries(h, np.array(geoms, dtype=object))
    return h.hexdigest()


def test_geometry_hash_is_one_to_one_like_wkb():
    """Two geometry sequences hash the same exactly when their WKB (with Z and M) does."""
    seqs = [[g] for g in GEOMS] + [GEOMS[1:3], GEOMS[2:0:-1], GEOMS[6:9], GEOMS[8:5:-1], []]
    seqs += [[shapely.Point(1, 2), shapely.Point(1, 2)], [shapely.Point(1, 2)] * 3]
    seqs += [
        [GEOMS[2], GEOMS[1]],
        [GEOMS[2], GEOMS[5]],
        [GEOMS[15], GEOMS[1]],
        [GEOMS[1], GEOMS[10]],
    ]

    def wkb(seq):
        return tuple(
            None if g is None else shapely.to_wkb(g, output_dimension=4, byte_order=1) for g in seq
        )

    by_wkb: dict[tuple, str] = {}
    for seq in seqs:
        by_wkb.setdefault(wkb(seq), _geometry_digest(seq))
        assert by_wkb[wkb(seq)] == _geometry_digest(list(seq))  # same content, same hash
    assert len(set(by_wkb.values())) == len(by_wkb)


def _frame(**changes) -> gpd.GeoDataFrame:
    data = {
        "id": ["a", "b", "c"],
        "n": np.array([1, 2, 3]),
        "w": [1.5, np.nan, 0.0],
    }
    data.update(changes.pop("data", {}))
    geoms = changes.pop("geometry", [shapely.Point(1, 1), shapely.Point(2, 2), shapely.Point(3, 3)])
    return gpd.GeoDataFrame(data, geometry=geoms, crs=4326)


def _hash(frame: gpd.GeoDataFrame) -> str:
    return Dataset(layers={"natural_villages": frame}).content_hash


def test_content_hash_follows_every_change():
    base = _hash(_frame())
    assert _hash(_frame()) == base  # same content
    # the same text in another dtype is the same content
    assert _hash(_frame(data={"n": pd.array([1, 2, 3], dtype="Int64")})) == base
    assert _hash(_frame(data={"n": ["1", "2", "3"]})) == base
    changed = [
        _frame(data={"id": ["a", "b", "d"]}),
        _frame(data={"id": ["a", "b", ""]}),
        _frame(data={"id": ["a", "b", None]}),
        _frame(data={"n": np.array([1, 2, 4])}),
        _frame(data={"w": [1.5, np.nan, -0.0]}),
        _frame(data={"w": [1.5, 0.0, 0.0]}),
        _frame(geometry=[shapely.Point(1, 1), shapely.Point(2, 2), shapely.Point(3, 3.000001)]),
        _frame(geometry=[shapely.Point(1, 1), shapely.Point(2, 2), shapely.Point(3, 3, 0)]),
        _frame(geometry=[shapely.Point(1, 1), shapely.Point(2, 2), None]),
        _frame(geometry=[shapely.Point(1, 1), shapely.Point(2, 2), shapely.box(0, 0, 3, 3)]),
        _frame().iloc[[1, 0, 2]],  # row order
        _frame().rename(columns={"w": "width"}),
        _frame()[["n", "id", "w", "geometry"]],
        _frame().iloc[:2],
    ]
    hashes = [_hash(f) for f in changed]
    assert base not in hashes and len(set(hashes)) == len(hashes)
    frames = {"natural_villages": _frame(), "clinics": _frame()}
    assert Dataset(layers=frames).content_hash != base
