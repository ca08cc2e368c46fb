"""`python -m scripts.analyze`: outputs match the analyses; bad input writes nothing.

Two tests run the real command in a new process (exit code, stdout and stderr across the
process boundary, success and failure); the others call its ``main()`` in this process
with the same arguments and read the same exit code and output, which spares each of
them the seconds a new interpreter takes to import the analysis stack.
"""

from __future__ import annotations

import io
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pandas as pd
import pyogrio
import pytest

from layers import write_layers
from tests.fixtures import tiny_county

ROOT = Path(__file__).resolve().parents[1]


def run_process(*args: str) -> subprocess.CompletedProcess:
    """``python -m scripts.analyze *args`` in a new process."""
    return subprocess.run([sys.executable, "-m", "scripts.analyze", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def run(*args: str) -> subprocess.CompletedProcess:
    """``scripts.analyze.main(args)`` in this process: its exit code, stdout and stderr.

    An argparse usage error (``SystemExit``) gives its exit code, as the process would.
    """
    from scripts import analyze

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = analyze.main(list(args))
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
    return subprocess.CompletedProcess(["scripts.analyze", *args], code, out.getvalue(),
                                       err.getvalue())  # fmt: skip


def test_cli_writes_results_and_report(tmp_path):
    out = tmp_path / "out"
    proc = run_process("--data", str(tiny_county.PATH), "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    layers = [n for n, _ in pyogrio.list_layers(out / "results.gpkg")]
    assert {"hard_road_villages", "hard_road_links", "service_isochrones", "clinic_townships",
            "road_network_problems", "rollup_townships"} <= set(layers)  # fmt: skip
    villages = pyogrio.read_dataframe(out / "results.gpkg", layer="hard_road_villages")
    status = villages.set_index("id")["status"].to_dict()
    assert status == {k: v[0] for k, v in tiny_county.EXPECTED_HARD_ROAD.items()}
    sheets = pd.read_excel(out / "report.xlsx", sheet_name=None)
    assert {"汇总", "乡镇汇总", "通硬化路", "一刻钟生活圈", "医疗-行政村", "参数设置"} <= set(
        sheets
    )
    kpi = sheets["汇总"].set_index("指标")["现值"]
    assert kpi["20户以上自然村通硬化路率"] == pytest.approx(60.0)
    assert "households_min" in set(sheets["参数设置"]["参数"])
    assert "20户以上自然村通硬化路率: 60%" in proc.stdout


def test_cli_bad_input_stops_with_the_report_and_writes_nothing(tmp_path):
    frames = tiny_county.build()
    frames["natural_villages"].loc[0, "households"] = -1
    bad = write_layers(tmp_path / "bad.gpkg", frames)
    out = tmp_path / "out"
    proc = run("--data", str(bad), "--out", str(out), "--quiet")
    assert proc.returncode == 2
    assert "常住户数" in proc.stderr and "nothing was written" in proc.stderr
    assert not out.exists()


def test_cli_missing_file(tmp_path):
    proc = run_process("--data", str(tmp_path / "none.gpkg"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "找不到文件" in proc.stderr


def test_cli_with_a_dem_writes_terrain_surfaces_as_cogs(tmp_path):
    import numpy as np
    import rasterio
    from affine import Affine
    from pyproj import CRS

    from geo.terrain import Grid, write_cog

    # a 12 % ramp rising to the east over the tiny county, 50 m cells
    res = 50.0
    cols, rows = 240, 200
    x = (np.arange(cols) + 0.5) * res
    z = np.tile(1500.0 + 0.12 * x, (rows, 1))
    dem = Grid(
        data=z,
        transform=Affine(res, 0, tiny_county.ORIGIN_E - 1000, 0, -res, tiny_county.ORIGIN_N + 9000),
        crs=CRS.from_epsg(4544),
    )
    dem_path = write_cog(dem, tmp_path / "dem.tif")
    out = tmp_path / "out"
    proc = run("--data", str(tiny_county.PATH), "--out", str(out), "--dem", str(dem_path), "-q")
    assert proc.returncode == 0, proc.stderr
    files = sorted(p.name for p in (out / "terrain").glob("*.tif"))
    assert files == [
        "slope_pct.tif", "walk_min_bus_stop.tif", "walk_min_clinic.tif", "walk_min_grocery.tif",
        "walk_min_pharmacy.tif", "walk_min_supermarket.tif",
    ]  # fmt: skip
    with rasterio.open(out / "terrain" / "slope_pct.tif") as f:
        assert f.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        slope = f.read(1, masked=True).compressed()
    assert np.median(slope) == pytest.approx(12.0, abs=0.01)
    layers = {n for n, _ in pyogrio.list_layers(out / "results.gpkg")}
    assert {"terrain_services", "terrain_clinics", "terrain_townships"} <= layers
    links = pyogrio.read_dataframe(out / "results.gpkg", layer="hard_road_links")
    assert "least_cost" in set(links["route"])


# ------------------------------------------------------------- the county's own .inp

DEMO = ROOT / "data" / "demo"
NETWORKS = Path(__import__("wntr").__file__).parent / "library" / "networks"


def test_cli_runs_the_countys_inp_and_writes_water(tmp_path):
    out = tmp_path / "out"
    proc = run(
        "--data", str(DEMO / "tongxin.gpkg"), "--out", str(out), "--quiet",
        "--inp", str(DEMO / "tongxin.inp"), "--inp-crs", "EPSG:4544",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "农村自来水普及率: 98.1673%" in proc.stdout and "供水模型修改" in proc.stdout
    layers = {n for n, _ in pyogrio.list_layers(out / "results.gpkg")}
    assert {"water_villages", "water_nodes", "water_pipes", "water_townships"} <= layers
    v = pyogrio.read_dataframe(out / "results.gpkg", layer="water_villages")
    assert (v["status"] == "off_network").sum() == 15 and (v["status"] == "low_pressure").sum() == 3
    sheets = pd.read_excel(out / "report.xlsx", sheet_name=None)
    assert {"供水-自然村", "供水-乡镇", "供水-模型问题与修改"} <= set(sheets)
    assert set(sheets["供水-自然村"]["供水状态"]) == {"达标", "未通自来水", "水压不足"}
    assert "农村自来水普及率" in set(sheets["汇总"]["指标"])


def test_cli_asks_for_the_inp_crs_and_refuses_a_network_elsewhere(tmp_path):
    data = ("--data", str(DEMO / "tongxin.gpkg"), "--quiet")
    proc = run(*data, "--out", str(tmp_path / "a"), "--inp", str(DEMO / "tongxin.inp"))
    assert proc.returncode == 2 and "请声明" in proc.stderr and "Traceback" not in proc.stderr
    proc = run(*data, "--out", str(tmp_path / "b"), "--inp", str(NETWORKS / "ky4.inp"),
               "--inp-crs", "EPSG:3089")  # fmt: skip
    assert proc.returncode == 2 and "落在同心县" in proc.stderr and "第None行" not in proc.stderr
    assert not (tmp_path / "b").exists()
    bad = Path(__import__("wntr").__file__).parent / "tests" / "networks_for_testing"
    proc = run(*data, "--out", str(tmp_path / "c"), "--inp", str(bad / "bad_values.inp"),
               "--inp-crs", "EPSG:4544")  # fmt: skip
    assert proc.returncode == 2 and "第 56 行（[PIPES] 节）" in proc.stderr
    proc = run(*data, "--out", str(tmp_path / "d"), "--inp-crs", "EPSG:4544")
    assert proc.returncode == 2 and "go with --inp" in proc.stderr


def test_cli_schematic_model_reports_no_tap_rate(tmp_path):
    proc = run(
        "--data", str(DEMO / "tongxin.gpkg"), "--out", str(tmp_path / "o"), "--quiet",
        "--inp", str(NETWORKS / "Net3.inp"), "--inp-crs", "schematic",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "农村自来水普及率: 无数据" in proc.stdout and "对照表" in proc.stdout
    assert "供水水压不足的自然村: 无数据" in proc.stdout  # nothing known, nothing "达标"
    assert "人均供水不足40升/日的自然村: 无数据" in proc.stdout
    sheets = pd.read_excel(tmp_path / "o" / "report.xlsx", sheet_name=None)
    water = sheets["汇总"].set_index("指标").loc["农村自来水普及率"]
    assert water["是否达标"] == "无数据"


def _kpi_lines(stdout: str) -> dict[str, str]:
    """The CLI's county KPI lines: indicator name → the rest of its line."""
    lines = (line.strip().split(": ", 1) for line in stdout.splitlines() if "目标" in line)
    return dict(lines)


def test_cli_analyses_a_county_delivery_with_its_manifest(tmp_path):
    """The zip as the county hands it over, plus its manifest: one command, the demo's figures."""
    from dataclasses import replace

    from layers.delivery import scan_delivery
    from layers.manifest import DEM, IGNORE, write_manifest
    from tests.fixtures import delivery as fx

    zipped = fx.build_zip(tmp_path / "同心县资料包.zip")
    proposed = scan_delivery(zipped).manifest(county="同心县")
    # the DEM is left out here to keep the suite fast (terrain: test_cli_with_a_dem_...)
    entries = tuple(replace(e, layer=IGNORE) if e.layer == DEM else e for e in proposed.entries)
    manifest = write_manifest(tmp_path / "清单.toml", replace(proposed, entries=entries))
    proc = run("--data", str(zipped), "--manifest", str(manifest), "--out",
               str(tmp_path / "o"), "--quiet")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    demo = run("--data", str(DEMO / "tongxin.gpkg"), "--out", str(tmp_path / "d"), "--quiet")
    assert demo.returncode == 0, demo.stderr
    got, want = _kpi_lines(proc.stdout), _kpi_lines(demo.stdout)
    assert list(got) == list(want)  # every indicator, in the table's order
    # the delivery has no 公共服务设施 / 通信覆盖 / 环卫设施 / 危房排查 layers and no water works
    # table (has_5g and waste_treated are empty in the demo too): those are 无数据, not met
    from geo.indicators.table import indicator_table
    from geo.settings import Settings

    table = indicator_table(Settings())
    lacking = {table.get(c).name_zh for c in fx.LACKING_INDICATORS}
    for name, text in want.items():
        if name in lacking:
            assert got[name].startswith("无数据") and not text.startswith("无数据"), name
        else:
            assert got[name] == text, name
    assert "农村自来水普及率: 98.1673%" in proc.stdout  # from the delivery's own .inp
    assert "供水模型修改" in proc.stdout and "供水模型修改" not in demo.stdout
