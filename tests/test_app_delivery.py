"""The 数据 page's 「上传整县资料包」 tab under AppTest: scan → confirm → 检查 → 保存."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from layers.dataset import read_dataset
from tests.fixtures import delivery as fx

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "app" / "views" / "data_overview.py"


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("GAPMAP_LEDGER_DIR", str(tmp_path / "ledger"))
    monkeypatch.setenv("GAPMAP_DELIVERY_ROOT", str(tmp_path))
    monkeypatch.setenv("GAPMAP_DATASET_DIR", str(tmp_path / "datasets"))
    return tmp_path


def _table(at: AppTest, column: str):
    for df in at.dataframe:
        if column in df.value.columns:
            return df.value
    raise AssertionError(f"no table with column {column!r}")


def test_delivery_tab_scans_checks_and_saves_the_county(env, demo_dataset):
    zipped = fx.build_zip(env / "同心县资料包.zip", readme=False)
    at = AppTest.from_file(str(PAGE), default_timeout=180)
    at.run()
    assert not at.exception
    assert "上传整县资料包" in [t.label for t in at.tabs]
    at.text_input(key="delivery_path").input(str(zipped))
    at.button(key="delivery_scan").click().run()
    assert not at.exception, [e.value for e in at.exception]

    table = _table(at, "建议图层").set_index("文件")
    assert table.loc["卫生机构.xlsx", "建议图层"] == "医疗机构"
    assert table.loc["便民设施.csv", "建议坐标系"].startswith("BD-09")
    assert "到路网距离中位数" in table.loc["卫生机构.xlsx", "坐标检测"]
    assert table.loc["供水管网.inp", "建议图层"].startswith("供水管网模型")
    # per-file choices pre-filled with the proposal; GapMap's detection named in the option
    roles = {sb.key: sb.value for sb in at.selectbox if str(sb.key).startswith("dl_role_")}
    expected = [role for f, (role, _) in fx.EXPECTED.items() if f != "数据说明.txt"]
    assert sorted(roles.values()) == sorted(expected)
    coords = [sb for sb in at.selectbox if str(sb.key).startswith("dl_coords_")]
    gcj = next(sb for sb in coords if sb.value == "gcj02")
    assert "GapMap 检测建议" in gcj.format_func("gcj02")
    # the truncated Shapefile names come with a field mapping (columns, samples, suggestions)
    mapping = _table(at, "对应字段").set_index("列名")
    assert (
        mapping.loc["安置区", "对应字段"] == "id" and "安置区编号" in mapping.loc["安置区", "说明"]
    )
    assert mapping.loc["行政村", "对应字段"] == "admin_village_code"
    assert len(mapping.loc["行政村", "示例值"].split("、")[0]) == 12

    # coordinates found from the values alone must be confirmed before 检查
    assert at.button(key="delivery_check").disabled
    confirm = at.checkbox(key="dl_confirm")
    assert "卫生机构.xlsx" in confirm.label and "县界.geojson" not in confirm.label
    confirm.check().run()
    assert not at.button(key="delivery_check").disabled
    at.button(key="delivery_check").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("全部 8 个图层通过检查" in s.value for s in at.success)

    at.button(key="delivery_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    saved = env / "datasets" / "同心县资料包.gpkg"
    assert saved.exists() and (env / "datasets" / "同心县资料包.inp").exists()
    assert at.session_state["dataset_name"] == "资料包：同心县资料包"
    ds = read_dataset(saved)
    assert ds.ok and ds["clinics"]["id"].tolist() == demo_dataset["clinics"]["id"].tolist()
    assert any(b.label.startswith("下载清单") for b in at.get("download_button"))


def test_delivery_tab_refuses_paths_outside_the_allowed_root(env, tmp_path_factory):
    other = tmp_path_factory.mktemp("elsewhere")
    at = AppTest.from_file(str(PAGE), default_timeout=180)
    at.run()
    at.text_input(key="delivery_path").input(str(other))
    at.button(key="delivery_scan").click().run()
    assert not at.exception
    assert any("只能打开" in e.value for e in at.error)


class _Upload:
    def __init__(self, name: str, data: bytes) -> None:
        self.name, self._data = name, data

    def getbuffer(self) -> bytes:
        return self._data


def test_uploads_become_a_zip_or_a_folder_delivery_and_do_not_pile_up(tmp_path, monkeypatch):
    import os
    import time

    import app.delivery as delivery

    monkeypatch.setattr(delivery, "UPLOADS", tmp_path / "delivery")
    stale = tmp_path / "delivery" / "upload-stale"
    stale.mkdir(parents=True)
    os.utime(stale, (time.time() - 2 * delivery.KEEP_S,) * 2)  # a session that never came back
    one = delivery._save_uploads([_Upload("资料包.zip", b"PK")])
    assert one.name == "资料包.zip" and one.read_bytes() == b"PK"
    assert not stale.exists()
    many = delivery._save_uploads([_Upload("自然村.shp", b"s"), _Upload("../自然村.dbf", b"d")])
    assert many.is_dir() and sorted(p.name for p in many.iterdir()) == ["自然村.dbf", "自然村.shp"]
    assert not one.parent.exists()  # the session's previous upload is gone
    assert [p.name for p in (tmp_path / "delivery").iterdir()] == [many.name]
