"""Run the real app and drive it in Debian's headless Chromium (Playwright, no browser download)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("GAPMAP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
"""The pytest-xdist worker (each starts its own app server with its own ledger)."""
LEDGER_DIR = ARTIFACTS / f"ledger-{WORKER}"
"""The 整改台账 of the session's app server (:func:`app_url`)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(*, env: dict[str, str] | None = None, tag: str = WORKER) -> Iterator[str]:
    """Run ``streamlit run app/main.py`` on a free port (``env`` added); yield its URL.

    The log is ``test-artifacts/streamlit-<tag>.log``; after the server stops, no page may
    have raised (a user saw a Chinese message, the log has the trace).
    """
    port = _free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    ledger_dir = ARTIFACTS / f"ledger-{tag}"  # a fresh 整改台账 for every server
    shutil.rmtree(ledger_dir, ignore_errors=True)
    log_path = ARTIFACTS / f"streamlit-{tag}.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app/main.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env={**os.environ, "GAPMAP_LEDGER_DIR": str(ledger_dir), **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
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
            raise RuntimeError(f"streamlit did not start; see {log_path}")
        time.sleep(0.3)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    # a page that raised showed the user a Chinese message, not a trace: the log has it
    text = log_path.read_text(encoding="utf-8", errors="replace")
    assert "GapMap page failed" not in text, f"a page raised; see {log_path.name}"


@pytest.fixture(scope="session")
def app_url() -> Iterator[str]:
    """Start ``streamlit run app/main.py`` on a free port; stop it after the session."""
    with serve_app() as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (``executable_path``; nothing downloaded)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} not found: install Debian's chromium (scripts/test.sh does it: "
            "apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def block_remote(page) -> list[str]:
    """Abort every request to a host that is not this machine; return the blocked URLs."""
    blocked: list[str] = []

    def handle(route):
        host = urlparse(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", handle)
    return blocked


def wait_for_app(page, *, timeout_ms: int = 60_000) -> None:
    """Wait until Streamlit has run the script at least once and is not running it now.

    ``data-test-script-state`` is ``initial`` until the first run starts: a page looked at
    then is still blank (no running indicator yet either), so that state counts as busy.
    """
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout_ms)
    page.wait_for_function(
        "() => { const app = document.querySelector('[data-testid=\"stApp\"]');"
        " const state = app && app.getAttribute('data-test-script-state');"
        " return !['initial', 'running', 'rerunRequested'].includes(state)"
        " && !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " && document.querySelector('[data-testid=\"stMainBlockContainer\"]'); }",
        timeout=timeout_ms,
    )


def choose_option(page, box, option: str, *, attempts: int = 4, reopen=None) -> list[str]:
    """Pick ``option`` in the Streamlit selectbox ``box``; return the options it listed.

    A rerun that lands while the list is open redraws the select: the list closes and the
    option clicked is detached from the page (Playwright then waits on it for its whole
    timeout). So each try is short, and the choice counts only once the box holds it;
    otherwise the list is closed, the app is let finish its run, and the box opened again.
    ``reopen`` is called when a rerun took the box itself away (a form drawn for a
    selection, say) to bring it back.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    last: Exception | None = None
    for _ in range(attempts):
        wait_for_app(page)
        if reopen is not None and not box.is_visible():
            reopen()
            wait_for_app(page)
        try:
            box.click(timeout=15_000)
            item = page.get_by_role("option", name=option, exact=True)
            item.wait_for(timeout=10_000)
            listed = page.get_by_role("option").all_inner_texts()
            item.click(timeout=5_000)
            combo = box.get_by_role("combobox")  # react-aria: the choice is the input's value
            deadline = time.monotonic() + 5
            while combo.input_value(timeout=5_000) != option and time.monotonic() < deadline:
                time.sleep(0.2)
            wait_for_app(page)
            if combo.input_value(timeout=5_000) == option:
                return listed
        except PlaywrightTimeout as e:  # the list (or the box) was redrawn under the click
            last = e
        page.keyboard.press("Escape")
    raise AssertionError(f"could not choose {option!r} in {box}: {last}")


def open_sidebar(page, *, timeout_ms: int = 10_000) -> None:
    """Open the sidebar where the app collapsed it (a tablet-sized window, ≤ 1024 px)."""
    bar = page.locator("[data-testid='stSidebar']")
    if bar.count() and bar.first.get_attribute("data-collapsed") == "true":
        page.get_by_test_id("stExpandSidebarButton").click()
        page.wait_for_function(
            "() => document.querySelector('[data-testid=\"stSidebar\"]')"
            "?.getAttribute('data-collapsed') === 'false'",
            timeout=timeout_ms,
        )
