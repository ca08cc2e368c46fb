"""Server mode in Debian's headless Chromium: only the login page for an anonymous browser;
login as a township editor, reload keeps the session, logout ends it on the server.

Screenshots go to test-artifacts/ (login page on a desktop and on a 1024×768 tablet).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from layers.store.accounts import AccountStore
from tests.e2e.conftest import ARTIFACTS, ROOT, WORKER, block_remote, wait_for_app

pytestmark = pytest.mark.e2e

PW = "gapmap-secret-1"
TOWN = "640324103"
APP_LINKS = ["总览", "通硬化路", "问题清单·整改台账", "数据", "导出"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(
    name: str, env: dict[str, str], *, port: int | None = None, args: tuple[str, ...] = ()
) -> Iterator[str]:
    """Run ``streamlit run app/main.py`` with ``env`` (and ``args``); yield its URL."""
    port = port or _free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"streamlit-{name}-{WORKER}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "main.py"),
             "--server.port", str(port), "--server.address", "127.0.0.1",
             "--server.headless", "true", "--browser.gatherUsageStats", "false", *args],
            cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        try:
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start; see {log_path}")
                time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    text = log_path.read_text(encoding="utf-8", errors="replace")
    assert "GapMap page failed" not in text, f"a page raised; see {log_path}"


@pytest.fixture(scope="module")
def server_url(tmp_path_factory) -> Iterator[str]:
    """The app in server mode on a SQLite accounts database: an admin and 王明 (韦州镇)."""
    tmp = tmp_path_factory.mktemp("server")
    url = f"sqlite:///{tmp / 'gapmap.sqlite'}"
    with AccountStore(url) as store:
        admin = store.add_first_admin("admin", password=PW, display_name="李县")
        store.add("王明", role="township", password=PW, townships=[TOWN], by=admin)
    ledger = ARTIFACTS / f"ledger-login-{WORKER}"
    shutil.rmtree(ledger, ignore_errors=True)
    env = {"GAPMAP_MODE": "server", "GAPMAP_DB_URL": url, "GAPMAP_LEDGER_DIR": str(ledger)}
    with serve("login", env) as app:
        app_url_db[app] = url
        yield app


app_url_db: dict[str, str] = {}


def _context(browser, *, width=1280, height=800):
    ctx = browser.new_context(viewport={"width": width, "height": height}, has_touch=True)
    return ctx


def _login_form(page) -> None:
    page.get_by_label("用户名").wait_for(timeout=60_000)
    wait_for_app(page)


def _nav_links(page) -> list[str]:
    return page.locator("[data-testid='stSidebarNav'] a, [data-testid='stSidebarNavLink']")\
        .all_inner_texts()  # fmt: skip


def _login(page, username: str, password: str) -> None:
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码", exact=True).fill(password)
    page.get_by_role("button", name="登录", exact=True).click()


@pytest.mark.parametrize(
    ("width", "height", "shot"), [(1280, 800, "desktop"), (1024, 768, "tablet")]
)
def test_anonymous_browser_sees_only_the_login_page(server_url, browser, width, height, shot):
    ctx = _context(browser, width=width, height=height)
    page = ctx.new_page()
    blocked = block_remote(page)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    for path in ("", "/ledger", "/data"):  # a deep link shows the login page too
        page.goto(server_url + path)
        _login_form(page)
        text = page.locator("[data-testid='stApp']").inner_text()
        assert "请登录" in text and "登录" in text
        for label in APP_LINKS:
            assert label not in text, (path, label)
        assert _nav_links(page) == []
        assert (
            page.locator("[data-testid='stSidebar']").count() == 0
            or not page.locator("[data-testid='stSidebar']").is_visible()
        )
        assert page.locator("iframe").count() == 0  # no map
    page.screenshot(path=str(ARTIFACTS / f"login-{shot}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    assert not errors
    # only the page icon (set_page_config's material icon) is fetched from a remote host
    assert all("materialsymbols" in u for u in blocked), blocked
    ctx.close()


def test_wrong_password_shows_the_chinese_error(server_url, browser):
    ctx = _context(browser)
    page = ctx.new_page()
    page.goto(server_url)
    _login_form(page)
    _login(page, "王明", "not-the-password")
    page.get_by_text("用户名或密码不正确。").wait_for(timeout=30_000)
    assert not _nav_links(page)
    page.screenshot(path=str(ARTIFACTS / "login-wrong-password.png"))
    ctx.close()


def test_township_login_reload_logout(server_url, browser):
    ctx = _context(browser)
    page = ctx.new_page()
    page.goto(server_url + "/data")  # a page without the county analysis
    _login_form(page)
    _login(page, "王明", PW)
    page.get_by_text("已登录").wait_for(timeout=120_000)
    wait_for_app(page, timeout_ms=120_000)
    sidebar = page.locator("[data-testid='stSidebar']").inner_text()
    assert "王明（乡镇填报员）" in sidebar and TOWN in sidebar
    assert "问题清单·整改台账" in sidebar and "修改密码" in sidebar and "账户管理" not in sidebar
    cookies = {c["name"]: c for c in ctx.cookies()}
    token = cookies["gapmap_session"]["value"]
    assert cookies["gapmap_session"]["sameSite"] == "Strict"
    assert cookies["gapmap_session"]["expires"] > time.time() + 6 * 86400
    page.screenshot(path=str(ARTIFACTS / "login-township-in.png"))

    page.reload()  # a new WebSocket: the cookie brings the session back
    page.get_by_text("已登录").wait_for(timeout=120_000)
    assert "王明（乡镇填报员）" in page.locator("[data-testid='stSidebar']").inner_text()
    assert page.get_by_label("用户名").count() == 0

    page.get_by_role("button", name="退出登录").click()
    page.get_by_label("用户名").wait_for(timeout=60_000)
    page.get_by_text("已退出登录").wait_for(timeout=30_000)
    time.sleep(0.5)
    assert "gapmap_session" not in {c["name"] for c in ctx.cookies()}
    with AccountStore(app_url_db[server_url]) as store:
        assert store.session(token) is None  # ended on the server

    # the old token, put back by hand, no longer works
    other = _context(browser)
    ctx.close()
    host = server_url.split("//")[1].split(":")[0]
    other.add_cookies([{"name": "gapmap_session", "value": token, "domain": host, "path": "/"}])
    page2 = other.new_page()
    page2.goto(server_url)
    _login_form(page2)
    assert "已登录" not in page2.locator("[data-testid='stApp']").inner_text()
    other.close()


def test_admin_sees_account_admin_page(server_url, browser):
    ctx = _context(browser)
    page = ctx.new_page()
    page.goto(server_url + "/accounts")
    _login_form(page)
    _login(page, "admin", PW)
    page.get_by_text("已登录").wait_for(timeout=120_000)
    page.goto(server_url + "/accounts")
    page.get_by_role("heading", name="账户管理").wait_for(timeout=60_000)
    wait_for_app(page)
    # the accounts table (a canvas grid: attached, not "visible" to Playwright)
    page.locator("[data-testid='stDataFrame']").first.wait_for(state="attached", timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "login-admin-accounts.png"), full_page=True)
    ctx.close()
