"""Run every analysis once on a dataset: graph, 通硬化路, 一刻钟, 医疗, 供水, indicators, roll-up.

:func:`assess` builds the road graph once and hands it to each analysis; the app caches
the result per (dataset hash, settings) and the CLI writes it out. The water analysis runs
when the dataset has a water network (its own EPANET model, or the water layers). Then the
indicator table (:mod:`geo.indicators.table`) is evaluated on those results: its outcome
rows are the problem list, its county rows the roll-up's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import geopandas as gpd
import pandas as pd

from geo.clinics import ClinicResult, clinic_gaps
from geo.indicators import (
    IndicatorInputs,
    IndicatorResults,
    IndicatorTable,
    evaluate,
    indicator_table,
)
from geo.network import RoadGraph, build_graph, network_diagnostics
from geo.plan import planned_as_built
from geo.roads import HardRoadResult, hard_road_access
from geo.rollup import Rollup, rollup
from geo.services import ServiceResult, isochrones, service_access
from geo.settings import Settings
from geo.terrain import Grid
from geo.terrain_access import TerrainContext, terrain_context, terrain_links
from geo.water import WaterModel, WaterResult, WaterRun, assess_water
from layers.dataset import Dataset
from layers.errors import GapMapError, Problem

__all__ = [
    "STEPS",
    "Assessment",
    "WaterAssessment",
    "assess",
    "has_water",
    "with_terrain_grids",
    "without_terrain_grids",
]

logger = logging.getLogger(__name__)

STEPS = (
    "graph",
    "diagnostics",
    "hard_road",
    "services",
    "isochrones",
    "clinics",
    "water",
    "indicators",
    "rollup",
)
"""The steps of :func:`assess`, in order (for progress displays)."""


@dataclass(frozen=True)
class WaterAssessment:
    """The water analysis of an :class:`Assessment`.

    Attributes
    ----------
    model : WaterModel or None
        The model that ran (None when it could not be built).
    run : WaterRun or None
        The 24 h hydraulics (None when the model has errors).
    result : WaterResult or None
        Coverage per village and the roll-up (None when the model has errors).
    error : GapMapError or None
        Why there is no result (the located problems are in ``error.problems`` when it
        is a :class:`geo.water.WaterNetworkError`).
    """

    model: WaterModel | None
    run: WaterRun | None = None
    result: WaterResult | None = None
    error: GapMapError | None = None

    @property
    def problems(self) -> tuple[Problem, ...]:
        """Every water problem to show: the model's, EPANET's warnings, the error's."""
        found = [
            *(self.model.problems if self.model else ()),
            *(self.run.warnings if self.run else ()),
        ]
        found += [p for p in getattr(self.error, "problems", ()) if p not in found]
        return tuple(found)


def has_water(dataset: Dataset) -> bool:
    """Return True when the dataset has a water network (its own EPANET model or layers)."""
    return dataset.water_model is not None or (
        "water_nodes" in dataset and "water_pipes" in dataset
    )


def _water(dataset: Dataset, settings: Settings) -> WaterAssessment | None:
    if not has_water(dataset):
        return None
    try:
        model, run, result = assess_water(dataset, settings)
    except GapMapError as exc:  # located problems, shown on the page and in the report
        logger.warning("water analysis of %s stopped: %s", dataset.name, exc)
        return WaterAssessment(model=None, error=exc)
    return WaterAssessment(model=model, run=run, result=result)


@dataclass(frozen=True)
class Assessment:
    """Everything :func:`assess` computed, with what it was computed from.

    Attributes
    ----------
    dataset_hash : str
        :attr:`Dataset.content_hash` of the input.
    settings : Settings
        The settings used.
    graph : RoadGraph
    diagnostics : GeoDataFrame
        Road topology problems (EPSG:4326).
    hard_road : HardRoadResult
    services : ServiceResult
    isochrones : GeoDataFrame
    clinics : ClinicResult
    rollup : Rollup
    terrain : TerrainContext or None
        Slope, walking friction and road-building cost on the DEM, when one was given;
        the hard-road links are then routed over it and 具备建设条件 judged by it.
    water : WaterAssessment or None
        The water analysis, when the dataset has a water network.
    planned_as_built : mapping of str to int
        规划 features taken as built (:func:`geo.plan.as_built`), per layer; empty for an
        assessment of observed (现状) data.
    indicators : IndicatorResults or None
        The indicator table evaluated (:func:`geo.indicators.evaluate`): its
        ``table``, every indicator's ``outcomes`` (the problem rows are the 问题清单)
        and the ``county`` rows (= :attr:`Rollup.county`).
    """

    dataset_hash: str
    settings: Settings
    graph: RoadGraph
    diagnostics: gpd.GeoDataFrame
    hard_road: HardRoadResult
    services: ServiceResult
    isochrones: gpd.GeoDataFrame
    clinics: ClinicResult
    rollup: Rollup
    terrain: TerrainContext | None = None
    water: WaterAssessment | None = None
    planned_as_built: Mapping[str, int] = field(default_factory=dict)
    indicators: IndicatorResults | None = None

    @property
    def scenario(self) -> str:
        """``current`` (现状) or ``planned`` (规划: planned features taken as built)."""
        return "planned" if self.planned_as_built else "current"

    @property
    def table(self) -> IndicatorTable | None:
        """The indicator table this assessment evaluated (None when built by hand)."""
        return self.indicators.table if self.indicators is not None else None

    @property
    def county_kpis(self) -> pd.DataFrame:
        """Every county KPI row: one per table indicator, then the water diagnostics.

        :attr:`Rollup.county` (the table's rows, 农村自来水普及率 among them) followed by
        the rows of the water analysis' own county table that the table does not have
        (供水水压不足的自然村, 人均供水不足的自然村), so nothing is shown twice.
        """
        county = self.rollup.county
        if self.water is None or self.water.result is None:
            return county
        extra = self.water.result.county
        extra = extra.loc[~extra["indicator"].isin(set(county["indicator"]))]
        return pd.concat([county, extra], ignore_index=True)


def assess(
    dataset: Dataset,
    settings: Settings,
    *,
    progress: Callable[[str], None] | None = None,
    graph: RoadGraph | None = None,
    dem: Grid | None = None,
    table: IndicatorTable | None = None,
) -> Assessment:
    """Run all access analyses on ``dataset``.

    Parameters
    ----------
    dataset : Dataset
        A validated dataset (call :meth:`Dataset.raise_if_errors` first).
    settings : Settings
        Thresholds and targets.
    progress : callable, optional
        Called with each step name of :data:`STEPS` before it runs.
    graph : RoadGraph, optional
        A graph already built from ``dataset["roads"]`` (the app caches it).
    dem : Grid, optional
        Elevations on the analysis grid (:func:`geo.terrain.read_dem`): new road links
        follow the terrain and villages beyond its limits are not 具备建设条件
        (:func:`geo.terrain_access.terrain_links`).
    table : IndicatorTable, optional
        The indicators to evaluate after the base analyses (default
        :func:`geo.indicators.indicator_table` of ``settings``): they drive the roll-up's
        problem counts and county rows, the problem list and the report.

    Returns
    -------
    Assessment
    """

    def step(name: str) -> None:
        logger.info("step %s", name)
        if progress is not None:
            progress(name)

    step("graph")
    graph = (
        graph
        if graph is not None
        else build_graph(dataset["roads"], node_tolerance_m=settings.network.node_tolerance_m)
    )
    step("diagnostics")
    diag = network_diagnostics(graph, dangle_gap_max_m=settings.network.dangle_gap_max_m)
    diag = diag.to_crs(4326)
    step("hard_road")
    hard = hard_road_access(dataset, graph, settings)
    ctx = None
    if dem is not None:
        ctx = terrain_context(dataset, dem, settings)
        hard = terrain_links(graph, hard, ctx, settings)
    step("services")
    svc = service_access(dataset, graph, settings)
    step("isochrones")
    iso = isochrones(dataset, graph, settings)
    step("clinics")
    cl = clinic_gaps(dataset, graph, settings)
    step("water")
    water = _water(dataset, settings)
    step("indicators")
    table = table if table is not None else indicator_table(settings)
    water_result = water.result if water is not None else None
    inp = IndicatorInputs(
        dataset, graph, settings, hard_road=hard, services=svc, clinics=cl, water=water_result
    )
    results = evaluate(table, inp)
    step("rollup")
    roll = rollup(
        dataset,
        settings,
        hard_road=hard,
        services=svc,
        clinics=cl,
        water=water_result,
        indicators=results,
    )
    return Assessment(
        dataset_hash=dataset.content_hash,
        settings=settings,
        graph=graph,
        diagnostics=diag,
        hard_road=hard,
        services=svc,
        isochrones=iso,
        clinics=cl,
        rollup=roll,
        terrain=ctx,
        water=water,
        planned_as_built=planned_as_built(dataset),
        indicators=results,
    )


def without_terrain_grids(assessment: Assessment) -> Assessment:
    """Return ``assessment`` without its terrain grids, to store it (they are most of its size).

    The grids (slope, walking friction, building cost; 32 of the 37 MB of the demo county)
    follow from the dataset, its DEM and the settings in half a second:
    :func:`with_terrain_grids` puts them back. The results computed over the terrain (the
    hard-road links) stay as they are.
    """
    return replace(assessment, terrain=None) if assessment.terrain is not None else assessment


def with_terrain_grids(assessment: Assessment, dataset: Dataset, dem: Grid | None) -> Assessment:
    """Return ``assessment`` with the terrain grids of ``dataset`` on ``dem`` (when it has none).

    Parameters
    ----------
    assessment : Assessment
        One stored by way of :func:`without_terrain_grids`.
    dataset : Dataset
        The dataset it was computed from.
    dem : Grid or None
        Its DEM on the analysis grid (None: the assessment had no terrain).
    """
    if dem is None or assessment.terrain is not None:
        return assessment
    return replace(assessment, terrain=terrain_context(dataset, dem, assessment.settings))
