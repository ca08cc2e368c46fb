"""The one reader entry point: any supported file → one normalised GapMap layer in EPSG:4326.

Formats (all through pyogrio/GDAL):

================  =====================================================================
GeoPackage        ``.gpkg``; the layer named by ``sublayer``, the only layer, or the one
                  named like the GapMap layer (``natural_villages`` or ``自然村``)
FileGDB           a ``.gdb`` folder (OpenFileGDB), or a ``.zip`` holding one
Shapefile         ``.shp``; ``.cpg`` honoured; without it the ``.dbf`` is read as UTF-8 if
                  its bytes are valid UTF-8, else as GBK (county data usually is)
GeoJSON           ``.geojson`` / ``.json``
KML / KMZ         ``.kml``, ``.kmz`` (checked like any zip); folders are concatenated
CSV / XLSX        ``.csv`` (UTF-8 or GBK), ``.xlsx``; points from longitude/latitude columns
                  (``经度``/``纬度``, ``lon``/``lat``, ``lng``, ``x``/``y`` …) or one ``经纬度``
                  column holding ``"lon,lat"``
ZIP               a ``.zip`` of any of these, extracted safely (:mod:`layers.archive`)
================  =====================================================================

:func:`load` never raises for content problems: it returns them as
:class:`~layers.errors.Problem` records beside the frame. :func:`read` raises
:class:`~layers.errors.LayerValidationError` listing every error at once.
"""

from __future__ import annotations

import codecs
import logging
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors
import shapely

from layers.archive import DEFAULT_MAX_TOTAL_BYTES, check_zip, extract_zip
from layers.coords import (
    CHINA_LAT_DEG,
    CHINA_LON_DEG,
    CoordsDeclaration,
    parse_coords,
    to_wgs84,
)
from layers.errors import (
    ArchiveError,
    LayerReadError,
    LayerValidationError,
    Problem,
    ProblemKind,
    Severity,
)
from layers.fields import fold_name
from layers.schema import LAYERS, LayerSchema, get_schema
from layers.validate import _Geoms, _normalise_layer, outside_china, remember_normalised

__all__ = [
    "FORMATS",
    "LayerLoad",
    "Provenance",
    "layer_of",
    "list_sublayers",
    "load",
    "load_parquet",
    "parquet_layers",
    "read",
]

logger = logging.getLogger(__name__)

FORMATS: dict[str, tuple[str, str]] = {
    ".gpkg": ("GeoPackage", "GPKG"),
    ".gdb": ("FileGDB", "OpenFileGDB"),
    ".shp": ("Shapefile", "ESRI Shapefile"),
    ".geojson": ("GeoJSON", "GeoJSON"),
    ".json": ("GeoJSON", "GeoJSON"),
    ".kml": ("KML", "LIBKML"),
    ".kmz": ("KMZ", "LIBKML"),
    ".csv": ("CSV", "CSV"),
    ".xlsx": ("Excel", "XLSX"),
}
"""Suffix → (format name, GDAL driver). ``.zip`` archives may hold any of these."""

_SUPPORTED_ZH = (
    "GeoPackage、FileGDB(.gdb 或其 zip)、Shapefile、GeoJSON、KML/KMZ、CSV、XLSX 或它们的 zip"
)

# Common Chinese names of each layer, for picking a layer or a file by name.
_LAYER_NAMES_ZH: dict[str, tuple[str, ...]] = {
    "county": ("县界", "县域", "县级行政区", "行政区"),
    "townships": ("乡镇", "乡镇界", "乡镇边界", "乡镇行政区"),
    "admin_villages": ("行政村", "村委会", "行政村界"),
    "natural_villages": ("自然村", "村民小组", "自然村点", "村组"),
    "relocation_sites": ("移民安置区", "安置区", "移民村", "安置点", "移民安置点"),
    "roads": ("道路", "公路", "路网", "农村公路"),
    "clinics": ("医疗机构", "卫生室", "卫生院", "村卫生室"),
    "service_points": ("便民服务设施", "服务设施", "便民设施", "商店", "网点"),
    "water_sources": ("水源", "水源地"),
    "water_nodes": ("供水节点", "节点"),
    "water_pipes": ("供水管道", "管道", "管网", "供水管网"),
    "public_facilities": (
        "公共服务设施", "学校", "中小学", "小学", "初中", "中学", "幼儿园", "养老设施",
        "互助幸福院", "日间照料中心", "文化室", "综合服务中心", "公共服务",
    ),
    "telecom_coverage": (
        "通信覆盖", "5G覆盖", "5G网络", "5G基站覆盖", "网络覆盖", "千兆光纤", "光纤覆盖",
        "宽带覆盖", "通信",
    ),
    "env_facilities": (
        "环卫设施", "污水处理", "污水处理站", "污水处理设施", "垃圾收集点", "垃圾收集",
        "垃圾转运站", "环卫", "公共厕所", "公厕",
    ),
    "housing_survey": (
        "农村住房安全排查", "危房排查", "危房", "危窑", "危窑危房", "危房改造", "住房安全",
        "住房安全排查",
    ),
}  # fmt: skip

_LON_NAMES = (
    "经度",
    "lon",
    "lng",
    "longitude",
    "long",
    "东经",
    "经度坐标",
    "point_x",
    "x",
    "x坐标",
)
_LAT_NAMES = ("纬度", "lat", "latitude", "北纬", "纬度坐标", "point_y", "y", "y坐标")
_LONLAT_NAMES = (
    "经纬度",
    "经纬度坐标",
    "坐标",
    "lnglat",
    "lonlat",
    "location",
    "lng_lat",
    "lon_lat",
)

# LIBKML's rendering attributes: no data, only noise as unknown fields.
_KML_STYLE_COLUMNS = (
    "timestamp", "begin", "end", "altitudeMode", "tessellate", "extrude", "visibility",
    "drawOrder", "icon", "snippet",
)  # fmt: skip

_UTF8_CHECK_BYTES = 64 * 1024 * 1024
_T = TypeVar("_T")


@dataclass(frozen=True)
class Provenance:
    """Where a layer came from and what was done to it on read.

    Attributes
    ----------
    file : str
        The path given to :func:`load`.
    format : str
        ``GeoPackage``, ``FileGDB``, ``Shapefile``, ``GeoJSON``, ``KML``, ``KMZ``, ``CSV``
        or ``Excel``.
    driver : str
        The GDAL driver used.
    sublayer : str or None
        Layer / sheet / feature class read (several joined by ``"; "`` for KML folders).
    member : str or None
        The data file inside a ``.zip``, relative to its root.
    declared_coords : str or None
        The ``coords=`` declaration, as understood.
    source_crs : str or None
        The file's own CRS (``"EPSG:4545"``, or its name); None if it had none.
    conversion : str
        What was done to reach EPSG:4326 (``"none"`` if nothing).
    encoding : str or None
        Text encoding used for Shapefile and CSV attributes; ``UTF-8`` for formats that
        define it.
    encoding_source : str
        How the encoding was chosen: ``given``, ``.cpg``, ``detected: ...`` or ``format``.
    field_mapping : dict
        ``{original column: GapMap field}`` renames applied.
    lonlat_columns : tuple of str or None
        Columns points were built from (CSV, XLSX, tables without geometry).
    feature_count : int
        Features read.
    """

    file: str
    format: str
    driver: str
    sublayer: str | None
    member: str | None
    declared_coords: str | None
    source_crs: str | None
    conversion: str
    encoding: str | None
    encoding_source: str
    field_mapping: dict[str, str] = field(default_factory=dict)
    lonlat_columns: tuple[str, ...] | None = None
    feature_count: int = 0

    def as_dict(self) -> dict[str, object]:
        """Return the provenance as a plain dict."""
        return asdict(self)


@dataclass(frozen=True)
class LayerLoad:
    """A layer as loaded: the frame, every problem found, and its provenance.

    Attributes
    ----------
    frame : geopandas.GeoDataFrame
        Normalised to the layer's schema (:func:`layers.validate.normalise_layer`), in
        EPSG:4326 (no CRS only when the coordinates could not be placed; an error says why).
        ``frame.attrs["provenance"]`` holds :meth:`Provenance.as_dict`.
    problems : list of Problem
        Reader problems (coordinates, CRS) then validation problems; errors and warnings.
    provenance : Provenance
    """

    frame: gpd.GeoDataFrame
    problems: list[Problem]
    provenance: Provenance
    facts: _Geoms | None = field(default=None, repr=False, compare=False)
    """The shapely facts of ``frame``'s geometry array found while checking it (for the
    dataset's checks and content hash, which would otherwise compute them again)."""

    @property
    def errors(self) -> list[Problem]:
        """The problems that block analysis."""
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def ok(self) -> bool:
        """True when no problem is an error."""
        return not self.errors


# ---------------------------------------------------------------------------- helpers


def _read_error(path: Path, en: str, zh: str) -> LayerReadError:
    return LayerReadError(f"{path.name}: {en}", zh=f"{path.name}：{zh}")


def _names_of(schema: LayerSchema) -> tuple[str, ...]:
    return (schema.name, schema.title_zh, *_LAYER_NAMES_ZH.get(schema.name, ()))


def _fold(name: str) -> str:
    return str(name).strip().casefold()


def _layer_named_in(name: str) -> str | None:
    """Return the GapMap layer whose name (English or Chinese) is in ``name``, longest first.

    ``同心县自然村`` → ``natural_villages``; ``乡镇卫生院`` → ``clinics`` (卫生院 is longer
    than 乡镇); None when nothing matches.
    """
    folded = _fold(name)
    best: tuple[int, str] | None = None
    for schema in LAYERS.values():
        for cand in _names_of(schema):
            c = _fold(cand)
            if c in folded and (best is None or len(c) > best[0]):
                best = (len(c), schema.name)
    return None if best is None else best[1]


def layer_of(name: str) -> tuple[str | None, int]:
    """Return the GapMap layer a layer or file name stands for, and how surely.

    Rank 0: the English name (``natural_villages``); 1: a Chinese name (``自然村``,
    ``道路``, ``医疗机构`` ...); 2: a name holding one (``同心县自然村``). ``(None, 3)``
    when nothing matches.
    """
    folded = _fold(name)
    for schema in LAYERS.values():
        if folded == _fold(schema.name):
            return schema.name, 0
    for schema in LAYERS.values():
        if folded in {_fold(c) for c in _names_of(schema)}:
            return schema.name, 1
    inside = _layer_named_in(name)
    return (inside, 2) if inside is not None else (None, 3)


def _pick(names: list[str], schema: LayerSchema, wanted: str | None) -> str | None:
    """Pick one of ``names``: ``wanted`` exactly, the only one, or the one named like the layer."""
    folded = {n: _fold(n) for n in names}
    if wanted is not None:
        hits = [n for n in names if folded[n] == _fold(wanted)]
        return hits[0] if hits else None
    if len(names) == 1:
        return names[0]
    for cand in _names_of(schema):
        hits = [n for n in names if folded[n] == _fold(cand)]
        if len(hits) == 1:
            return hits[0]
    contains = [n for n in names if _layer_named_in(n) == schema.name]
    if len(contains) == 1:
        return contains[0]
    return None


def _sibling(path: Path, suffix: str) -> Path | None:
    """Return the file beside ``path`` with the same stem and ``suffix`` (any case)."""
    for p in path.parent.glob(f"{path.stem}.*"):
        if p.suffix.lower() == suffix and p.stem == path.stem:
            return p
    return None


def _is_utf8(path: Path, *, start: int = 0) -> bool:
    """Return True when the file's bytes (from ``start``, first 64 MiB) are valid UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    read = 0
    with open(path, "rb") as f:
        f.seek(start)
        while read < _UTF8_CHECK_BYTES and (chunk := f.read(1024 * 1024)):
            read += len(chunk)
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return False
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return read >= _UTF8_CHECK_BYTES  # cut mid-character by the 64 MiB cap
    return True


def _utf8_but_cut(values: list[bytes]) -> bool:
    """Return True when every value is UTF-8, allowing a character cut off at its end."""
    for v in values:
        try:
            codecs.utf_8_decode(v, "strict", False)  # final=False: a cut tail is no error
        except UnicodeDecodeError:
            return False
    return True


def _cpg_encoding(text: str) -> str | None:
    t = text.strip().upper().replace("ANSI", "").strip()
    if not t:
        return None
    if t in ("UTF-8", "UTF8", "65001"):
        return "UTF-8"
    if t in ("936", "CP936", "GBK", "GB2312", "EUC-CN"):
        return "GBK"
    if t in ("54936", "GB18030"):
        return "GB18030"
    if t.isdigit():
        t = f"CP{t}"
    try:
        codecs.lookup(t)
    except LookupError:
        return None
    return t


_EVIDENCE_RECORDS = 50_000


def _dbf_text_evidence(dbf: Path) -> tuple[bool, np.ndarray, np.ndarray]:
    """Look at a .dbf's text bytes: are its field names UTF-8, which records are which.

    Returns ``(names_utf8, utf8_rows, other_rows)``: 0-based records (of the first
    50,000) whose text fields hold non-ASCII bytes that are valid UTF-8 (a value cut at
    its field width is allowed), and records whose non-ASCII bytes are not (GBK, most
    likely). All-ASCII records are evidence of nothing and in neither.
    """
    with open(dbf, "rb") as f:
        head = f.read(32)
        if len(head) < 32:
            return True, np.array([], int), np.array([], int)
        n_records = int.from_bytes(head[4:8], "little")
        header_len = int.from_bytes(head[8:10], "little")
        record_len = int.from_bytes(head[10:12], "little")
        descriptors = f.read(max(header_len - 32, 0))
        f.seek(header_len)
        n = min(n_records, _EVIDENCE_RECORDS)
        data = f.read(n * record_len)
    fields = []
    offset = 1  # the deletion flag
    for i in range(0, len(descriptors) - 31, 32):
        if descriptors[i] == 0x0D:
            break
        name = descriptors[i : i + 11].split(b"\0", 1)[0]
        ftype, width = chr(descriptors[i + 11]), descriptors[i + 16]
        fields.append((name, ftype, offset, width))
        offset += width
    names_utf8 = _utf8_but_cut([name for name, *_ in fields])
    n = len(data) // max(record_len, 1)
    if n == 0 or record_len == 0:
        return names_utf8, np.array([], int), np.array([], int)
    records = np.frombuffer(data[: n * record_len], dtype=np.uint8).reshape(n, record_len)
    text = [(o, w) for _, t, o, w in fields if t == "C" and o + w <= record_len]
    if not text:
        return names_utf8, np.array([], int), np.array([], int)
    cols = np.concatenate([np.arange(o, o + w) for o, w in text])
    non_ascii = np.flatnonzero((records[:, cols] >= 0x80).any(axis=1))
    valid = np.array(
        [_chinese_utf8([records[r, o : o + w].tobytes() for o, w in text]) for r in non_ascii],
        dtype=bool,
    )
    return names_utf8, non_ascii[valid], non_ascii[~valid]


_CJK = re.compile(r"[\u2000-\u206f\u2e80-\u9fff\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]")


def _chinese_utf8(values: list[bytes]) -> bool:
    """Return True when the values are UTF-8 whose non-ASCII characters are all Chinese.

    Short GBK text is sometimes valid UTF-8 too (GBK 窄路 is UTF-8 "խ·"), but then it
    decodes to Latin, Armenian or other letters, never to Chinese characters only.
    """
    for v in values:
        try:
            text, _ = codecs.utf_8_decode(v.rstrip(b" "), "strict", False)
        except UnicodeDecodeError:
            return False
        rest = "".join(ch for ch in text if ord(ch) >= 0x80)
        if rest and len(_CJK.findall(rest)) != len(rest):
            return False
    return True


def _shapefile_encoding(
    shp: Path, given: str | None, *, file: str, layer: str
) -> tuple[str | None, str, list[Problem]]:
    """Choose a .dbf's encoding from what its bytes are, the .cpg and the user.

    ``encoding=`` wins. Otherwise the bytes decide when they can: records that are valid
    UTF-8 with Chinese text are UTF-8 whatever the .cpg says (a .cpg that says 936 beside
    a UTF-8 .dbf lies: reading it as GBK gives mojibake), and bytes that are not UTF-8
    are GBK even if the .cpg says UTF-8 (each override is a warning). Records in both
    encodings in one file (edited by two programs) are an error for the minority's rows.
    All-ASCII files follow the .cpg, else UTF-8.
    """
    if given:
        return given, "given", []
    dbf = _sibling(shp, ".dbf")
    if dbf is None:
        return None, "no .dbf", []
    cpg = _sibling(shp, ".cpg")
    cpg_enc = None
    if cpg is not None:
        text = cpg.read_text(encoding="ascii", errors="replace")
        cpg_enc = _cpg_encoding(text)
        if cpg_enc is None:
            logger.warning("%s: .cpg says %r, which is not an encoding; detecting", shp.name, text)
    names_utf8, utf8_rows, other_rows = _dbf_text_evidence(dbf)

    def problem(rows: list[int | None], zh: str, fix: str, en: str, sev: Severity) -> list:
        return [
            Problem(
                kind=ProblemKind.ENCODING,
                file=file,
                layer=layer,
                row=r,
                feature_id=None,
                field=None,
                message_zh=zh,
                fix_zh=fix,
                message=en,
                severity=sev,
            )
            for r in rows
        ]

    if len(utf8_rows) and len(other_rows):
        major, minor = ("UTF-8", "GBK") if len(utf8_rows) >= len(other_rows) else ("GBK", "UTF-8")
        rows = other_rows if major == "UTF-8" else utf8_rows
        return (
            major,
            f"detected: mixed, {len(utf8_rows)} UTF-8 and {len(other_rows)} other records",
            problem(
                [int(r) + 1 for r in rows],
                f"此行文字的编码（{minor}）与文件其余各行（{major}）不同，读出来是乱码",
                "请在 GIS 软件中把整个图层统一为一种编码后重新导出（建议 UTF-8，并附 .cpg 文件）",
                f"this record's text is {minor} while the rest of the file is {major}: it reads "
                "as mojibake; re-export the layer in one encoding (UTF-8 with a .cpg)",
                Severity.ERROR,
            ),
        )
    is_utf8 = names_utf8 and not len(other_rows)
    if cpg_enc is not None:
        if cpg_enc != "UTF-8" and is_utf8 and len(utf8_rows):
            return (
                "UTF-8",
                f"detected: .cpg says {cpg_enc} but the .dbf is UTF-8",
                problem(
                    [None],
                    f".cpg 文件声明编码为 {cpg_enc}，但 .dbf 的内容是 UTF-8，已按 UTF-8 读取",
                    "请核对读出的中文是否正确；删除或改正 .cpg 文件可消除此提示",
                    f"the .cpg says {cpg_enc} but the .dbf text is UTF-8; read as UTF-8",
                    Severity.WARNING,
                ),
            )
        if cpg_enc == "UTF-8" and not is_utf8:
            return (
                "GBK",
                "detected: .cpg says UTF-8 but the .dbf is not UTF-8",
                problem(
                    [None],
                    ".cpg 文件声明编码为 UTF-8，但 .dbf 的内容不是 UTF-8，已按 GBK 读取",
                    "请核对读出的中文是否正确；把 .cpg 改为 936（GBK）可消除此提示",
                    "the .cpg says UTF-8 but the .dbf text is not UTF-8; read as GBK",
                    Severity.WARNING,
                ),
            )
        return cpg_enc, ".cpg", []
    if is_utf8:
        return "UTF-8", "detected: no .cpg, .dbf is valid UTF-8", []
    return "GBK", "detected: no .cpg, .dbf is not UTF-8 (county data is usually GBK)", []


def _csv_encoding(path: Path, given: str | None) -> tuple[str, str]:
    if given:
        return given, "given"
    if _is_utf8(path):
        return "UTF-8", "detected: valid UTF-8"
    return "GBK", "detected: not UTF-8 (Excel on Chinese Windows saves GBK)"


def _ogr(call: str, path: Path, func: Callable[..., _T], *args: object, **kwargs: object) -> _T:
    """Run a pyogrio call; turn GDAL's failures into LayerReadError."""
    try:
        return func(*args, **kwargs)
    except (
        pyogrio.errors.DataSourceError,
        pyogrio.errors.DataLayerError,
        pyogrio.errors.FieldError,
        pyogrio.errors.FeatureError,
        pyogrio.errors.GeometryError,
        pyogrio.errors.CRSError,
    ) as err:
        raise _read_error(
            path,
            f"cannot {call} ({err}); check that the file is complete and opens in a GIS, "
            "then export it again",
            f"无法{'打开' if call == 'open' else '读取'}文件（{err}）。请确认文件完整、未被其他"
            "程序占用，可在 GIS 软件中打开检查后重新导出",
        ) from err


# ---------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class _Source:
    path: Path  # what GDAL opens
    format: str
    driver: str
    member: str | None  # relative path inside the zip it came from


def _format_of(path: Path) -> tuple[str, str] | None:
    suffix = path.suffix.lower()
    if path.is_dir() and suffix != ".gdb":
        return None
    return FORMATS.get(suffix)


def _candidates(folder: Path) -> list[Path]:
    """List data files and .gdb folders below ``folder`` (not inside a .gdb, not hidden)."""
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            if d.startswith(".") or d == "__MACOSX":
                continue
            if d.lower().endswith(".gdb"):
                out.append(here / d)
            else:
                keep.append(d)
        dirnames[:] = keep
        for f in sorted(filenames):
            if not f.startswith(".") and Path(f).suffix.lower() in FORMATS:
                out.append(here / f)
    return out


def _resolve_folder(
    folder: Path, schema: LayerSchema, sublayer: str | None, *, label: Path
) -> tuple[Path, str | None]:
    """Choose the data file in a folder (an extracted zip); return it and the inner sublayer."""
    found = _candidates(folder)
    if not found:
        raise _read_error(
            label,
            "holds no data file GapMap can read (.gdb, .gpkg, .shp, .geojson, .kml, .kmz, "
            ".csv, .xlsx)",
            f"其中没有可读取的数据文件。支持：{_SUPPORTED_ZH}",
        )
    stems = [p.name[: -len(p.suffix)] for p in found]
    if len(set(stems)) < len(stems):  # same name twice: tell them apart by relative path
        stems = [p.relative_to(folder).as_posix() for p in found]
    by_stem = dict(zip(stems, found, strict=True))
    if sublayer is not None and (hit := _pick(stems, schema, sublayer)) is not None:
        return by_stem[hit], None
    hit = _pick(stems, schema, None)
    if hit is None:
        listed = ", ".join(str(p.relative_to(folder)) for p in found)
        raise _read_error(
            label,
            f"holds several data files ({listed}) and none is named like layer "
            f"{schema.name!r}; pass sublayer= with the file name (without suffix)",
            f"其中有多个数据文件（{listed}），无法判断哪个是“{schema.title_zh}”。请用 sublayer= "
            "指定文件名（不含扩展名），或把文件命名为图层名",
        )
    return by_stem[hit], sublayer


# ---------------------------------------------------------------------------- reading


@dataclass
class _Raw:
    frame: gpd.GeoDataFrame
    sublayer: str | None
    encoding: str | None
    encoding_source: str
    lonlat_columns: tuple[str, ...] | None = None
    problems: list[Problem] = field(default_factory=list)
    coordinate_rows: set[int] = field(default_factory=set)  # rows already reported


def _open_options(driver: str) -> dict[str, str]:
    if driver == "XLSX":
        return {"HEADERS": "FORCE", "FIELD_TYPES": "STRING"}
    if driver == "CSV":
        return {"AUTODETECT_TYPE": "NO"}
    return {}


def _read_one(
    source: _Source, path: Path, sublayer: str | None, encoding: str | None, *, label: Path
) -> pd.DataFrame | gpd.GeoDataFrame:
    kwargs: dict[str, object] = dict(_open_options(source.driver))
    if encoding and source.driver in ("ESRI Shapefile", "CSV"):
        kwargs["encoding"] = encoding
    try:
        with warnings.catch_warnings():
            # GDAL's recoding complaint: the encoding was chosen from the bytes and any
            # record it cannot decode is reported as an ``encoding`` problem instead
            warnings.filterwarnings(
                "ignore", message=".*couldn't be converted correctly", category=RuntimeWarning
            )
            return _ogr(
                "read",
                label,
                pyogrio.read_dataframe,
                path,
                layer=sublayer,
                on_invalid="fix",
                **kwargs,
            )
    except UnicodeDecodeError as err:
        raise _read_error(
            label,
            f"text is not in the {encoding or 'expected'} encoding ({err}); pass encoding= "
            "(e.g. 'GBK' or 'UTF-8') or add a .cpg file",
            f'文字编码不是 {encoding or "预期的编码"}，无法解码。请用 encoding= 指定（如 "GBK"、'
            '"UTF-8"），或为 Shapefile 补充 .cpg 文件',
        ) from err


def _column(columns: list[str], names: tuple[str, ...], given: str | None) -> str | None:
    if given is not None:
        return given if given in columns else None
    folded = {c: fold_name(c) for c in columns}
    for name in names:
        for c in columns:
            if folded[c] == name:
                return c
    return None


def _parse_numbers(raw: pd.Series) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """Return (values, missing mask, text) for a column of coordinates."""
    text = raw.astype(object).where(raw.notna(), "").astype(str).str.strip()
    text = text.str.replace("°", "", regex=False).str.replace("，", ",", regex=False)
    missing = (text == "").to_numpy()
    values = pd.to_numeric(text.where(~pd.Series(missing, index=text.index)), errors="coerce")
    return values.to_numpy(dtype=float), missing, text


def _points_from_columns(
    table: pd.DataFrame,
    *,
    file: str,
    layer: str,
    lon_column: str | None,
    lat_column: str | None,
    spreadsheet: bool,
) -> tuple[gpd.GeoDataFrame, list[Problem], tuple[str, ...] | None, set[int]]:
    """Build points (no CRS) from longitude/latitude columns; report bad rows."""
    columns = [str(c) for c in table.columns]
    lon_col = _column(columns, _LON_NAMES, lon_column)
    lat_col = _column(columns, _LAT_NAMES, lat_column)
    problems: list[Problem] = []
    n = len(table)

    def problem(
        kind: ProblemKind,
        row: int | None,
        col: str | None,
        zh: str,
        fix: str,
        en: str,
        value: str | None = None,
    ) -> None:
        problems.append(
            Problem(
                kind=kind,
                file=file,
                layer=layer,
                row=row,
                feature_id=None,
                field=col,
                message_zh=zh,
                fix_zh=fix,
                message=en,
                value=value,
            )
        )

    if lon_col is not None and lat_col is not None and lon_col != lat_col:
        lon, lon_missing, lon_text = _parse_numbers(table[lon_col])
        lat, lat_missing, lat_text = _parse_numbers(table[lat_col])
        used: tuple[str, ...] = (lon_col, lat_col)
        parts = [(lon_col, lon, lon_missing, lon_text), (lat_col, lat, lat_missing, lat_text)]
    elif (both := _column(columns, _LONLAT_NAMES, None)) is not None:
        text = table[both].astype(object).where(table[both].notna(), "").astype(str).str.strip()
        split = text.str.split(r"[,，;；\s]+", n=1, expand=True, regex=True)
        if split.shape[1] < 2:
            split[1] = ""
        lon, lon_missing, lon_text = _parse_numbers(split[0].fillna(""))
        lat, lat_missing, lat_text = _parse_numbers(split[1].fillna(""))
        used = (both,)
        parts = [(both, lon, lon_missing, text), (both, lat, lat_missing, text)]
    else:
        wanted = "经度/纬度" if lon_column is None else f"{lon_column}/{lat_column}"
        problem(
            ProblemKind.MISSING_FIELD,
            None,
            None,
            f"表格中没有经纬度列（需要 {wanted}，或 lon/lat、lng、x/y、longitude/latitude）",
            "请增加“经度”“纬度”两列（十进制度），或用 lon_column=/lat_column= 指定列名",
            "no longitude/latitude columns (经度/纬度, lon/lat, lng, x/y, longitude/latitude); "
            "add them or pass lon_column=/lat_column=",
        )
        empty = gpd.GeoDataFrame(table, geometry=[None] * n)
        return empty, problems, None, set(range(1, n + 1))

    bad_rows: set[int] = set()
    where_zh = "（表格第 {} 行）" if spreadsheet else ""
    for col, values, missing, text in parts:
        unparsable = ~missing & ~np.isfinite(values)
        for pos in np.flatnonzero(missing):
            if pos + 1 in bad_rows:
                continue
            bad_rows.add(pos + 1)
            problem(
                ProblemKind.EMPTY_GEOMETRY,
                pos + 1,
                col,
                f"第 {pos + 1} 条记录{where_zh.format(pos + 2)}缺少坐标“{col}”",
                "请补填经纬度或删除该行",
                f"row {pos + 1}: coordinate column {col!r} is empty; fill it in or delete the row",
            )
        for pos in np.flatnonzero(unparsable):
            if pos + 1 in bad_rows:
                continue
            bad_rows.add(pos + 1)
            problem(
                ProblemKind.WRONG_TYPE,
                pos + 1,
                col,
                f"第 {pos + 1} 条记录{where_zh.format(pos + 2)}的坐标“{col}”无法识别为数字",
                "请填写十进制度数字（如 105.9123），不要带度分秒、单位或文字",
                f"row {pos + 1}: coordinate {col!r} is not a number; use decimal degrees",
                value=text.iloc[pos],
            )
    ok = np.isfinite(lon) & np.isfinite(lat)
    geoms = np.full(n, None, dtype=object)
    geoms[ok] = shapely.points(lon[ok], lat[ok])
    attrs = pd.DataFrame(table.drop(columns=list(dict.fromkeys(used)))).reset_index(drop=True)
    frame = gpd.GeoDataFrame(attrs, geometry=geoms)
    return frame, problems, used, bad_rows


def _clean_kml(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Drop LIBKML's rendering columns, empty ``Name``/``description``, positional ids.

    An empty ``<name>`` must not hide a ``名称`` (or other name) column of the
    ExtendedData; ``id`` values of the form ``<layer>.<n>`` numbered 1, 2, 3 … are the
    feature positions GDAL made up for placemarks without an id, not ids: the column is
    dropped, so that an id column of the ExtendedData (``编号`` …) is used, or a missing
    id reported, rather than positions turned into ledger keys.
    """
    drop = [c for c in _KML_STYLE_COLUMNS if c in frame.columns]
    for c in ("description", "Name"):
        if c in frame.columns and not _has_text(frame[c]):
            drop.append(c)
    out = frame.drop(columns=drop)
    if "id" in out.columns and len(out):
        ids = out["id"].astype(object).where(out["id"].notna(), "").astype(str)
        parts = ids.str.extract(r"^(.*)\.(\d+)$")
        if parts[1].notna().all() and parts[0].nunique() == 1:
            numbers = parts[1].astype(int).to_numpy()
            if np.array_equal(numbers, np.arange(1, len(out) + 1)):
                out = out.drop(columns="id")
    return out


def _has_text(series: pd.Series) -> bool:
    return bool(
        series.astype(object).where(series.notna(), "").astype(str).str.strip().ne("").any()
    )


def _kml_documents(folder: Path) -> list[Path]:
    """List the .kml files of an extracted KMZ, ``doc.kml`` (the main one) first."""
    docs = [p for p in _candidates(folder) if p.suffix.lower() == ".kml"]
    return sorted(docs, key=lambda p: (p.name.lower() != "doc.kml", len(p.parts), str(p)))


def _repair_cut_names(shp: Path, encoding: str | None, tmp: Path) -> Path | None:
    """Copy a UTF-8 shapefile whose field names were cut mid-character, with the cut removed.

    The .dbf holds 10 bytes per field name; writers cut longer UTF-8 names in the middle
    of a character, which pyogrio cannot decode. The copy zeroes the cut tail bytes in the
    header; nothing else changes. Returns None when no name is cut.
    """
    if (encoding or "").upper().replace("-", "") != "UTF8":
        return None
    dbf = _sibling(shp, ".dbf")
    assert dbf is not None
    with open(dbf, "rb") as f:
        head = f.read(32)
        header_len = int.from_bytes(head[8:10], "little") if len(head) == 32 else 32
        descriptors = bytearray(f.read(max(header_len - 32, 0)))
    changed = False
    for i in range(0, len(descriptors) - 31, 32):
        if descriptors[i] == 0x0D:
            break
        name = bytes(descriptors[i : i + 11]).split(b"\0", 1)[0]
        try:
            _, used = codecs.utf_8_decode(name, "strict", False)
        except UnicodeDecodeError:
            continue
        if used < len(name):
            descriptors[i + used : i + 11] = bytes(11 - used)
            changed = True
    if not changed:
        return None
    out = tmp / "shapefile"
    out.mkdir(parents=True, exist_ok=True)
    for part in shp.parent.glob(f"{shp.stem}.*"):
        if part.stem == shp.stem and part.is_file():
            shutil.copy2(part, out / part.name)
    with open(out / dbf.name, "r+b") as f:
        f.seek(32)
        f.write(descriptors)
    logger.warning("%s: field names cut mid-character by the writer were trimmed", shp.name)
    return out / shp.name


def _read_source(
    source: _Source,
    schema: LayerSchema,
    sublayer: str | None,
    *,
    file: str,
    encoding: str | None,
    lon_column: str | None,
    lat_column: str | None,
    label: Path,
    tmp: Path,
    max_archive_bytes: int,
) -> _Raw:
    paths = [source.path]
    enc_problems: list[Problem] = []
    if source.driver == "ESRI Shapefile":
        if _sibling(source.path, ".dbf") is None:
            raise _read_error(
                label,
                "the shapefile has no .dbf (attributes); copy all its parts (.shp, .shx, .dbf, "
                ".prj, .cpg) together",
                "Shapefile 缺少 .dbf 属性文件。请把 .shp、.shx、.dbf、.prj、.cpg 等文件"
                "一起复制或压缩",
            )
        enc, enc_source, enc_problems = _shapefile_encoding(
            source.path, encoding, file=file, layer=schema.name
        )
        repaired = _repair_cut_names(source.path, enc, tmp)
        if repaired is not None:
            paths = [repaired]
    elif source.driver == "CSV":
        enc, enc_source = _csv_encoding(source.path, encoding)
    else:
        enc, enc_source = "UTF-8", "format"
    if source.driver == "XLSX":
        # A damaged workbook reads partly (25 of 670 rows) without a word from GDAL: check
        # every part of it (an .xlsx is a zip) before reading.
        try:
            check_zip(source.path, max_total_bytes=max_archive_bytes)
        except ArchiveError as err:
            raise _read_error(
                label,
                f"the workbook is damaged and cannot be read completely ({err}); open it in "
                "Excel or WPS, save it again as .xlsx, and load that",
                "Excel 文件已损坏，无法完整读取（只能读出部分行）。请在 Excel/WPS 中打开，"
                "另存为 .xlsx 后重新导入",
            ) from err
    if source.format == "KMZ":
        folder = extract_zip(source.path, tmp / "kmz", max_total_bytes=max_archive_bytes)
        paths = _kml_documents(folder)
        if not paths:
            raise _read_error(label, "the KMZ holds no .kml", "KMZ 中没有 .kml 文件")

    available: list[tuple[Path, str]] = [
        (p, str(n)) for p in paths for n, _ in _ogr("open", label, pyogrio.list_layers, p)
    ]
    names = [n for _, n in available]
    if not available:
        raise _read_error(label, "holds no layer", "文件中没有图层")
    if source.driver == "LIBKML" and sublayer is None and _pick(names, schema, None) is None:
        chosen = available  # KML folders (and KMZ documents): read them all
    else:
        one = _pick(names, schema, sublayer)
        if one is None:
            listed = ", ".join(names)
            if sublayer is not None:
                raise _read_error(
                    label,
                    f"has no layer {sublayer!r}; it has: {listed}",
                    f"没有名为“{sublayer}”的图层/工作表，现有：{listed}。"
                    "请用 sublayer= 指定其中之一",
                )
            raise _read_error(
                label,
                f"has several layers ({listed}) and none is named like {schema.name!r}; pass "
                "sublayer=",
                f"有多个图层/工作表（{listed}），无法判断哪个是“{schema.title_zh}”。请用 sublayer= "
                "指定，或把图层命名为图层名",
            )
        chosen = [available[names.index(one)]]

    frames = [_read_one(source, p, name, enc, label=label) for p, name in chosen]
    if source.driver == "LIBKML":
        frames = [_clean_kml(f) if isinstance(f, gpd.GeoDataFrame) else f for f in frames]
    raw = _Raw(
        frame=gpd.GeoDataFrame(),
        sublayer="; ".join(n for _, n in chosen),
        encoding=enc,
        encoding_source=enc_source,
        problems=enc_problems,
    )
    if len(frames) > 1:  # concatenating empty frames is deprecated in pandas
        frames = [f for f in frames if len(f)] or frames[:1]
    if all(isinstance(f, gpd.GeoDataFrame) for f in frames):
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        frame = gpd.GeoDataFrame(frame, geometry=frame.geometry.name, crs=frames[0].crs)
        raw.frame = frame.reset_index(drop=True)
        return raw
    table = pd.concat([pd.DataFrame(f) for f in frames], ignore_index=True)
    frame, problems, used, bad = _points_from_columns(
        table,
        file=file,
        layer=schema.name,
        lon_column=lon_column,
        lat_column=lat_column,
        spreadsheet=source.driver in ("CSV", "XLSX"),
    )
    if source.driver == "CSV":
        problems += _csv_row_problems(table, source.path, enc, file=file, layer=schema.name)
    raw.frame, raw.problems, raw.lonlat_columns, raw.coordinate_rows = frame, problems, used, bad
    return raw


def _csv_row_problems(
    table: pd.DataFrame, path: Path, encoding: str | None, *, file: str, layer: str
) -> list[Problem]:
    """Report a CSV whose records swallowed lines after them (an unmatched quote).

    A ``"`` opening a field that never closes makes a CSV reader take the following lines,
    up to the next quote, into that field or drop them: 670 rows read as 7. The file's
    lines are counted; lines not accounted for by records or by line breaks inside
    (properly quoted) cells are lost, and the first line with an odd number of quotes is
    where it happened: one error there, at its field.
    """
    try:
        text = path.read_text(encoding=encoding or "utf-8", errors="replace")
    except OSError:
        return []
    lines = [ln for ln in text.splitlines() if ln.strip()]
    inside = 0
    for j in range(table.shape[1]):
        col = table.iloc[:, j]
        if col.dtype == object:
            cells = col.astype(object).where(col.notna(), "").astype(str)
            inside += int(cells.str.count("\n").sum())
    lost = len(lines) - 1 - len(table) - inside
    if lost <= 0:
        return []
    header = lines[0].split(",")
    odd = [i for i, ln in enumerate(lines[1:], start=1) if ln.count('"') % 2]
    row, field = (odd[0], None) if odd else (None, None)
    if odd:
        at = lines[odd[0]].index('"')
        k = lines[odd[0]][:at].count(",")
        field = header[k].strip().strip('"') if k < len(header) else None
    where_zh = f"第 {row} 条记录（表格第 {row + 1} 行）" if row else "文件中"
    return [
        Problem(
            kind=ProblemKind.MALFORMED_ROW,
            file=file,
            layer=layer,
            row=row,
            feature_id=None,
            field=field,
            message_zh=f'{where_zh}有不成对的英文引号（"），文件有 {len(lines) - 1} 行数据，'
            f"只读出 {len(table)} 行：其后的 {lost} 行被并入一格或丢失",
            fix_zh="请删除或补全该处的引号，或在 Excel/WPS 中打开后另存为 CSV 再导入",
            message=f"{'record ' + str(row) if row else 'the file'} has an unmatched quote: "
            f"{len(lines) - 1} data lines but {len(table)} records read ({lost} lines lost); "
            "delete or close the quote",
            value=lines[row][:80] if row else None,
        )
    ]


def _mostly_swapped(geoms: gpd.GeoSeries, declared: CoordsDeclaration | None) -> bool:
    """Return True when most features have a latitude where China's longitudes are, and back.

    Only for lon/lat data (no CRS, or a geographic one, and no EPSG declaration).
    """
    if len(geoms) == 0 or (declared is not None and declared.kind == "epsg"):
        return False
    if geoms.crs is not None and not geoms.crs.is_geographic:
        return False
    bounds = shapely.bounds(geoms.to_numpy())
    with np.errstate(invalid="ignore"):
        x = (bounds[:, 0] + bounds[:, 2]) / 2
        y = (bounds[:, 1] + bounds[:, 3]) / 2
        present = np.isfinite(x) & np.isfinite(y)
        swapped = (x >= CHINA_LAT_DEG[0]) & (x <= CHINA_LAT_DEG[1])
        swapped &= (y >= CHINA_LON_DEG[0]) & (y <= CHINA_LON_DEG[1])
        right = (x >= CHINA_LON_DEG[0]) & (x <= CHINA_LON_DEG[1])
        right &= (y >= CHINA_LAT_DEG[0]) & (y <= CHINA_LAT_DEG[1])
    n = int(present.sum())
    return n > 0 and swapped.sum() > right.sum() and swapped.sum() >= n / 2


# ---------------------------------------------------------------------------- public


def list_sublayers(
    path: str | os.PathLike[str], *, max_archive_bytes: int = DEFAULT_MAX_TOTAL_BYTES
) -> list[str]:
    """List what ``sublayer=`` can name in a file, folder or zip, for :func:`load`.

    Parameters
    ----------
    path : path-like
        A data file, a ``.gdb`` or other folder, or a ``.zip`` (extracted safely to a
        temporary folder, then removed).
    max_archive_bytes : int
        Largest uncompressed size of a zip, bytes.

    Returns
    -------
    list of str
        The layers (sheets, feature classes) of a single data file or ``.gdb``; in a zip or
        folder with several data files, their names without suffix.

    Raises
    ------
    LayerReadError
        As :func:`load`: missing, unknown format, unreadable or unsafe.
    """
    path = Path(path)
    if not path.exists():
        raise LayerReadError(
            f"file not found: {path}; check the path and the file name",
            zh=f"找不到文件：{path}。请检查路径和文件名是否正确",
        )
    suffix = path.suffix.lower()
    with tempfile.TemporaryDirectory(prefix="gapmap-list-") as tmp:
        data = path
        if suffix == ".zip" or (path.is_dir() and suffix != ".gdb"):
            folder = path
            if suffix == ".zip":
                folder = extract_zip(path, Path(tmp), max_total_bytes=max_archive_bytes)
            found = _candidates(folder)
            if len(found) != 1:
                return [p.name[: -len(p.suffix)] for p in found]
            data = found[0]
        if _format_of(data) is None:
            raise _read_error(
                path,
                f"unknown format {data.suffix or '(folder)'!r}",
                f"不支持的文件格式“{data.suffix or '文件夹'}”。支持：{_SUPPORTED_ZH}",
            )
        if data.suffix.lower() == ".kmz":
            folder = extract_zip(data, Path(tmp) / "kmz", max_total_bytes=max_archive_bytes)
            docs = _kml_documents(folder)
        else:
            docs = [data]
        return [str(n) for d in docs for n, _ in _ogr("open", path, pyogrio.list_layers, d)]


def load(
    path: str | os.PathLike[str],
    *,
    layer: str,
    coords: str | int | CoordsDeclaration | None = None,
    sublayer: str | None = None,
    encoding: str | None = None,
    lon_column: str | None = None,
    lat_column: str | None = None,
    max_archive_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    columns: Mapping[str, str] | None = None,
) -> LayerLoad:
    """Read one GapMap layer from any supported file, without raising for content problems.

    Parameters
    ----------
    path : path-like
        A ``.gpkg``, ``.gdb`` folder, ``.shp``, ``.geojson``/``.json``, ``.kml``, ``.kmz``,
        ``.csv``, ``.xlsx``, a ``.zip`` of one of these, or a folder holding one.
    layer : str
        GapMap layer name (``natural_villages``, ``roads`` ...): the schema to normalise to.
    coords : str or int, optional
        What the coordinates are: ``"wgs84"``, ``"cgcs2000"``, ``"gcj02"`` (Amap/Tencent),
        ``"bd09"`` (Baidu) or an EPSG code (``4545``, ``"EPSG:4545"``). Default: the
        file's own CRS. See :func:`layers.coords.to_wgs84` for how the two are reconciled.
    sublayer : str, optional
        Layer, feature class or sheet to read; in a zip or folder with several data files,
        the file name without suffix. Default: the only one, or the one named like
        ``layer`` (English or Chinese, e.g. ``自然村``); KML folders are all read.
    encoding : str, optional
        Attribute encoding of a Shapefile or CSV; default: ``.cpg``, else detected
        (UTF-8 if valid, else GBK).
    lon_column, lat_column : str, optional
        Coordinate columns of a CSV/XLSX when their names are not recognised.
    max_archive_bytes : int
        Largest uncompressed size of a zip/kmz, bytes (default 2 GiB).
    columns : mapping of str to str, optional
        ``{column as read: GapMap field}`` renames applied before the automatic field-name
        aliases, for columns the aliases do not know (a county's own names, names cut to
        10 bytes by a Shapefile writer). Recorded in the provenance's ``field_mapping``.

    Returns
    -------
    LayerLoad
        The normalised frame in EPSG:4326, every problem, and the provenance.

    Raises
    ------
    LayerReadError
        When the file cannot be opened at all: missing (``找不到文件``), unknown format,
        unreadable, an unsafe or broken archive (:class:`~layers.errors.ArchiveError`), or
        an ambiguous/missing ``sublayer``. ``zh`` says which file and how to fix it.
    CRSError
        When ``coords`` is not a valid declaration.
    LayerError
        When ``layer`` is not a GapMap layer.
    """
    schema = get_schema(layer)
    declared = parse_coords(coords)
    path = Path(path)
    if not path.exists():
        raise LayerReadError(
            f"file not found: {path}; check the path and the file name",
            zh=f"找不到文件：{path}。请检查路径和文件名是否正确",
        )
    with tempfile.TemporaryDirectory(prefix="gapmap-read-") as tmp:
        member: str | None = None
        inner_sublayer = sublayer
        suffix = path.suffix.lower()
        if suffix == ".zip" or (path.is_dir() and suffix != ".gdb"):
            folder = path
            if suffix == ".zip":
                folder = extract_zip(path, Path(tmp) / "zip", max_total_bytes=max_archive_bytes)
            data, inner_sublayer = _resolve_folder(folder, schema, sublayer, label=path)
            member = data.relative_to(folder).as_posix()
        else:
            data = path
        fmt = _format_of(data)
        if fmt is None:
            raise _read_error(
                path,
                f"unknown format {data.suffix or '(folder)'!r}; GapMap reads GeoPackage, FileGDB, "
                "Shapefile, GeoJSON, KML/KMZ, CSV, XLSX and zips of them"
                + ("; save .xls as .xlsx" if data.suffix.lower() == ".xls" else ""),
                f"不支持的文件格式“{data.suffix or '文件夹'}”。支持：{_SUPPORTED_ZH}"
                + ("。.xls 请另存为 .xlsx" if data.suffix.lower() == ".xls" else ""),
            )
        source = _Source(data, fmt[0], fmt[1], member)
        file = path.name if member is None else f"{path.name}/{member}"
        raw = _read_source(
            source,
            schema,
            inner_sublayer,
            file=file,
            encoding=encoding,
            lon_column=lon_column,
            lat_column=lat_column,
            label=path,
            tmp=Path(tmp),
            max_archive_bytes=max_archive_bytes,
        )

    given = {str(k): str(v) for k, v in (columns or {}).items() if k in raw.frame.columns}
    if given:
        raw.frame = raw.frame.rename(columns=given)
    if _mostly_swapped(raw.frame.geometry, declared):
        # Longitude and latitude trade places (经纬度颠倒): say so, row by row, instead of
        # "the values are not degrees"; the coordinates are left as they are.
        geometry = raw.frame.geometry.set_crs(4326, allow_override=True)
        source_crs = None if raw.frame.crs is None else raw.frame.crs.to_string()
        conversion = "none: longitude and latitude look swapped (not converted)"
        placed_problems: tuple[Problem, ...] = ()
    else:
        placed = to_wgs84(raw.frame.geometry, declared, file=file, layer=layer)
        geometry, source_crs = placed.geometry, placed.source_crs
        conversion, placed_problems = placed.conversion, placed.problems
    frame = gpd.GeoDataFrame(
        pd.DataFrame(raw.frame.drop(columns=raw.frame.geometry.name)),
        geometry=geometry.to_numpy(),
        crs=geometry.crs,
    )
    norm, checked, facts = _normalise_layer(frame, layer, file=file)
    checked += outside_china(norm, layer, file=file, facts=facts)
    if placed_problems:  # the reader's CRS message is the specific one
        checked = [p for p in checked if p.kind is not ProblemKind.CRS_MISSING]
    checked = [
        p
        for p in checked
        if not (p.kind is ProblemKind.EMPTY_GEOMETRY and p.row in raw.coordinate_rows)
    ]
    problems = [*raw.problems, *placed_problems, *checked]
    provenance = Provenance(
        file=str(path),
        format=source.format,
        driver=source.driver,
        sublayer=raw.sublayer,
        member=member,
        declared_coords=None if declared is None else declared.label,
        source_crs=source_crs,
        conversion=conversion,
        encoding=raw.encoding,
        encoding_source=raw.encoding_source,
        field_mapping={**given, **norm.attrs.get("column_renames", {})},
        lonlat_columns=raw.lonlat_columns,
        feature_count=len(norm),
    )
    norm.attrs["provenance"] = provenance.as_dict()
    remember_normalised(norm, layer, file=file, problems=problems, geometry_facts=facts)
    n_err = sum(p.severity is Severity.ERROR for p in problems)
    logger.info(
        "loaded %s as %s: %d features, %s, %d errors, %d warnings",
        file,
        layer,
        len(norm),
        conversion,
        n_err,
        len(problems) - n_err,
    )
    return LayerLoad(frame=norm, problems=problems, provenance=provenance, facts=facts)


def read(
    path: str | os.PathLike[str],
    *,
    layer: str,
    coords: str | int | CoordsDeclaration | None = None,
    sublayer: str | None = None,
    encoding: str | None = None,
    lon_column: str | None = None,
    lat_column: str | None = None,
    max_archive_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    columns: Mapping[str, str] | None = None,
) -> gpd.GeoDataFrame:
    """Read one GapMap layer; raise if it has any error.

    Takes the same parameters as :func:`load`. Warnings are logged; errors are raised all
    at once.

    Returns
    -------
    geopandas.GeoDataFrame
        Normalised, in EPSG:4326; ``frame.attrs["provenance"]`` says where it came from and
        what was done (a dict, see :class:`Provenance`).

    Raises
    ------
    LayerValidationError
        Listing every problem when any is an error (``.problems``; ``.zh`` in Chinese).
    LayerReadError, CRSError, LayerError
        As :func:`load`.

    Examples
    --------
    >>> shops = read("商店.xlsx", layer="service_points", coords="gcj02")  # doctest: +SKIP
    """
    loaded = load(
        path,
        layer=layer,
        coords=coords,
        sublayer=sublayer,
        encoding=encoding,
        lon_column=lon_column,
        lat_column=lat_column,
        max_archive_bytes=max_archive_bytes,
        columns=columns,
    )
    for p in loaded.problems:
        if p.severity is Severity.WARNING:
            logger.warning("%s", p)
    LayerValidationError.raise_if_errors(loaded.problems)
    return loaded.frame


def parquet_layers(path: str | os.PathLike[str]) -> dict[str, Path]:
    """Map GapMap layer names to the GeoParquet files of a dataset folder (or one file).

    A folder holds one ``<layer>.parquet`` per layer (as :func:`layers.write.write_layers`
    writes it); the file stem names the layer like a GeoPackage layer name (English,
    Chinese, or holding one). Exact names win; other files are ignored.
    """
    path = Path(path)
    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    chosen: dict[str, tuple[int, Path]] = {}
    for f in files:
        layer, rank = layer_of(f.stem)
        if layer is not None and (layer not in chosen or rank < chosen[layer][0]):
            chosen[layer] = (rank, f)
    return {k: v for k, (_, v) in chosen.items()}


def load_parquet(path: str | os.PathLike[str], *, layer: str, file: str = "") -> LayerLoad:
    """Read one GapMap layer from a GeoParquet file (columnar: the fast read path).

    Like :func:`load` for one layer: converted to EPSG:4326 when the file has another CRS,
    normalised and checked (every problem listed, none raised).

    Raises
    ------
    LayerReadError
        When the file cannot be read as GeoParquet.
    """
    schema = get_schema(layer)
    path = Path(path)
    file = file or path.name
    try:
        raw = gpd.read_parquet(path)
    except Exception as exc:  # pyarrow / geopandas errors: not GeoParquet
        raise _read_error(
            path,
            f"cannot be read as GeoParquet ({exc})",
            f"无法作为 GeoParquet 读取（{exc}），请重新导出",
        ) from exc
    source_crs = None if raw.crs is None else raw.crs.to_string()
    conversion = "none"
    if raw.crs is not None and not raw.crs.equals("EPSG:4326"):
        raw = raw.to_crs(4326)
        conversion = f"{source_crs} → EPSG:4326"
    frame = gpd.GeoDataFrame(
        pd.DataFrame(raw.drop(columns=raw.geometry.name)),
        geometry=raw.geometry.to_numpy(),
        crs=raw.crs,
    )
    norm, problems, facts = _normalise_layer(frame, layer, file=file)
    problems += outside_china(norm, layer, file=file, facts=facts)
    provenance = Provenance(
        file=str(path),
        format="GeoParquet",
        driver="pyarrow",
        sublayer=None,
        member=None,
        declared_coords=None,
        source_crs=source_crs,
        conversion=conversion,
        encoding="UTF-8",
        encoding_source="format",
        field_mapping=dict(norm.attrs.get("column_renames", {})),
        feature_count=len(norm),
    )
    norm.attrs["provenance"] = provenance.as_dict()
    remember_normalised(norm, schema.name, file=file, problems=problems, geometry_facts=facts)
    return LayerLoad(frame=norm, problems=problems, provenance=provenance, facts=facts)
