"""Validate and normalise layers, listing every problem at once.

Two entry points:

- :func:`normalise_layer` checks one layer against its schema: renames Chinese and
  pinyin-code columns, coerces types, maps value synonyms, fills defaults of optional
  fields, and checks required fields, allowed values, code patterns, ranges, unique ids,
  geometry type/validity/emptiness and swapped or wrong-hemisphere coordinates.
- :func:`validate_dataset` checks what needs several layers: features outside the
  county, admin-village/township codes and water node names that do not exist.

Both return :class:`layers.errors.Problem` records located to file, layer, row,
feature id and field, with a Chinese message and a Chinese fix. Neither raises for bad
data; :meth:`LayerValidationError.raise_if_errors` turns a list into an exception.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Mapping
from functools import cached_property

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from layers.crs import metric_crs
from layers.errors import Problem, ProblemKind, Severity
from layers.fields import column_mapping
from layers.schema import (
    CORE_LAYERS,
    LAYER_ORDER,
    Field,
    LayerSchema,
    get_schema,
    split_codes,
)

__all__ = [
    "NORMALISED_ATTR",
    "OUTSIDE_TOLERANCE_M",
    "PROBLEMS_ATTR",
    "SOURCE_FILE_ATTR",
    "analysis_problems",
    "hash_geometries",
    "normalise_layer",
    "normalised_as",
    "outside_china",
    "remember_normalised",
    "validate_dataset",
]

logger = logging.getLogger(__name__)

OUTSIDE_TOLERANCE_M = 200.0
"""A feature this far (metres) outside the county boundary still counts as inside.

Boundaries from different sources disagree by tens of metres; a real mistake (wrong
county, swapped coordinates, a projected value read as degrees) is kilometres off.
"""

# China's extent with a margin, for telling swapped lon/lat from wrong data.
_CHINA_LON = (73.0, 136.0)
_CHINA_LAT = (3.0, 54.0)

NORMALISED_ATTR = "gapmap_normalised"
"""``frame.attrs`` key: (GapMap layer, content fingerprint) when the frame was normalised."""
PROBLEMS_ATTR = "gapmap_problems"
"""``frame.attrs`` key: the tuple of the layer's own problems, found when it was normalised."""
SOURCE_FILE_ATTR = "gapmap_file"
"""``frame.attrs`` key: the file name its problems carry (``county.zip/county.gpkg``)."""


class _Geoms:
    """Facts of one layer's frame, each computed when first asked, once.

    The shapely facts of its geometry array, and the digests of its columns' texts. The
    checks of one freshly normalised layer (:func:`normalise_layer`, its fingerprint,
    the first-vertex test of :func:`validate_dataset`, the dataset's content hash) share
    them instead of fetching the same coordinates and joining the same texts several
    times. Valid only for the frame whose geometry array is ``arr``, while it is
    unchanged: users check ``facts.arr is arr`` and compute their own otherwise.
    """

    def __init__(self, arr: np.ndarray) -> None:
        self.arr = arr
        self.text_codes: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}
        """(position, name) → (codes, texts) such that the column is ``texts[codes]``, as
        :func:`_normalise_layer` built it."""
        self.strings: dict[tuple[int, str], bytes | None] = {}
        """(position, name) → :func:`_column_digest` of a column of Python strings (its
        digest says its values), None for a column of anything else."""

    @cached_property
    def types(self) -> np.ndarray:
        """``shapely.get_type_id`` (missing: -1)."""
        return shapely.get_type_id(self.arr)

    @cached_property
    def dims(self) -> np.ndarray:
        """``shapely.get_coordinate_dimension``."""
        return shapely.get_coordinate_dimension(self.arr)

    @cached_property
    def missing(self) -> np.ndarray:
        """Missing or empty geometries: ``is_missing | is_empty``.

        That is no coordinates: a geometry is empty exactly when it has none (GEOS: a
        collection is empty when its parts are, a polygon when its shell is), and a
        missing one has none either.
        """
        return self.counts == 0

    @cached_property
    def counts(self) -> np.ndarray:
        """``shapely.get_num_coordinates``."""
        return shapely.get_num_coordinates(self.arr)

    @cached_property
    def coords(self) -> np.ndarray:
        """``shapely.get_coordinates`` (x, y), all geometries in order."""
        return shapely.get_coordinates(self.arr)

    def string_digest(self, pos: int, name: str, col: pd.Series) -> bytes | None:
        """:func:`_column_digest` of a column of Python strings, else None; computed once.

        ``col`` is the facts' frame's column at ``pos``, named ``name``.
        """
        key = (pos, name)
        if key not in self.strings:
            self.strings[key] = _strings_digest(col, text_codes=self.text_codes.get(key))
        return self.strings[key]

    def column_digest(self, pos: int, name: str, col: pd.Series) -> bytes:
        """:func:`_column_digest` of the facts' frame's column ``col`` (at ``pos``)."""
        digest = self.string_digest(pos, name, col) if col.dtype == object else None
        return _column_digest(col) if digest is None else digest


def _facts_of(arr: np.ndarray, facts: _Geoms | None) -> _Geoms:
    """``facts`` when they are of this very array, else new ones."""
    return facts if facts is not None and facts.arr is arr else _Geoms(arr)


def _fingerprint(frame: gpd.GeoDataFrame, *, geometry_facts: _Geoms | None = None) -> str:
    """Return a digest of a frame's columns, values (with their dtypes) and geometries.

    Compared within a process only (:func:`normalised_as`), so it is built for speed:
    each column hashed on its own values (a column of Python strings by the digest of its
    texts, the one the dataset's content hash takes), points and lines by their
    coordinates, other geometries by their WKB. ``geometry_facts``: the frame's facts
    (:class:`_Geoms`), when the caller has them; the digest does not depend on them, and
    the ones computed here are kept in them.
    """
    arr = frame.geometry.to_numpy()
    facts = _facts_of(arr, geometry_facts)
    h = hashlib.sha1(",".join(map(str, frame.columns)).encode(), usedforsecurity=False)
    geom_name = frame.geometry.name
    for pos, (name, col) in enumerate(frame.items()):
        if name == geom_name:
            continue
        h.update(f"\0{name}\0{col.dtype}\0{len(col)}\0".encode())
        if col.dtype == object:
            digest = facts.string_digest(pos, name, col)
            if digest is not None:  # Python strings: their texts are their values
                h.update(digest)
                continue
        # NumPy columns as arrays (hash_array refuses pandas' wrapper of them)
        values = col.to_numpy() if isinstance(col.dtype, np.dtype) else col.array
        try:
            h.update(pd.util.hash_array(values, categorize=False))
        except TypeError:  # unhashable values (lists …): their text
            h.update(pd.util.hash_array(col.astype(str).to_numpy(dtype=object)))
        if col.isna().any():
            h.update(np.packbits(col.isna().to_numpy()))
    _hash_geometries(h, arr, facts)
    return h.hexdigest()


def text_digest(texts: np.ndarray, missing: np.ndarray) -> bytes:
    r"""Return the SHA-256 digest of a sequence of texts and which of them are missing.

    ``texts`` is an object array of str (``""`` where missing), ``missing`` a bool array.
    The encoding is one to one: the texts joined by ``\x1f``, their lengths when a text
    holds that separator, and which ones are missing (a missing value is not ``""``).
    """
    return _joined_digest("\x1f".join(texts.tolist()), texts, missing)


def _joined_digest(joined: str, texts: np.ndarray, missing: np.ndarray | None) -> bytes:
    r""":func:`text_digest` of ``texts``, joined by ``\x1f`` already (``missing``: None, none)."""
    n = len(texts)
    data = joined.encode("utf-8", "surrogatepass")
    h = hashlib.sha256(f"{n}\0{len(data)}\0".encode())
    h.update(data)
    if n and data.count(b"\x1f") != n - 1:  # a text holds the separator
        h.update(b"L" + np.fromiter(map(len, texts), np.int64, n).tobytes())
    any_missing = missing is not None and missing.any()
    h.update(b"M" + np.packbits(missing).tobytes() if any_missing else b"-")
    return h.digest()


def _by_code(n_texts: int, n: int) -> bool:
    """Whether :func:`_codes_digest` puts ``n`` texts of ``n_texts`` distinct ones by code.

    That beats joining them when there are many rows of few distinct texts.
    """
    return n >= 1024 and n_texts * 8 <= n


def _codes_digest(codes: np.ndarray, texts: np.ndarray, missing: np.ndarray | None) -> bytes:
    r"""``text_digest(texts[codes], missing[codes])`` (``missing``: None, none missing).

    ``texts`` are str, ``codes`` indices into them (none negative). With few distinct texts
    their joined bytes are put together by code (each text's UTF-8 with its separator,
    taken as a fixed-size item by NumPy when all have one length, else by Arrow: copies
    of bytes) instead of joining a Python string per row.
    """
    n = len(codes)
    if not _by_code(len(texts), n):  # many distinct texts: join them as they are
        return text_digest(texts[codes], np.zeros(n, bool) if missing is None else missing[codes])
    enc = [t.encode("utf-8", "surrogatepass") + b"\x1f" for t in texts.tolist()]
    size = np.fromiter(map(len, enc), np.int64, len(enc))
    total = int(size[codes].sum()) - 1  # the joined texts' bytes, without a last separator
    h = hashlib.sha256(f"{n}\0{total}\0".encode())
    if size.min() == size.max():  # texts of one length: a take of fixed-size items
        rows = np.frombuffer(b"".join(enc), dtype=f"V{size[0]}").take(codes)
        h.update(memoryview(rows).cast("B")[:total])
    else:
        rows = pa.array(enc, type=pa.large_binary()).take(pa.array(codes))
        offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64)[rows.offset :][: n + 1]
        h.update(memoryview(rows.buffers()[2])[offsets[0] : offsets[0] + total])
    with_sep = np.fromiter(("\x1f" in t for t in texts.tolist()), bool, len(texts))
    if with_sep.any() and with_sep[codes].any():  # a text holds the separator
        lengths = np.fromiter(map(len, texts.tolist()), np.int64, len(texts))
        h.update(b"L" + lengths[codes].tobytes())
    rows_missing = None if missing is None else missing[codes]
    any_missing = rows_missing is not None and rows_missing.any()
    h.update(b"M" + np.packbits(rows_missing).tobytes() if any_missing else b"-")
    return h.digest()


def _column_digest(col: pd.Series) -> bytes:
    """Return ``text_digest(*_column_texts(col))``: the digest of a column's ``astype(str)``.

    The dataset's content hash takes it for every column (a layer read back from another
    format, with other dtypes, hashes the same). Faster than :func:`_column_texts`, the
    same digest: the texts of a column of Python strings are its values, joined
    (``str.join`` refuses anything else); a number or yes/no column is turned into text
    once per distinct value, and hashed by code (:func:`_codes_digest`).
    """
    if col.dtype == object:
        digest = _strings_digest(col)
        if digest is not None:
            return digest
    coded = _number_texts(col)
    if coded is not None:
        codes, texts, missing = coded
        return _codes_digest(codes, texts, missing if missing.any() else None)
    return text_digest(*_plain_texts(col))


def _strings_digest(
    col: pd.Series, *, text_codes: tuple[np.ndarray, np.ndarray] | None = None
) -> bytes | None:
    """:func:`_column_digest` of an object column of Python strings; None for any other.

    ``text_codes``: (codes, texts) with ``texts[codes]`` the column, when known: a column
    of few distinct texts is hashed by code then.
    """
    if col.dtype != object:
        return None
    if text_codes is not None:
        codes, texts = text_codes
        if _by_code(len(texts), len(codes)) and all(type(t) is str for t in texts.tolist()):
            return _codes_digest(codes, texts, None)
    values = col.to_numpy()
    try:  # str.join takes strings only
        joined = "\x1f".join(values.tolist())
    except TypeError:
        return None
    return _joined_digest(joined, values, None)


def _number_texts(col: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Return a NumPy number or yes/no column as codes, its distinct texts and missing.

    None for any other column, and for a float column holding -0.0 (one value to
    factorize but two texts).
    """
    if not (isinstance(col.dtype, np.dtype) and col.dtype.kind in "fiub"):
        return None
    values = col.to_numpy()
    if col.dtype.kind == "f" and np.signbit(values[values == 0]).any():
        return None
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    texts, missing = _plain_texts(pd.Series(uniques))
    return codes, texts, missing


def _column_texts(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Return ``col.astype(str)``: its texts (object array, ``""`` where missing), missing.

    Faster than ``astype(str)``, same texts: a column of Python strings is its own text;
    a NumPy number or yes/no column is turned into text once per distinct value (its
    ``astype(str)`` is value by value).
    """
    if col.dtype == object:  # Python strings are their own text
        values = col.to_numpy()
        if pd.api.types.infer_dtype(values, skipna=False) == "string":
            return values, np.zeros(len(values), dtype=bool)
    coded = _number_texts(col)
    if coded is not None:
        codes, texts, missing = coded
        return texts[codes], missing[codes]
    return _plain_texts(col)


def _plain_texts(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``col.astype(str)`` as an object array (``""`` where missing) and its missing mask."""
    text = col.astype(str)
    missing = text.isna().to_numpy()
    out = text.to_numpy(dtype=object)
    if missing.any():
        out = out.copy()
        out[missing] = ""
    return out, missing


def hash_geometries(h: hashlib._Hash, geoms: np.ndarray) -> None:
    """Feed an array of geometries into the hash ``h``, one to one.

    Each geometry's type (missing: -1), its coordinate dimension and (when some
    geometry has more than two) whether it has Z and M; points and lines by their
    coordinate counts and coordinates (the cheap part: most features are such), every
    other geometry by its WKB (little-endian, without SRID), with its length.
    """
    _hash_geometries(h, geoms, _Geoms(geoms))


def _hash_geometries(h: hashlib._Hash, geoms: np.ndarray, facts: _Geoms) -> None:
    """:func:`hash_geometries` with the array's facts (``facts.arr is geoms``).

    Arrays are hashed through their buffers (the bytes ``tobytes`` would copy).
    """
    types, dims = facts.types, facts.dims
    h.update(f"\0geometries\0{len(geoms)}\0".encode())
    h.update(types.astype(np.int8))
    h.update(dims.astype(np.int8))
    with_z = with_m = False
    if (dims > 2).any():  # Z or M (a NaN Z is not none): which geometries have which
        has_z, has_m = shapely.has_z(geoms), shapely.has_m(geoms)
        h.update(np.packbits(has_z).tobytes() + np.packbits(has_m).tobytes())
        with_z, with_m = bool(has_z.any()), bool(has_m.any())
    simple = (types == 0) | (types == 1)  # Point, LineString: their coordinates say it all
    if simple.all():  # the common case: the facts' counts and (x, y) as they are
        h.update(facts.counts.astype(np.int64))
        if with_z or with_m:
            coords = shapely.get_coordinates(geoms, include_z=with_z, include_m=with_m)
        else:
            coords = facts.coords
    else:
        lines = geoms[simple]
        h.update(facts.counts[simple].astype(np.int64))
        coords = shapely.get_coordinates(lines, include_z=with_z, include_m=with_m)
    h.update(np.ascontiguousarray(coords, dtype="<f8"))
    other = ~simple & (types >= 0)
    if other.any():
        wkb = shapely.to_wkb(
            geoms[other], output_dimension=4 if with_m else 3, byte_order=1, include_srid=False
        )
        h.update(np.fromiter(map(len, wkb), np.int64, len(wkb)).tobytes())
        h.update(b"".join(wkb))


def remember_normalised(
    frame: gpd.GeoDataFrame,
    layer: str,
    *,
    file: str,
    problems: Iterable[Problem],
    geometry_facts: _Geoms | None = None,
) -> None:
    """Record in ``frame.attrs`` that it is normalised as ``layer``, its file and problems.

    ``geometry_facts``: those :func:`_normalise_layer` gave with the frame, if any.
    """
    frame.attrs[NORMALISED_ATTR] = (layer, _fingerprint(frame, geometry_facts=geometry_facts))
    frame.attrs[SOURCE_FILE_ATTR] = file
    frame.attrs[PROBLEMS_ATTR] = tuple(problems)


def normalised_as(frame: gpd.GeoDataFrame) -> str | None:
    """Return the layer a frame was normalised as, if it has not changed since; else None."""
    return _normalised_facts(frame)[0]


def _normalised_facts(frame: gpd.GeoDataFrame) -> tuple[str | None, _Geoms | None]:
    """:func:`normalised_as`, and the frame's facts its fingerprint computed (or None)."""
    mark = frame.attrs.get(NORMALISED_ATTR)
    if not isinstance(mark, tuple) or len(mark) != 2:
        return None, None
    facts = _Geoms(frame.geometry.to_numpy())
    return (str(mark[0]) if mark[1] == _fingerprint(frame, geometry_facts=facts) else None), facts


# Layers whose households and population count the same people (each household ≥ 1).
_HOUSEHOLD_LAYERS = ("admin_villages", "natural_villages", "relocation_sites")

_TRUE = {"是", "1", "true", "t", "y", "yes", "有", "√", "1.0"}
_FALSE = {"否", "0", "false", "f", "n", "no", "无", "", "×", "0.0"}
# the words county ledgers use for done / not done (危房 已改造, 污水 已治理, 5G 已覆盖)
_TRUE |= {"已改造", "已完成", "已销号", "已治理", "已覆盖", "已通", "寄宿"}
_FALSE |= {"未改造", "未完成", "未销号", "未治理", "未覆盖", "未通", "走读"}
_DTYPE_ZH = {"str": "文本", "int": "整数", "float": "数值", "bool": "是/否"}


def _problem(
    kind: ProblemKind,
    *,
    file: str,
    layer: str,
    row: int | None,
    feature_id: str | None,
    field: str | None,
    zh: str,
    fix: str,
    en: str,
    value: object = None,
    severity: Severity = Severity.ERROR,
) -> Problem:
    return Problem(
        kind=kind,
        file=file,
        layer=layer,
        row=row,
        feature_id=feature_id or None,
        field=field,
        message_zh=zh,
        fix_zh=fix,
        message=en,
        severity=severity,
        value=None if value is None else str(value),
    )


def _one_text(v: object) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace").strip()
    return str(v).strip()


def _as_text(series: pd.Series) -> pd.Series:
    """Turn any column into stripped text; integral floats lose their ``.0``; NA → ``""``."""
    kind = pd.api.types.infer_dtype(series, skipna=True)
    if kind in ("string", "empty"):  # the common case, vectorised
        dtype = series.dtype
        if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
            stripped = series.str.strip().to_numpy(dtype=object, na_value="")
            return pd.Series(stripped, index=series.index, dtype=object, copy=False)
        text = series.astype(object).where(series.notna(), "")
        return text.astype(str).str.strip().astype(object)
    if kind == "integer" and not series.isna().any():
        return series.astype(np.int64).astype(str).astype(object)
    if kind in ("floating", "mixed-integer-float", "integer") and series.dtype != object:
        values = series.to_numpy(dtype=float, na_value=np.nan)
        finite = np.isfinite(values)
        whole = finite & (np.floor(values) == values) & (np.abs(values) < 2**53)
        out = np.where(whole, values.astype(str), "").astype(object)
        out[whole] = values[whole].astype(np.int64).astype(str)
        out[finite & ~whole] = values[finite & ~whole].astype(str)
        return pd.Series(out, index=series.index, dtype=object, copy=False)
    values = series.to_numpy(dtype=object)
    return pd.Series([_one_text(v) for v in values], index=series.index, dtype=object)


def _fullmatch(pattern: str, values: np.ndarray) -> np.ndarray:
    """Whether each value is a string matching ``pattern`` in full (``str.fullmatch``)."""
    match = re.compile(pattern).fullmatch
    return np.array(
        [isinstance(v, str) and match(v) is not None for v in values.tolist()], dtype=bool
    )


def _is_text_dtype(series: pd.Series) -> bool:
    return isinstance(series.dtype, pd.StringDtype)


def _text_codes(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_as_text` as codes into its distinct values: ``text = uniques[codes]``.

    Text columns are factorised first, so the work per value (strip, map, match, parse)
    is done once per distinct value; other columns go through :func:`_as_text`.
    """
    codes, uniq, _ = _text_codes_distinct(series, check=False)
    return codes, uniq


def _text_codes_distinct(
    series: pd.Series, *, check: bool = True
) -> tuple[np.ndarray, np.ndarray, bool]:
    """:func:`_text_codes`, and whether its non-empty texts are known to be distinct.

    They are when the column's distinct values lose nothing to stripping (or are texts
    factorised already): then two rows have one text exactly when they have one code.
    With ``check=False`` the flag is only True when that costs nothing to know.
    """
    if _is_text_dtype(series) or (
        series.dtype == object and pd.api.types.infer_dtype(series, skipna=True) == "string"
    ):
        if check and _all_distinct_arrow(series):  # ids: factorize would give 0, 1, 2 …
            codes, uniques = np.arange(len(series)), series.array
        else:
            codes, uniques = pd.factorize(series, use_na_sentinel=True)
        values = pd.Series(uniques)
        dtype = values.dtype
        if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
            # _as_text of Arrow strings without NA (factorize leaves them out), and
            # whether stripping changed a value (two values may have become one)
            stripped = values.str.strip()
            distinct = check and bool((stripped == values).all())
            text = stripped.to_numpy(dtype=object, na_value="")
        else:
            text, distinct = _as_text(values).to_numpy(dtype=object), False
        text = np.append(text, "")  # code -1 (NA) → ""
        return np.where(codes < 0, len(text) - 1, codes), text, distinct
    if pd.api.types.is_bool_dtype(series.dtype):  # yes/no: two values and NA
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
        text = np.array([*map(_one_text, uniques), ""], dtype=object)  # as _as_text per value
        return np.where(codes < 0, len(text) - 1, codes), text, False
    text = _as_text(series).to_numpy(dtype=object)
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    return codes, np.asarray(uniques, dtype=object), True


def _all_distinct_arrow(series: pd.Series) -> bool:
    """Whether an Arrow text column has no NA and no value twice (False when not Arrow).

    By sorting (Arrow sorts strings several times faster than it hashes them): two equal
    values are neighbours then.
    """
    dtype = series.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow") or series.hasnans:
        return False
    arrow = pa.array(series.array)
    if len(arrow) < 2:
        return True
    ordered = arrow.take(pc.array_sort_indices(arrow))
    return not pc.any(pc.equal(ordered[1:], ordered[:-1])).as_py()


def _numeric_values(series: pd.Series) -> np.ndarray | None:
    """Return a numeric column's floats as :func:`_as_text` + ``to_numeric`` read them, or None.

    Integral floats written as integers and back, other floats by their shortest repr:
    both give the same float; NaN and ±inf have no text (empty), so they are NaN here.
    None for columns that are not plain numbers (text, objects, booleans).
    """
    if series.dtype == object or pd.api.types.is_bool_dtype(series.dtype):
        return None
    if not (
        pd.api.types.is_integer_dtype(series.dtype) or pd.api.types.is_float_dtype(series.dtype)
    ):
        return None
    values = series.to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isfinite(values), values, np.nan)


class _LayerChecker:
    """Collects the problems of one layer while normalising its columns."""

    def __init__(self, frame: gpd.GeoDataFrame, schema: LayerSchema, file: str) -> None:
        self.schema = schema
        self.file = file
        self.frame = frame
        self.problems: list[Problem] = []
        self.rows = np.arange(1, len(frame) + 1)
        self.ids: np.ndarray | list[str | None] = [None] * len(frame)
        self.text_codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        """Field → (codes, texts): the coerced text column is ``texts[codes]``."""
        self._empty: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def empty_texts(self, texts: np.ndarray) -> np.ndarray:
        """``texts == ""``, computed once per array (the id texts' is asked for three times).

        The arrays are kept with their answers, so an id is never another array's.
        """
        known = self._empty.get(id(texts))
        if known is None or known[0] is not texts:
            known = self._empty[id(texts)] = (texts, texts == "")
        return known[1]

    def add(
        self,
        kind: ProblemKind,
        positions: Iterable[int] | None,
        *,
        field: str | None,
        zh: str,
        fix: str,
        en: str,
        values: pd.Series | None = None,
        severity: Severity = Severity.ERROR,
    ) -> None:
        """Add one problem per position (0-based), or one layer-wide problem if None."""
        if positions is None:
            self.problems.append(
                _problem(
                    kind,
                    file=self.file,
                    layer=self.schema.name,
                    row=None,
                    feature_id=None,
                    field=field,
                    zh=zh,
                    fix=fix,
                    en=en,
                    severity=severity,
                )
            )
            return
        for pos in positions:
            value = None if values is None else values.iloc[pos]
            self.problems.append(
                _problem(
                    kind,
                    file=self.file,
                    layer=self.schema.name,
                    row=int(self.rows[pos]),
                    feature_id=self.ids[pos],
                    field=field,
                    zh=zh,
                    fix=fix,
                    en=en,
                    value=value,
                    severity=severity,
                )
            )

    # ------------------------------------------------------------------ fields
    def coerce(
        self,
        f: Field,
        raw: pd.Series,
        *,
        text_codes: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> pd.Series:
        """Coerce one column to the field's type and check it; return the new column.

        ``text_codes`` is ``_text_codes(raw)`` when the caller has it already.
        """
        numeric = _numeric_values(raw) if f.dtype in ("int", "float") else None
        if numeric is not None:  # a column of numbers: no text unless a problem needs it
            codes = uniq = None
            empty = np.isnan(numeric)
            text_of: dict[str, pd.Series] = {}

            def text() -> pd.Series:
                if "t" not in text_of:
                    text_of["t"] = _as_text(raw)
                return text_of["t"]
        else:
            codes, uniq = _text_codes(raw) if text_codes is None else text_codes
            empty_u = self.empty_texts(uniq)
            empty = empty_u[codes]
            cache: dict[str, pd.Series] = {}

            def text() -> pd.Series:
                if "t" not in cache:
                    cache["t"] = pd.Series(uniq[codes], index=raw.index, dtype=object, copy=False)
                return cache["t"]

        title = f"{f.title_zh}({f.name})"
        if f.required and empty.any():
            self.add(
                ProblemKind.MISSING_VALUE,
                np.flatnonzero(empty),
                field=f.name,
                zh=f"必填字段“{title}”为空",
                fix="请填写该字段的值",
                en=f"required field {f.name!r} is empty; fill it in",
            )
        if f.dtype == "str":
            assert codes is not None and uniq is not None
            out_u = uniq.copy()
            if f.default is not None:
                out_u[empty_u] = f.default
            if f.allowed is not None:
                out_u = self._allowed(f, out_u, empty_u, codes, raw.index)
            out = pd.Series(out_u[codes], index=raw.index, dtype=object, copy=False)
            self.text_codes[f.name] = (codes, out_u)
            if f.pattern is not None:
                ok_u = _fullmatch(f.pattern, out_u)
                bad = ~ok_u[codes] & ~empty
                if bad.any():
                    self.add(
                        ProblemKind.BAD_PATTERN,
                        np.flatnonzero(bad),
                        field=f.name,
                        zh=f"“{title}”格式不对，应为 {_pattern_zh(f.pattern)}",
                        fix="请核对代码位数（统计用区划代码：县6位、乡镇9位、村12位）",
                        en=f"{f.name!r} must match {f.pattern}",
                        values=out,
                    )
            return out
        if f.dtype == "bool":
            assert codes is not None and uniq is not None
            # on the distinct values, in plain Python (a few of them; pandas' per-call
            # overhead is most of the cost here): lower-cased, then looked up
            folded = [v.lower() if isinstance(v, str) else v for v in uniq]
            is_true = np.array([v in _TRUE for v in folded], dtype=bool)[codes]
            is_false = np.array([v in _FALSE for v in folded], dtype=bool)[codes]
            bad = ~is_true & ~is_false
            if bad.any():
                self.add(
                    ProblemKind.WRONG_TYPE,
                    np.flatnonzero(bad),
                    field=f.name,
                    zh=f"“{title}”应为 是/否",
                    fix="请填写 是 或 否（也可用 1/0）",
                    en=f"{f.name!r} must be yes/no (是/否, 1/0, true/false)",
                    values=text(),
                )
            if f.default is None:  # no default: an empty value is unknown (NA), not 否
                nullable = pd.Series(pd.array(is_true, dtype="boolean"), index=raw.index)
                nullable[empty] = pd.NA
                return nullable
            out = pd.Series(is_true, index=raw.index, copy=False)
            out[empty] = bool(f.default)
            return out
        # numbers
        if numeric is not None:
            values = numeric
        else:
            assert codes is not None and uniq is not None
            num_u = pd.to_numeric(
                pd.Series(np.where(empty_u, None, uniq), dtype=object), errors="coerce"
            )
            not_number = num_u.isna().to_numpy()[codes] & ~empty
            if not_number.any():
                self.add(
                    ProblemKind.WRONG_TYPE,
                    np.flatnonzero(not_number),
                    field=f.name,
                    zh=f"“{title}”应为{_DTYPE_ZH[f.dtype]}",
                    fix="请删除单位和文字，只填数字",
                    en=f"{f.name!r} must be a number",
                    values=text(),
                )
            values = num_u.to_numpy(dtype=float, na_value=np.nan)[codes]
        infinite = np.isinf(values)
        if infinite.any():  # "inf", "-Infinity", 1e999: a number, but not a value
            self.add(
                ProblemKind.WRONG_TYPE,
                np.flatnonzero(infinite),
                field=f.name,
                zh=f"“{title}”为无穷大（inf），不是有效数值",
                fix="请填写实际的数值",
                en=f"{f.name!r} is infinite ({'inf'}); fill in the actual number",
                values=text(),
            )
            values = np.where(infinite, np.nan, values)
        if f.dtype == "int":
            frac = np.isfinite(values) & (np.floor(values) != values)
            if frac.any():
                self.add(
                    ProblemKind.WRONG_TYPE,
                    np.flatnonzero(frac),
                    field=f.name,
                    zh=f"“{title}”应为整数",
                    fix="请填写整数",
                    en=f"{f.name!r} must be a whole number",
                    values=text(),
                )
        finite = np.isfinite(values)
        out_of_range = np.zeros(len(values), dtype=bool)
        if f.min_value is not None:
            out_of_range |= finite & (values < f.min_value)
        if f.max_value is not None:
            out_of_range |= finite & (values > f.max_value)
        if out_of_range.any():
            lo = "" if f.min_value is None else f"{f.min_value:g}"
            hi = "" if f.max_value is None else f"{f.max_value:g}"
            self.add(
                ProblemKind.OUT_OF_RANGE,
                np.flatnonzero(out_of_range),
                field=f.name,
                zh=f"“{title}”超出合理范围 [{lo}, {hi}]",
                fix="请核对数值和单位（如宽度用米、管径用毫米）",
                en=f"{f.name!r} outside [{lo}, {hi}]",
                values=text(),
            )
        if f.default is not None:
            values = np.where(empty, float(f.default), values)  # type: ignore[arg-type]
        if f.dtype == "int":
            if np.isfinite(values).all():
                return pd.Series(values.astype(np.int64), index=raw.index, copy=False)
            return pd.Series(pd.array(np.round(values), dtype="Float64"), index=raw.index).astype(
                "Int64"
            )
        return pd.Series(values, index=raw.index, dtype=float, copy=False)

    def _allowed(
        self, f: Field, out_u: np.ndarray, empty_u: np.ndarray, codes: np.ndarray, index: pd.Index
    ) -> np.ndarray:
        """Map synonyms to allowed values (on the distinct values) and report the others."""
        assert f.allowed is not None
        aliases = {k.lower(): v for k, v in f.value_aliases.items()}
        aliases.update({a.lower(): a for a in f.allowed})
        # on the distinct values in plain Python; unmapped values kept as typed so the
        # problem shows them
        mapped_u = np.empty(len(out_u), dtype=object)
        mapped_u[:] = [
            aliases.get(v.lower(), v) if isinstance(v, str) else v for v in out_u.tolist()
        ]
        allowed = frozenset(f.allowed)
        allowed_now = np.array([v in allowed for v in mapped_u.tolist()], dtype=bool)
        # an empty value of an optional field is filled by its default above
        bad = (~allowed_now & ~(empty_u & f.required))[codes]
        if bad.any():
            choices = "、".join(f.allowed)
            self.add(
                ProblemKind.VALUE_NOT_ALLOWED,
                np.flatnonzero(bad),
                field=f.name,
                zh=f"“{f.title_zh}”的值不在允许范围内",
                fix=f"请改为以下之一：{choices}",
                en=f"{f.name!r} must be one of: {', '.join(f.allowed)}",
                values=pd.Series(mapped_u[codes], index=index, dtype=object),
            )
        return mapped_u

    # ---------------------------------------------------------------- geometry
    def geometry(self, geoms: gpd.GeoSeries, facts: _Geoms) -> None:
        """Check emptiness, geometry type, validity and coordinate sanity."""
        arr = geoms.to_numpy()
        facts = _facts_of(arr, facts)
        missing = facts.missing
        if missing.any():
            self.add(
                ProblemKind.EMPTY_GEOMETRY,
                np.flatnonzero(missing),
                field=None,
                zh="要素没有几何（空坐标）",
                fix="请补绘该要素或删除该行",
                en="feature has no geometry; draw it or delete the row",
            )
        present = ~missing
        types = facts.types
        names = np.array(
            [
                "Point",
                "LineString",
                "LinearRing",
                "Polygon",
                "MultiPoint",
                "MultiLineString",
                "MultiPolygon",
                "GeometryCollection",
            ]
        )
        expected_ids = [i for i, n in enumerate(names) if n in self.schema.geometry_types]
        wrong = present & ~np.isin(types, expected_ids)
        if wrong.any():
            type_names = np.where(types >= 0, names[np.clip(types, 0, 7)], "")
            expected = "/".join(self.schema.geometry_types)
            self.add(
                ProblemKind.WRONG_GEOMETRY_TYPE,
                np.flatnonzero(wrong),
                field=None,
                zh=f"几何类型不对，本图层应为 {expected}",
                fix="请检查是否导入了错误的图层（如把道路线导入为点）",
                en=f"geometry must be {expected}",
                values=pd.Series(type_names),
            )
        invalid = present & ~shapely.is_valid(arr)
        for pos in np.flatnonzero(invalid):
            reason = shapely.is_valid_reason(arr[pos])
            self.add(
                ProblemKind.INVALID_GEOMETRY,
                [pos],
                field=None,
                zh=f"几何无效：{reason}",
                fix="请在GIS软件中修复几何（如“修复几何”工具），检查自相交和重复点",
                en=f"invalid geometry: {reason}; repair it (e.g. make valid)",
                values=pd.Series([reason] * len(arr)),
            )
        crs = geoms.crs
        if crs is None or not crs.is_geographic:
            return
        if _within_china_box(facts.coords):
            # every vertex in China's box, so is every feature's bounding box and its
            # centre: nothing below is swapped, in the wrong hemisphere or impossible
            return
        bounds = shapely.bounds(arr)
        with np.errstate(invalid="ignore"):
            impossible = present & (
                (np.abs(bounds[:, [0, 2]]) > 180).any(axis=1)
                | (np.abs(bounds[:, [1, 3]]) > 90).any(axis=1)
            )
            cx = (bounds[:, 0] + bounds[:, 2]) / 2
            cy = (bounds[:, 1] + bounds[:, 3]) / 2
            in_lon = (cx >= _CHINA_LON[0]) & (cx <= _CHINA_LON[1])
            in_lat = (cy >= _CHINA_LAT[0]) & (cy <= _CHINA_LAT[1])
            swapped = (
                present
                & (cy >= _CHINA_LON[0])
                & (cy <= _CHINA_LON[1])
                & (cx >= _CHINA_LAT[0])
                & (cx <= _CHINA_LAT[1])
            )
            hemisphere = (
                present
                & ~swapped
                & ~(in_lon & in_lat)
                & (
                    (np.abs(cx) >= _CHINA_LON[0])
                    & (np.abs(cx) <= _CHINA_LON[1])
                    & (np.abs(cy) >= _CHINA_LAT[0])
                    & (np.abs(cy) <= _CHINA_LAT[1])
                )
            )
            # a lat over 90 that is a swapped pair is reported as swapped, not as impossible
            impossible &= ~swapped
        if not (swapped.any() or hemisphere.any() or impossible.any()):
            return
        coords = pd.Series([f"{x:.6f}, {y:.6f}" for x, y in zip(cx, cy, strict=True)])
        if impossible.any():
            self.add(
                ProblemKind.COORDINATE_RANGE,
                np.flatnonzero(impossible),
                field=None,
                zh="坐标超出经纬度的取值范围（纬度应在 ±90°、经度应在 ±180° 以内）",
                fix="请核对该要素的坐标：是否多输或少输了数字、是否把投影坐标当作经纬度",
                en="coordinates outside the possible range (latitude beyond ±90° or "
                "longitude beyond ±180°); check the digits of this feature",
                values=coords,
            )
        if swapped.any():
            self.add(
                ProblemKind.SWAPPED_LONLAT,
                np.flatnonzero(swapped),
                field=None,
                zh="经纬度可能颠倒（经度在纬度范围、纬度在经度范围）",
                fix="请交换经度和纬度两列，或在导入时指定正确的经度、纬度字段",
                en="longitude and latitude look swapped; swap the columns",
                values=coords,
            )
        if hemisphere.any():
            self.add(
                ProblemKind.WRONG_HEMISPHERE,
                np.flatnonzero(hemisphere),
                field=None,
                zh="坐标在错误的半球（经度或纬度为负数）",
                fix="宁夏为东经、北纬，请去掉坐标前的负号",
                en="coordinates in the wrong hemisphere; Ningxia is east/north: "
                "drop the minus sign",
                values=coords,
            )


def _within_china_box(xy: np.ndarray) -> bool:
    """Whether there are coordinates and all lie in China's lon/lat box (NaN: no)."""
    if not len(xy):
        return False
    # column by column (a reduction along axis 0 of an (n, 2) array is ten times slower);
    # NaN if any is: then the test says no
    x, y = xy[:, 0], xy[:, 1]
    return bool(
        x.min() >= _CHINA_LON[0] and x.max() <= _CHINA_LON[1]
        and y.min() >= _CHINA_LAT[0] and y.max() <= _CHINA_LAT[1]
    )  # fmt: skip


def _pattern_zh(pattern: str) -> str:
    m = re.fullmatch(r"\\d\{(\d+)\}", pattern)
    return f"{m.group(1)}位数字" if m else pattern


_ABSENT: dict[int, tuple[Field, pd.Series]] = {}
"""Per field (by identity): its column when absent, coerced from one empty value."""


def _absent_column(checker: _LayerChecker, f: Field, index: pd.Index) -> pd.Series:
    """Return the coerced column of an absent optional field (an all-empty column).

    Every row is the same empty value, so the column is that value coerced once, repeated
    (same dtype); a field whose empty value is itself a problem is coerced row by row.
    """
    entry = _ABSENT.get(id(f))
    if entry is None or entry[0] is not f:
        probe = _LayerChecker(pd.DataFrame(index=pd.RangeIndex(1)), checker.schema, checker.file)
        one = probe.coerce(f, pd.Series([None], dtype=object))
        if probe.problems:
            return checker.coerce(f, pd.Series([None] * len(index), index=index, dtype=object))
        entry = _ABSENT[id(f)] = (f, one)
    codes = np.zeros(len(index), dtype=np.intp)
    if f.dtype == "str":
        checker.text_codes[f.name] = (codes, entry[1].to_numpy(dtype=object))
    return entry[1].take(codes).set_axis(index)


def _duplicate_ids(ids: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Return the ids as text and which of them are not empty and not unique.

    A column of Python strings is factorised as it is: a value is a duplicate when its
    code occurs more than once (what ``duplicated(keep=False)`` tells, without the
    round trip through Arrow); other columns go through ``astype(str)``.
    """
    if ids.dtype == object:
        values = ids.to_numpy(dtype=object)
        if pd.api.types.infer_dtype(values, skipna=False) == "string":
            codes, uniques = pd.factorize(values)
            counts = np.bincount(codes, minlength=len(uniques))
            filled = np.asarray(uniques, dtype=object) != ""
            return ids, (counts > 1)[codes] & filled[codes]
        ids = pd.Series(values, index=ids.index)
    else:
        ids = ids.astype(str)
    return ids, (ids.duplicated(keep=False) & (ids != "")).to_numpy()


def normalise_layer(
    frame: gpd.GeoDataFrame, layer: str, *, file: str = ""
) -> tuple[gpd.GeoDataFrame, list[Problem]]:
    """Normalise one layer to its schema and list every problem in it.

    Parameters
    ----------
    frame : geopandas.GeoDataFrame
        The layer as read, in EPSG:4326 (other CRSs are checked but not converted;
        readers convert on read).
    layer : str
        GapMap layer name (see :data:`layers.schema.LAYERS`).
    file : str, optional
        File name for the problem records.

    Returns
    -------
    frame : geopandas.GeoDataFrame
        A new frame: declared fields first (renamed, typed, synonyms mapped to allowed
        values, optional fields filled with their defaults), unknown fields after them,
        unchanged, then the geometry. The input is not modified.
    problems : list of Problem
        Every problem found, errors and warnings, in field order then row order.
    """
    result, problems, _ = _normalise_layer(frame, layer, file=file)
    return result, problems


def _normalise_layer(
    frame: gpd.GeoDataFrame, layer: str, *, file: str = ""
) -> tuple[gpd.GeoDataFrame, list[Problem], _Geoms]:
    """:func:`normalise_layer`, and the facts of the result's geometry array."""
    schema = get_schema(layer)
    geoms = frame.geometry if isinstance(frame, gpd.GeoDataFrame) else None
    if geoms is None:
        raise TypeError("normalise_layer needs a GeoDataFrame with an active geometry")
    geom_name, crs = geoms.name, geoms.crs
    # the attribute columns by name, in order (no DataFrame: its construction costs
    # more than the checks of a small layer)
    columns = [(str(c), col) for c, col in frame.items() if c != geom_name]
    checker = _LayerChecker(frame, schema, file)
    names = pd.Index([c for c, _ in columns])
    if names.duplicated().any():
        # Two columns of one name (CSV/XLSX headers): which one is meant cannot be told.
        for c in dict.fromkeys(names[names.duplicated()]):
            checker.add(
                ProblemKind.DUPLICATE_FIELD,
                None,
                field=c,
                zh=f"有 {int((names == c).sum())} 列都叫“{c}”，无法判断使用哪一列",
                fix="请删除重复的列或给它们改成不同的列名（只保留一列）",
                en=f"{int((names == c).sum())} columns are named {c!r}; rename or delete "
                "all but one",
            )
    first: dict[str, pd.Series] = {}
    for c, col in columns:  # of columns of one name, the first
        first.setdefault(c, col)
    mapping = column_mapping(list(first), schema)
    attrs: dict[str, pd.Series] = {}
    for c, col in first.items():  # an alias landing on a column already present: the first
        attrs.setdefault(mapping.get(c, c), col)

    if crs is None:
        checker.add(
            ProblemKind.CRS_MISSING,
            None,
            field=None,
            zh="图层没有坐标系信息",
            fix="导入时请声明坐标系（WGS84、CGCS2000、GCJ-02、"
            "BD-09 或 EPSG 代码），或为文件补充 .prj",
            en="layer has no CRS; declare coords= (wgs84, cgcs2000, gcj02, bd09 or "
            "an EPSG code) or add a .prj",
        )

    id_field = schema.id_field
    id_codes: tuple[np.ndarray, np.ndarray] | None = None
    distinct_ids = False
    if id_field in attrs:
        # the id text (_as_text) as codes into its distinct values; coerce reuses them
        id_text_codes, id_uniq, distinct_ids = _text_codes_distinct(attrs[id_field])
        id_codes = (id_text_codes, id_uniq)
        ids_u = id_uniq.copy()
        ids_u[checker.empty_texts(id_uniq)] = None
        checker.ids = ids_u[id_text_codes]

    out: dict[str, pd.Series] = {}
    for f in schema.fields:
        if f.name not in attrs:
            if f.required:
                checker.add(
                    ProblemKind.MISSING_FIELD,
                    None,
                    field=f.name,
                    zh=f"缺少必填字段“{f.title_zh}”({f.name})",
                    fix=f"请在文件中增加“{f.title_zh}”字段（也可用中文名或拼音代码）",
                    en=f"missing required field {f.name!r}; add the column "
                    f"(Chinese or pinyin-code names are accepted)",
                )
                continue
            # an absent optional column is an all-empty one: defaults (or NA) fill it
            out[f.name] = _absent_column(checker, f, frame.index)
            continue
        given = id_codes if f.name == id_field else None
        out[f.name] = checker.coerce(f, attrs[f.name], text_codes=given)

    if id_field in out:
        id_spec = schema.field(id_field)
        if (
            id_codes is not None
            and distinct_ids
            and id_spec.dtype == "str"
            and id_spec.default is None
            and id_spec.allowed is None
        ):
            # the column is uniq[codes] as it is, its non-empty texts distinct: a value
            # is a duplicate when its code is
            codes, uniq = id_codes
            ids = out[id_field]
            filled = ~checker.empty_texts(uniq)
            dup = (np.bincount(codes, minlength=len(uniq)) > 1)[codes] & filled[codes]
        else:
            ids, dup = _duplicate_ids(out[id_field])
        if dup.any():
            checker.add(
                ProblemKind.DUPLICATE_ID,
                np.flatnonzero(dup),
                field=id_field,
                zh=f"编号“{id_field}”重复",
                fix="每个要素的编号必须唯一，请修改重复的编号",
                en=f"duplicate {id_field!r}; ids must be unique",
                values=ids,
            )

    if {"households", "population"} <= set(out) and schema.name in _HOUSEHOLD_LAYERS:
        hh = out["households"].to_numpy(dtype=float, na_value=np.nan)
        pop = out["population"].to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            more = (hh >= 0) & (pop >= 0) & (hh > pop)  # NaN and negatives: reported above
        if more.any():
            checker.add(
                ProblemKind.INCONSISTENT_VALUES,
                np.flatnonzero(more),
                field="households",
                zh="户数大于人口数（每户至少一人）",
                fix="请核对户数和人口两列是否填反、是否多输了数字",
                en="households exceed population (each household has at least one "
                "person); check whether the two columns are swapped",
                values=pd.Series([f"{a:g} > {b:g}" for a, b in zip(hh, pop, strict=True)]),
            )

    unknown = [c for c in attrs if c not in schema.field_names]
    for c in unknown:
        checker.add(
            ProblemKind.UNKNOWN_FIELD,
            None,
            field=str(c),
            zh=f"字段“{c}”不是本图层的标准字段，已原样保留",
            fix="如它是某个标准字段的别名，请改为标准字段名",
            en=f"column {c!r} is not a GapMap field; kept unchanged",
            severity=Severity.WARNING,
        )

    facts = _Geoms(geoms.to_numpy())
    checker.geometry(geoms, facts)

    data = pd.DataFrame(out, index=frame.index)
    for c in unknown:
        data[c] = attrs[c]
    if "geometry" in data:
        result = gpd.GeoDataFrame(data, geometry=geoms.to_numpy(), crs=crs)
    else:  # the same frame, built faster: the input's GeoSeries as it is (copy on write)
        data["geometry"] = geoms.rename("geometry")
        result = gpd.GeoDataFrame(data, geometry="geometry", copy=False)
    result = result.rename_geometry("geometry") if result.geometry.name != "geometry" else result
    facts.arr = result.geometry.to_numpy()  # the same geometries: their facts hold
    for pos, name in enumerate(result.columns):  # the text columns as codes, for digests
        given = checker.text_codes.get(name) if name in out else None
        if given is not None and (len(given[0]) == 0 or given[0].min() >= 0):
            facts.text_codes[pos, name] = given
    result.attrs = dict(frame.attrs)
    result.attrs["column_renames"] = dict(mapping)
    order = {f.name: i for i, f in enumerate(schema.fields)}
    checker.problems.sort(key=lambda p: (order.get(p.field or "", len(order)), p.row or 0))
    n_err = sum(p.severity is Severity.ERROR for p in checker.problems)
    logger.info(
        "%s %s: %d rows, %d errors, %d warnings",
        file,
        layer,
        len(result),
        n_err,
        len(checker.problems) - n_err,
    )
    return result, checker.problems, facts


# ------------------------------------------------------------------------- dataset


def validate_dataset(
    frames: Mapping[str, gpd.GeoDataFrame],
    *,
    files: Mapping[str, str] | None = None,
    outside_tolerance_m: float = OUTSIDE_TOLERANCE_M,
    geometry_facts: Mapping[str, _Geoms] | None = None,
) -> list[Problem]:
    """Check what needs more than one layer, listing every problem.

    Checks: features outside the county boundary (``county`` layer, with a tolerance),
    admin-village codes that are not in ``admin_villages`` (``admin_village_code`` of
    natural villages, relocation sites, clinics, public facilities and the housing survey;
    every code of a ``serves_codes`` list of clinics, public and environmental
    facilities), township codes not in ``townships``, admin-village codes whose first nine
    digits disagree with their township (warning; admin villages and public facilities),
    housing-survey ``village_id`` values that name no natural village, and ones whose
    natural village lies in another admin village (warning), water node names that are
    not in ``water_nodes``/``water_sources``.

    Parameters
    ----------
    frames : mapping of str to GeoDataFrame
        Normalised layers (output of :func:`normalise_layer`) by layer name, EPSG:4326.
    files : mapping of str to str, optional
        File name of each layer, for the problem records.
    outside_tolerance_m : float
        Distance outside the boundary (metres) still accepted.
    geometry_facts : mapping of str to _Geoms, optional
        Facts of layers' geometry arrays the caller has (from ``_normalise_layer``);
        used only for the very array they were computed on.

    Returns
    -------
    list of Problem
    """
    files = dict(files or {})
    problems: list[Problem] = []

    def add_rows(
        layer: str,
        positions: Iterable[int],
        field: str | None,
        *,
        kind: ProblemKind,
        zh: str,
        fix: str,
        en: str,
        values: pd.Series | None = None,
        severity: Severity = Severity.ERROR,
    ) -> None:
        frame = frames[layer]
        id_field = get_schema(layer).id_field
        ids = frame[id_field].astype(str).to_numpy() if id_field in frame else None
        for pos in positions:
            problems.append(
                _problem(
                    kind,
                    file=files.get(layer, ""),
                    layer=layer,
                    row=int(pos) + 1,
                    feature_id=None if ids is None else ids[pos],
                    field=field,
                    zh=zh,
                    fix=fix,
                    en=en,
                    severity=severity,
                    value=None if values is None else values.iloc[pos],
                )
            )

    def check_codes(
        layer: str,
        field: str,
        valid: set[str],
        target: str,
        *,
        multi: bool = False,
        fix: str | None = None,
    ) -> None:
        frame = frames.get(layer)
        if frame is None or field not in frame:
            return
        # on the distinct values (text = uniq[codes], as _as_text gives it)
        codes, uniq = _text_codes(frame[field])
        uniq_list = uniq.tolist()
        if multi:
            unknown = [[c for c in split_codes(t) if c not in valid] for t in uniq_list]
            bad = np.flatnonzero(np.array([bool(u) for u in unknown], dtype=bool)[codes])
            shown = np.array([";".join(u) for u in unknown] or [""], dtype=object)
        else:
            checkable = uniq != ""
            pattern = get_schema(layer).field(field).pattern
            if pattern:  # a malformed code is already reported as bad_pattern
                checkable &= _fullmatch(pattern, uniq)
            known = np.array([t in valid for t in uniq_list], dtype=bool)
            bad = np.flatnonzero((checkable & ~known)[codes])
            shown = uniq
        if len(bad):
            text = pd.Series(shown[codes], index=frame[field].index, dtype=object)
            title = get_schema(target).title_zh
            add_rows(
                layer,
                bad,
                field,
                kind=ProblemKind.UNKNOWN_CODE,
                values=text,
                zh=f"“{field}”中的代码在{title}图层中不存在",
                fix=fix or f"请核对代码，或先在{title}图层中补充该单位",
                en=f"{field!r} refers to a code that is not in layer {target!r}",
            )

    # a layer without its code column is reported by normalise_layer (missing_field);
    # codes that refer to it cannot be checked then
    if "admin_villages" in frames and "code" in frames["admin_villages"]:
        av_codes = set(_as_text(frames["admin_villages"]["code"]))
        for layer in _ADMIN_CODE_LAYERS:
            check_codes(layer, "admin_village_code", av_codes, "admin_villages")
        for layer in _SERVES_LAYERS:
            check_codes(
                layer,
                "serves_codes",
                av_codes,
                "admin_villages",
                multi=True,
                fix="请核对分号分隔的 12 位行政村代码（问题值列出不存在的代码），删除已撤并的村，"
                "或先在行政村图层中补充该村",
            )
    if "townships" in frames and "code" in frames["townships"]:
        tw_codes = set(_as_text(frames["townships"]["code"]))
        for layer in ("admin_villages", "clinics", "public_facilities"):
            check_codes(layer, "township_code", tw_codes, "townships")
    if "natural_villages" in frames and "id" in frames["natural_villages"]:
        nv = frames["natural_villages"]
        nv_ids = set(_as_text(nv["id"]))
        check_codes(
            "housing_survey",
            "village_id",
            nv_ids,
            "natural_villages",
            fix="请核对自然村编号（与自然村图层的编号一致），不知道所在自然村时留空",
        )
        _housing_village_mismatch(frames, nv, add_rows)
    _public_township_mismatch(frames, add_rows)
    if "admin_villages" in frames and {"code", "township_code"} <= set(frames["admin_villages"]):
        av = frames["admin_villages"]
        code, tw = _as_text(av["code"]), _as_text(av["township_code"])
        disagree = np.flatnonzero(((code.str[:9] != tw) & (code != "") & (tw != "")).to_numpy())
        if len(disagree):
            add_rows(
                "admin_villages",
                disagree,
                "township_code",
                kind=ProblemKind.UNKNOWN_CODE,
                severity=Severity.WARNING,
                values=tw,
                zh="行政村代码前9位与所属乡镇代码不一致",
                fix="请核对行政村代码或所属乡镇代码（统计用区划代码前9位即乡镇代码）",
                en="first nine digits of the admin-village code differ from township_code",
            )
    node_names: set[str] = set()
    for layer in ("water_nodes", "water_sources"):
        if layer in frames and "name" in frames[layer]:
            node_names |= set(_as_text(frames[layer]["name"]))
    if node_names or "water_pipes" in frames:
        for field in ("start_node_name", "end_node_name"):
            check_codes("water_pipes", field, node_names, "water_nodes")
        check_codes("natural_villages", "water_node", node_names, "water_nodes")

    county = frames.get("county")
    if county is not None and len(county) and county.crs is not None:
        county_m = county.to_crs(metric_crs(county))
        area = shapely.union_all(shapely.make_valid(county_m.geometry.to_numpy()))
        area = shapely.buffer(area, outside_tolerance_m)
        shapely.prepare(area)
        core = _Core(area, county_m.crs)
        for layer, frame in frames.items():
            if layer == "county" or frame.crs is None or len(frame) == 0:
                continue
            raw = frame.geometry.to_numpy()
            facts = _facts_of(raw, (geometry_facts or {}).get(layer))
            present = ~facts.missing
            # a first vertex well inside the area settles most features without projecting
            inside = present & core.holds_first_vertex(raw, frame.crs, facts=facts)
            rest = np.flatnonzero(present & ~inside)
            geoms = np.full(len(raw), None, dtype=object)
            if len(rest):
                geoms[rest] = (
                    gpd.GeoSeries(raw[rest], crs=frame.crs).to_crs(county_m.crs).to_numpy()
                )
                inside[rest] = shapely.intersects(area, geoms[rest])
            outside = np.flatnonzero(present & ~inside)
            if len(outside):
                # A point far away (e.g. swapped lon/lat) projects to inf in the local
                # azimuthal projection: its distance is NaN and reported as unknown.
                with np.errstate(invalid="ignore"):
                    dist = shapely.distance(area, geoms[outside])
                vals = pd.Series([""] * len(geoms), dtype=object)
                vals.iloc[outside] = [
                    f"{d / 1000:.1f} km" if np.isfinite(d) else "很远" for d in dist
                ]
                add_rows(
                    layer,
                    outside,
                    None,
                    kind=ProblemKind.OUTSIDE_COUNTY,
                    values=vals,
                    zh="要素位于县界之外",
                    fix="请核对坐标系声明（WGS84/GCJ-02/BD-09/高斯投影带）和经纬度是否颠倒，"
                    "或删除不属于本县的要素",
                    en="feature lies outside the county boundary; check the declared "
                    "coordinate system and lon/lat order",
                )
    return problems


class _Core:
    """The county area shrunk by a margin, in each layer's CRS, for a fast inside test.

    A vertex (transformed exactly) inside the area means its feature intersects it. The
    shrunk area is densified (≤ ``_CORE_SEGMENT_M`` segments) before its vertices are
    transformed: a straight segment of the one CRS is off the image of the other's by
    well under a millimetre at that length, far less than ``_CORE_MARGIN_M``, so a
    vertex inside the transformed core lies inside the area in the metric CRS.
    Undecided features get the exact test.
    """

    def __init__(self, area: shapely.Geometry, crs: object) -> None:
        shrunk = shapely.buffer(area, -_CORE_MARGIN_M)
        self.core_m = shapely.segmentize(shrunk, _CORE_SEGMENT_M)
        self.crs = crs
        self.by_crs: dict[str, shapely.Geometry] = {}
        self.grids: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def holds_first_vertex(
        self, geoms: np.ndarray, crs: object, *, facts: _Geoms | None = None
    ) -> np.ndarray:
        """Whether each geometry's first vertex lies in the core (False when unsure)."""
        out = np.zeros(len(geoms), dtype=bool)
        key = str(crs)
        if key not in self.by_crs:
            try:
                core = gpd.GeoSeries([self.core_m], crs=self.crs).to_crs(crs).iloc[0]
            except Exception:  # no prefilter then: every feature gets the exact test
                core = None
            if core is not None and not (core.is_valid and np.isfinite(core.bounds).all()):
                core = None
            if core is not None:
                shapely.prepare(core)
            self.by_crs[key] = core
        core = self.by_crs[key]
        if core is None or core.is_empty or len(geoms) == 0:
            return out
        facts = _facts_of(geoms, facts)
        counts, coords = facts.counts, facts.coords
        if not len(coords):
            return out
        has = counts > 0
        starts = np.cumsum(counts) - counts  # each geometry's first coordinate
        xy = coords[starts[has]]
        if len(xy) < _GRID_MIN_POINTS:
            out[has] = shapely.contains_xy(core, xy[:, 0], xy[:, 1])
        else:
            out[has] = self._contains_xy(key, core, xy[:, 0], xy[:, 1])
        return out

    def _contains_xy(
        self, key: str, core: shapely.Geometry, x: np.ndarray, y: np.ndarray
    ) -> np.ndarray:
        """``shapely.contains_xy(core, x, y)``, the same answers, faster for many points.

        A grid over the core's bounds: a point in a cell the core contains properly
        (the cell a little enlarged, so that rounding in finding a point's cell does
        not matter) lies in the core's interior, which is what ``contains_xy`` asks;
        the other points get ``contains_xy``.
        """
        if key not in self.grids:
            x0, y0, x1, y1 = core.bounds
            dx = max((x1 - x0) / _GRID_CELLS, 1e-12)
            dy = max((y1 - y0) / _GRID_CELLS, 1e-12)
            i = np.arange(_GRID_CELLS)
            ix, iy = np.meshgrid(i, i)  # rows: y
            pad_x, pad_y = dx * 1e-6, dy * 1e-6
            cells = shapely.box(
                x0 + ix * dx - pad_x,
                y0 + iy * dy - pad_y,
                x0 + (ix + 1) * dx + pad_x,
                y0 + (iy + 1) * dy + pad_y,
            )
            inner = shapely.contains_properly(core, cells)
            self.grids[key] = (np.array([x0, y0]), np.array([dx, dy]), inner)
        origin, size, inner = self.grids[key]
        with np.errstate(invalid="ignore"):
            fx = (x - origin[0]) / size[0]
            fy = (y - origin[1]) / size[1]
            cell = (fx >= 0) & (fx < _GRID_CELLS) & (fy >= 0) & (fy < _GRID_CELLS)
        sure = np.zeros(len(x), dtype=bool)
        where = np.flatnonzero(cell)
        sure[where] = inner[fy[where].astype(np.intp), fx[where].astype(np.intp)]
        rest = np.flatnonzero(~sure)
        if len(rest):
            sure[rest] = shapely.contains_xy(core, x[rest], y[rest])
        return sure


_CORE_MARGIN_M = 5.0
_CORE_SEGMENT_M = 1000.0
_GRID_CELLS = 64
"""Cells per side of the grid that settles most first vertices without ``contains_xy``."""
_GRID_MIN_POINTS = 50_000
"""Fewer first vertices than this: ``contains_xy`` on all of them (the grid costs more)."""


_ADMIN_CODE_LAYERS = (
    "natural_villages",
    "relocation_sites",
    "clinics",
    "public_facilities",
    "housing_survey",
)
"""Layers whose ``admin_village_code`` must name an admin village."""
_SERVES_LAYERS = ("clinics", "public_facilities", "env_facilities")
"""Layers whose ``serves_codes`` list admin villages."""


def _housing_village_mismatch(frames, nv: gpd.GeoDataFrame, add_rows) -> None:
    """Warn where a surveyed dwelling's natural village lies in another admin village."""
    hs = frames.get("housing_survey")
    if hs is None or not {"village_id", "admin_village_code"} <= set(hs):
        return
    if "admin_village_code" not in nv:
        return
    owner = dict(zip(_as_text(nv["id"]), _as_text(nv["admin_village_code"]), strict=True))
    vid, code = _as_text(hs["village_id"]), _as_text(hs["admin_village_code"])
    theirs = vid.map(owner)
    bad = np.flatnonzero((theirs.notna() & (code != "") & (theirs != code)).to_numpy())
    if len(bad):
        add_rows(
            "housing_survey",
            bad,
            "village_id",
            kind=ProblemKind.INCONSISTENT_VALUES,
            severity=Severity.WARNING,
            values=pd.Series([f"{v} → {t}" for v, t in zip(vid, theirs, strict=True)]),
            zh="所在自然村属于另一个行政村，与本行的行政村代码不一致",
            fix="请核对行政村代码或自然村编号（问题值为“自然村编号 → 其所属行政村代码”）",
            en="the dwelling's natural village belongs to another admin village than its "
            "admin_village_code",
        )


def _public_township_mismatch(frames, add_rows) -> None:
    """Warn where a public facility's admin-village code is not in its township."""
    pub = frames.get("public_facilities")
    if pub is None or not {"admin_village_code", "township_code"} <= set(pub):
        return
    code, tw = _as_text(pub["admin_village_code"]), _as_text(pub["township_code"])
    bad = np.flatnonzero(((code != "") & (tw != "") & (code.str[:9] != tw)).to_numpy())
    if len(bad):
        add_rows(
            "public_facilities",
            bad,
            "township_code",
            kind=ProblemKind.UNKNOWN_CODE,
            severity=Severity.WARNING,
            values=tw,
            zh="所在行政村代码前9位与所在乡镇代码不一致",
            fix="请核对所在行政村代码或所在乡镇代码（统计用区划代码前9位即乡镇代码）",
            en="first nine digits of admin_village_code differ from township_code",
        )


# ------------------------------------------------------------------------ analysable


def outside_china(
    frame: gpd.GeoDataFrame, layer: str, *, file: str = "", facts: _Geoms | None = None
) -> list[Problem]:
    """List the features of a layer (EPSG:4326) that lie outside China, one error each.

    GapMap measures in China's CGCS2000 Gauss-Krüger zones (73.5–136.5°E); a feature
    outside China is a wrong coordinate declaration or a feature of another place. Features
    already reported by :func:`normalise_layer` (swapped, wrong hemisphere, impossible
    degrees) are not listed again. Frames without a geographic CRS are skipped.
    ``facts``: those of the frame's geometry array (from ``_normalise_layer``), if any.
    """
    if frame.crs is None or not frame.crs.is_geographic or len(frame) == 0:
        return []
    arr = frame.geometry.to_numpy()
    if facts is not None and facts.arr is arr and _within_china_box(facts.coords):
        return []  # every vertex in China's box: so is every feature's bounding box
    present = ~(shapely.is_missing(arr) | shapely.is_empty(arr))
    bounds = shapely.bounds(arr)
    with np.errstate(invalid="ignore"):
        cx = (bounds[:, 0] + bounds[:, 2]) / 2
        cy = (bounds[:, 1] + bounds[:, 3]) / 2
        in_china = (
            (cx >= _CHINA_LON[0]) & (cx <= _CHINA_LON[1]) & (cy >= _CHINA_LAT[0])
            & (cy <= _CHINA_LAT[1])
        )  # fmt: skip
        mirrored = (  # swapped or wrong hemisphere: normalise_layer says which
            (np.abs(cy) >= _CHINA_LON[0]) & (np.abs(cy) <= _CHINA_LON[1])
            & (np.abs(cx) >= _CHINA_LAT[0]) & (np.abs(cx) <= _CHINA_LAT[1])
        ) | (
            (np.abs(cx) >= _CHINA_LON[0]) & (np.abs(cx) <= _CHINA_LON[1])
            & (np.abs(cy) >= _CHINA_LAT[0]) & (np.abs(cy) <= _CHINA_LAT[1])
        )  # fmt: skip
        impossible = (np.abs(bounds[:, [0, 2]]) > 180).any(axis=1) | (
            np.abs(bounds[:, [1, 3]]) > 90
        ).any(axis=1)
    far = np.flatnonzero(present & ~in_china & ~mirrored & ~impossible)
    id_field = get_schema(layer).id_field
    ids = _as_text(frame[id_field]).to_numpy() if id_field in frame else None
    return [
        _problem(
            ProblemKind.OUTSIDE_CHINA,
            file=file,
            layer=layer,
            row=int(pos) + 1,
            feature_id=None if ids is None else ids[pos],
            field=None,
            zh="坐标不在中国境内（经度应约在 73°–136°E、纬度约在 3°–54°N 之间）",
            fix="请核对坐标系声明（WGS84/GCJ-02/BD-09/高斯投影带及其带号）和经纬度列，"
            "或删除不属于本县的要素",
            en="coordinates lie outside China (73–136°E, 3–54°N), where GapMap has no "
            "metric zone; check the declared coordinate system and the lon/lat columns",
            value=f"{cx[pos]:.6f}, {cy[pos]:.6f}",
        )
        for pos in far
    ]


def analysis_problems(
    frames: Mapping[str, gpd.GeoDataFrame],
    *,
    files: Mapping[str, str] | None = None,
    required: Iterable[str] = CORE_LAYERS,
    name: str = "",
    geometry_facts: Mapping[str, _Geoms] | None = None,
) -> list[Problem]:
    """List what keeps a set of layers from being analysed as a county, one error each.

    A county analysis needs every ``required`` layer, each with at least one feature
    (an empty clinics layer would make every admin village a blank spot; an empty roads
    layer no network), and every feature inside China.

    Parameters
    ----------
    frames : mapping of str to GeoDataFrame
        Normalised layers by name (EPSG:4326).
    files : mapping of str to str, optional
        File name of each layer (and ``""`` → the dataset's file, for a missing layer).
    required : iterable of str
        Layers that must be present and non-empty; default :data:`~layers.schema.CORE_LAYERS`.
    name : str
        The dataset's file name, for problems about a layer that is absent.
    geometry_facts : mapping of str to _Geoms, optional
        Facts of layers' geometry arrays the caller has (as for :func:`validate_dataset`).

    Returns
    -------
    list of Problem
        ``missing_layer``, ``empty_layer`` and ``outside_china`` errors.
    """
    files = dict(files or {})
    problems: list[Problem] = []
    for layer in required:
        schema = get_schema(layer)
        where = files.get(layer) or name
        if layer not in frames:
            problems.append(
                _problem(
                    ProblemKind.MISSING_LAYER,
                    file=where,
                    layer=layer,
                    row=None,
                    feature_id=None,
                    field=None,
                    zh=f"缺少“{schema.title_zh}”图层（{layer}），无法进行分析",
                    fix=f"请在数据中增加“{schema.title_zh}”图层；图层名可用 {layer} 或"
                    f"“{schema.title_zh}”",
                    en=f"layer {layer!r} ({schema.title_zh}) is missing; a county analysis "
                    f"needs it: add a layer named {layer!r} or {schema.title_zh!r}",
                )
            )
        elif len(frames[layer]) == 0:
            problems.append(
                _problem(
                    ProblemKind.EMPTY_LAYER,
                    file=where,
                    layer=layer,
                    row=None,
                    feature_id=None,
                    field=None,
                    zh=f"“{schema.title_zh}”图层（{layer}）没有任何要素，分析结果将毫无意义",
                    fix="请检查导出时是否选错了图层、是否设置了过滤条件，补齐要素后重新导入",
                    en=f"layer {layer!r} has no features; an analysis on it would be "
                    "meaningless: export the layer again with its features",
                )
            )
    for layer, frame in frames.items():
        if layer in LAYER_ORDER:
            facts = (geometry_facts or {}).get(layer)
            problems += outside_china(frame, layer, file=files.get(layer, name), facts=facts)
    return problems
