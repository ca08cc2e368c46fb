"""A user's own tile cache: MBTiles (TMS rows) and XYZ folders unpacked for static serving."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.maps.base import BASEMAPS, MapOptions, base_map, finish_map
from layers.errors import LayerError, LayerReadError
from layers.tiles import tile_range, unpack_tiles

# a box in 同心县 (degrees) and the zooms of the test caches
BOX = (105.90, 36.95, 106.00, 37.02)
ZOOMS = range(8, 13)


def _png(rgb: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), rgb).save(buf, format="PNG")
    return buf.getvalue()


def _colour(z: int, x: int, y: int) -> tuple[int, int, int]:
    """A colour that names its tile (XYZ numbering), to check where each tile lands."""
    return (z * 10, x % 256, y % 256)


def _wide_box() -> tuple[float, float, float, float]:
    minx, miny, maxx, maxy = BOX
    return (minx - 0.5, miny - 0.5, maxx + 0.5, maxy + 0.5)


def _mbtiles(path: Path, *, fmt: str = "png") -> int:
    """An MBTiles file with every tile of a box wider than BOX (TMS rows); its tile count."""
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    con.execute(
        "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, "
        "tile_data BLOB)"
    )
    con.executemany(
        "INSERT INTO metadata VALUES (?, ?)",
        [("name", "天地图导出"), ("format", fmt), ("attribution", "© 天地图")],
    )
    n = 0
    for z in ZOOMS:
        x0, x1, y0, y1 = tile_range(_wide_box(), z)
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                tms = 2**z - 1 - y
                con.execute(
                    "INSERT INTO tiles VALUES (?, ?, ?, ?)", (z, x, tms, _png(_colour(z, x, y)))
                )
                n += 1
    con.commit()
    con.close()
    return n


def _xyz(folder: Path) -> int:
    n = 0
    for z in ZOOMS:
        x0, x1, y0, y1 = tile_range(_wide_box(), z)
        for x in range(x0, x1 + 1):
            (folder / str(z) / str(x)).mkdir(parents=True, exist_ok=True)
            for y in range(y0, y1 + 1):
                (folder / str(z) / str(x) / f"{y}.png").write_bytes(_png(_colour(z, x, y)))
                n += 1
    return n


def _files(folder: Path) -> dict[tuple[int, int, int], Path]:
    return {(int(p.parts[-3]), int(p.parts[-2]), int(p.stem)): p for p in folder.rglob("*.png")}


def test_tile_range_by_hand():
    # zoom 1: four tiles; the north-east quarter of the world is x 1, y 0
    assert tile_range((10.0, 10.0, 20.0, 20.0), 1) == (1, 1, 0, 0)
    assert tile_range((-10.0, -10.0, 10.0, 10.0), 1) == (0, 1, 0, 1)
    # 106°E, 37°N at zoom 10: x = floor(286/360·1024) = floor(813.5) = 813;
    # y = floor((1 − ln(tan 37° + sec 37°)/π)/2 · 1024) = floor((1 − 0.6960/π)/2 · 1024) = 398
    x0, x1, y0, y1 = tile_range((106.0, 37.0, 106.0, 37.0), 10)
    assert (x0, x1) == (813, 813) and y0 == y1 == 398


@pytest.mark.parametrize("kind", ["mbtiles", "xyz"])
def test_unpack_keeps_the_box_in_xyz_numbering(tmp_path, kind):
    if kind == "mbtiles":
        source = tmp_path / "tdt.mbtiles"
        total = _mbtiles(source)
    else:
        source = tmp_path / "tdt_xyz"
        total = _xyz(source)
    dest = tmp_path / "static" / "tiles"
    ts = unpack_tiles(source, dest, bounds_lonlat=BOX, min_zoom=9, max_zoom=11)
    files = _files(ts.folder)
    want = {
        (z, x, y)
        for z in range(9, 12)
        for x in range(tile_range(BOX, z)[0], tile_range(BOX, z)[1] + 1)
        for y in range(tile_range(BOX, z)[2], tile_range(BOX, z)[3] + 1)
    }
    assert set(files) == want  # only the box, only the zooms asked for
    assert ts.count == len(want) < total
    assert (ts.min_zoom, ts.max_zoom, ts.ext) == (9, 11, "png")
    for (z, x, y), path in files.items():  # each tile where XYZ wants it (TMS rows flipped)
        rgb = np.asarray(Image.open(path).convert("RGB"))[0, 0]
        assert tuple(int(v) for v in rgb) == _colour(z, x, y)
    if kind == "mbtiles":
        assert ts.name == "天地图导出" and ts.attribution == "© 天地图"
    else:
        assert ts.name == "tdt_xyz"
    # nothing half-built left beside it; a second call re-uses it without rewriting
    assert [p.name for p in dest.iterdir()] == [ts.folder.name]
    stamp = next(iter(files.values())).stat().st_mtime_ns
    again = unpack_tiles(source, dest, bounds_lonlat=BOX, min_zoom=9, max_zoom=11)
    assert again == ts and next(iter(_files(again.folder).values())).stat().st_mtime_ns == stamp
    # another request (zooms) is another folder
    other = unpack_tiles(source, dest, bounds_lonlat=BOX, min_zoom=9, max_zoom=10)
    assert other.folder != ts.folder and other.max_zoom == 10
    assert json.loads((ts.folder / "tileset.json").read_text(encoding="utf-8"))["count"] == ts.count


def test_too_many_tiles_is_refused_and_leaves_nothing(tmp_path):
    source = tmp_path / "big.mbtiles"
    _mbtiles(source)
    dest = tmp_path / "tiles"
    with pytest.raises(LayerError, match="more than 5 tiles") as err:
        unpack_tiles(source, dest, bounds_lonlat=BOX, min_zoom=8, max_zoom=12, max_tiles=5)
    assert "GAPMAP_TILES_MAX_ZOOM" in err.value.zh
    assert list(dest.iterdir()) == []


def test_bad_sources_say_what_is_wrong(tmp_path):
    with pytest.raises(LayerReadError, match="no such tile cache"):
        unpack_tiles(tmp_path / "missing.mbtiles", tmp_path / "t", bounds_lonlat=BOX)
    not_mb = tmp_path / "x.mbtiles"
    sqlite3.connect(not_mb).execute("CREATE TABLE other (a)").connection.close()
    with pytest.raises(LayerError) as err:
        unpack_tiles(not_mb, tmp_path / "t", bounds_lonlat=BOX)
    assert "MBTiles" in err.value.zh
    pbf = tmp_path / "vector.mbtiles"
    _mbtiles(pbf, fmt="pbf")
    with pytest.raises(LayerError, match="not an image"):
        unpack_tiles(pbf, tmp_path / "t", bounds_lonlat=BOX)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LayerError) as err:
        unpack_tiles(empty, tmp_path / "t", bounds_lonlat=BOX)
    assert "z/x/y.png" in err.value.zh


def test_map_offers_the_local_tiles_served_from_app_static(tmp_path, monkeypatch):
    import app.maps.base as base

    monkeypatch.setattr(base, "_STATIC_DIR", tmp_path / "static")
    source = tmp_path / "tdt.mbtiles"
    _mbtiles(source)
    ts = unpack_tiles(source, tmp_path / "static" / "tiles", bounds_lonlat=BOX, max_zoom=11)
    url = f"/app/static/tiles/{ts.folder.name}/{{z}}/{{x}}/{{y}}.png"
    m = finish_map(base_map(BOX, MapOptions(basemap="tiles", tiles=(ts,))), [])
    html = m.get_root().render()
    assert f'L.tileLayer(\n                "{url}"' in html
    assert '"maxNativeZoom": 11' in html  # zoomed in further, Leaflet enlarges zoom 11
    assert "本地瓦片：天地图导出".encode("unicode_escape").decode() in html
    layer = html.split(url)[0].rsplit("var ", 1)[1].split(" =")[0]
    assert f"{layer}.addTo(map_" in html  # shown first, as chosen
    # an offline file cannot use them (they are files of the server)
    html = base_map(BOX, MapOptions(basemap="tiles", tiles=(ts,)).for_file()).get_root().render()
    assert "/app/static/tiles" not in html
    assert BASEMAPS["tiles"]
