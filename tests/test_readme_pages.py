"""Every page address the README's page table gives is one the app serves.

The app's pages are read from ``app/main.py`` (its ``st.Page`` calls, without running
Streamlit): the default page is served at ``/`` (Streamlit ignores its ``url_path``, so
``/overview`` opened an English "Page not found"), every other page at ``/<url_path>``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _served_paths() -> dict[str, str]:
    """Page title → the address the app serves it at."""
    tree = ast.parse((ROOT / "app" / "main.py").read_text(encoding="utf-8"))
    served = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "Page":
            kw = {k.arg: k.value for k in node.keywords}
            title = ast.literal_eval(kw["title"])
            default = "default" in kw and ast.literal_eval(kw["default"])
            served[title] = "/" if default else "/" + ast.literal_eval(kw["url_path"])
    return served


def _documented_paths() -> dict[str, str]:
    """Page title → the address in the README's 应用页面 table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("## 应用页面", 1)[1].split("\n\n", 2)[1]
    rows = re.findall(r"^\| ([^|]+?) \| `(/[^`]*)`", table, flags=re.M)
    return {title.strip(): path for title, path in rows}


def test_every_documented_page_address_is_served():
    served, documented = _served_paths(), _documented_paths()
    assert len(documented) >= 11  # the table was read (总览 … 导出)
    assert served["总览"] == "/"  # the default page: the root, not its url_path
    wrong = {t: p for t, p in documented.items() if served.get(t) != p}
    assert wrong == {}, f"README addresses the app does not serve: {wrong}; served: {served}"
