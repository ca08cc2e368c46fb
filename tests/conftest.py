"""Shared fixtures: the shipped 同心县 demo dataset and its assessment, built once per run.

Under pytest-xdist (``--dist loadfile --no-loadscope-reorder``, pyproject) the tests of one
module run on one worker, so a module's fixtures (a streamlit server, a scanned delivery,
an OSM import) are built once, not once per worker; the modules in :data:`SPREAD` (many
independent, costly tests and no costly module fixture) are spread test by test over the
workers. Modules are handed out in collection order (the browser tests, the slowest, first),
as ``--dist load`` hands out tests.

The app servers and in-process app tests of one run share one disk cache of computed
assessments (``GAPMAP_CACHE_DIR``, :mod:`layers.cache`, as on a county server): the first
app process computes the demo county, the others read it; it is removed after the run.
They see no region results (``GAPMAP_REGION_RESULTS`` points at nothing) unless a test
gives them some.
"""

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

from geo.assessment import Assessment, assess
from geo.settings import Settings
from layers.dataset import Dataset, read_dataset

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo" / "tongxin.gpkg"
SPREAD = frozenset({"tests/test_corpus.py"})
"""Modules whose tests are spread over the xdist workers one by one (see the docstring)."""


def pytest_configure(config: pytest.Config) -> None:
    """One assessment cache for the whole run (set before xdist starts its workers)."""
    if hasattr(config, "workerinput") or "GAPMAP_CACHE_DIR" in os.environ:
        return
    folder = Path(tempfile.gettempdir()) / f"gapmap-test-cache-{uuid.uuid4().hex[:12]}"
    os.environ["GAPMAP_CACHE_DIR"] = str(folder)
    # the app servers never show a region computed in this checkout's out/region
    os.environ.setdefault("GAPMAP_REGION_RESULTS", str(folder / "no-region"))
    config.stash[_CACHE_DIR] = folder


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = config.stash.get(_CACHE_DIR, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop("GAPMAP_CACHE_DIR", None)
        if os.environ.get("GAPMAP_REGION_RESULTS") == str(folder / "no-region"):
            os.environ.pop("GAPMAP_REGION_RESULTS")


_CACHE_DIR = pytest.StashKey[Path]()


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
