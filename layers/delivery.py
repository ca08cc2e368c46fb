"""A county's delivery, as it comes (a folder or a zip of mixed files), → one Dataset.

Counties hand over folders, not GeoPackages: boundaries as GeoJSON in EPSG:4490, villages
in an XLSX with a ``经纬度`` column, Shapefiles in Gauss-Krüger metres without a ``.prj``
or ``.cpg`` and with field names cut to 10 bytes, roads as a zipped FileGDB, facilities
picked on Amap (GCJ-02) or Baidu (BD-09), the water model as an EPANET ``.inp``, a DEM and
a ``数据说明.txt``. Three steps turn that into a validated :class:`~layers.dataset.Dataset`:

1. :func:`scan_delivery` proposes, per file, a GapMap layer (by its name — Chinese, English
   or pinyin —, its fields and its geometry), the coordinate system (the file's CRS, a hint
   in the 数据说明, and :func:`layers.coords.check_coords` against the delivery's own county
   boundary and roads), the text encoding and a field mapping with sample values. The
   ``.inp``, the DEM and the 数据说明 are recognised as such.
2. The user confirms or edits the proposal; a :class:`~layers.manifest.Manifest` records
   the choices in a small TOML file (:mod:`layers.manifest`: :func:`write_manifest`, atomic;
   :func:`read_manifest`; re-exported here), so next year's delivery is read with one
   command.
3. :func:`read_delivery` reads every file as the manifest says, through the one reader
   (:func:`layers.read.load`), validates the dataset across layers and returns it with
   the paths and declared CRS of the water model and the DEM (:class:`DeliveryRead`).

Zips (the delivery and zips inside it) are extracted with :func:`layers.archive.extract_zip`
into temporary folders that are always removed. Problems name the original file.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from layers.archive import DEFAULT_MAX_TOTAL_BYTES, extract_zip
from layers.coords import CoordsCheck, _centres, check_coords, parse_coords, to_wgs84
from layers.dataset import Dataset
from layers.errors import GapMapError, LayerError, LayerReadError, Problem, ProblemKind, Severity
from layers.fields import ALIASES, LAYER_ALIASES, column_mapping, fold_name
from layers.manifest import (
    DEM,
    IGNORE,
    README,
    ROLE_ZH,
    ROLES,
    WATER_MODEL,
    Manifest,
    ManifestEntry,
    read_manifest,
    write_manifest,
)
from layers.read import (  # the reader's own rules, so a scan sees what a read will
    FORMATS,
    _candidates,
    _format_of,
    _names_of,
    _ogr,
    _Raw,
    _read_source,
    _Source,
    load,
)
from layers.schema import LAYER_ORDER, LAYERS, LayerSchema
from layers.validate import validate_dataset

__all__ = [  # the manifest names are re-exported: one import for the whole workflow
    "ROLES",
    "ROLE_ZH",
    "DeliveryRead",
    "DeliveryScan",
    "FieldSuggestion",
    "FileProposal",
    "Manifest",
    "ManifestEntry",
    "read_delivery",
    "read_manifest",
    "scan_delivery",
    "suggest_fields",
    "write_manifest",
]

logger = logging.getLogger(__name__)

_SCAN_FEATURES = 20_000  # features read per file when scanning (all when reading)
_SAMPLES = 3
_TRUNCATED_BYTES = 10  # dBASE field names

# Names (Chinese beyond layers.read's, pinyin, English) a file may carry for each layer.
_EXTRA_NAMES: dict[str, tuple[str, ...]] = {
    "county": ("县界线", "县级界线", "xianjie", "xianjiexian", "xian_jie", "county_boundary"),
    "townships": ("乡镇界线", "乡界", "镇界", "xiangzhen", "xiang_zhen", "township"),
    "admin_villages": ("村委", "xingzhengcun", "xzc", "admin_village"),
    "natural_villages": ("自然村庄", "zirancun", "zrc", "natural_village", "village"),
    "relocation_sites": ("移民", "搬迁安置", "yimin", "anzhi", "relocation"),
    "roads": ("路线", "交通", "daolu", "gonglu", "road"),
    "clinics": ("卫生机构", "医疗卫生", "诊所", "weisheng", "yiliao", "clinic", "health"),
    "service_points": ("便民", "超市", "商业网点", "bianmin", "fuwu", "service", "shop"),
    "water_sources": ("shuiyuan",),
    "water_nodes": ("供水点", "jiedian"),
    "water_pipes": ("管线", "guanwang", "guandao", "pipe"),
    "public_facilities": ("学校点", "养老", "xuexiao", "youeryuan", "yanglao", "school"),
    "telecom_coverage": ("基站", "tongxinfugai", "5gfugai", "telecom", "coverage"),
    "env_facilities": ("垃圾", "污水", "huanwei", "wushui", "laji", "sewage", "waste"),
    "housing_survey": ("危旧房", "weifang", "weiyao", "unsafe_housing", "housing"),
}
_README_NAMES = ("说明", "readme", "read_me", "metadata", "元数据", "清单")
_TEXT_SUFFIXES = (".txt", ".md")
_DEM_SUFFIXES = (".tif", ".tiff")
_SIDE_CAR = (".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".xml", ".qmd", ".aux")

_COORD_HINTS: tuple[tuple[str, str], ...] = (
    ("高德", "gcj02"),
    ("腾讯", "gcj02"),
    ("火星", "gcj02"),
    ("gcj-02", "gcj02"),
    ("gcj02", "gcj02"),
    ("百度", "bd09"),
    ("bd-09", "bd09"),
    ("bd09", "bd09"),
    ("wgs84", "wgs84"),
    ("wgs-84", "wgs84"),
    ("gps", "wgs84"),
)


# ----------------------------------------------------------------------- records


@dataclass(frozen=True)
class FieldSuggestion:
    """A file column and the GapMap field it is proposed for.

    Attributes
    ----------
    column : str
        The column as read.
    field : str or None
        The proposed GapMap field; None when the column maps to nothing.
    reason : str
        ``"name"`` (already the GapMap name), ``"alias"`` (a known Chinese/pinyin name,
        mapped automatically), ``"truncated"`` (a known name cut to 10 bytes by a Shapefile
        writer: recorded in the manifest) or ``""``.
    reason_zh : str
        The same, for users.
    samples : tuple of str
        The first distinct non-empty values, as text.
    """

    column: str
    field: str | None
    reason: str
    reason_zh: str
    samples: tuple[str, ...]


@dataclass(frozen=True)
class FileProposal:
    """What :func:`scan_delivery` proposes for one file (or one layer of a multi-layer file).

    Attributes
    ----------
    path : str
        Path inside the delivery, ``/``-separated (the manifest key).
    sublayer : str or None
        Layer/sheet inside the file when it has several.
    format : str
        ``GeoJSON``, ``Shapefile``, ``FileGDB``, ``Excel``, ``CSV``, ``EPANET``,
        ``GeoTIFF``, ``text`` ...
    role : str
        Proposed role (:data:`ROLES`).
    reason, reason_zh : str
        Why (name, fields, geometry).
    scores : mapping
        Layer → score (0–6) for the runners-up; the app lists them.
    geometry_type : str or None
        Geometry type as read (tables: ``Point`` from their coordinate columns).
    feature_count : int
    columns : tuple of str
    encoding, encoding_source : str or None, str
        As the reader would choose (``.cpg``, detected ...).
    source_crs : str or None
        The file's own CRS.
    coords : str or None
        Proposed coordinate declaration (``"gcj02"``, ``"EPSG:4544"`` ...); None keeps the
        file's own CRS.
    coords_check : CoordsCheck or None
        Evidence for it (units, zone prefix, fit to the delivery's county and roads).
    coords_hint : str or None
        What the 数据说明 says about this file's coordinates, if anything.
    fields : tuple of FieldSuggestion
    missing_fields : tuple of str
        Required fields of the proposed layer no column provides, even with the suggestions.
    text : str
        The first lines of a 数据说明.
    samples : mapping of str to tuple of str
        Column → its first distinct values (for a field mapping to another layer).
    coords_detected : bool
        True when ``coords`` comes from the values alone (no file CRS or 数据说明 says so,
        or they were contradicted): the user must confirm it.
    """

    path: str
    sublayer: str | None
    format: str
    role: str
    reason: str
    reason_zh: str
    scores: Mapping[str, float] = field(default_factory=dict)
    geometry_type: str | None = None
    feature_count: int = 0
    columns: tuple[str, ...] = ()
    encoding: str | None = None
    encoding_source: str = ""
    source_crs: str | None = None
    coords: str | None = None
    coords_check: CoordsCheck | None = None
    coords_hint: str | None = None
    fields: tuple[FieldSuggestion, ...] = ()
    missing_fields: tuple[str, ...] = ()
    text: str = ""
    samples: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    coords_detected: bool = False

    @property
    def needs_confirmation(self) -> bool:
        """True when the user must confirm the coordinates: a warning, or detected only."""
        return bool(self.warnings_zh) or self.coords_detected

    @property
    def field_mapping(self) -> dict[str, str]:
        """Renames the manifest must record: the suggestions the reader does not make itself."""
        return {s.column: s.field for s in self.fields if s.field and s.reason == "truncated"}

    @property
    def warnings_zh(self) -> tuple[str, ...]:
        """Coordinate warnings to confirm, in Chinese."""
        if self.coords_check is None:
            return ()
        return tuple(p.message_zh for p in self.coords_check.problems)


@dataclass(frozen=True)
class DeliveryScan:
    """Proposals for every file of a delivery.

    Attributes
    ----------
    name : str
        The delivery's name (folder or zip stem).
    files : tuple of FileProposal
        In path order.
    readme : str
        Text of the 数据说明 (first 4,000 characters), if any.
    """

    name: str
    files: tuple[FileProposal, ...]
    readme: str = ""

    def proposal(self, path: str, sublayer: str | None = None) -> FileProposal:
        """Return the proposal for ``path`` (``KeyError`` if the delivery has no such file)."""
        for p in self.files:
            if p.path == path and (sublayer is None or p.sublayer == sublayer):
                return p
        raise KeyError(f"{path!r} is not in the delivery; it has {[p.path for p in self.files]}")

    def manifest(self, *, county: str | None = None) -> Manifest:
        """Return the proposal as a :class:`Manifest` (to check, edit and save)."""
        entries = []
        notes: dict[str, str] = {}
        for p in self.files:
            entries.append(
                ManifestEntry(
                    path=p.path,
                    layer=p.role,
                    coords=p.coords,
                    encoding=p.encoding if p.encoding_source.startswith("detected") else None,
                    sublayer=p.sublayer,
                    fields=p.field_mapping,
                )
            )
            key = p.path if p.sublayer is None else f"{p.path}#{p.sublayer}"
            note = [f"{ROLE_ZH[p.role]}：{p.reason_zh}"]
            if p.coords_check is not None:
                note += list(p.coords_check.findings_zh)
            if p.missing_fields:
                note.append(
                    "缺少必填字段：" + "、".join(p.missing_fields) + "（请在 fields 中补充对应）"
                )
            notes[key] = "\n".join(note)
        return Manifest(entries=tuple(entries), county=county or self.name, notes=notes)


def _with_water_model(dataset: Dataset, path: Path, coords: str | None) -> Dataset:
    """Attach the delivery's ``.inp`` (read with its declared CRS); a refusal is a problem."""
    from layers.epanet import WaterProblemKind, model_problem, read_inp

    try:
        return dataset.with_water_model(read_inp(path, crs=coords))
    except GapMapError as exc:
        refused = model_problem(
            WaterProblemKind.INP_ERROR,
            file=path.name,
            zh=exc.zh,
            fix_zh="在清单中为该文件声明坐标系（coords），或修改模型后重新读取",
            en=str(exc),
            severity=Severity.ERROR,
        )
        return replace(dataset, problems=(*dataset.problems, refused))


@dataclass(frozen=True)
class DeliveryRead:
    """A delivery read as its manifest says.

    Attributes
    ----------
    dataset : Dataset
        The GapMap layers, validated across layers (check :attr:`Dataset.ok`).
    water_model : Path or None
        The EPANET ``.inp`` (a copy in ``extras_dir`` when the delivery was a zip); read
        with its declared CRS it is also :attr:`Dataset.water_model` of ``dataset``
        (a refusal is one of its problems), and the DEM is :attr:`Dataset.dem`.
    water_model_coords : str or None
        Its coordinate declaration from the manifest.
    dem : Path or None
        The DEM GeoTIFF (a copy in ``extras_dir`` when the delivery was a zip).
    dem_crs : str or None
        The DEM's own CRS, or the manifest's declaration.
    manifest : Manifest
    unlisted : tuple of str
        Data files in the delivery the manifest does not mention (a new file next year).
    """

    dataset: Dataset
    water_model: Path | None
    water_model_coords: str | None
    dem: Path | None
    dem_crs: str | None
    manifest: Manifest
    unlisted: tuple[str, ...] = ()


# ----------------------------------------------------------------------- opening


@contextlib.contextmanager
def _opened(source: Path, *, max_archive_bytes: int) -> Iterator[Path]:
    """Yield the delivery's folder: the folder itself, or a zip extracted safely (removed)."""
    if not source.exists():
        raise LayerReadError(
            f"delivery not found: {source}", zh=f"找不到资料包：{source}，请检查路径"
        )
    if source.is_dir():
        yield source
        return
    if source.suffix.lower() != ".zip":
        raise LayerReadError(
            f"{source.name}: a delivery is a folder or a .zip",
            zh=f"{source.name}：整县资料包应是文件夹或 zip 压缩包",
        )
    with tempfile.TemporaryDirectory(prefix="gapmap-delivery-") as tmp:
        root = extract_zip(source, Path(tmp), max_total_bytes=max_archive_bytes)
        entries = [p for p in root.iterdir() if p.name != "__MACOSX"]
        # a zip of one folder: that folder is the delivery
        if len(entries) == 1 and entries[0].is_dir() and entries[0].suffix.lower() != ".gdb":
            root = entries[0]
        yield root


def _walk(root: Path) -> list[Path]:
    """Files and .gdb folders of a delivery, in path order (sidecar files left out)."""
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        keep: list[str] = []
        for d in sorted(dirnames):
            if d.startswith(".") or d == "__MACOSX":
                continue
            if d.lower().endswith(".gdb"):
                out.append(here / d)  # a FileGDB is one data "file"
            else:
                keep.append(d)
        dirnames[:] = keep
        for f in sorted(filenames):
            if f.startswith(".") or Path(f).suffix.lower() in _SIDE_CAR:
                continue
            out.append(here / f)
    return sorted(out, key=lambda p: p.relative_to(root).as_posix())


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


# ----------------------------------------------------------------------- scanning


def _name_scores(stem: str) -> dict[str, tuple[int, str]]:
    """Layer → (length of the longest name found in ``stem``, that name)."""
    folded = stem.casefold()
    out: dict[str, tuple[int, str]] = {}
    for name, schema in LAYERS.items():
        names = (*_names_of(schema), *_EXTRA_NAMES.get(name, ()))
        for cand in names:
            c = cand.casefold()
            if c and c in folded and len(c) > out.get(name, (0, ""))[0]:
                out[name] = (len(c), cand)
    if out:  # the longest match wins outright (乡镇卫生院 is clinics, not townships)
        top = max(n for n, _ in out.values())
        out = {k: v for k, v in out.items() if v[0] == top}
    return out


def _truncated(alias: str, encoding: str) -> str | None:
    """``alias`` cut to 10 bytes in ``encoding`` (a cut character dropped), or None if it fits."""
    try:
        raw = alias.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return None
    if len(raw) <= _TRUNCATED_BYTES:
        return None
    return raw[:_TRUNCATED_BYTES].decode(encoding, errors="ignore")


def _aliases_of(schema: LayerSchema, field_name: str) -> tuple[str, ...]:
    return (
        field_name,
        *LAYER_ALIASES.get(schema.name, {}).get(field_name, ()),
        *ALIASES.get(field_name, ()),
    )


def _samples(frame: pd.DataFrame, column: str) -> tuple[str, ...]:
    values = frame[column].dropna().astype(str).str.strip()
    return tuple(values[values != ""].drop_duplicates().head(_SAMPLES).tolist())


def _suggest_fields(
    frame: pd.DataFrame, columns: list[str], schema: LayerSchema, encoding: str | None
) -> tuple[tuple[FieldSuggestion, ...], tuple[str, ...]]:
    """Column → field suggestions for ``schema`` and the required fields still missing."""
    auto = column_mapping(columns, schema)
    taken = {auto.get(c, fold_name(c)) for c in columns} & set(schema.field_names)
    encodings = list(dict.fromkeys(e for e in ((encoding or "UTF-8"), "UTF-8", "GBK")))
    suggestions: list[FieldSuggestion] = []
    for c in columns:
        if fold_name(c) in schema.field_names:
            suggestions.append(
                FieldSuggestion(c, fold_name(c), "name", "字段名相同", _samples(frame, c))
            )
            continue
        if c in auto:
            suggestions.append(
                FieldSuggestion(c, auto[c], "alias", "常用字段名，自动对应", _samples(frame, c))
            )
            continue
        hit = None
        for f in schema.field_names:
            if f in taken:
                continue
            for alias in _aliases_of(schema, f):
                cut = [t for enc in encodings if (t := _truncated(alias, enc)) is not None]
                if any(fold_name(t) == fold_name(c) for t in cut if t):
                    hit = (f, alias)
                    break
            if hit:
                break
        if hit is not None:
            taken.add(hit[0])
            suggestions.append(
                FieldSuggestion(
                    c,
                    hit[0],
                    "truncated",
                    f"字段名被截断为 10 字节，原名应为“{hit[1]}”",
                    _samples(frame, c),
                )
            )
        else:
            suggestions.append(
                FieldSuggestion(c, None, "", "未对应（保留原样）", _samples(frame, c))
            )
    missing = tuple(f for f in schema.required if f not in taken)
    return tuple(suggestions), missing


def _pattern_share(frame: pd.DataFrame, suggestions: tuple[FieldSuggestion, ...], schema) -> float:
    """Share of pattern fields (codes of 6/9/12 digits) whose sample values match."""
    checks = []
    for s in suggestions:
        if s.field is None:
            continue
        f = schema.field(s.field)
        if f.pattern is None or not f.required:
            continue
        vals = frame[s.column].dropna().astype(str).str.strip().head(200)
        vals = vals.str.replace(r"\.0$", "", regex=True)
        checks.append(float(vals.str.fullmatch(f.pattern).mean()) if len(vals) else 0.0)
    return float(np.mean(checks)) if checks else 1.0


def _geometry_kind(frame: gpd.GeoDataFrame) -> str | None:
    geoms = frame.geometry
    present = geoms[~(geoms.isna() | geoms.is_empty)]
    if present.empty:
        return None
    return str(present.geom_type.mode().iloc[0])


def _readme_hint(readme: str, path: str) -> tuple[str | None, str | None]:
    """Return what the 数据说明 says about a file's coordinates: (declaration, the line).

    The first line naming the file (its name without suffix) is used: an EPSG code, a web
    map (高德/腾讯 → GCJ-02, 百度 → BD-09), WGS84, or CGCS2000 lon/lat (``2000`` without
    投影/高斯/带, which would be Gauss-Krüger metres of an unstated zone).
    """
    if not readme:
        return None, None
    stem = Path(path).name.split(".")[0]
    for line in readme.splitlines():
        text = line.strip()
        if not text or stem not in text:
            continue
        folded = text.casefold().replace(" ", "")
        if m := re.search(r"epsg[:：]?\s*(\d{4,5})", folded):
            return f"EPSG:{m.group(1)}", text
        for word, kind in _COORD_HINTS:
            if word in folded:
                return kind, text
        if "2000" in folded and not any(w in folded for w in ("投影", "高斯", "带", "gk")):
            return "cgcs2000", text
        return None, text
    return None, None


def _inp_xy(path: Path, *, max_lines: int = 5000) -> tuple[np.ndarray, np.ndarray, str]:
    """x, y of the first ``[COORDINATES]`` of an .inp (no parsing of the model) and its title."""
    xs: list[float] = []
    ys: list[float] = []
    title: list[str] = []
    section = ""
    with open(path, encoding="utf-8", errors="replace") as f:
        for i, line in enumerate(f):
            s = line.split(";", 1)[0].strip()
            if s.startswith("["):
                section = s.upper()
                continue
            if section == "[TITLE]" and line.strip():
                title.append(line.strip())
            if section == "[COORDINATES]" and s:
                parts = s.split()
                if len(parts) >= 3:
                    with contextlib.suppress(ValueError):
                        xs.append(float(parts[1]))
                        ys.append(float(parts[2]))
                if len(xs) >= max_lines:
                    break
            if i > 2_000_000:
                break
    return np.asarray(xs), np.asarray(ys), " ".join(title)


@dataclass
class _Item:
    path: str
    sublayer: str | None
    proposal: FileProposal
    frame: gpd.GeoDataFrame | None = None  # raw, in the file's CRS (tables: no CRS)
    declared: str | None = None  # the file's CRS or the readme hint


def _read_raw(data: Path, sublayer: str | None, tmp: Path, label: Path) -> tuple[_Raw, str]:
    fmt = _format_of(data)
    assert fmt is not None
    source = _Source(data, fmt[0], fmt[1], None)
    raw = _read_source(
        source,
        LAYERS["natural_villages"],  # any schema: the sublayer is named explicitly
        sublayer,
        file=label.name,
        encoding=None,
        lon_column=None,
        lat_column=None,
        label=label,
        tmp=tmp,
        max_archive_bytes=DEFAULT_MAX_TOTAL_BYTES,
    )
    return raw, fmt[0]


def _propose_layer(
    path: str,
    sublayer: str | None,
    fmt: str,
    frame: gpd.GeoDataFrame,
    encoding: str | None,
    encoding_source: str,
    n_features: int,
) -> FileProposal:
    stem = Path(path).name.split(".")[0] + ("" if sublayer is None else f" {sublayer}")
    columns = [str(c) for c in frame.columns if c != frame.geometry.name]
    geom = _geometry_kind(frame)
    names = _name_scores(stem)
    scores: dict[str, float] = {}
    detail: dict[str, tuple[str, str, tuple, tuple]] = {}
    for name, schema in LAYERS.items():
        suggestions, missing = _suggest_fields(frame, columns, schema, encoding)
        req = schema.required
        field_share = 1.0 - len(missing) / len(req) if req else 0.0
        pattern = _pattern_share(frame, suggestions, schema)
        geom_ok = geom is None or geom in schema.geometry_types
        score = 3.0 * (name in names) + 2.0 * field_share + pattern * field_share
        score = score if geom_ok else score - 3.0
        scores[name] = round(score, 2)
        parts_zh = []
        parts = []
        if name in names:
            parts_zh.append(f"文件名含“{names[name][1]}”")
            parts.append(f"name contains {names[name][1]!r}")
        parts_zh.append(f"必填字段 {len(req) - len(missing)}/{len(req)}")
        parts.append(f"required fields {len(req) - len(missing)}/{len(req)}")
        if geom is not None:
            parts_zh.append(f"几何为 {geom}" + ("" if geom_ok else "（不符）"))
            parts.append(f"geometry {geom}" + ("" if geom_ok else " (does not fit)"))
        detail[name] = ("；".join(parts_zh), ", ".join(parts), suggestions, missing)
    best = max(scores, key=lambda k: (scores[k], -LAYER_ORDER.index(k)))
    if scores[best] < 2.0:
        role, reason_zh, reason = IGNORE, "名称、字段都不像任何图层，请手动选择", "nothing fits"
        suggestions, missing = (), ()
    else:
        role = best
        reason_zh, reason, suggestions, missing = detail[best]
    return FileProposal(
        path=path,
        sublayer=sublayer,
        format=fmt,
        role=role,
        reason=reason,
        reason_zh=reason_zh,
        scores=dict(sorted(scores.items(), key=lambda kv: -kv[1])[:4]),
        geometry_type=geom,
        feature_count=n_features,
        columns=tuple(columns),
        encoding=encoding,
        encoding_source=encoding_source,
        source_crs=None if frame.crs is None else _crs_text(frame.crs),
        fields=suggestions,
        missing_fields=missing,
        samples={c: _samples(frame, c) for c in columns},
    )


def suggest_fields(
    proposal: FileProposal, layer: str
) -> tuple[tuple[FieldSuggestion, ...], tuple[str, ...]]:
    """Return a file's field suggestions for ``layer`` and the required fields still missing.

    For when the user picks another layer than proposed; the suggestions are computed from
    the columns and sample values the scan kept.
    """
    frame = pd.DataFrame(
        {c: pd.Series(proposal.samples.get(c, ()), dtype=object) for c in proposal.columns}
    )
    return _suggest_fields(frame, list(proposal.columns), LAYERS[layer], proposal.encoding)


def _crs_text(crs: object) -> str:
    crs = CRS.from_user_input(crs)
    code = crs.to_epsg(min_confidence=70)
    return f"EPSG:{code}" if code else crs.name


def _scan_data_file(data: Path, rel: str, tmp: Path, label: Path) -> list[_Item]:
    """One item per layer of a data file (a .gdb, .gpkg, .shp, table ...)."""
    layers = [str(n) for n, _ in _ogr("open", label, pyogrio.list_layers, data)]
    subs: list[str | None] = [None] if len(layers) <= 1 else list(layers)
    items = []
    for sub in subs:
        raw, fmt = _read_raw(data, sub, tmp, label)
        frame = raw.frame
        n = len(frame)
        if n > _SCAN_FEATURES:
            frame = frame.iloc[:_SCAN_FEATURES]
        prop = _propose_layer(rel, sub, fmt, frame, raw.encoding, raw.encoding_source, n)
        items.append(_Item(rel, sub, prop, frame))
    return items


def scan_delivery(
    source: str | os.PathLike[str], *, max_archive_bytes: int = DEFAULT_MAX_TOTAL_BYTES
) -> DeliveryScan:
    """Propose a layer, coordinates, encoding and field mapping for every file of a delivery.

    Parameters
    ----------
    source : path-like
        A delivery folder or a ``.zip`` of one (zips inside are looked into too).
    max_archive_bytes : int
        Largest uncompressed size of a zip, bytes.

    Returns
    -------
    DeliveryScan
        One :class:`FileProposal` per file (per layer of a multi-layer file), with the
        evidence. Nothing is converted: coordinate candidates that fit the delivery's own
        county boundary and roads markedly better than the declaration are proposed
        *with a warning* for the user to confirm.

    Raises
    ------
    LayerReadError
        When the delivery or one of its files cannot be opened (the message names it).
    """
    source = Path(source)
    with (
        _opened(source, max_archive_bytes=max_archive_bytes) as root,
        tempfile.TemporaryDirectory(prefix="gapmap-scan-") as tmp_name,
    ):
        tmp = Path(tmp_name)
        files = _walk(root)
        readme = ""
        for p in files:
            if p.suffix.lower() in _TEXT_SUFFIXES and any(
                n in p.stem.casefold() for n in _README_NAMES
            ):
                readme = _read_text(p)[:4000]
                break
        items: list[_Item] = []
        for i, p in enumerate(files):
            rel = _rel(p, root)
            suffix = p.suffix.lower()
            label = Path(rel)
            if suffix == ".zip":
                inner = extract_zip(p, tmp / f"zip{i}", max_total_bytes=max_archive_bytes)
                found = _candidates(inner)
                if len(found) == 1:
                    items += _scan_data_file(found[0], rel, tmp / f"z{i}", label)
                else:
                    items.append(_Item(rel, None, _other(rel, "zip", found=len(found))))
            elif p.is_dir() or suffix in FORMATS:
                items += _scan_data_file(p, rel, tmp / f"d{i}", label)
            elif suffix == ".inp":
                items.append(_inp_item(p, rel))
            elif suffix in _DEM_SUFFIXES:
                items.append(_Item(rel, None, _dem_proposal(p, rel)))
            elif suffix in _TEXT_SUFFIXES:
                text = _read_text(p)
                items.append(
                    _Item(
                        rel,
                        None,
                        FileProposal(
                            rel, None, "text", README, "description text", "数据说明文字",
                            text=text[:4000],
                        ),
                    )
                )  # fmt: skip
            else:
                items.append(_Item(rel, None, _other(rel, suffix or "file")))
        items = _propose_coords(items, readme)
    items.sort(key=lambda i: (ROLES.index(i.proposal.role), i.path, i.sublayer or ""))
    logger.info("scanned %s: %d files", source.name, len(items))
    return DeliveryScan(name=source.stem, files=tuple(i.proposal for i in items), readme=readme)


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace")


def _other(rel: str, fmt: str, *, found: int | None = None) -> FileProposal:
    if found is not None:
        zh = f"压缩包中有 {found} 个数据文件，请解压后放入资料包"
        en = f"the zip holds {found} data files; unzip it into the delivery"
    else:
        zh, en = "不是 GapMap 可读取的文件", "not a file GapMap reads"
    return FileProposal(rel, None, fmt, IGNORE, en, zh)


def _inp_item(path: Path, rel: str) -> _Item:
    """Return the water model as an item: its node coordinates as points, the title hint."""
    x, y, title = _inp_xy(path)
    hint = None
    if m := re.search(r"EPSG[:：]?\s*(\d{4,5})", title, flags=re.IGNORECASE):
        hint = f"EPSG:{m.group(1)}"
    proposal = FileProposal(
        rel,
        None,
        "EPANET",
        WATER_MODEL,
        "EPANET input file (.inp)",
        "EPANET 管网模型文件（.inp）",
        geometry_type="Point",
        feature_count=len(x),
        coords_hint=f"[TITLE] {title[:120]}" if hint else None,
    )
    points = gpd.GeoDataFrame(geometry=gpd.GeoSeries(shapely.points(x, y)))
    return _Item(rel, None, proposal, points, declared=hint)


def _dem_proposal(path: Path, rel: str) -> FileProposal:
    import rasterio
    import rasterio.errors

    crs = None
    try:
        with rasterio.open(path) as src:
            crs = None if src.crs is None else _crs_text(src.crs)
            shape = (src.height, src.width)
    except rasterio.errors.RasterioError as err:  # not a raster GDAL can open
        logger.info("%s is not a readable raster (%s)", rel, err)
        return _other(rel, "tif")
    return FileProposal(
        rel,
        None,
        "GeoTIFF",
        DEM,
        f"single-band raster {shape[1]}×{shape[0]}",
        f"栅格（{shape[1]}×{shape[0]} 像元），按高程数据处理",
        source_crs=crs,
    )


def _references(items: list[_Item]) -> tuple[gpd.GeoSeries | None, gpd.GeoSeries | None]:
    """Return the delivery's own county boundary and roads, placed as proposed."""
    out: dict[str, gpd.GeoSeries | None] = {"county": None, "roads": None}
    for item in items:
        role = item.proposal.role
        if role not in out or out[role] is not None or item.frame is None:
            continue
        best = item.proposal.coords_check.best if item.proposal.coords_check else None
        coords = item.declared or (best.coords if best and not best.swapped else None)
        placed = to_wgs84(item.frame.geometry, coords)
        if placed.geometry.crs is not None and not any(
            p.severity is Severity.ERROR for p in placed.problems
        ):
            out[role] = placed.geometry
    return out["county"], out["roads"]


def _propose_coords(items: list[_Item], readme: str) -> list[_Item]:
    """Check every layer's coordinates (twice: alone, then against the county and roads)."""
    for item in items:
        p = item.proposal
        if item.frame is None:
            continue
        hint, line = _readme_hint(readme, p.path)
        item.declared = p.source_crs or item.declared or hint
        item.proposal = replace(p, coords_hint=p.coords_hint or line)
        x, y = _centres(item.frame.geometry)
        item.proposal = replace(
            item.proposal,
            coords_check=check_coords(
                x, y, declared=item.declared, file=Path(p.path).name, layer=p.role
            ),
        )
    county, roads = _references(items)
    for item in items:
        p = item.proposal
        if item.frame is None or (p.role not in LAYERS and p.role != WATER_MODEL):
            continue
        x, y = _centres(item.frame.geometry)
        check = check_coords(
            x,
            y,
            declared=item.declared,
            boundary=county if p.role != "county" else None,
            # distances to roads say something about points only (not polygon centres)
            roads=roads if p.geometry_type == "Point" and p.role != "roads" else None,
            file=Path(p.path).name,
            layer=p.role,
        )
        coords = _choose(item.declared, check, p.source_crs)
        detected = coords is not None and (
            item.declared is None or parse_coords(coords) != parse_coords(item.declared)
        )
        item.proposal = replace(p, coords_check=check, coords=coords, coords_detected=detected)
    return items


def _choose(declared: str | None, check: CoordsCheck, source_crs: str | None) -> str | None:
    """Return the declaration to propose: the detected best if it beats the declared one."""
    best = check.best
    if best is None or best.swapped:
        return declared if declared != source_crs else None
    if declared is None or check.problems:
        if source_crs is not None and parse_coords(best.coords) == parse_coords(source_crs):
            return None
        return best.coords
    return None if declared == source_crs else declared


# ----------------------------------------------------------------------- reading


def _locate(root: Path, entry: ManifestEntry, *, source: Path) -> Path:
    target = root.joinpath(*entry.path.split("/"))
    if not target.resolve().is_relative_to(root.resolve()) or not target.exists():
        raise LayerReadError(
            f"{source.name}: the manifest names {entry.path!r}, which the delivery does not "
            "hold; fix the path in the manifest or add the file",
            zh=f"{source.name} 中没有清单所列的文件“{entry.path}”："
            "请改正清单中的 path，或补上该文件",
        )
    return target


def _residual_shift(
    frame: gpd.GeoDataFrame, county: gpd.GeoDataFrame | None, roads: gpd.GeoDataFrame | None,
    *, file: str, layer: str,
) -> list[Problem]:  # fmt: skip
    """Warn when converted points still fit the roads markedly better after a GCJ/BD inverse."""
    if roads is None or frame.crs is None or len(frame) == 0 or layer in ("county", "roads"):
        return []
    if not (frame.geometry.geom_type == "Point").all():  # polygon centres say nothing here
        return []
    x, y = _centres(frame.geometry)
    check = check_coords(x, y, declared="wgs84", boundary=county, roads=roads, file=file,
                         layer=layer)  # fmt: skip
    return [
        replace(
            p,
            message_zh="按清单声明转换后仍有系统偏移：" + p.message_zh,
            fix_zh="请核对清单中该文件的 coords（高德/腾讯为 gcj02，百度为 bd09）",
        )
        for p in check.problems
        if p.kind is ProblemKind.CRS_MISSING
    ]


def _single_parts(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Replace one-part multi-geometries by their part (FileGDB and Shapefile store multis).

    A GeoPackage of the same data holds LineStrings; the positions are unchanged.
    """
    geoms = frame.geometry.to_numpy()
    multi = np.isin(shapely.get_type_id(geoms), (4, 5, 6)) & (
        shapely.get_num_geometries(geoms) == 1
    )
    if not multi.any():
        return frame
    out = geoms.copy()
    out[multi] = shapely.get_geometry(geoms[multi], 0)
    result = frame.set_geometry(gpd.GeoSeries(out, index=frame.index, crs=frame.crs))
    result.attrs = dict(frame.attrs)
    return result


def read_delivery(
    source: str | os.PathLike[str],
    manifest: Manifest,
    *,
    extras_dir: str | os.PathLike[str] | None = None,
    max_archive_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
) -> DeliveryRead:
    """Read a delivery as its manifest says into one validated Dataset.

    Parameters
    ----------
    source : path-like
        The delivery folder or ``.zip``.
    manifest : Manifest
        One entry per file (:func:`scan_delivery` proposes it, :func:`read_manifest`
        reads a saved one).
    extras_dir : path-like, optional
        Where the ``.inp`` and the DEM are copied when the delivery is a zip (its
        extraction folder is removed). Default: a new temporary folder the caller owns.
    max_archive_bytes : int
        Largest uncompressed size of a zip, bytes.

    Returns
    -------
    DeliveryRead
        The dataset (problems name the original files; check :attr:`Dataset.ok`) and the
        water model and DEM paths with their coordinate systems.

    Raises
    ------
    LayerReadError
        A file the manifest names is missing or cannot be opened.
    LayerError
        Two files are declared as the same layer.
    """
    source = Path(source)
    seen: dict[str, str] = {}
    for e in manifest.entries:
        if e.layer in LAYERS or e.layer in (WATER_MODEL, DEM):
            if e.layer in seen:
                raise LayerError(
                    f"both {seen[e.layer]!r} and {e.path!r} are declared as {e.layer}; keep one "
                    '(set the other to layer = "ignore")',
                    zh=f"清单中“{seen[e.layer]}”和“{e.path}”都被指定为“{ROLE_ZH[e.layer]}”："
                    '请只保留一个，另一个改为 layer = "ignore"',
                )
            seen[e.layer] = e.path
    layers: dict[str, gpd.GeoDataFrame] = {}
    problems: list[Problem] = []
    provenance: dict[str, Mapping[str, object]] = {}
    files: dict[str, str] = {}
    water = dem = None
    water_coords = dem_crs = None
    with _opened(source, max_archive_bytes=max_archive_bytes) as root:
        listed = {e.path for e in manifest.entries}
        unlisted = tuple(r for p in _walk(root) if (r := _rel(p, root)) not in listed)
        if unlisted:
            logger.warning("%s: files not in the manifest (ignored): %s", source.name, unlisted)
        for e in manifest.entries:
            if e.layer in (README, IGNORE):
                continue
            path = _locate(root, e, source=source)
            if e.layer in (WATER_MODEL, DEM):
                if not source.is_dir():
                    folder = Path(extras_dir or tempfile.mkdtemp(prefix="gapmap-delivery-"))
                    folder.mkdir(parents=True, exist_ok=True)
                    path = Path(shutil.copy2(path, folder / path.name))
                if e.layer == WATER_MODEL:
                    water, water_coords = path, e.coords
                else:
                    dem, dem_crs = path, e.coords or _dem_proposal(path, e.path).source_crs
                continue
            loaded = load(
                path,
                layer=e.layer,
                coords=e.coords,
                sublayer=e.sublayer,
                encoding=e.encoding,
                columns=e.fields,
                max_archive_bytes=max_archive_bytes,
            )
            layers[e.layer] = _single_parts(loaded.frame)
            problems += loaded.problems
            prov = loaded.provenance.as_dict()
            prov["delivery_path"] = e.path
            provenance[e.layer] = prov
            files[e.layer] = Path(e.path).name
    county, roads = layers.get("county"), layers.get("roads")
    for layer, frame in layers.items():
        problems += _residual_shift(frame, county, roads, file=files[layer], layer=layer)
    problems += validate_dataset(layers, files=files)
    dataset = Dataset(
        layers=layers,
        problems=tuple(problems),
        provenance=provenance,
        name=manifest.county or source.stem,
        inputs=(source.resolve(),),
    )
    if water is not None:  # the water bureau's model becomes the dataset's water network
        dataset = _with_water_model(dataset, water, water_coords)
    if dem is not None:
        dataset = dataset.with_dem(dem)
    logger.info("read delivery %s: %d layers, %d problems", source.name, len(layers), len(problems))
    return DeliveryRead(
        dataset=dataset,
        water_model=water,
        water_model_coords=water_coords,
        dem=dem,
        dem_crs=dem_crs,
        manifest=manifest,
        unlisted=unlisted,
    )
