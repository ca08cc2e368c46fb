"""Shared fixtures: the shipped 同心县 demo dataset and its assessment, built once per run."""

from pathlib import Path

import pytest

from geo.assessment import Assessment, assess
from geo.settings import Settings
from layers.dataset import Dataset, read_dataset

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo" / "tongxin.gpkg"


@pytest.fixture(scope="session")
def demo_dataset() -> Dataset:
    """The demo dataset, validated (zero problems)."""
    return read_dataset(DEMO)


@pytest.fixture(scope="session")
def demo_assessment(demo_dataset: Dataset) -> Assessment:
    """Every access analysis of the demo dataset under the default settings."""
    return assess(demo_dataset, Settings())
