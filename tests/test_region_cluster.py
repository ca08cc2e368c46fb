"""全区 on a real cluster: a separately started ``dask scheduler`` and two ``dask worker``s.

The scheduler and the workers are subprocesses on 127.0.0.1 (free ports picked at random),
started from this repository's virtual environment and torn down at the end. The county
tasks run in the worker processes, not in the test's. The region is the committed sample
(``data/region_sample``: 同心 + 红寺堡, neighbours), and its partitioned results are compared
with one assess() over the two counties merged.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo.assessment import assess
from geo.region import owner_county
from geo.settings import Settings
from layers import Dataset
from layers.region import (
    read_county_assessment,
    read_county_meta,
    read_county_results,
    read_region,
    read_region_county,
    read_region_results,
)
from layers.store.region import RegionStore, publish_results
from scripts.region import main, run_region
from tests.fixtures import two_counties as tc
from tests.pg import PG_URL, fresh_database
from tests.region_results import assert_same_results

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "region_sample"
WATER_LAYERS = ("water_sources", "water_nodes", "water_pipes")
WATER_CODES = {"water", "water_guarantee", "water_quality"}
DASK = Path(sys.executable).with_name("dask")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """The address of a running scheduler with two single-thread workers (subprocesses)."""
    from distributed import Client

    tmp = tmp_path_factory.mktemp("dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore"}
    common = {"cwd": tmp, "env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [
        subprocess.Popen(
            [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port),
             "--dashboard-address", f"127.0.0.1:{_free_port()}"],
            **common,
        )
    ]  # fmt: skip
    try:
        for i in range(2):
            procs.append(
                subprocess.Popen(
                    [str(DASK), "worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                     "--name", f"w{i}", "--no-dashboard", "--local-directory", str(tmp / f"w{i}")],
                    **common,
                )
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(address, timeout="5s") as client:
                    client.wait_for_workers(2, timeout=max(1.0, deadline - time.monotonic()))
                    pids = set(client.run(os.getpid).values())
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address, pids
    finally:
        _stop(procs[1:])
        _stop(procs[:1])


HAVE_SAMPLE = (SAMPLE / "region.json").is_file()


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory, scheduler):
    """The committed sample computed on the cluster (no DEM: compared with one graph below).

    Until helper GEN's data/region_sample is merged, the hand-made fixture region.
    """
    address, _ = scheduler
    tmp = tmp_path_factory.mktemp("sample")
    data = SAMPLE if HAVE_SAMPLE else tc.write_region(tmp / "data")
    out = tmp / "out"
    lines: list[str] = []
    run = run_region(data, out, scheduler=address, use_dem=False, progress=lines.append)
    return run, data, out, lines


def test_the_region_runs_on_a_separately_started_scheduler_and_workers(scheduler, sample_run):
    address, worker_pids = scheduler
    run, data, out, lines = sample_run
    region = read_region(data)
    first, second = region.codes
    assert len(worker_pids) == 2 and os.getpid() not in worker_pids
    assert not run.failed and set(run.computed) == {first, second}
    assert {o.value["pid"] for o in run.computed.values()} <= worker_pids  # ran in the workers
    assert any("2 个 worker" in line and address in line for line in lines)
    assert sum(line.startswith("县 ") and "完成" in line for line in lines) == 2
    meta = read_county_meta(out, first)
    assert meta["buffer"]["neighbours"] == [second] and meta["buffer"]["features"]["roads"] > 0
    stored = read_county_assessment(out, first)
    if region.county(first).inp is not None:  # its own .inp ran
        assert stored.water is not None and stored.water.result is not None
    # the CLI on the same scheduler: nothing changed, so nothing is recomputed
    argv = ["--data", str(data), "--out", str(out), "--scheduler", address, "--no-dem", "-q"]
    assert main(argv) == 0
    manifest = json.loads((out / "region.json").read_text(encoding="utf-8"))
    assert {e["status"] for e in manifest["counties"].values()} == {"ok"}
    assert manifest["data"] == str(data)


@pytest.mark.skipif(not HAVE_SAMPLE, reason="data/region_sample (helper GEN) not merged yet")
def test_the_sample_partitioned_equals_one_run_over_both_counties(sample_run):
    """Every unit's (status, value) as computed on its county's buffered partition.

    The whole run has no water layers: each county's water network is its own (never
    taken from a neighbour), and the two cannot be one model, so the water indicators are
    left out of the comparison.
    """
    _, data, out, _ = sample_run
    region = read_region(data)
    own = [read_region_county(region, c, buffer_m=0, water=False) for c in region.codes]
    merged = {
        k: pd.concat([d[k] for d in own], ignore_index=True)
        for k in own[0].layers
        if k not in WATER_LAYERS
    }
    for k, frame in merged.items():  # each county validated alone; ids stay unique
        assert "id" not in frame or frame["id"].is_unique, k
    whole = assess(Dataset(layers=merged, name="whole"), Settings()).indicators.outcomes
    whole = whole.loc[~whole["indicator"].isin(WATER_CODES)]
    owners = owner_county(whole)
    assert set(owners) == set(region.codes)
    for code in region.codes:
        part = read_county_results(out, code)["outcomes"]
        part = part.loc[~part["indicator"].isin(WATER_CODES)].set_index("key")
        mine = whole.loc[owners == code].set_index("key")
        assert set(part.index) == set(mine.index), code
        mine = mine.loc[part.index]
        assert (part["status"] == mine["status"]).all(), code
        np.testing.assert_allclose(part["value"], mine["value"], equal_nan=True, err_msg=code)


@pytest.mark.skipif(not PG_URL, reason="set GAPMAP_TEST_PG_URL (PostgreSQL + PostGIS)")
def test_the_sample_in_postgis_equals_the_folder(sample_run):
    """Server mode on the committed sample: every frame read back from PostGIS is the folder's."""
    _, data, out, _ = sample_run
    with fresh_database(prefix="gapmap_test_sample") as url, RegionStore(url) as store:
        report = publish_results(out, store)
        assert set(report.written) == set(read_region(data).codes) and not report.failed
        assert_same_results(store.read_results(), read_region_results(out))


def _busy(seconds: float) -> float:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
    return seconds


def test_the_local_cluster_keeps_no_profile_history():
    """Process workers of ``local_cluster`` run with dask's statistical profiler off.

    Its per-second call-stack history grew a worker by ≈ 0.35 MB per county of a national
    run; with it on, 1.5 s of work leaves at least one entry (profile cycle 1 s). Here,
    not in test_region.py: the worker processes start by re-running ``__main__``, which an
    AppTest there leaves pointing at a page script.
    """
    from distributed import Client

    from scripts.region import local_cluster

    with local_cluster(1) as cluster, Client(cluster) as c:
        assert c.submit(_busy, 1.5).result() == 1.5
        history = c.run(lambda dask_worker: len(dask_worker.profile_history))
        enabled = c.run(lambda: __import__("dask").config.get("distributed.worker.profile.enabled"))
    assert list(history.values()) == [0]
    assert list(enabled.values()) == [False]
