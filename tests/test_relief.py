"""地形晕渲 basemap: hillshade against gdaldem, the relief image, and how maps carry it."""

from __future__ import annotations

import io
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image
from pyproj import CRS, Transformer

from app.maps import builders as b
from app.maps.assets import self_contained_html
from app.maps.base import BASEMAPS, MapOptions, base_map
from app.maps.relief import LIGHT_MAX, SHADOW_MIN, TINT_LOW, Relief, grid_digest, relief_image
from geo.assessment import assess
from geo.settings import load_settings
from geo.terrain import Grid, hillshade, read_dem, write_cog
from layers import Dataset
from tests.fixtures import tiny_county as tc

DEM = Path(__file__).resolve().parents[1] / "data" / "demo" / "tongxin_dem.tif"
CRS_GK = CRS.from_epsg(4544)
X0, Y0 = 560_000.0, 4_100_000.0
BOUNDS = (105.85, 36.9, 106.05, 37.05)


def _grid(z: np.ndarray, res: float = 100.0) -> Grid:
    return Grid(data=z.astype(np.float32), transform=Affine(res, 0, X0, 0, -res, Y0), crs=CRS_GK)


@pytest.fixture(scope="module")
def demo_dem() -> Grid:
    return read_dem(DEM, resolution_m=200.0)


@pytest.mark.skipif(shutil.which("gdaldem") is None, reason="gdaldem (gdal-bin) not installed")
@pytest.mark.parametrize("z_factor", [1.0, 2.5])
@pytest.mark.parametrize(("azimuth", "altitude"), [(315.0, 45.0), (135.0, 30.0)])
def test_hillshade_matches_gdaldem_on_the_demo_dem(demo_dem, tmp_path, z_factor, azimuth, altitude):
    """The oracle: ``gdaldem hillshade`` on the same grid, written as a GeoTIFF."""
    grid = demo_dem.like(demo_dem.data.copy())
    grid.data[40:44, 50:53] = np.nan  # a hole: nodata spreads to its neighbours in both
    write_cog(grid, tmp_path / "dem.tif")
    subprocess.run(
        ["gdaldem", "hillshade", "-q", "-z", str(z_factor), "-az", str(azimuth),
         "-alt", str(altitude), str(tmp_path / "dem.tif"), str(tmp_path / "hs.tif")],
        check=True,
    )  # fmt: skip
    with rasterio.open(tmp_path / "hs.tif") as src:
        ref = src.read(1).astype(int)
    ours = hillshade(grid, azimuth_deg=azimuth, altitude_deg=altitude, z_factor=z_factor)
    ours = ours.astype(int)
    assert ((ours == 0) == (ref == 0)).all()  # the same nodata (edge ring, the hole's ring)
    assert (ref == 0).sum() > 2 * (sum(grid.shape) - 2)  # ... which is more than the edge
    diff = np.abs(ours - ref)
    assert diff.max() <= 1  # gdaldem's approximate inverse square root: 1 level at most
    assert (diff == 0).mean() > 0.999
    assert len(np.unique(ref)) > 50  # a real relief, not a flat test


def test_relief_image_is_light_where_flat_and_darker_in_shadow():
    res = 100.0
    z = np.full((60, 80), 1500.0)
    x = np.arange(80) * res
    z[:, 40:] = 1500.0 + 0.5 * (x[40:] - x[40])  # east half rises to the east: faces west
    z[:, 60:] = z[:, 59][:, None] - 0.5 * (x[60:] - x[59])  # then falls: faces east (shadow)
    z[:5, :] = np.nan  # no data along the north
    relief = relief_image(_grid(z, res), smooth_cells=0.0, z_factor=1.0)
    rgba = relief.rgba
    assert rgba.dtype == np.uint8 and rgba.shape[2] == 4
    rows, cols = rgba.shape[:2]
    assert (rgba[: rows // 20, :, 3] == 0).all()  # transparent where the DEM has no data
    assert (rgba[rows // 2, 2 : cols // 2 - 2, 3] == 255).all()
    brightness = rgba[..., :3].astype(float).mean(axis=2)
    flat = brightness[rows // 2, cols // 4]
    lit = brightness[rows // 2, int(cols * 0.62)]
    shadow = brightness[rows // 2, int(cols * 0.87)]
    # flat ground: the low tint itself (brightness 1); lit brighter; shadow darker, not black
    assert flat == pytest.approx(np.mean(TINT_LOW), abs=1.5)
    assert lit > flat > shadow >= SHADOW_MIN * np.mean(TINT_LOW) - 1
    assert lit <= min(255, LIGHT_MAX * max(TINT_LOW) + 1)
    # the image lies on the grid's extent (Web Mercator corners, in degrees)
    to_ll = Transformer.from_crs(CRS_GK, "EPSG:4326", always_xy=True)
    w, s = to_ll.transform(X0, Y0 - 60 * res)
    e, n = to_ll.transform(X0 + 80 * res, Y0)
    (south, west), (north, east) = relief.bounds
    assert south < s + 1e-3 and north > n - 1e-3 and west < w + 1e-3 and east > e - 1e-3
    assert abs(north - n) < 0.01 and abs(west - w) < 0.01


def test_relief_png_round_trips_and_digest_is_the_dem_content(demo_dem):
    relief = relief_image(demo_dem)
    back = np.asarray(Image.open(io.BytesIO(relief.png)).convert("RGBA"))
    assert (back == relief.rgba).all()
    assert relief_image(demo_dem.like(demo_dem.data.copy())).digest == relief.digest
    assert relief_image(demo_dem, digest=grid_digest(demo_dem)).digest == relief.digest
    changed = demo_dem.like(demo_dem.data + np.float32(1.0))
    assert grid_digest(changed) != grid_digest(demo_dem)
    assert relief_image(changed).digest != relief.digest  # another DEM, another file
    assert relief_image(demo_dem, z_factor=1.0).digest != relief.digest  # another style too
    assert relief.data_uri().startswith("data:image/png;base64,")


def test_publish_writes_once_atomically(demo_dem, tmp_path):
    relief = relief_image(demo_dem)
    path = relief.publish(tmp_path)
    assert path.name == f"{relief.digest}.png" and path.read_bytes() == relief.png
    stamp = path.stat().st_mtime_ns
    relief.publish(tmp_path)
    assert path.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_cropped_keeps_the_area_and_its_surroundings(demo_dem):
    relief = relief_image(demo_dem)
    box = (106.0, 36.95, 106.02, 36.97)  # about 2 km
    crop = relief.cropped(box, margin=1.0, min_km=30.0)
    (s, w), (n, e) = crop.bounds
    assert w < box[0] and e > box[2] and s < box[1] and n > box[3]
    km_per_lat = 111.32
    assert (n - s) * km_per_lat == pytest.approx(30.0, rel=0.05)
    assert (e - w) * km_per_lat * math.cos(math.radians(36.96)) == pytest.approx(30.0, rel=0.05)
    assert crop.rgba.size < relief.rgba.size / 10
    assert crop.digest != relief.digest
    assert relief.cropped((0.0, 0.0, 0.1, 0.1)) is None  # far from the DEM


@pytest.fixture(scope="module")
def tiny():
    dataset = Dataset.from_frames(tc.build(), name="tiny")
    return dataset, assess(dataset, load_settings())


def _relief_for(bounds) -> Relief:
    minx, miny, maxx, maxy = bounds
    to_gk = Transformer.from_crs("EPSG:4326", CRS_GK, always_xy=True)
    x0, y0, x1, y1 = to_gk.transform_bounds(minx - 0.05, miny - 0.05, maxx + 0.05, maxy + 0.05)
    res = 200.0
    cols, rows = int((x1 - x0) / res), int((y1 - y0) / res)
    yy, xx = np.mgrid[0:rows, 0:cols]
    z = 1500 + 80 * np.sin(xx / 9.0) * np.cos(yy / 7.0)
    return relief_image(Grid(z.astype(np.float32), Affine(res, 0, x0, 0, -res, y1), CRS_GK))


def _image_overlays(html: str) -> list[str]:
    return re.findall(r'L\.imageOverlay\(\s*"([^"]+)"', html)


def test_relief_is_the_default_basemap_under_the_vector_layers(tiny, tmp_path, monkeypatch):
    dataset, a = tiny
    relief = _relief_for(dataset["county"].total_bounds)
    monkeypatch.setattr(Relief, "publish", lambda self, folder=tmp_path: tmp_path / "x.png")
    html = b.build_hard_road_map(dataset, a, options=MapOptions(relief=relief)).get_root().render()
    assert _image_overlays(html) == [relief.url]
    assert '"pane": "tilePane"' in html  # under the vector layers (overlayPane)
    name = BASEMAPS["relief"].encode("unicode_escape").decode()
    assert re.search(rf'"{re.escape(name)}" : image_overlay_\w+', html)  # a base layer
    overlay = re.search(r"var (image_overlay_\w+) = L\.imageOverlay", html).group(1)
    assert f"{overlay}.addTo(map_" in html  # shown first
    assert "errors === 4" not in html  # no remote basemap shown: no fallback needed
    # 无底图 stays a choice, and shows first when chosen
    plain = b.build_hard_road_map(dataset, a, options=MapOptions(relief=relief, basemap="plain"))
    html = plain.get_root().render()
    overlay = re.search(r"var (image_overlay_\w+) = L\.imageOverlay", html).group(1)
    assert f"{overlay}.addTo(map_" not in html


def test_without_a_dem_the_first_basemap_is_plain(tiny):
    dataset, _ = tiny
    html = base_map(dataset["county"].total_bounds, MapOptions()).get_root().render()
    assert _image_overlays(html) == []
    assert re.search(r"var (tile_layer_\w+) = L\.tileLayer\(\s*\"data:image/gif", html)


def test_a_remote_basemap_falls_back_to_the_relief(tiny, tmp_path, monkeypatch):
    dataset, _ = tiny
    relief = _relief_for(dataset["county"].total_bounds)
    monkeypatch.setattr(Relief, "publish", lambda self, folder=tmp_path: tmp_path / "x.png")
    m = base_map(dataset["county"].total_bounds, MapOptions(relief=relief, basemap="osm"))
    html = m.get_root().render()
    overlay = re.search(r"var (image_overlay_\w+) = L\.imageOverlay", html).group(1)
    assert f"{overlay}.addTo(map_" not in html  # OpenStreetMap is shown first ...
    assert "errors === 4" in html and f"found = {overlay};" in html  # ... the relief if it fails


def test_offline_file_carries_the_cropped_relief_and_no_remote_tiles(tiny):
    dataset, a = tiny
    relief = _relief_for(dataset["county"].total_bounds)
    options = MapOptions(relief=relief, basemap="osm", tianditu_key="secret-key").for_file()
    code = str(dataset["admin_villages"]["code"].iloc[0])
    m = b.build_village_map(dataset, a, options=options, admin_village_code=code)
    html = self_contained_html(m)
    uris = _image_overlays(html)
    assert len(uris) == 1 and uris[0].startswith("data:image/png;base64,")
    assert "/app/static/relief" not in html
    assert "openstreetmap" not in html.lower() and "secret-key" not in html
    assert "errors === 4" not in html
    overlay = re.search(r"var (image_overlay_\w+) = L\.imageOverlay", html).group(1)
    assert f"{overlay}.addTo(map_" in html  # the relief is shown first in the file


def test_a_read_only_static_folder_sends_the_relief_inline(tiny, monkeypatch):
    dataset, _ = tiny
    relief = _relief_for(dataset["county"].total_bounds)

    def refuse(self, folder=None):
        raise PermissionError("read-only")

    monkeypatch.setattr(Relief, "publish", refuse)
    html = base_map(dataset["county"].total_bounds, MapOptions(relief=relief)).get_root().render()
    assert _image_overlays(html) == [relief.data_uri()]
