"""Shared fixtures: the shipped 同心县 demo dataset and its assessment, built once per run.

Under pytest-xdist (``--dist loadfile --no-loadscope-reorder``, pyproject) the tests of one
module run on one worker, so a module's fixtures (a streamlit server, a scanned delivery,
an OSM import) are built once, not once per worker; the modules in :data:`SPREAD` (many
independent, costly tests and no costly module fixture) are spread test by test over the
workers. Modules are handed out in collection order (the browser tests, the slowest, first),
as ``--dist load`` hands out tests.
"""

from pathlib import Path

import pytest

from geo.assessment import Assessment, assess
from geo.settings import Settings
from layers.dataset import Dataset, read_dataset

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo" / "tongxin.gpkg"
SPREAD = frozenset({"tests/test_corpus.py"})
"""Modules whose tests are spread over the xdist workers one by one (see the docstring)."""


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``--dist loadfile``: one module's tests on one worker, but :data:`SPREAD` test by test.

    (``--dist loadgroup`` cannot be used: pytest-xdist 3.8 names a test's group by
    rewriting a node id attribute pytest 9 no longer has, so every group is ignored.)
    """
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class ModuleScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return nodeid if module in SPREAD else module

    return ModuleScheduling(config, log)


@pytest.fixture(scope="session")
def demo_dataset() -> Dataset:
    """The demo dataset, validated (zero problems)."""
    return read_dataset(DEMO)


@pytest.fixture(scope="session")
def demo_assessment(demo_dataset: Dataset) -> Assessment:
    """Every access analysis of the demo dataset under the default settings."""
    return assess(demo_dataset, Settings())
