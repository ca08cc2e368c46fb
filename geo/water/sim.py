"""The hydraulic run: a one-day extended-period simulation with EPANET 2.2 (WNTR as fallback).

EPANET's own warnings (system unbalanced, negative pressures …) are read from its report
and kept on the run (:attr:`WaterRun.warnings`) in Chinese with EPANET's text.
"""

from __future__ import annotations

import copy
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from geo.settings import Settings, WaterSettings
from geo.water.checks import WaterNetworkError
from geo.water.model import WaterModel
from layers.epanet import epanet_warnings
from layers.errors import NetworkError, Problem

if TYPE_CHECKING:
    import wntr  # imported where used: it takes seconds and most runs have no water

__all__ = ["WaterRun", "run_hydraulics"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class WaterRun:
    """Result of :func:`run_hydraulics`: time series indexed by hour (0 … 24).

    Attributes
    ----------
    pressure_m : DataFrame
        Pressure (m) per node name; NaN for nodes left out of the run (disconnected).
    flow_lps : DataFrame
        Flow (L/s) per link name, positive from start to end node.
    velocity_ms : DataFrame
        Velocity (m/s) per link name.
    simulator : str
        ``"EPANET 2.2"`` or ``"WNTRSimulator"``.
    seconds : float
        Wall time of the solve (writing, solving, reading), seconds.
    demand_lps : DataFrame
        Demand (L/s) delivered per node (reservoirs and tanks: negative = supply).
    warnings : tuple of Problem
        EPANET's own warnings of this run (system unbalanced, negative pressures …), one
        per kind with the times, in Chinese with EPANET's text.
    """

    pressure_m: pd.DataFrame
    flow_lps: pd.DataFrame
    velocity_ms: pd.DataFrame
    simulator: str
    seconds: float
    demand_lps: pd.DataFrame = field(default_factory=pd.DataFrame)
    warnings: tuple[Problem, ...] = ()


# ------------------------------------------------------------------------------- run


def _simulated_copy(model: WaterModel, ws: WaterSettings) -> wntr.network.WaterNetworkModel:
    """Return the model to solve: disconnected parts removed, duration set."""
    duration = round(ws.duration_h * 3600)
    if not model.disconnected_nodes and model.wn.options.time.duration == duration:
        return model.wn  # the solvers only read the model
    wn = copy.deepcopy(model.wn)
    wn.options.time.duration = duration
    cut = model.disconnected_nodes
    for name, link in list(wn.links()):
        if link.start_node_name in cut or link.end_node_name in cut:
            wn.remove_link(name, with_control=True, force=True)
    for name in cut:
        wn.remove_node(name, with_control=True, force=True)
    return wn


def _run_epanet(
    wn: wntr.network.WaterNetworkModel, file: str
) -> tuple[wntr.sim.SimulationResults, list[Problem]]:
    import wntr

    with tempfile.TemporaryDirectory(prefix="gapmap-epanet-") as tmp:
        sim = wntr.sim.EpanetSimulator(wn)
        results = sim.run_sim(file_prefix=str(Path(tmp) / "model"), convergence_error=True)
        report = (Path(tmp) / "model.rpt").read_text(encoding="utf-8", errors="replace")
    return results, epanet_warnings(report, file=file)


def _run_wntr(
    wn: wntr.network.WaterNetworkModel, file: str
) -> tuple[wntr.sim.SimulationResults, list[Problem]]:
    import wntr

    # WNTR's own solver changes the model's state as it runs: give it a copy
    return wntr.sim.WNTRSimulator(copy.deepcopy(wn)).run_sim(convergence_error=True), []


_SIMULATORS = {"epanet": ("EPANET 2.2", _run_epanet), "wntr": ("WNTRSimulator", _run_wntr)}


def run_hydraulics(model: WaterModel, settings: Settings) -> WaterRun:
    """Run the ``duration_h`` extended-period simulation (EPANET 2.2; WNTR as fallback).

    Parameters
    ----------
    model : WaterModel
        From :func:`build_water_model` or :func:`with_changes`; not modified.
    settings : Settings
        ``settings.water.duration_h`` and ``simulator``.

    Returns
    -------
    WaterRun
        Series per node and link indexed by hour; nodes and links left out of the run
        (disconnected) are NaN.

    Raises
    ------
    WaterNetworkError
        The model has errors (:attr:`WaterModel.errors`); nothing is run.
    NetworkError
        Neither solver could solve the network (the message says what to check).
    """
    ws = settings.water
    if model.errors:
        raise WaterNetworkError(model.problems)
    wn = _simulated_copy(model, ws)
    order = ["wntr"] if ws.simulator == "wntr" else ["epanet", "wntr"]
    failures: list[str] = []
    results, label, seconds, found = None, "", 0.0, []
    for key in order:
        label, solve = _SIMULATORS[key]
        t0 = time.perf_counter()
        try:
            results, found = solve(wn, model.source if model.source != "gis" else "")
        except Exception as exc:  # EPANET/WNTR failures become one NetworkError below
            logger.warning("%s failed on %s: %s", label, model.source, exc, exc_info=True)
            failures.append(f"{label}: {exc}")
            continue
        seconds = time.perf_counter() - t0
        break
    if results is None:
        raise NetworkError(
            "the hydraulic solvers could not solve the network ("
            + "; ".join(failures)
            + "); check pumps and valves, pipe sizes and tank levels",
            zh="水力计算未能求解（EPANET 和 WNTR 均未收敛）。请检查水泵和阀门的设置、"
            "管径是否过小、水池水位是否合理，以及是否有管段把高、低压区直接连通",
        )
    duration = round(ws.duration_h * 3600)

    def frame(df: pd.DataFrame, names: list[str], scale: float = 1.0) -> pd.DataFrame:
        df = df.loc[df.index <= duration]
        out = df.reindex(columns=names) * scale
        out.index = pd.Index(df.index.to_numpy(dtype=float) / 3600.0, name="hour")
        out.columns.name = None
        return out

    nodes, links = list(model.wn.node_name_list), list(model.wn.link_name_list)
    run = WaterRun(
        pressure_m=frame(results.node["pressure"], nodes),
        flow_lps=frame(results.link["flowrate"], links, 1000.0),
        velocity_ms=frame(results.link["velocity"], links),
        simulator=label,
        seconds=seconds,
        demand_lps=frame(results.node["demand"], nodes, 1000.0),
        warnings=tuple(found),
    )
    logger.info("%s: %d time steps in %.2f s", label, len(run.pressure_m), seconds)
    return run
