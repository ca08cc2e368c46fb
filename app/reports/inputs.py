"""What a report is made from: the dataset, its assessment, the ledger's state and the 项目库."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import geopandas as gpd
import pandas as pd

from app.reports.pdf import ReportError, ReportMeta
from geo.assessment import Assessment
from geo.ledger import Ledger, problem_items
from geo.planning import candidate_projects
from layers.dataset import Dataset

__all__ = ["ReportInputs", "data_source", "report_inputs"]

SYNTHETIC = "模拟"
"""The ``source`` value of a synthetic feature (the demo data's)."""


@dataclass(frozen=True)
class ReportInputs:
    """Everything a report reads; the builders are pure functions of it.

    Attributes
    ----------
    dataset : Dataset
        The dataset as assessed (the scenario's: 规划 features built when planned).
    assessment : Assessment
    items : DataFrame
        The 整改台账 today (:meth:`geo.ledger.Ledger.items`); empty without a ledger.
    snapshots : DataFrame
        :meth:`geo.ledger.Ledger.snapshots`, oldest first.
    found : dict of int to DataFrame
        Each snapshot's items (:meth:`geo.ledger.Ledger.snapshot_items`).
    projects : GeoDataFrame
        The 项目库 of the problems still open (:func:`geo.planning.candidate_projects`).
    meta : ReportMeta
    previous : DataFrame or None
        The county rows of the ledger's latest snapshot of another data version
        (:meth:`geo.ledger.Ledger.previous_indicators`): 农村卫生厕所普及率 稳步提高 is
        judged against it, as on 总览.
    """

    dataset: Dataset
    assessment: Assessment
    items: pd.DataFrame
    snapshots: pd.DataFrame
    found: dict[int, pd.DataFrame]
    projects: gpd.GeoDataFrame
    meta: ReportMeta
    previous: pd.DataFrame | None = None

    def township_name(self, code: str) -> str:
        """A township's name; :class:`ReportError` for a code the data does not have."""
        tw = self.dataset["townships"]
        sel = tw.loc[tw["code"] == code, "name"]
        if sel.empty:
            known = "、".join(f"{n}（{c}）" for c, n in zip(tw["code"], tw["name"], strict=True))
            raise ReportError(
                f"no township {code!r} in the data; townships: {', '.join(tw['code'])}",
                zh=f"数据中没有乡镇代码 {code}。本县的乡镇：{known}。",
            )
        return str(sel.iloc[0])

    def admin_village(self, code: str) -> pd.Series:
        """An admin village's row; :class:`ReportError` for an unknown code."""
        av = self.dataset["admin_villages"]
        sel = av.loc[av["code"] == code]
        if sel.empty:
            raise ReportError(
                f"no admin village {code!r} in the data",
                zh=f"数据中没有行政村代码 {code}（12 位统计用区划代码，如 "
                f"{av['code'].iloc[0]}）。请在「一村一图」页查找村名和代码。",
            )
        return sel.iloc[0]


def data_source(dataset: Dataset) -> tuple[str, bool]:
    """The layers' ``source`` values (``模拟（14 个图层）、天地图（1 个图层）``) and whether any
    layer has synthetic (``模拟``) features."""
    per_layer: Counter[str] = Counter()
    synthetic = False
    for frame in dataset.layers.values():
        if "source" not in frame.columns or frame.empty:
            continue
        values = frame["source"].dropna().astype(str).str.strip()
        values = values[values != ""]
        synthetic = synthetic or bool((values == SYNTHETIC).any())
        for v in values.unique():
            per_layer[v] += 1
    if not per_layer:
        return "未注明（图层无 source 字段）", False
    text = "、".join(f"{v}（{n} 个图层）" for v, n in per_layer.most_common(4))
    if len(per_layer) > 4:
        text += f" 等 {len(per_layer)} 种"
    return text, synthetic


def report_inputs(
    dataset: Dataset,
    assessment: Assessment,
    *,
    ledger: Ledger | None,
    data_name: str,
    generated_at: datetime | None = None,
) -> ReportInputs:
    """Gather a report's inputs: the ledger read once, the 项目库 of the open problems.

    Parameters
    ----------
    dataset : Dataset
        The dataset as assessed.
    assessment : Assessment
    ledger : Ledger or None
        The 整改台账; None for a report of the analysis alone (no ledger sections).
    data_name : str
        The dataset's name for the title block.
    generated_at : datetime, optional
        Default now (UTC; printed in Beijing time).
    """
    if ledger is not None:
        items = ledger.items()
        snapshots = ledger.snapshots()
        found = {int(s): ledger.snapshot_items(int(s)) for s in snapshots["id"]}
        previous = ledger.previous_indicators(dataset_hash=assessment.dataset_hash)
    else:
        items, snapshots, found = pd.DataFrame(), pd.DataFrame(columns=["id", "created_at"]), {}
        previous = None
    problems = problem_items(assessment)
    projects = candidate_projects(problems, assessment, items)
    source, synthetic = data_source(dataset)
    county = dataset["county"]
    meta = ReportMeta(
        county=str(county["name"].iloc[0]) if not county.empty else "全县",
        data_name=data_name,
        data_version=assessment.dataset_hash,
        source=source,
        synthetic=synthetic,
        profile=assessment.settings.profile,
        scenario=assessment.scenario,
        generated_at=generated_at or datetime.now(UTC),
    )
    return ReportInputs(dataset, assessment, items, snapshots, found, projects, meta, previous)
