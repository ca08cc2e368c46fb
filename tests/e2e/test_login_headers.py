"""A reverse proxy's trusted headers (GAPMAP_TRUSTED_HEADERS=1): the proxy names the user.

The browser here plays the proxy (Playwright sends the headers on every request, the
WebSocket's too). Without the headers, or without a valid role, nothing is shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest

from tests.e2e.conftest import ARTIFACTS, WORKER, wait_for_app
from tests.e2e.test_login import serve

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def proxied_app(tmp_path_factory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("headers")
    env = {
        "GAPMAP_MODE": "server",
        "GAPMAP_TRUSTED_HEADERS": "1",
        "GAPMAP_HEADER_ROLE": "X-Remote-Role",  # a configured name instead of the default
        "GAPMAP_DB_URL": f"sqlite:///{tmp / 'gapmap.sqlite'}",
        "GAPMAP_LEDGER_DIR": str(ARTIFACTS / f"ledger-headers-{WORKER}"),
    }
    with serve("headers", env) as url:
        yield url


def _open(browser, url: str, headers: dict[str, str]):
    ctx = browser.new_context(viewport={"width": 1024, "height": 768}, extra_http_headers=headers)
    page = ctx.new_page()
    page.goto(url)
    wait_for_app(page, timeout_ms=120_000)
    return ctx, page


def test_proxy_headers_name_the_user(proxied_app, browser):
    ctx, page = _open(
        browser,
        proxied_app + "/data",  # a page without the county analysis: the sidebar is the test
        {
            "X-Forwarded-User": "zhang",
            "X-Forwarded-Name": quote("张验收"),  # UTF-8, percent-encoded by the proxy
            "X-Remote-Role": "verifier",
        },
    )
    page.get_by_text("已登录").wait_for(timeout=120_000)
    sidebar = page.locator("[data-testid='stSidebar']").inner_text()
    assert "张验收（验收）" in sidebar
    assert page.get_by_role("button", name="退出登录").count() == 0  # the proxy logs out
    ctx.close()


def test_no_headers_no_app(proxied_app, browser):
    ctx, page = _open(browser, proxied_app, {})
    page.get_by_text("反向代理未提供用户名").wait_for(timeout=60_000)
    text = page.locator("[data-testid='stApp']").inner_text()
    assert "总览" not in text and "已登录" not in text
    ctx.close()
    ctx, page = _open(browser, proxied_app, {"X-Forwarded-User": "zhang"})  # no role
    page.get_by_text("没有 GapMap 角色").wait_for(timeout=60_000)
    ctx.close()
