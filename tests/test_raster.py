"""layers.raster: COGs written through the one atomic writer; uploads kept once by content."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from layers.raster import cog_path, keep_bytes

ROOT = Path(__file__).resolve().parents[1]
DEM = ROOT / "data" / "demo" / "tongxin_dem.tif"


def test_keep_bytes_stores_once_by_content_and_leaves_nothing_else(tmp_path):
    data = DEM.read_bytes()
    first = keep_bytes(data, folder=tmp_path / "uploads", suffix=".tif")
    assert first.name == hashlib.sha256(data).hexdigest() + ".tif"
    assert first.read_bytes() == data
    mtime = first.stat().st_mtime_ns
    again = keep_bytes(data, folder=tmp_path / "uploads", suffix=".tif")
    assert again == first and again.stat().st_mtime_ns == mtime  # re-used, not rewritten
    assert [p.name for p in (tmp_path / "uploads").iterdir()] == [first.name]
    first.write_bytes(b"truncated")  # a damaged copy is replaced by the right bytes
    assert keep_bytes(data, folder=tmp_path / "uploads").read_bytes() == data
    with rasterio.open(first) as src:
        assert src.count == 1


def _profile(n=64):
    return {
        "driver": "GTiff",
        "height": n,
        "width": n,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:4544",
        "transform": Affine(100, 0, 500000, 0, -100, 4100000),
    }


def test_cog_path_writes_a_cog_atomically_and_removes_its_scratch(tmp_path):
    out = tmp_path / "slope.tif"
    data = np.arange(64 * 64, dtype="float32").reshape(64, 64)
    with cog_path(out) as scratch, rasterio.open(scratch, "w", **_profile()) as dst:
        dst.write(data, 1)
    assert [p.name for p in tmp_path.iterdir()] == ["slope.tif"]
    with rasterio.open(out) as src:
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert np.array_equal(src.read(1), data)


def test_cog_path_keeps_the_old_file_when_writing_fails(tmp_path):
    out = tmp_path / "slope.tif"
    out.write_bytes(b"old")
    with pytest.raises(RuntimeError), cog_path(out) as scratch:
        with rasterio.open(scratch, "w", **_profile()) as dst:
            dst.write(np.zeros((64, 64), "float32"), 1)
        raise RuntimeError("crash half-way")
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["slope.tif"]


def test_no_raster_writer_or_temporary_dem_outside_layers():
    """geo/terrain writes through layers.raster; DEM uploads never go to a mkdtemp."""
    terrain = (ROOT / "geo" / "terrain.py").read_text(encoding="utf-8")
    assert "_atomic_target" not in terrain and "os.replace" not in terrain
    page = ast.parse((ROOT / "app" / "views" / "data_overview.py").read_text(encoding="utf-8"))
    calls = {
        node.func.attr
        for node in ast.walk(page)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert "mkdtemp" not in calls and "mkstemp" not in calls
