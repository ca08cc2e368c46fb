"""农村供水覆盖: the county's water network as an EPANET model, a 24 h run, village coverage.

The package follows WNTR's split: :mod:`geo.water.model` (build, what-if),
:mod:`geo.water.checks` (before the solver), :mod:`geo.water.sim` (the run and EPANET's
warnings), :mod:`geo.water.coverage` (per village, roll-up); reading and writing ``.inp``
files is :mod:`layers.epanet`.

Rules (``../shared/STANDARDS.md`` §4, thresholds in :class:`geo.settings.WaterSettings`):

- **Model.** Built from the GIS layers ``water_sources`` (reservoirs), ``water_nodes``
  (junctions and tanks) and ``water_pipes`` (existing, ``status = 现状``, pipes) through
  WNTR's GIS conversion (:func:`wntr.network.from_gis`), or read from an EPANET ``.inp``
  file. Coordinates in the model are metres: the CGCS2000 GK zone of the data
  (:func:`geo.crs.metric_crs`) for GIS builds, the file's own CRS for an ``.inp``
  (default EPSG:4544).
- **Links.** A natural village is supplied by the junction named in its ``water_node``
  field; without one (or with a name that is not a junction) by the nearest junction
  within ``snap_max_m``; otherwise it is off the network.
- **Demand.** persons × ``demand_lpcd``, following the rural diurnal pattern
  ``diurnal_pattern`` (24 hourly multipliers, mean 1). Persons are the village's recorded
  population (常住人口; ``demand_basis = "population"``, the default), or households ×
  ``persons_per_household`` where none is recorded or with ``demand_basis =
  "households"``. A GIS build puts the linked villages' demand on their junctions; an
  ``.inp`` keeps its own demands (it is the engineer's complete model) and only villages
  linked later by :func:`with_changes` add theirs.
- **Checks before the solver.** Pipes whose end nodes do not exist, zero or negative
  diameters, lengths or roughness, tanks with impossible levels, duplicate or
  EPANET-illegal names, and a network with neither a reservoir nor a tank are errors:
  :func:`run_hydraulics` refuses to run and lists them (Chinese and English). Parts of
  the network with no path to a reservoir or tank are *disconnected*: reported as a
  warning, left out of the simulated copy, and their villages get status
  ``disconnected``. A network with tanks but no reservoir is a warning. EPANET's own
  errors and warnings reach the user in Chinese with EPANET's text.
- **Run.** A ``duration_h`` (24 h) extended-period simulation with EPANET 2.2
  (:class:`wntr.sim.EpanetSimulator`); if EPANET fails, WNTR's own solver is tried.
- **Coverage per village.** Minimum and mean pressure over the day at its junction;
  required head = ``service_head_m`` + ``service_head_per_storey_m`` × (storeys − 1).
  Supply per capita: every connected part of the network (through any pipe, pump or
  valve, open or closed) pools the ``capacity_m3d`` of the reservoirs in it and shares it
  over the persons of the villages linked to that part: ``supply_lpcd`` = pooled
  capacity ÷ persons (L/person/day). This is the connected-component choice: in a looped
  network fed by several sources the hydraulics, not the nearest source, decide which
  source feeds a node, so the sources of one part are treated as one supply. Tanks only
  buffer the daily cycle and add no capacity. ``supply_class``: ``ok`` ≥ ``demand_lpcd``
  (达标), ``basic`` ≥ ``demand_basic_lpcd`` (基本达标), else ``short``; ``unknown`` when a
  reservoir of the part has no known capacity (an ``.inp`` without a ``water_sources``
  layer).
- **Status** (first that applies): ``off_network``, ``disconnected``, ``low_pressure``,
  ``capacity_short`` (supply below ``demand_lpcd``), ``ok``; ``reason`` lists every code
  that applies, separated by ``;``.
- **Roll-up.** 农村自来水普及率 = population of villages on a connected part of the
  network ÷ population of all natural villages, per admin village, township and county,
  against ``settings.targets.tap_rate_pct`` (98 %).
"""

from geo.water.checks import WaterNetworkError, WaterProblemKind
from geo.water.coverage import (
    REASONS_ZH,
    STATUSES,
    SUPPLY_CLASSES,
    WaterResult,
    assess_water,
    water_coverage,
    water_rollup,
)
from geo.water.model import ModelLayers, WaterModel, build_water_model, model_layers, with_changes
from geo.water.sim import WaterRun, run_hydraulics

__all__ = [
    "REASONS_ZH",
    "STATUSES",
    "SUPPLY_CLASSES",
    "ModelLayers",
    "WaterModel",
    "WaterNetworkError",
    "WaterProblemKind",
    "WaterResult",
    "WaterRun",
    "assess_water",
    "build_water_model",
    "model_layers",
    "run_hydraulics",
    "water_coverage",
    "water_rollup",
    "with_changes",
]
