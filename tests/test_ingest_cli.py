"""`python -m scripts.ingest`: a delivery and its manifest → the county GeoPackage, one command.

The first test runs the real command in a new process (a stop with exit code 2, then the
import with exit code 0, stdout and stderr across the process boundary); the others call
its ``main()`` in this process with the same arguments and read the same exit code and
output, which spares each run the seconds a new interpreter takes to import the stack.
"""

from __future__ import annotations

import io
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pandas as pd
import pytest

from layers.dataset import read_dataset
from tests.fixtures import delivery as fx

ROOT = Path(__file__).resolve().parents[1]


def run_process(*args: str) -> subprocess.CompletedProcess:
    """``python -m scripts.ingest *args --quiet`` in a new process."""
    return subprocess.run([sys.executable, "-m", "scripts.ingest", *args, "--quiet"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def run(*args: str) -> subprocess.CompletedProcess:
    """``scripts.ingest.main([*args, "--quiet"])`` in this process: exit code, stdout, stderr.

    An argparse usage error (``SystemExit``) gives its exit code, as the process would.
    """
    from scripts import ingest

    argv = [*args, "--quiet"]
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = ingest.main(argv)
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
    return subprocess.CompletedProcess(["scripts.ingest", *argv], code, out.getvalue(),
                                       err.getvalue())  # fmt: skip


@pytest.fixture(scope="module")
def zipped(tmp_path_factory) -> Path:
    return fx.build_zip(tmp_path_factory.mktemp("ingest") / "同心县资料包.zip")


def test_first_run_proposes_a_manifest_and_stops_then_one_command_imports(
    zipped, tmp_path, demo_dataset
):
    out = tmp_path / "out" / "同心县.gpkg"
    first = run_process("--delivery", str(zipped), "--out", str(out))
    assert first.returncode == 2, first.stderr
    manifest = out.with_name("同心县.manifest.toml")
    assert manifest.exists() and not out.exists()
    assert "请逐项核对" in first.stderr and "--manifest" in first.stderr
    assert "卫生机构.xlsx: 医疗机构；坐标系 gcj02" in first.stdout
    assert "Traceback" not in first.stderr

    second = run_process("--delivery", str(zipped), "--manifest", str(manifest), "--out", str(out))
    assert second.returncode == 0, second.stderr
    assert "自然村（natural_villages）：670 个要素" in second.stdout
    assert "坐标系 EPSG:4523" in second.stdout  # the water model's, from the manifest
    got = read_dataset(out)
    assert got.ok and tuple(got.layers) == fx.DELIVERY_LAYERS
    for layer in fx.DELIVERY_LAYERS:
        pd.testing.assert_frame_equal(
            pd.DataFrame(got[layer].drop(columns="geometry")),
            pd.DataFrame(demo_dataset[layer].drop(columns="geometry")),
        )
    delivered_inp = fx.inp_with_zone_prefix(fx.DEMO_INP.read_text(encoding="utf-8"))
    assert out.with_name("同心县.inp").read_text(encoding="utf-8") == delivered_inp
    assert out.with_name("同心县_dem.tif").read_bytes() == fx.DEMO_DEM.read_bytes()
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "同心县.gpkg", "同心县.inp", "同心县.manifest.toml", "同心县_dem.tif",
    ]  # fmt: skip


def test_accept_proposal_imports_in_one_run(tmp_path):
    folder = fx.build(tmp_path / "资料包")
    out = tmp_path / "同心县.gpkg"
    proc = run("--delivery", str(folder), "--out", str(out), "--accept-proposal")
    assert proc.returncode == 0, proc.stderr
    assert read_dataset(out).ok


def test_bad_manifest_and_bad_data_stop_with_the_located_message(zipped, tmp_path):
    manifest = tmp_path / "m.toml"
    manifest.write_text(
        'version = 1\n[[files]]\npath = "卫生机构.xlsx"\nlayer = "卫生室"\n', encoding="utf-8"
    )
    out = tmp_path / "x.gpkg"
    proc = run("--delivery", str(zipped), "--manifest", str(manifest), "--out", str(out))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "m.toml" in proc.stderr and "卫生机构.xlsx" in proc.stderr and "layer" in proc.stderr
    # the truncated names without their mapping: validation errors name the file
    manifest.write_text(
        'version = 1\n[[files]]\npath = "移民安置区.shp"\nlayer = "relocation_sites"\n',
        encoding="utf-8",
    )
    proc = run("--delivery", str(zipped), "--manifest", str(manifest), "--out", str(out))
    assert (
        proc.returncode == 2 and "移民安置区.shp" in proc.stderr and "未写出任何文件" in proc.stderr
    )
    assert not out.exists()
    proc = run("--delivery", str(tmp_path / "无.zip"), "--out", str(out), "--accept-proposal")
    assert proc.returncode == 2 and "找不到资料包" in proc.stderr


def test_never_overwrites_an_input(tmp_path):
    folder = fx.build(tmp_path / "资料包")
    target = folder / "数据说明.txt"
    before = target.read_bytes()
    manifest = tmp_path / "m.toml"
    proc = run("--delivery", str(folder), "--manifest", str(manifest), "--out", str(target),
               "--accept-proposal")  # fmt: skip
    assert proc.returncode == 2 and "不能覆盖输入文件" in proc.stderr
    assert target.read_bytes() == before
