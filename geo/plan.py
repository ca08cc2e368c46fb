"""Draft-plan review: 现状 vs 规划 — the dataset as it is and as it would be after the plan.

A planner loads a draft plan layer (planned roads, clinics, shops: ``status = 规划``), or the
county data already carries planned features. :func:`merge_plan` appends the plan's features
to the dataset's layers; :func:`as_built` returns the dataset with every planned feature
treated as built, which is what the analyses see in the 规划 scenario (they only count
``现状`` features). :func:`compare_kpis` puts the county KPIs of both side by side.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace

import geopandas as gpd
import pandas as pd

from layers.dataset import Dataset
from layers.errors import LayerError
from layers.schema import LAYERS

__all__ = [
    "AS_BUILT_KEY",
    "PLAN_LAYERS",
    "as_built",
    "compare_kpis",
    "merge_plan",
    "planned_as_built",
    "planned_counts",
]

logger = logging.getLogger(__name__)

PLAN_LAYERS = (
    "roads",
    "clinics",
    "service_points",
    "water_pipes",
    "public_facilities",
    "env_facilities",
)
"""Layers whose features can be planned (``status`` 现状/规划): roads, clinics, shops and
stops, water pipes, schools / kindergartens / elderly-care and other public facilities, and
sewage stations / waste points / public toilets."""

AS_BUILT_KEY = "planned_as_built"
"""Provenance key of a layer in which :func:`as_built` took planned features as built."""


def planned_as_built(dataset: Dataset) -> dict[str, int]:
    """Return the 规划 features :func:`as_built` took as built, per layer (empty: 现状)."""
    return {
        layer: int(p[AS_BUILT_KEY])
        for layer, p in dataset.provenance.items()
        if isinstance(p, Mapping) and p.get(AS_BUILT_KEY)
    }


def planned_counts(dataset: Dataset) -> dict[str, int]:
    """Return the number of ``规划`` features per plan layer (layers with none are left out)."""
    counts = {}
    for name in PLAN_LAYERS:
        frame = dataset.get(name)
        if frame is not None and "status" in frame.columns:
            n = int((frame["status"] == "规划").sum())
            if n:
                counts[name] = n
    return counts


def merge_plan(dataset: Dataset, plan: Mapping[str, gpd.GeoDataFrame]) -> Dataset:
    """Append a draft plan's features to ``dataset`` (the input is not modified).

    Parameters
    ----------
    dataset : Dataset
        The county dataset.
    plan : mapping of layer name to GeoDataFrame
        Validated plan layers (EPSG:4326) among :data:`PLAN_LAYERS`; features without a
        status are taken as planned.

    Returns
    -------
    Dataset
        A new dataset; every plan feature gets status 规划; ids already present are
        prefixed ``规划1-``, ``规划2-`` … until unique.

    Raises
    ------
    LayerError
        If ``plan`` holds a layer that cannot be planned, or the dataset lacks that layer.
    """
    unknown = sorted(set(plan) - set(PLAN_LAYERS))
    if unknown:
        raise LayerError(
            f"plan layers must be among {PLAN_LAYERS}, got {unknown}",
            zh="规划方案只能包含道路、医疗机构、便民服务设施、供水管道、公共服务设施和环卫设施"
            f"图层，不能包含：{'、'.join(unknown)}",
        )
    merged = {}
    for name, frame in plan.items():
        base = dataset.get(name)
        if base is None:
            raise LayerError(
                f"the dataset has no {name!r} layer to add the plan to",
                zh=f"当前数据集没有「{LAYERS[name].title_zh}」图层，无法叠加该规划；"
                "请先上传现状图层",
            )
        add = frame.to_crs(base.crs).copy()
        # A plan adds planned features: whatever the file says, they are not 现状 yet.
        add["status"] = "规划"
        taken = set(base["id"].astype(str))
        ids = []
        for raw in add["id"].astype(str):
            new, k = raw, 1
            while new in taken:
                new, k = f"规划{k}-{raw}", k + 1
            taken.add(new)
            ids.append(new)
        add["id"] = ids
        merged[name] = gpd.GeoDataFrame(
            pd.concat([base, add], ignore_index=True), crs=base.crs, geometry="geometry"
        )
        logger.info("plan adds %d features to %s", len(add), name)
    return dataset.replace_layers(**merged)


def as_built(dataset: Dataset) -> Dataset:
    """Return ``dataset`` with every ``规划`` feature of :data:`PLAN_LAYERS` set to ``现状``."""
    changed = {}
    for name in PLAN_LAYERS:
        frame = dataset.get(name)
        if frame is None or "status" not in frame.columns:
            continue
        planned = frame["status"] == "规划"
        if planned.any():
            changed[name] = frame.assign(status=frame["status"].where(~planned, "现状"))
    if not changed:
        return dataset
    built = dataset.replace_layers(**changed)
    # say so in the provenance: an assessment of this dataset is of the 规划 scenario, and
    # the ledger refuses to record it as an observation (a planned road closes no item)
    marked = {
        layer: {
            **built.provenance.get(layer, {}),
            AS_BUILT_KEY: int((frame["status"] == "规划").sum()),
        }
        for layer, frame in ((n, dataset[n]) for n in changed)
    }
    return replace(built, provenance={**built.provenance, **marked})


def compare_kpis(current: pd.DataFrame, planned: pd.DataFrame) -> pd.DataFrame:
    """Put two county KPI tables (``Rollup.county``) side by side with the change.

    Returns
    -------
    DataFrame
        ``indicator, unit, target, current, planned, change, met_current, met_planned``.
    """
    cur = current.set_index("indicator")
    pla = planned.set_index("indicator").reindex(cur.index)
    out = pd.DataFrame(
        {
            "indicator": cur.index,
            "unit": cur["unit"].to_numpy(),
            "target": cur["target"].to_numpy(),
            "current": pd.to_numeric(cur["value"], errors="coerce").to_numpy(),
            "planned": pd.to_numeric(pla["value"], errors="coerce").to_numpy(),
            "met_current": cur["met"].to_numpy(),
            "met_planned": pla["met"].to_numpy(),
        }
    )
    out["change"] = out["planned"] - out["current"]
    return out
