"""PDF buttons in the real app (headless Chromium, offline): 生成 → 下载, the text checked."""

from __future__ import annotations

import re
import subprocess

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.e2e.conftest import ARTIFACTS, block_remote, wait_for_app

pytestmark = pytest.mark.e2e


def _pdf_text(path) -> str:
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True)
    return re.sub(r"\s+", "", out.stdout.decode("utf-8"))


@pytest.mark.parametrize(
    ("path", "make", "expect"),
    [
        ("/village", r"^生成.+一村一图（PDF）$", "一村一图："),  # first: this village's
        ("/", r"^生成.+体检报告（PDF）$", "农村基础设施短板体检报告"),
    ],
    ids=["village", "overview"],
)
def test_pdf_download_offline(app_url, browser, tmp_path, path, make, expect):
    page = browser.new_page(viewport={"width": 1024, "height": 768}, accept_downloads=True)
    blocked = block_remote(page)
    page.goto(f"{app_url}{path}")
    wait_for_app(page, timeout_ms=120_000)
    button = page.get_by_role("button", name=re.compile(make)).first
    title = page.locator("h1").first.inner_text()
    button.scroll_into_view_if_needed()
    button.click()
    download_button = page.get_by_role("button", name=re.compile(r"^下载.+（PDF，[\d.]+ MB）"))
    download_button.first.wait_for(timeout=120_000)
    wait_for_app(page)  # the run that made the PDF has ended: the button stays put
    download = None
    for _ in range(2):  # a click landing on a redraw is lost: once more
        try:
            with page.expect_download(timeout=30_000) as info:
                download_button.first.click()
            download = info.value
            break
        except PlaywrightTimeout:
            wait_for_app(page)
    assert download is not None, "no download after two clicks"
    assert download.suggested_filename.endswith(".pdf")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF-")
    text = _pdf_text(saved)
    assert expect in text and "模拟数据" in text
    if path == "/village":  # the sheet of the village the page shows
        name = page.locator("h3").first.inner_text().split("·")[0].strip()
        assert f"一村一图：{name}" in text
    else:
        assert "同心县" in title and "同心县" in text
    page.screenshot(path=ARTIFACTS / f"report_button_{path.strip('/') or 'overview'}.png",
                    full_page=True)  # fmt: skip
    assert all("127.0.0.1" not in u for u in blocked)
    page.close()
