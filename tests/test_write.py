"""Atomic writes: the destination is whole or untouched; inputs are never overwritten."""

import geopandas as gpd
import pyogrio
import pytest
import shapely

from layers import LayerReadError, atomic_path, write_layers


def frame(n):
    return gpd.GeoDataFrame(
        {"id": [f"P{i}" for i in range(n)]},
        geometry=[shapely.Point(105.9, 36.9 + i / 1000) for i in range(n)],
        crs=4326,
    )


def test_write_layers_round_trip(tmp_path):
    out = write_layers(tmp_path / "r.gpkg", {"a": frame(3), "b": frame(5)})
    assert [n for n, _ in pyogrio.list_layers(out)] == ["a", "b"]
    assert len(gpd.read_file(out, layer="b")) == 5
    assert [p.name for p in tmp_path.iterdir()] == ["r.gpkg"]  # no temp files left


def test_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "r.gpkg"
    write_layers(path, {"a": frame(2)})
    before = path.read_bytes()
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash mid-write")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.gpkg"]


def test_refuses_to_overwrite_an_input(tmp_path):
    path = tmp_path / "input.gpkg"
    write_layers(path, {"a": frame(2)})
    before = path.read_bytes()
    with pytest.raises(LayerReadError, match="overwrite the input") as info:
        write_layers(tmp_path / "." / "input.gpkg", {"a": frame(9)}, inputs=[path])
    assert "不能覆盖输入文件" in info.value.zh
    assert path.read_bytes() == before
