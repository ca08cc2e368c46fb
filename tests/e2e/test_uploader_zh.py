"""The file uploader speaks Chinese, and its size limit follows ``server.maxUploadSize`` (issue 17).

A server of its own with an unusual limit (37 MB), so that a figure copied from Streamlit's
default (200 MB) would fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import ARTIFACTS, ROOT, _free_port, block_remote, wait_for_app

LIMIT_MB = 37
ENGLISH = ("per file", "Upload", "Drag and drop", "Browse files", "or smaller", "not allowed")
SHOTS = ARTIFACTS / "uploader"


@pytest.fixture(scope="module")
def small_limit_url(tmp_path_factory) -> Iterator[str]:
    port = _free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / "streamlit-uploader.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false", "--server.maxUploadSize", str(LIMIT_MB)],
        cwd=ROOT,
        env={**os.environ, "GAPMAP_LEDGER_DIR": str(tmp_path_factory.mktemp("ledger"))},
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("streamlit did not start; see streamlit-uploader.log")
        time.sleep(0.3)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def test_uploader_texts_are_chinese_and_the_limit_is_the_servers(
    small_limit_url, browser, tmp_path
):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1024, "height": 768})
    block_remote(page)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{small_limit_url}/data")
    wait_for_app(page, timeout_ms=120_000)
    page.get_by_role("tab", name="上传县级数据").click()
    box = page.locator("[data-testid='stFileUploader']").filter(has_text="选择文件").first
    box.wait_for(timeout=30_000)
    hint = box.locator("[data-testid='stFileUploaderDropzoneInstructions']")
    page.wait_for_function(
        "el => el.innerText.includes('单个文件不超过')", arg=hint.element_handle(), timeout=10_000
    )
    assert f"单个文件不超过 {LIMIT_MB}MB" in hint.inner_text()
    assert "GPKG" in hint.inner_text()  # the accepted types, as Streamlit lists them
    assert box.locator("button").first.inner_text().strip().endswith("上传文件")
    box.screenshot(path=str(SHOTS / "uploader-1024.png"))
    every = " ".join(u.inner_text() for u in page.locator("[data-testid='stFileUploader']").all())
    assert not [w for w in ENGLISH if w in every]
    # a file over the limit: Streamlit's refusal, in Chinese, with the server's figure
    big = tmp_path / "太大.gpkg"
    with big.open("wb") as f:
        f.truncate((LIMIT_MB + 1) * 1024 * 1024)
    box.locator("input[type='file']").set_input_files(str(big))
    chip = box.locator("[data-testid='stFileChip']")
    chip.wait_for(timeout=30_000)
    page.wait_for_function(
        "el => el.innerText.includes('文件不能超过')", arg=box.element_handle(), timeout=10_000
    )
    text = box.inner_text()
    assert f"文件不能超过 {LIMIT_MB}" in text and "or smaller" not in text
    box.screenshot(path=str(SHOTS / "uploader-too-big-1024.png"))
    assert errors == []  # the script throws nothing
    page.close()
