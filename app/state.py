"""Which dataset is active, and cached loaders around layers/ (the app's only state)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from layers.dataset import Dataset, read_dataset

ROOT = Path(__file__).resolve().parents[1]
DEMO_PATH = ROOT / "data" / "demo" / "tongxin.gpkg"


@st.cache_resource(show_spinner="正在读取数据…")
def load_demo() -> Dataset:
    """Read and validate the shipped 同心县 demo dataset once per server process."""
    return read_dataset(DEMO_PATH)
