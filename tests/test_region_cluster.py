"""全区 on a real cluster: a separately started ``dask scheduler`` and two ``dask worker``s.

The scheduler and the workers are subprocesses on 127.0.0.1 (free ports picked at random),
started from this repository's virtual environment and torn down at the end. The county
tasks run in the worker processes, not in the test's.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from layers.region import read_county_assessment, read_county_meta
from scripts.region import main, run_region
from tests.fixtures import two_counties as tc

REPO = Path(__file__).resolve().parents[1]
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


def test_the_region_runs_on_a_separately_started_scheduler_and_workers(tmp_path, scheduler):
    address, worker_pids = scheduler
    assert len(worker_pids) == 2 and os.getpid() not in worker_pids
    data = tc.write_region(tmp_path / "data")
    out = tmp_path / "out"
    lines: list[str] = []
    run = run_region(data, out, scheduler=address, progress=lines.append)
    assert not run.failed and set(run.computed) == {tc.WEST, tc.EAST}
    assert {o.value["pid"] for o in run.computed.values()} <= worker_pids  # ran in the workers
    assert any("2 个 worker" in line and address in line for line in lines)
    assert sum(line.startswith("县 ") and "完成" in line for line in lines) == 2
    stored = read_county_assessment(out, tc.WEST)
    assert stored.clinics.villages.set_index("id").loc[f"{tc.WEST}-NV12", "clinic_ok"]
    assert read_county_meta(out, tc.EAST)["input_hash"]
    # the CLI on the same scheduler: nothing changed, so nothing is recomputed
    assert main(["--data", str(data), "--out", str(out), "--scheduler", address, "-q"]) == 0
    manifest = json.loads((out / "region.json").read_text(encoding="utf-8"))
    assert {e["status"] for e in manifest["counties"].values()} == {"ok"}
    assert manifest["finished"] >= json.loads((out / "region.json").read_text())["finished"]
