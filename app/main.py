"""GapMap 乡村短板一张图 — Streamlit entry point (st.navigation, one file per page)."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run app/main.py` puts app/ first, not the root
    sys.path.insert(0, str(ROOT))

st.set_page_config(page_title="乡村短板一张图", page_icon="🗺️", layout="wide")

pages = [
    st.Page(
        ROOT / "app" / "views" / "data_overview.py",
        title="数据",
        icon="🗂️",
        url_path="data",
        default=True,
    ),
]
st.navigation(pages).run()
