"""GapMap 乡村短板一张图 — Streamlit entry point (st.navigation, one file per page)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run app/main.py` puts app/ first, not the root
    sys.path.insert(0, str(ROOT))

# The tab's icon is a file of the app: a ":material/…:" icon is fetched by the browser from
# fonts.gstatic.com, the one request of any page that left the machine (a tablet offline).
PAGE_ICON = ROOT / "app" / "static" / "icons" / "gapmap-64.png"
st.set_page_config(page_title="乡村短板一张图", page_icon=str(PAGE_ICON), layout="wide")
from app.layout import PAGE_CSS, SIDEBAR_JS  # noqa: E402 - light: streamlit and pandas only

# tablet and print styles of every page; the sidebar collapsed once on a small screen
st.html(PAGE_CSS)
st.sidebar.html(SIDEBAR_JS, unsafe_allow_javascript=True)
boot = None
if "app.state" not in sys.modules:  # a new server process: the analysis modules load first
    boot = st.empty()
    boot.info("正在加载数据…（服务器启动后第一次打开需要稍候）", icon=":material/hourglass_top:")

VIEWS = ROOT / "app" / "views"
pages = {
    "一张图": [
        st.Page(
            VIEWS / "overview.py",
            title="总览",
            icon=":material/dashboard:",
            url_path="overview",
            default=True,
        ),
        st.Page(
            VIEWS / "hard_road.py",
            title="通硬化路",
            icon=":material/add_road:",
            url_path="hard-road",
        ),
        st.Page(
            VIEWS / "services.py",
            title="一刻钟生活圈",
            icon=":material/storefront:",
            url_path="services",
        ),
        st.Page(
            VIEWS / "clinics.py",
            title="医疗空白点",
            icon=":material/local_hospital:",
            url_path="clinics",
        ),
        st.Page(
            VIEWS / "water.py",
            title="农村供水",
            icon=":material/water_drop:",
            url_path="water",
        ),
        st.Page(
            VIEWS / "indicators.py",
            title="更多指标",
            icon=":material/analytics:",
            url_path="indicators",
        ),
        st.Page(
            VIEWS / "village.py",
            title="一村一图",
            icon=":material/holiday_village:",
            url_path="village",
        ),
    ],
    "整改": [
        st.Page(
            VIEWS / "ledger.py",
            title="问题清单·整改台账",
            icon=":material/checklist:",
            url_path="ledger",
        ),
        st.Page(
            VIEWS / "projects.py",
            title="项目库与方案",
            icon=":material/construction:",
            url_path="projects",
        ),
    ],
    "数据与导出": [
        st.Page(
            VIEWS / "data_overview.py", title="数据", icon=":material/folder_open:", url_path="data"
        ),
        st.Page(VIEWS / "export.py", title="导出", icon=":material/download:", url_path="export"),
    ],
}
# 全区 (the region's results, read-only) where a region has been computed or is computing
# (in the results folder, or in the server database); a county office without one sees its
# county's pages only
from app.state import region_available  # noqa: E402 - after set_page_config

if boot is not None:  # the analysis modules are loaded (before a login form, too)
    boot.empty()

if region_available():
    pages["一张图"].insert(
        0, st.Page(VIEWS / "region.py", title="全区", icon=":material/public:", url_path="region")
    )
# Streamlit drops the state of widgets that a page does not draw (the 数据 page has no
# sidebar); writing the values back keeps the user's dataset, township and map choices.
for key in ("dataset_name", "scenario", "township", "basemap", "tianditu_key"):
    if key in st.session_state:
        st.session_state[key] = st.session_state[key]
# Logged with the traceback when a page raises (the browser tests look for it in the log).
# A comment, not a docstring: Streamlit's "magic" would print a bare string on the page.
PAGE_FAILED = "GapMap page failed"
try:
    from app.auth import account_pages, require_login

    # server mode: the login page is the only page until someone logs in (local: nothing)
    pages.update(account_pages(require_login(pages)))
    from app.uploader import zh_file_uploader

    zh_file_uploader()  # Streamlit's own uploader words (Upload, … per file) in Chinese
    # every page listed (no 'View more' folding 修改密码 or 导出 away on a long list)
    page = st.navigation(pages, expanded=True)
    st.session_state["_page_zh"] = page.title  # the print header's page (app.state)
    page.run()
except Exception as exc:  # a user never sees a Python trace; the log keeps it
    from layers.errors import GapMapError

    if isinstance(exc, GapMapError):
        st.error(exc.zh)  # located, with how to fix it
    else:
        logging.getLogger("gapmap.app").exception(PAGE_FAILED)
        st.error(
            f"页面出错（{type(exc).__name__}），详细信息已记入服务器日志。请检查刚才上传或选择的"
            "数据后重试；如仍出错，请把出错的时间和页面告诉系统管理员。"
        )
