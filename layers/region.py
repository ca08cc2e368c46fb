"""A region as data: its manifest, a county with its buffer, and the region's results.

A region data folder (``region.json`` format 1, written by ``scripts.build_region``) lists
its counties, each a GapMap GeoPackage validating clean on its own. A county is computed
on its own dataset plus, from its neighbours' files, the roads and facilities within a
buffer beyond its border (:func:`read_region_county`), so that a village near the border
reaches the nearer clinic or shop across it; every unit in that dataset is the county's own.

The results of ``python -m scripts.region`` are written here too (:func:`write_county_results`,
:func:`write_region_results`) and read back by the app without recomputing
(:func:`read_region_results`, :func:`read_county_results`, :func:`read_county_assessment`).

Results folder layout (all files written atomically)::

    O/region.json            the run: data folder, settings hash, buffer, per-county status
    O/rollup.parquet         region → city → county rows per indicator (plain Parquet)
    O/boundaries.parquet     region, city and county polygons (GeoParquet, EPSG:4326)
    O/counties/<code>/outcomes.parquet        every outcome row (GeoParquet, points)
    O/counties/<code>/admin_villages.parquet  the county's roll-up per admin village
    O/counties/<code>/townships.parquet       and per township (GeoParquet)
    O/counties/<code>/county.pkl              the assessed partition and its Assessment
    O/counties/<code>/meta.json               input hash, settings hash, seconds (last)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from layers import cache as results_cache
from layers.crs import metric_crs
from layers.dataset import Dataset, read_dataset
from layers.errors import LayerReadError
from layers.validate import SOURCE_FILE_ATTR, normalise_layer, remember_normalised
from layers.write import atomic_path

__all__ = [
    "BUFFER_LAYERS",
    "REGION_FORMAT",
    "CountyReader",
    "Region",
    "RegionCounty",
    "RegionError",
    "RegionResults",
    "buffer_area",
    "compose_partition",
    "county_boundary",
    "county_input_files",
    "file_sha256",
    "neighbours",
    "read_county_assessment",
    "read_county_meta",
    "read_county_results",
    "read_region",
    "read_region_county",
    "read_region_results",
    "select_within",
    "write_county_results",
    "write_region_results",
]

logger = logging.getLogger(__name__)

REGION_FORMAT = 1
"""The ``format`` of ``region.json`` (data and results) this module reads and writes."""

BUFFER_LAYERS: tuple[str, ...] = (
    "roads",
    "clinics",
    "service_points",
    "public_facilities",
    "env_facilities",
    "telecom_coverage",
)
"""Layers taken from the neighbours within the buffer: what a county's units may reach.

The units themselves (villages, sites, admin villages, townships, water works, houses) are
never taken: every unit of a county's partition is its own.
"""

DEFAULT_INP_CRS = "EPSG:4544"
"""CRS of a county's ``.inp`` [COORDINATES] when its entry has no ``inp_crs`` (CGCS2000 GK
zone CM 105°E, as the demo's ``tongxin.inp``)."""

_CODE = re.compile(r"\d{6}")


class RegionError(LayerReadError):
    """A region manifest or results folder that cannot be used (file and field named)."""


# ------------------------------------------------------------------ the manifest


@dataclass(frozen=True)
class RegionCounty:
    """One county entry of ``region.json``.

    Attributes
    ----------
    code, name : str
        6-digit code and name (``640324``, ``同心县``).
    city_code, city_name : str
        Its city (``640300``, ``吴忠市``).
    key : bool
        One of the key counties (乡村振兴重点帮扶县).
    gpkg : Path
        Its GapMap GeoPackage (absolute).
    inp : Path or None
        Its EPANET model, when it has one.
    inp_crs : str
        CRS of the model's coordinates (default :data:`DEFAULT_INP_CRS`).
    source : str
        Where its data came from (``模拟 + 真实边界/名称``).
    """

    code: str
    name: str
    city_code: str
    city_name: str
    key: bool
    gpkg: Path
    inp: Path | None = None
    inp_crs: str = DEFAULT_INP_CRS
    source: str = ""


@dataclass(frozen=True)
class Region:
    """A region data folder as read by :func:`read_region`.

    Attributes
    ----------
    folder : Path
        The folder holding ``region.json`` (absolute).
    name, province_code : str
    boundaries : Path or None
        ``boundaries.gpkg`` (layers ``province``, ``city``, ``county``), when present.
    dem : Path or None
        The region's DEM (GeoTIFF), when it has one.
    counties : tuple of RegionCounty
        In the manifest's order.
    """

    folder: Path
    name: str
    province_code: str
    boundaries: Path | None
    dem: Path | None
    counties: tuple[RegionCounty, ...] = field(default_factory=tuple)

    @property
    def codes(self) -> tuple[str, ...]:
        """The counties' codes, in the manifest's order."""
        return tuple(c.code for c in self.counties)

    def county(self, code: str) -> RegionCounty:
        """Return one county's entry; an unknown code raises :class:`RegionError`."""
        for c in self.counties:
            if c.code == str(code):
                return c
        raise RegionError(
            f"{self.folder / 'region.json'}: no county {code!r}; it lists {list(self.codes)}",
            zh=f"{self.folder / 'region.json'} 中没有县 {code}，现有：{'、'.join(self.codes)}",
        )


def _manifest_error(file: Path, where: str, en: str, zh: str) -> RegionError:
    return RegionError(f"{file}: {where}: {en}", zh=f"{file}：{where}{zh}")


def _text(entry: Mapping[str, Any], key: str, file: Path, where: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _manifest_error(
            file, where, f"field {key!r} must be a non-empty text", f"字段“{key}”缺失或不是文字"
        )
    return value


def _file(folder: Path, value: object, key: str, file: Path, where: str) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise _manifest_error(
            file, where, f"field {key!r} must name a file", f"字段“{key}”应为文件名"
        )
    path = (folder / value).resolve()
    if not path.exists():
        raise _manifest_error(
            file,
            where,
            f"field {key!r}: file {value!r} not found in {folder}",
            f"字段“{key}”所指文件 {value} 不存在（应在 {folder} 中）",
        )
    return path


def read_region(path: str | os.PathLike[str]) -> Region:
    """Read and check a region data folder's ``region.json``.

    Parameters
    ----------
    path : path-like
        The folder, or its ``region.json``.

    Returns
    -------
    Region

    Raises
    ------
    RegionError
        Missing file, bad JSON, wrong format, a missing or wrong field, a repeated county
        code or a county file that does not exist: the message names the file and field.
    """
    path = Path(path)
    file = (path / "region.json" if path.is_dir() else path).resolve()
    folder = file.parent
    if not file.is_file():
        raise RegionError(
            f"region manifest not found: {file}",
            zh=f"找不到全区数据清单 {file}：请先生成全区数据（python -m scripts.build_region）",
        )
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RegionError(
            f"{file}: not valid UTF-8 JSON ({exc})", zh=f"{file} 不是有效的 JSON 文件：{exc}"
        ) from exc
    if not isinstance(raw, dict):
        raise _manifest_error(file, "top level", "must be a JSON object", "顶层应为 JSON 对象")
    if raw.get("format") != REGION_FORMAT:
        raise _manifest_error(
            file,
            "format",
            f"is {raw.get('format')!r}, this GapMap reads format {REGION_FORMAT}",
            f"版本为 {raw.get('format')!r}，本程序只能读取版本 {REGION_FORMAT}；请重新生成全区数据",
        )
    name = _text(raw, "name", file, "name")
    province = str(raw.get("province_code", ""))
    boundaries = raw.get("boundaries")
    boundaries = _file(folder, boundaries, "boundaries", file, "") if boundaries else None
    dem = raw.get("dem")
    dem = _file(folder, dem, "dem", file, "") if dem else None
    entries = raw.get("counties")
    if not isinstance(entries, list) or not entries:
        raise _manifest_error(
            file, "counties", "must be a non-empty list", "字段“counties”应为非空的县列表"
        )
    counties: list[RegionCounty] = []
    for i, entry in enumerate(entries):
        where = f"counties[{i}]"
        if not isinstance(entry, dict):
            raise _manifest_error(file, where, "must be an object", "应为 JSON 对象")
        code = str(entry.get("code", ""))
        if not _CODE.fullmatch(code):
            raise _manifest_error(
                file,
                where,
                f"code {code!r} is not a 6-digit county code",
                f"县代码“{code}”应为6位数字",
            )
        where = f"counties[{i}] ({code})"
        if code in {c.code for c in counties}:
            raise _manifest_error(file, where, "code listed twice", "县代码重复")
        key = entry.get("key", False)
        if not isinstance(key, bool):
            raise _manifest_error(
                file, where, "field 'key' must be true or false", "字段“key”应为 true 或 false"
            )
        inp = entry.get("inp")
        counties.append(
            RegionCounty(
                code=code,
                name=_text(entry, "name", file, where),
                city_code=_text(entry, "city_code", file, where),
                city_name=_text(entry, "city_name", file, where),
                key=key,
                gpkg=_file(folder, entry.get("gpkg"), "gpkg", file, where),
                inp=_file(folder, inp, "inp", file, where) if inp else None,
                inp_crs=str(entry.get("inp_crs") or DEFAULT_INP_CRS),
                source=str(entry.get("source", "")),
            )
        )
    return Region(
        folder=folder,
        name=name,
        province_code=province,
        boundaries=boundaries,
        dem=dem,
        counties=tuple(counties),
    )


# ------------------------------------------------------------------ the buffer


@lru_cache(maxsize=256)
def _boundary_cached(path: str, mtime_ns: int, size: int) -> gpd.GeoSeries:
    frame = pyogrio.read_dataframe(path, layer="county", columns=[])
    return frame.geometry.to_crs(4326) if frame.crs is not None else frame.geometry


def county_boundary(county: RegionCounty) -> gpd.GeoSeries:
    """Return the county's own ``county`` layer geometry (EPSG:4326), read once per file."""
    st = county.gpkg.stat()
    try:
        return _boundary_cached(str(county.gpkg), st.st_mtime_ns, st.st_size)
    except pyogrio.errors.DataSourceError as exc:
        raise RegionError(
            f"{county.gpkg}: cannot read its layer 'county' ({exc})",
            zh=f"{county.gpkg} 无法读取县界图层（county）：{exc}",
        ) from exc


def buffer_area(boundary: gpd.GeoSeries, *, buffer_m: float) -> tuple[CRS, shapely.Geometry]:
    """Return the county's metric CRS and its area grown by ``buffer_m`` metres in it.

    Parameters
    ----------
    boundary : GeoSeries
        The county polygon(s), any CRS.
    buffer_m : float
        How far beyond the border (metres); 0 gives the county itself.

    Returns
    -------
    (pyproj.CRS, shapely geometry)
        The metric CRS (:func:`layers.crs.metric_crs` of the county) and the buffered
        area in it.
    """
    crs = metric_crs(boundary)
    area = shapely.union_all(boundary.to_crs(crs).to_numpy())
    return crs, (area.buffer(float(buffer_m)) if buffer_m > 0 else area)


def select_within(frame: gpd.GeoDataFrame, area: shapely.Geometry, crs: CRS) -> gpd.GeoDataFrame:
    """Return the rows of ``frame`` whose geometry intersects ``area`` (given in ``crs``)."""
    if frame.empty:
        return frame
    geoms = frame.geometry.to_crs(crs).to_numpy()
    shapely.prepare(area)
    return frame.loc[shapely.intersects(area, geoms)]


def neighbours(region: Region, code: str, *, buffer_m: float) -> tuple[str, ...]:
    """Return the codes of the counties whose area meets ``code``'s buffered area."""
    crs, area = buffer_area(county_boundary(region.county(code)), buffer_m=buffer_m)
    out = []
    for other in region.counties:
        if other.code == code:
            continue
        geoms = county_boundary(other).to_crs(crs).to_numpy()
        if shapely.intersects(area, geoms).any():
            out.append(other.code)
    return tuple(out)


def _read_within(
    path: Path, layer: str, area: shapely.Geometry, crs: CRS
) -> gpd.GeoDataFrame | None:
    """Read one layer's features within ``area``: a bbox read, then the exact test."""
    info = pyogrio.read_info(path, layer=layer)
    file_crs = CRS.from_user_input(info["crs"]) if info.get("crs") else CRS.from_epsg(4326)
    bbox = tuple(gpd.GeoSeries([area], crs=crs).to_crs(file_crs).total_bounds)
    frame = pyogrio.read_dataframe(path, layer=layer, bbox=bbox)
    if frame.crs is None:
        frame = frame.set_crs(4326)
    frame = select_within(frame, area, crs)
    if frame.empty:
        return None
    return frame.to_crs(4326).reset_index(drop=True)


def compose_partition(
    own: Dataset,
    foreign: Mapping[str, Sequence[gpd.GeoDataFrame]],
    *,
    note: Mapping[str, object] | None = None,
    inputs: Sequence[Path] = (),
) -> Dataset:
    """Return ``own`` with the neighbours' features appended, without re-validating.

    Parameters
    ----------
    own : Dataset
        The county's own dataset, validated on its own.
    foreign : mapping of str to sequence of GeoDataFrame
        Per :data:`BUFFER_LAYERS` layer, the neighbours' features within the buffer
        (EPSG:4326; they validated with their own county). They keep their own codes;
        a foreign ``id`` equal to one already present gets its county's code and ``/``
        in front, so ids stay unique.
    note : mapping, optional
        Recorded as ``provenance["region_buffer"]``.
    inputs : sequence of Path
        The neighbours' files, added to :attr:`Dataset.inputs`.

    Returns
    -------
    Dataset
        The county's layers, problems, water model and DEM; each buffer layer the
        concatenation of its own features and the foreign ones (normalised to the layer's
        schema, their problems dropped: their county reports them).
    """
    layers = dict(own.layers)
    for name, frames in foreign.items():
        parts = [layers[name]] if name in layers else []
        seen = set(parts[0]["id"].astype(str)) if parts and "id" in parts[0] else set()
        for frame in frames:
            norm, _ = normalise_layer(frame, name, file=str(frame.attrs.get("gapmap_file", "")))
            if "id" in norm and seen:
                ids = norm["id"].astype(str)
                clash = ids.isin(seen).to_numpy()
                if clash.any():
                    prefix = str(frame.attrs.get("gapmap_county", "")) + "/"
                    norm = norm.assign(id=ids.where(~clash, prefix + ids))
            if "id" in norm:
                seen |= set(norm["id"].astype(str))
            parts.append(norm)
        if not parts:
            continue
        merged = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
        merged = gpd.GeoDataFrame(merged, geometry=parts[0].geometry.name, crs=4326)
        own_file = str(layers[name].attrs.get(SOURCE_FILE_ATTR, "")) if name in layers else ""
        remember_normalised(merged, name, file=own_file, problems=())
        layers[name] = merged
    provenance = dict(own.provenance)
    if note is not None:
        provenance["region_buffer"] = dict(note)
    return Dataset(
        layers=layers,
        problems=own.problems,
        provenance=provenance,
        name=own.name,
        inputs=(*own.inputs, *inputs),
        water_model=own.water_model,
        dem=own.dem,
    )


def read_region_county(
    region: Region,
    code: str,
    *,
    buffer_m: float = 10_000.0,
    water: bool = True,
) -> Dataset:
    """Return one county's dataset with its neighbours' roads and facilities in the buffer.

    Parameters
    ----------
    region : Region
        From :func:`read_region`.
    code : str
        The county's 6-digit code.
    buffer_m : float
        How far beyond its border (metres) the neighbours' :data:`BUFFER_LAYERS` features
        are taken (``[region] buffer_m`` of the settings; 0: none).
    water : bool
        Read the county's EPANET model when it has one (default True).

    Returns
    -------
    Dataset
        The county's own layers (validated alone; call :meth:`Dataset.raise_if_errors`),
        plus the foreign features, composed by :func:`compose_partition`; its water
        model when it has one.

    Raises
    ------
    RegionError, LayerReadError
        When a file cannot be read.
    """
    county = region.county(code)
    own = read_dataset(county.gpkg)
    own = Dataset(
        layers=own.layers,
        problems=own.problems,
        provenance=own.provenance,
        name=county.name,
        inputs=own.inputs,
    )
    if water and county.inp is not None:
        from layers.epanet import read_inp

        own = own.with_water_model(read_inp(county.inp, crs=county.inp_crs))
    foreign: dict[str, list[gpd.GeoDataFrame]] = {}
    used: list[Path] = []
    if buffer_m > 0:
        crs, area = buffer_area(county_boundary(county), buffer_m=buffer_m)
        for other_code in neighbours(region, code, buffer_m=buffer_m):
            other = region.county(other_code)
            present = {str(n) for n, _ in pyogrio.list_layers(other.gpkg)}
            for layer in BUFFER_LAYERS:
                if layer not in present:
                    continue
                frame = _read_within(other.gpkg, layer, area, crs)
                if frame is None:
                    continue
                frame.attrs["gapmap_county"] = other_code
                frame.attrs["gapmap_file"] = other.gpkg.name
                foreign.setdefault(layer, []).append(frame)
            used.append(other.gpkg)
    note = {
        "buffer_m": float(buffer_m),
        "neighbours": [p.stem for p in used],
        "features": {k: int(sum(len(f) for f in v)) for k, v in foreign.items()},
    }
    logger.info("county %s: %s", code, note)
    return compose_partition(own, foreign, note=note, inputs=used)


@lru_cache(maxsize=512)
def _sha256_cached(path: str, mtime_ns: int, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes (remembered per path, mtime and size)."""
    st = path.stat()
    return _sha256_cached(str(path), st.st_mtime_ns, st.st_size)


def county_input_files(region: Region, code: str, *, buffer_m: float) -> list[Path]:
    """Return every file a county's task reads: its GPKG and INP, the neighbours' GPKGs, the DEM."""
    county = region.county(code)
    files = [county.gpkg, *([county.inp] if county.inp is not None else [])]
    if buffer_m > 0:
        files += [region.county(c).gpkg for c in neighbours(region, code, buffer_m=buffer_m)]
    if region.dem is not None:
        files.append(region.dem)
    return files


# ------------------------------------------------------------------ results


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str), "utf-8")


def _write_parquet(path: Path, frame: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def _county_dir(out: Path, code: str) -> Path:
    return Path(out) / "counties" / str(code)


COUNTY_FILES = ("outcomes.parquet", "admin_villages.parquet", "townships.parquet", "county.pkl")
"""The files of ``O/counties/<code>/`` besides ``meta.json`` (written first; meta last)."""


def write_county_results(
    out: str | os.PathLike[str],
    code: str,
    *,
    outcomes: gpd.GeoDataFrame,
    admin_villages: gpd.GeoDataFrame,
    townships: gpd.GeoDataFrame,
    assessment: object,
    dataset: Dataset,
    meta: Mapping[str, Any],
) -> Path:
    """Write one county's results under ``out/counties/<code>/``, ``meta.json`` last.

    Parameters
    ----------
    out : path-like
        The results folder.
    code : str
        The county.
    outcomes, admin_villages, townships : GeoDataFrame
        Written as GeoParquet (EPSG:4326).
    assessment : object
        The county's :class:`geo.assessment.Assessment` (best without its terrain grids:
        :func:`geo.assessment.without_terrain_grids`), kept with ``dataset`` in
        ``county.pkl`` (:mod:`layers.cache`, under the meta's ``input_hash``) so the app
        opens the county without recomputing it.
    dataset : Dataset
        The partition that was assessed (the county with its buffer).
    meta : mapping
        ``input_hash``, ``settings_hash``, ``buffer_m``, ``seconds`` …: ``meta.json``,
        written after the other files, marks the county's results complete.

    Returns
    -------
    Path
        The county's folder.
    """
    folder = _county_dir(Path(out), code)
    (folder / "meta.json").unlink(missing_ok=True)  # incomplete until written again
    _write_parquet(folder / "outcomes.parquet", outcomes)
    _write_parquet(folder / "admin_villages.parquet", admin_villages)
    _write_parquet(folder / "townships.parquet", townships)
    if (
        results_cache.write(folder / "county.pkl", (dataset, assessment), key=meta["input_hash"])
        is None
    ):
        raise RegionError(
            f"{folder}: could not write county.pkl",
            zh=f"无法写入 {folder / 'county.pkl'}（磁盘已满或目录只读？）",
        )
    _write_json(folder / "meta.json", {"format": REGION_FORMAT, "code": str(code), **meta})
    return folder


def read_county_meta(out: str | os.PathLike[str], code: str) -> dict[str, Any] | None:
    """Return a county's ``meta.json``, or None when its results are absent or incomplete."""
    folder = _county_dir(Path(out), code)
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not all((folder / f).is_file() for f in COUNTY_FILES):
        return None
    return meta


def remove_county_results(out: str | os.PathLike[str], code: str) -> None:
    """Remove a county's results (a failed rerun must not leave stale ones)."""
    folder = _county_dir(Path(out), code)
    for name in ("meta.json", *COUNTY_FILES):
        (folder / name).unlink(missing_ok=True)


def read_county_results(out: str | os.PathLike[str], code: str) -> dict[str, gpd.GeoDataFrame]:
    """Return a county's ``outcomes``, ``admin_villages`` and ``townships`` (GeoParquet).

    Raises
    ------
    RegionError
        When the county has no complete results in ``out``.
    """
    if read_county_meta(out, code) is None:
        raise RegionError(
            f"{out}: no complete results for county {code}",
            zh=f"{out} 中没有县 {code} 的完整计算结果，请运行 python -m scripts.region",
        )
    folder = _county_dir(Path(out), code)
    return {
        name: gpd.read_parquet(folder / f"{name}.parquet")
        for name in ("outcomes", "admin_villages", "townships")
    }


def read_county(out: str | os.PathLike[str], code: str) -> tuple[Dataset, Any]:
    """Return a county's assessed partition and its :class:`geo.assessment.Assessment`.

    Read from ``county.pkl``, not recomputed. Only open results folders you wrote or
    trust: unpickling runs code.

    Raises
    ------
    RegionError
        When the county has no complete results in ``out``, or they were written by
        another version of GapMap (compute the region again).
    """
    meta = read_county_meta(out, code)
    if meta is None:
        raise RegionError(
            f"{out}: no complete results for county {code}",
            zh=f"{out} 中没有县 {code} 的完整计算结果，请运行 python -m scripts.region",
        )
    found = results_cache.read(_county_dir(Path(out), code) / "county.pkl", key=meta["input_hash"])
    if not isinstance(found, tuple) or len(found) != 2:
        raise RegionError(
            f"{out}: the results of county {code} were written by another version of GapMap",
            zh=f"{out} 中县 {code} 的结果由其他版本的 GapMap 计算，"
            "请重新运行 python -m scripts.region",
        )
    return found


def read_county_assessment(out: str | os.PathLike[str], code: str) -> Any:
    """Return a county's stored :class:`geo.assessment.Assessment` (:func:`read_county`)."""
    return read_county(out, code)[1]


def write_progress(out: str | os.PathLike[str], progress: Mapping[str, Any]) -> Path:
    """Write ``out/progress.json`` (atomically): how far a running region computation is.

    ``running``, ``pid``, ``total``, ``done``, ``failed``, ``started``, ``counties`` (code →
    ``queued`` / ``ok`` / ``failed``); the app's 全区 page shows it while the run lasts.
    """
    path = Path(out) / "progress.json"
    _write_json(path, progress)
    return path


def read_progress(out: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Return ``out/progress.json`` (:func:`write_progress`), or None when there is none."""
    try:
        return json.loads((Path(out) / "progress.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_region_results(
    out: str | os.PathLike[str],
    *,
    manifest: Mapping[str, Any],
    rollup: pd.DataFrame,
    boundaries: gpd.GeoDataFrame,
) -> Path:
    """Write ``rollup.parquet``, ``boundaries.parquet`` and then ``region.json``."""
    out = Path(out)
    _write_parquet(out / "rollup.parquet", rollup)
    _write_parquet(out / "boundaries.parquet", boundaries)
    _write_json(out / "region.json", manifest)
    return out / "region.json"


class CountyReader(Protocol):
    """Where :class:`RegionResults` other than a folder read a county from (the database)."""

    def county(self, code: str) -> tuple[Dataset, Any]:
        """Return the county's assessed partition and its Assessment."""
        ...

    def county_results(self, code: str) -> dict[str, gpd.GeoDataFrame]:
        """Return the county's ``outcomes``, ``admin_villages`` and ``townships``."""
        ...

    def county_meta(self, code: str) -> dict[str, Any] | None:
        """Return the county's ``meta.json``, or None."""
        ...

    def county_with_meta(self, code: str) -> tuple[Dataset, Any, dict[str, Any]]:
        """Return :meth:`county` and :meth:`county_meta` of the same write of the county."""
        ...


@dataclass(frozen=True)
class RegionResults:
    """A region's results as read by :func:`read_region_results` (or from the server database).

    Attributes
    ----------
    folder : Path or None
        The results folder; None for results read from the server database
        (:meth:`layers.store.region.RegionStore.read_results`).
    manifest : dict
        ``region.json`` of the results (per-county status, hashes, seconds).
    rollup : DataFrame
        ``rollup.parquet``.
    boundaries : GeoDataFrame
        ``boundaries.parquet``.
    place : str
        Where they are, for the page (the folder, or 服务器数据库).
    reader : CountyReader, optional
        Reads a county when there is no folder.
    """

    folder: Path | None
    manifest: dict[str, Any]
    rollup: pd.DataFrame
    boundaries: gpd.GeoDataFrame
    place: str = ""
    reader: CountyReader | None = field(default=None, compare=False, repr=False)

    def county(self, code: str) -> tuple[Dataset, Any]:
        """Return the county's assessed partition and Assessment (not recomputed)."""
        if self.reader is not None:
            return self.reader.county(code)
        return read_county(self._folder, code)

    def county_results(self, code: str) -> dict[str, gpd.GeoDataFrame]:
        """Return the county's outcome rows, admin villages and townships."""
        if self.reader is not None:
            return self.reader.county_results(code)
        return read_county_results(self._folder, code)

    def county_meta(self, code: str) -> dict[str, Any] | None:
        """Return the county's ``meta.json`` (:func:`read_county_meta`), None when absent."""
        if self.reader is not None:
            return self.reader.county_meta(code)
        return read_county_meta(self._folder, code)

    def county_with_meta(self, code: str) -> tuple[Dataset, Any, dict[str, Any]]:
        """Return :meth:`county` and the county's ``meta.json``.

        From the database: of the same publish (one snapshot); from a folder: read one after
        the other.
        """
        if self.reader is not None:
            return self.reader.county_with_meta(code)
        dataset, assessment = read_county(self._folder, code)
        return dataset, assessment, read_county_meta(self._folder, code) or {}

    @property
    def _folder(self) -> Path:
        if self.folder is None:
            raise RegionError(
                "region results without a folder or a reader",
                zh="全区结果既没有结果目录也没有数据库来源，请重新读取",
            )
        return self.folder


def read_region_results(out: str | os.PathLike[str]) -> RegionResults:
    """Read a results folder written by ``python -m scripts.region``.

    Raises
    ------
    RegionError
        When ``region.json``, ``rollup.parquet`` or ``boundaries.parquet`` is missing.
    """
    out = Path(out)
    try:
        manifest = json.loads((out / "region.json").read_text(encoding="utf-8"))
        rollup = pd.read_parquet(out / "rollup.parquet")
        boundaries = gpd.read_parquet(out / "boundaries.parquet")
    except (OSError, ValueError) as exc:
        raise RegionError(
            f"{out}: not a complete region results folder ({exc})",
            zh=f"{out} 不是完整的全区计算结果，请运行 python -m scripts.region",
        ) from exc
    return RegionResults(
        folder=out, manifest=manifest, rollup=rollup, boundaries=boundaries, place=str(out)
    )
