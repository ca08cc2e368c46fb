"""The server's 天地图 key never reaches a browser in server mode; each user gives their own."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.maps import builders as b
from app.maps.base import MapOptions, env_tianditu_key
from geo.assessment import assess
from geo.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
ENV_KEY = "server-env-key-0123456789abcdef"
USER_KEY = "user-own-key-fedcba9876543210"


@pytest.fixture(scope="module")
def overview(demo_dataset):
    return demo_dataset, assess(demo_dataset, Settings())


def _html(dataset, a, options):
    return b.build_overview_map(dataset, a, options=options).get_root().render()


def test_server_mode_map_never_carries_the_env_key(overview, monkeypatch):
    dataset, a = overview
    monkeypatch.setenv("TIANDITU_KEY", ENV_KEY)
    monkeypatch.setenv("GAPMAP_MODE", "server")
    assert env_tianditu_key() == ""
    html = _html(dataset, a, MapOptions(basemap="tianditu"))
    assert ENV_KEY not in html and "tianditu.gov.cn" not in html
    mine = _html(dataset, a, MapOptions(basemap="tianditu", tianditu_key=USER_KEY))
    assert USER_KEY in mine and ENV_KEY not in mine


def test_local_mode_still_uses_the_env_key(overview, monkeypatch):
    dataset, a = overview
    monkeypatch.setenv("TIANDITU_KEY", ENV_KEY)
    monkeypatch.delenv("GAPMAP_MODE", raising=False)
    assert env_tianditu_key() == ENV_KEY
    assert ENV_KEY in _html(dataset, a, MapOptions(basemap="tianditu"))


def test_server_mode_sidebar_does_not_prefill_the_env_key(monkeypatch, tmp_path):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("TIANDITU_KEY", ENV_KEY)
    monkeypatch.setenv("GAPMAP_MODE", "server")
    monkeypatch.setenv("GAPMAP_LEDGER_DIR", str(tmp_path / "ledger"))
    at = AppTest.from_file(str(ROOT / "app" / "views" / "overview.py"), default_timeout=240)
    at.run()
    assert not at.exception
    fields = [t for t in at.text_input if t.key == "tianditu_key"]
    assert fields and fields[0].value == ""
