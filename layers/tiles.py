"""A user's own tile cache at the edge: an MBTiles file or an XYZ folder, unpacked for serving.

A county office often has tiles of its own (天地图 or an aerial image exported for offline use)
as an MBTiles file (SQLite; ``tiles(zoom_level, tile_column, tile_row, tile_data)`` with TMS
rows: row 0 is the south, ``y = 2**z − 1 − tile_row``) or as an XYZ folder ``z/x/y.png``.
Streamlit serves plain files only (``app/static``, symbolic links refused), so
:func:`unpack_tiles` copies the tiles a county needs (its extent, the zooms asked for) into a
folder ``<dest>/<name>-<hash>/z/x/y.<ext>``: built beside it under a temporary name and
renamed when complete, so a browser never sees half a cache; re-used as long as the source
file and the request are the same.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from layers.errors import LayerError, LayerReadError

__all__ = [
    "MAX_TILES",
    "TileSet",
    "tile_range",
    "unpack_tiles",
]

logger = logging.getLogger(__name__)

MAX_TILES = 200_000
"""At most this many tiles are unpacked from one cache (a county to zoom 16 is ~30,000)."""
_FORMATS = {"png": "png", "jpg": "jpg", "jpeg": "jpg", "webp": "webp"}
_MANIFEST = "tileset.json"


@dataclass(frozen=True)
class TileSet:
    """Tiles unpacked under a static folder, as ``folder/z/x/y.<ext>``.

    Attributes
    ----------
    name : str
        Shown in the layer control (the MBTiles ``name``, or the file or folder name).
    folder : pathlib.Path
        The unpacked tiles.
    ext : str
        ``png``, ``jpg`` or ``webp``.
    min_zoom, max_zoom : int
        The zooms unpacked (those the cache has, within the zooms asked for).
    attribution : str
        The MBTiles ``attribution``, or ``""``.
    count : int
        Number of tiles unpacked.
    """

    name: str
    folder: Path
    ext: str
    min_zoom: int
    max_zoom: int
    attribution: str
    count: int


def tile_range(
    bounds_lonlat: tuple[float, float, float, float], zoom: int
) -> tuple[int, int, int, int]:
    """XYZ tiles (x0, x1, y0, y1, inclusive) covering ``bounds_lonlat`` at ``zoom``.

    ``bounds_lonlat`` is (minx, miny, maxx, maxy) in degrees (EPSG:4326, Web Mercator tiles).
    """
    minx, miny, maxx, maxy = bounds_lonlat
    n = 2**zoom

    def x_of(lon: float) -> int:
        return min(n - 1, max(0, math.floor((lon + 180.0) / 360.0 * n)))

    def y_of(lat: float) -> int:
        lat = max(-85.0511287798, min(85.0511287798, lat))
        r = math.radians(lat)
        return min(n - 1, max(0, math.floor((1 - math.asinh(math.tan(r)) / math.pi) / 2 * n)))

    return x_of(minx), x_of(maxx), y_of(maxy), y_of(miny)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "tiles"


def _source_stamp(source: Path) -> str:
    """Size and modification time of the source (every file of an XYZ folder's zoom dirs)."""
    if source.is_file():
        st = source.stat()
        return f"{st.st_size}:{st.st_mtime_ns}"
    parts = []
    for z in sorted(p for p in source.iterdir() if p.is_dir() and p.name.isdigit()):
        st = z.stat()
        parts.append(f"{z.name}:{st.st_mtime_ns}")
    return ";".join(parts)


def _mbtiles_tiles(path: Path, bounds, min_zoom: int, max_zoom: int):
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise LayerReadError(
            f"{path}: cannot open the MBTiles file ({exc})",
            zh=f"无法打开瓦片文件 {path.name}：请提供 MBTiles（SQLite）文件",
        ) from exc
    try:
        try:
            meta = dict(con.execute("SELECT name, value FROM metadata").fetchall())
            zooms = con.execute("SELECT MIN(zoom_level), MAX(zoom_level) FROM tiles").fetchone()
        except sqlite3.DatabaseError as exc:
            raise LayerError(
                f"{path}: not an MBTiles file ({exc})",
                zh=f"{path.name} 不是 MBTiles 瓦片文件（缺少 metadata 或 tiles 表）",
            ) from exc
        fmt = _FORMATS.get(str(meta.get("format", "png")).lower())
        if fmt is None:
            raise LayerError(
                f"{path}: tile format {meta.get('format')!r} is not an image",
                zh=f"瓦片文件 {path.name} 的格式为 {meta.get('format')}，应为 png 或 jpg 栅格瓦片",
            )
        lo, hi = zooms if zooms and zooms[0] is not None else (None, None)
        info = {
            "name": str(meta.get("name") or path.stem),
            "ext": fmt,
            "attribution": str(meta.get("attribution") or ""),
        }
        yield info
        if lo is None:
            return
        for z in range(max(min_zoom, lo), min(max_zoom, hi) + 1):
            x0, x1, y0, y1 = tile_range(bounds, z)
            # TMS rows count from the south: XYZ y0..y1 are rows 2**z-1-y1 .. 2**z-1-y0
            rows = con.execute(
                "SELECT tile_column, tile_row, tile_data FROM tiles WHERE zoom_level = ? "
                "AND tile_column BETWEEN ? AND ? AND tile_row BETWEEN ? AND ?",
                (z, x0, x1, 2**z - 1 - y1, 2**z - 1 - y0),
            )
            for x, row, data in rows:
                yield z, int(x), 2**z - 1 - int(row), bytes(data)
    finally:
        con.close()


def _xyz_tiles(folder: Path, bounds, min_zoom: int, max_zoom: int):
    zooms = sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit())
    exts = {f.suffix.lstrip(".").lower() for z in zooms[:1] for f in (folder / str(z)).rglob("*.*")}
    ext = next((_FORMATS[e] for e in ("png", "jpg", "jpeg", "webp") if e in exts), None)
    if not zooms or ext is None:
        raise LayerError(
            f"{folder}: no z/x/y.png (or .jpg) tiles",
            zh=f"文件夹 {folder.name} 中没有 z/x/y.png（或 .jpg）格式的瓦片",
        )
    yield {"name": folder.name, "ext": ext, "attribution": ""}
    for z in (z for z in zooms if min_zoom <= z <= max_zoom):
        x0, x1, y0, y1 = tile_range(bounds, z)
        for x in range(x0, x1 + 1):
            col = folder / str(z) / str(x)
            if not col.is_dir():
                continue
            for f in col.iterdir():
                stem, _, suffix = f.name.partition(".")
                if stem.isdigit() and y0 <= int(stem) <= y1 and _FORMATS.get(suffix.lower()):
                    yield z, x, int(stem), f.read_bytes()


def unpack_tiles(
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    bounds_lonlat: tuple[float, float, float, float],
    min_zoom: int = 0,
    max_zoom: int = 18,
    max_tiles: int = MAX_TILES,
) -> TileSet:
    """Copy the tiles of ``source`` covering ``bounds_lonlat`` into a folder under ``dest``.

    Parameters
    ----------
    source : path-like
        An MBTiles file (``.mbtiles``) or an XYZ folder (``z/x/y.png`` or ``.jpg``).
    dest : path-like
        The folder the tile sets go in (e.g. ``app/static/tiles``).
    bounds_lonlat : tuple of float
        (minx, miny, maxx, maxy), degrees: the area to keep (the county with a margin).
    min_zoom, max_zoom : int
        The zooms to keep.
    max_tiles : int
        Refuse a request for more tiles than this.

    Returns
    -------
    TileSet
        The unpacked tiles (re-used when the same source and request were unpacked before).

    Raises
    ------
    LayerReadError
        When ``source`` is missing or cannot be opened.
    LayerError
        When ``source`` is neither an MBTiles file nor an XYZ folder of image tiles, or the
        request would unpack more than ``max_tiles`` tiles.
    """
    source, dest = Path(source), Path(dest)
    if not source.exists():
        raise LayerReadError(
            f"{source}: no such tile cache", zh=f"找不到瓦片缓存 {source}（请检查 GAPMAP_TILES）"
        )
    bounds = tuple(round(float(v), 6) for v in bounds_lonlat)
    request = f"{source.resolve()}|{_source_stamp(source)}|{bounds}|{min_zoom}|{max_zoom}"
    digest = hashlib.sha256(request.encode()).hexdigest()[:12]
    folder = dest / f"{_slug(source.stem)}-{digest}"
    manifest = folder / _MANIFEST
    if manifest.is_file():
        info = json.loads(manifest.read_text(encoding="utf-8"))
        return TileSet(folder=folder, **info)
    tiles = (_mbtiles_tiles if source.is_file() else _xyz_tiles)(source, bounds, min_zoom, max_zoom)
    head = next(tiles)
    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=dest))
    try:
        count, zooms = 0, set()
        for z, x, y, data in tiles:
            count += 1
            if count > max_tiles:
                raise LayerError(
                    f"{source}: more than {max_tiles} tiles in the county's extent "
                    f"at zooms {min_zoom}–{max_zoom}",
                    zh=f"瓦片缓存 {source.name} 在本县范围内超过 {max_tiles} 张瓦片："
                    "请减小最大缩放级别（GAPMAP_TILES_MAX_ZOOM）",
                )
            out = tmp / str(z) / str(x) / f"{y}.{head['ext']}"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
            zooms.add(z)
        info = {
            **head,
            "min_zoom": min(zooms, default=min_zoom),
            "max_zoom": max(zooms, default=max_zoom),
            "count": count,
        }
        (tmp / _MANIFEST).write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")
        try:
            os.replace(tmp, folder)  # atomic; another process may have won the race
        except OSError:
            if not (folder / _MANIFEST).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("tile cache %s: %d tiles, zooms %s", source.name, count, sorted(zooms))
    return TileSet(folder=folder, **json.loads(manifest.read_text(encoding="utf-8")))
