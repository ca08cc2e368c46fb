"""A township editor on the county server, in Debian's headless Chromium (issue 14).

The app runs in server mode on a real PostgreSQL (row-level security on): 王明 of 下马关镇
logs in, moves one of his township's items 待整改 → 整改中, cannot change an item of another
township (the page offers no form, and the ledger's database would refuse it too), and logs
out. What the browser did is then read back from the ledger itself.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.e2e.conftest import ARTIFACTS, ROOT, choose_option, wait_for_app
from tests.e2e.test_login import _login, _login_form, serve
from tests.pg import PG_URL, fresh_database

pytestmark = pytest.mark.e2e

PW = "gapmap-secret-1"
TOWN, TOWN_NAME = "640324103", "下马关镇"


@pytest.fixture(scope="module")
def county_server(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """Server mode on a fresh PostgreSQL database with accounts and one recorded snapshot."""
    if not PG_URL:
        pytest.skip("set GAPMAP_TEST_PG_URL (.ci/run does) to run the county server test")
    from geo.assessment import assess
    from geo.ledger import Ledger
    from geo.settings import load_settings
    from layers.dataset import read_dataset
    from layers.store.accounts import AccountStore

    with fresh_database(prefix="gapmap_e2e") as url:  # migrated, as scripts/db.py does
        with AccountStore(url) as store:
            admin = store.add_first_admin("admin", password=PW, display_name="李县")
            store.add("王明", role="township", password=PW, townships=[TOWN], by=admin)
        demo = read_dataset(ROOT / "data" / "demo" / "tongxin.gpkg")
        evidence = tmp_path_factory.mktemp("evidence")
        with Ledger(url, evidence_dir=evidence) as book:
            book.record_snapshot(assess(demo, load_settings()), actor=admin, note="演示（现状）")
        env = {"GAPMAP_MODE": "server", "GAPMAP_DB_URL": url, "GAPMAP_EVIDENCE_DIR": str(evidence)}
        with serve("county", env) as app:
            yield app, url


def _select_first_row(page) -> None:
    grid = page.locator("[data-testid='stDataFrame']").first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)  # the first row's selection box


def _open_first_item(page, shown, *, attempts: int = 3) -> None:
    """Select the table's first row until ``shown`` (a part of the item's form) is there.

    A rerun that lands just before the click redraws the grid and the click is lost;
    the form is then never drawn. Each try waits for the app to finish its run first,
    and looks again before clicking (a second click on a taken row would clear it).
    """
    for _ in range(attempts):
        wait_for_app(page)
        if shown.is_visible():
            return
        _select_first_row(page)
        wait_for_app(page)
        try:
            shown.wait_for(timeout=30_000)
            return
        except PlaywrightTimeout:
            continue
    shown.wait_for(timeout=5_000)  # fails with Playwright's own account of what is there


def test_township_editor_changes_its_item_not_another_townships(county_server, browser):
    from geo.ledger import Ledger

    app, url = county_server
    ctx = browser.new_context(viewport={"width": 1366, "height": 1024})
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(app + "/ledger")
    _login_form(page)
    _login(page, "王明", PW)
    page.get_by_text("已登录").wait_for(timeout=120_000)
    page.get_by_role("heading", name="问题清单 · 整改台账").first.wait_for(timeout=180_000)
    wait_for_app(page, timeout_ms=180_000)
    text = page.locator("[data-testid='stMain']").inner_text()
    assert "操作人：王明（乡镇填报员）" in text
    assert "记入台账" not in text  # a snapshot is the administrator's county-level action

    # the whole county is listed, township by township: the first row is 豫海镇's
    with Ledger(url) as book:
        first = book.items().iloc[0]
    assert first["township_code"] != TOWN
    _open_first_item(page, page.get_by_text("只能查看"))
    assert page.get_by_role("button", name="保存").count() == 0
    page.screenshot(path=str(ARTIFACTS / "township-other-item.png"), full_page=True)

    # his own township: the form offers 整改中 and saves it as him
    town_box = page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").filter(
        has_text="乡镇"
    )
    choose_option(page, town_box, f"{TOWN_NAME}（{TOWN}）")
    wait_for_app(page, timeout_ms=120_000)
    with Ledger(url) as book:
        mine = book.items(township=TOWN).iloc[0]
    assert mine["state"] == "open"
    _open_first_item(page, page.get_by_role("button", name="保存"))
    wait_for_app(page)  # the rest of the item (history, evidence) is drawn on the same run
    state_box = page.locator("[data-testid='stSelectbox']").filter(has_text="整改状态")

    def reopen_item() -> None:  # a rerun took the selection (and the form) away
        _open_first_item(page, page.get_by_role("button", name="保存"))

    options = choose_option(page, state_box, "整改中", reopen=reopen_item)
    assert sorted(options) == sorted(["待整改", "整改中"])  # no 暂缓/豁免 for his role
    page.get_by_label("责任单位").fill("下马关镇人民政府")
    page.get_by_role("button", name="保存").click()
    wait_for_app(page)
    page.screenshot(path=str(ARTIFACTS / "township-own-item-saved.png"), full_page=True)
    page.get_by_text("已保存").wait_for(timeout=60_000)
    wait_for_app(page)
    page.screenshot(path=str(ARTIFACTS / "township-own-item-saved.png"), full_page=True)
    with Ledger(url) as book:
        after = book.item(mine["key"])
        untouched = book.item(first["key"])
        hist = book.history(mine["key"], include_rejected=True)
    # one applied move, labelled as such (not as a refusal) and nothing refused
    assert hist["action_zh"].tolist() == ["新发现", "状态变更"], hist
    assert set(hist["outcome"]) == {"applied"}
    assert after["state"] == "in_progress" and after["responsible_unit"] == "下马关镇人民政府"
    assert after["updated_by"] == "王明" and after["updated_by_label"] == "王明（乡镇填报员）"
    assert untouched["version"] == first["version"]

    page.get_by_role("button", name="退出登录").click()
    page.get_by_label("用户名").wait_for(timeout=60_000)
    wait_for_app(page)  # the logged-in page's elements go when the login run ends
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stApp\"]').innerText.includes('问题清单')",
        timeout=30_000,
    )
    assert errors == []
    ctx.close()
