"""The manifest of a county's delivery: which file is which layer, and how to read it.

A small, human-editable TOML file, one ``[[files]]`` table per file of the delivery::

    version = 1
    county = "同心县"

    # 移民安置区：文件名含“移民安置区”；必填字段 5/5；几何为 Point
    [[files]]
    path = "移民安置区.shp"
    layer = "relocation_sites"   # a GapMap layer, water_model, dem, readme or ignore
    coords = ""                  # wgs84 / cgcs2000 / gcj02 / bd09 / EPSG:xxxx; "" = the file's
    encoding = ""                # "" = .cpg, else detected
    sublayer = ""
    [files.fields]               # renames beyond the automatic aliases
    "安置区" = "id"

:func:`layers.delivery.scan_delivery` proposes one (:meth:`DeliveryScan.manifest
<layers.delivery.DeliveryScan.manifest>`), the user checks it, :func:`write_manifest` saves
it atomically and :func:`read_manifest` reads it back for next year's delivery.
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from layers.coords import parse_coords
from layers.errors import GapMapError, LayerError, LayerReadError
from layers.schema import LAYER_ORDER, LAYERS
from layers.write import atomic_path

__all__ = [
    "DEM",
    "IGNORE",
    "MANIFEST_VERSION",
    "README",
    "ROLES",
    "ROLE_ZH",
    "WATER_MODEL",
    "Manifest",
    "ManifestEntry",
    "read_manifest",
    "write_manifest",
]

logger = logging.getLogger(__name__)

WATER_MODEL, DEM, README, IGNORE = "water_model", "dem", "readme", "ignore"
ROLES: tuple[str, ...] = (*LAYER_ORDER, WATER_MODEL, DEM, README, IGNORE)
"""What a file of a delivery can be: a GapMap layer, the water model, the DEM, the
description, or nothing GapMap uses."""

ROLE_ZH: dict[str, str] = {
    **{name: LAYERS[name].title_zh for name in LAYER_ORDER},
    WATER_MODEL: "供水管网模型（EPANET .inp）",
    DEM: "高程数据（DEM）",
    README: "数据说明",
    IGNORE: "不使用",
}
"""Chinese name of each role, for the app and messages."""

MANIFEST_VERSION = 1


@dataclass(frozen=True)
class ManifestEntry:
    """How to read one file of a delivery.

    Attributes
    ----------
    path : str
        Path inside the delivery, ``/``-separated.
    layer : str
        A role from :data:`ROLES` (a GapMap layer name, ``water_model``, ``dem``,
        ``readme`` or ``ignore``).
    coords : str or None
        Coordinate declaration (:func:`layers.coords.parse_coords`); None: the file's CRS.
    encoding : str or None
        Attribute encoding of a Shapefile/CSV; None: ``.cpg``, else detected.
    sublayer : str or None
        Layer/sheet inside the file.
    fields : mapping of str to str
        ``{column: GapMap field}`` renames beyond the automatic aliases.
    """

    path: str
    layer: str
    coords: str | None = None
    encoding: str | None = None
    sublayer: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    """The choices for reading a county's delivery: one entry per file.

    Attributes
    ----------
    entries : tuple of ManifestEntry
    county : str
        Dataset name (the county).
    notes : mapping of str to str
        Per path, the detection evidence written as comments (not read back).
    """

    entries: tuple[ManifestEntry, ...]
    county: str = ""
    notes: Mapping[str, str] = field(default_factory=dict)

    def entry(self, path: str, sublayer: str | None = None) -> ManifestEntry | None:
        """Return the entry for ``path`` (and ``sublayer``), or None."""
        for e in self.entries:
            if e.path == path and (sublayer is None or e.sublayer == sublayer):
                return e
        return None

    def to_toml(self) -> str:
        """Return the manifest as TOML text (Chinese comments explain each key)."""
        q = _toml_str
        lines = [
            "# GapMap 整县资料包清单：每个文件读作哪个图层、坐标系、编码、字段对应。",
            "# 请逐项核对后保存；明年的资料包用同一份清单一条命令即可读取：",
            "#   python -m scripts.ingest --delivery 资料包 --manifest 本文件 --out 本县.gpkg",
            "# layer 可选：" + "、".join(ROLES),
            "# coords 可选：wgs84、cgcs2000、gcj02（高德/腾讯）、bd09（百度）、EPSG:4544 等；"
            "留空为文件自带坐标系",
            f"version = {MANIFEST_VERSION}",
            f"county = {q(self.county)}",
        ]
        for e in self.entries:
            lines.append("")
            note = self.notes.get(e.path if e.sublayer is None else f"{e.path}#{e.sublayer}")
            for text in (note or "").splitlines():
                lines.append(f"# {text}")
            lines += [
                "[[files]]",
                f"path = {q(e.path)}",
                f"layer = {q(e.layer)}",
                f"coords = {q(e.coords or '')}",
                f"encoding = {q(e.encoding or '')}",
                f"sublayer = {q(e.sublayer or '')}",
            ]
            if e.fields:
                lines.append("[files.fields]")
                lines += [f"{q(k)} = {q(v)}" for k, v in e.fields.items()]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_toml(cls, text: str, *, source: str = "manifest") -> Manifest:
        """Parse and check manifest TOML; every problem is reported with its entry.

        Raises
        ------
        LayerReadError
            If the text is not TOML.
        LayerError
            If an entry names an unknown layer, coordinate system or field.
        """
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise LayerReadError(
                f"{source}: not valid TOML ({err}); fix the line named or write the proposal again",
                zh=f"{source}：清单文件格式有误（{err}），请按提示修改该行，或删除后重新生成",
            ) from err
        errors_zh: list[str] = []
        errors: list[str] = []
        if data.get("version", MANIFEST_VERSION) != MANIFEST_VERSION:
            errors.append(f"version {data.get('version')!r} is not {MANIFEST_VERSION}")
            errors_zh.append(f"version 应为 {MANIFEST_VERSION}")
        entries: list[ManifestEntry] = []
        for i, raw in enumerate(data.get("files", []), start=1):
            path = str(raw.get("path", "")).strip()
            where, where_zh = f"[[files]] #{i} ({path})", f"第 {i} 个文件（{path}）"
            layer = str(raw.get("layer", "")).strip()
            if not path:
                errors.append(f"{where}: path is empty")
                errors_zh.append(f"{where_zh}：path 为空")
            if layer not in ROLES:
                errors.append(f"{where}: layer {layer!r} is not one of {', '.join(ROLES)}")
                errors_zh.append(f"{where_zh}：layer“{layer}”无效，可选：{'、'.join(ROLES)}")
                continue
            coords = str(raw.get("coords", "")).strip() or None
            if coords is not None:
                try:
                    if layer == WATER_MODEL:  # an EPSG code or schematic, as read_inp takes it
                        from layers.epanet import parse_inp_crs

                        parse_inp_crs(coords, file=path)
                    else:
                        parse_coords(coords)
                except GapMapError as err:
                    errors.append(f"{where}: {err}")
                    errors_zh.append(f"{where_zh}：{err.zh}")
            fields = {str(k): str(v) for k, v in dict(raw.get("fields", {})).items()}
            if layer in LAYERS:
                bad = [v for v in fields.values() if v not in LAYERS[layer].field_names]
                if bad:
                    known = ", ".join(LAYERS[layer].field_names)
                    errors.append(f"{where}: fields {bad} are not fields of {layer} ({known})")
                    errors_zh.append(
                        f"{where_zh}：字段 {'、'.join(bad)} 不是“{ROLE_ZH[layer]}”的字段，"
                        f"可选：{known}"
                    )
            entries.append(
                ManifestEntry(
                    path=path,
                    layer=layer,
                    coords=coords,
                    encoding=str(raw.get("encoding", "")).strip() or None,
                    sublayer=str(raw.get("sublayer", "")).strip() or None,
                    fields=fields,
                )
            )
        if errors:
            raise LayerError(
                f"{source}: " + "; ".join(errors),
                zh=f"{source} 清单有误：" + "；".join(errors_zh),
            )
        return cls(entries=tuple(entries), county=str(data.get("county", "")))


def _toml_str(text: str) -> str:
    # A JSON string is a valid TOML basic string (same escapes; non-ASCII kept as is).
    return json.dumps(str(text), ensure_ascii=False)


def write_manifest(
    path: str | os.PathLike[str],
    manifest: Manifest,
    *,
    inputs: tuple[str | os.PathLike[str], ...] = (),
) -> Path:
    """Write a manifest as TOML, atomically (:func:`layers.write.atomic_path`).

    Parameters
    ----------
    path : path-like
        Destination ``.toml``.
    manifest : Manifest
    inputs : tuple of path-like
        Files that must not be overwritten (the delivery).
    """
    path = Path(path)
    with atomic_path(path, inputs=inputs) as tmp:
        tmp.write_text(manifest.to_toml(), encoding="utf-8")
    logger.info("wrote manifest %s (%d files)", path, len(manifest.entries))
    return path


def read_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Read and check a manifest TOML file.

    Raises
    ------
    LayerReadError
        If the file is missing or not TOML.
    LayerError
        If an entry is wrong (the message names the entry and what to write instead).
    """
    path = Path(path)
    if not path.exists():
        raise LayerReadError(f"manifest not found: {path}", zh=f"找不到清单文件：{path}")
    return Manifest.from_toml(path.read_text(encoding="utf-8"), source=path.name)
