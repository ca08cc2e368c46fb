"""方案: which candidate projects a budget buys, and what the county looks like after them.

The 项目库与方案 page used to do this itself; these are the same rules as pure functions:

:func:`open_keys`
    The problem items still to be worked on: those of the analysis that the 整改台账 does
    not hold as closed (已销号, 豁免). Items the ledger has never seen count as open.
:func:`candidate_projects`
    One ranked candidate project per open item (:func:`geo.projects.project_library`),
    optionally of one township.
:func:`select_within_budget`
    The plan within a budget: in rank order (most people served per 万元 first), take every
    project that still fits the money left, skipping those that do not. A greedy rule, not
    an optimum: it is the rule the county office can check by hand down the ranked list.
:func:`what_if`
    Build the plan's projects in a copy of the dataset (:func:`geo.projects.apply_projects`),
    re-run :func:`geo.assessment.assess` and compare KPIs and problem items before and after
    (:func:`geo.projects.review_plan`, whose KPIs are :func:`geo.plan.compare_kpis`).
:func:`acceptance_changes`
    The ledger edits that record an accepted plan (the 关联项目 of each item).

Nothing here stores anything or changes its inputs; the app caches :func:`what_if` under
:func:`what_if_key`, a content hash of the dataset, the settings and the plan.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.assessment import Assessment, assess
from geo.ledger import Change, problem_items
from geo.ledger.states import CLOSED_STATES
from geo.projects import PlanReview, apply_projects, project_library, review_plan
from layers.dataset import Dataset

__all__ = [
    "BudgetSelection",
    "WhatIf",
    "acceptance_changes",
    "candidate_projects",
    "compare_assessments",
    "default_budget_wan",
    "open_keys",
    "select_within_budget",
    "what_if",
    "what_if_key",
]

logger = logging.getLogger(__name__)


def open_keys(items: pd.DataFrame, ledger_items: pd.DataFrame) -> set[str] | None:
    """Keys of the problem items that still need a project.

    Parameters
    ----------
    items : DataFrame
        Problem items of the analysis (:func:`geo.ledger.problem_items`), column ``key``.
    ledger_items : DataFrame
        The 整改台账 (:meth:`geo.ledger.Ledger.items`), columns ``key`` and ``state``
        (stored state codes); may be empty.

    Returns
    -------
    set of str or None
        ``None`` when the ledger is empty (every item is open); otherwise the keys the
        ledger holds in a state that is not closed
        (:data:`geo.ledger.states.CLOSED_STATES`: 已销号, 豁免; 暂缓 still needs its
        project, only later), plus the keys
        of ``items`` the ledger does not hold at all.
    """
    if ledger_items.empty:
        return None
    closed = ledger_items["state"].astype(str).isin({s.value for s in CLOSED_STATES})
    still_open = ledger_items.loc[~closed, "key"]
    return set(still_open) | (set(items["key"]) - set(ledger_items["key"]))


def candidate_projects(
    items: pd.DataFrame,
    assessment: Assessment,
    ledger_items: pd.DataFrame,
    *,
    township_code: str | None = None,
) -> gpd.GeoDataFrame:
    """Return the ranked candidate projects of the items still open in the ledger.

    Parameters
    ----------
    items : DataFrame
        Problem items of ``assessment`` (:func:`geo.ledger.problem_items`).
    assessment : Assessment
        The assessment they came from (its water result prices the pipe projects).
    ledger_items : DataFrame
        The 整改台账 (:meth:`geo.ledger.Ledger.items`); items it holds as closed are left
        out (:func:`open_keys`).
    township_code : str, optional
        Only the projects of this township (the ranks stay the county's).

    Returns
    -------
    GeoDataFrame
        :func:`geo.projects.project_library` (columns
        :data:`geo.projects.PROJECT_COLUMNS` …), sorted by ``rank``.
    """
    water = assessment.water.result if assessment.water is not None else None
    keys = open_keys(items, ledger_items)
    projects = project_library(items, assessment, water=water, open_keys=keys)
    if township_code is not None:
        projects = projects.loc[projects["township_code"] == township_code]
    return projects


def default_budget_wan(projects: pd.DataFrame) -> float:
    """Return the budget the page proposes first: half the cost of all projects, to 10 万元.

    Parameters
    ----------
    projects : DataFrame
        Candidate projects, column ``cost_wan`` (万元).

    Returns
    -------
    float
        万元.
    """
    return float(round(projects["cost_wan"].sum() / 2, -1))


@dataclass(frozen=True, eq=False)
class BudgetSelection:
    """A plan within a budget (:func:`select_within_budget`).

    Attributes
    ----------
    project_ids : tuple of str
        The projects taken, in rank order.
    cost_wan : float
        Their total estimated cost, 万元 (≤ ``budget_wan``).
    budget_wan : float
        The budget, 万元.
    projects : DataFrame
        The rows of the projects taken (same columns as the input), in rank order.
    """

    project_ids: tuple[str, ...]
    cost_wan: float
    budget_wan: float
    projects: pd.DataFrame

    def __len__(self) -> int:
        return len(self.project_ids)

    @property
    def ids(self) -> frozenset[str]:
        """The projects taken, as a set (for ``isin`` and map colours)."""
        return frozenset(self.project_ids)


def select_within_budget(
    projects: pd.DataFrame,
    *,
    budget_wan: float,
    indicators: Iterable[str] | None = None,
) -> BudgetSelection:
    """Take ranked projects while they fit the budget (greedy, skipping those too dear).

    Walks the projects in ``rank`` order (1 = most people served per 万元) and takes each
    one whose cost still fits in what is left of the budget; one that does not fit is
    skipped and the walk goes on, so a cheaper project further down may still be taken.
    A project with an unknown cost (NaN) is never taken. This maximises nothing: it is
    the rule the county office can follow down the ranked list by hand (the
    lexicographically first affordable set in rank order), not a knapsack optimum.

    Parameters
    ----------
    projects : DataFrame
        Candidate projects (:func:`candidate_projects`), columns ``project_id``, ``rank``,
        ``indicator`` and ``cost_wan`` (万元, ≥ 0).
    budget_wan : float
        The money available, 万元.
    indicators : iterable of str, optional
        Only projects of these indicator codes (``hard_road``, ``water`` …); default all.

    Returns
    -------
    BudgetSelection
    """
    pool = projects
    if indicators is not None:
        pool = pool.loc[pool["indicator"].isin(set(indicators))]
    pool = pool.sort_values("rank", kind="stable")
    take: list[str] = []
    rows: list[int] = []
    total = 0.0
    # Sequential by nature (each choice depends on the money left): a loop over projects.
    for i, (pid, cost) in enumerate(zip(pool["project_id"], pool["cost_wan"], strict=True)):
        if total + cost <= budget_wan:
            take.append(str(pid))
            rows.append(i)
            total += float(cost)
    chosen = pool.iloc[np.asarray(rows, dtype=int)]
    logger.info(
        "plan: %d of %d projects, %.1f of %.1f 万元", len(take), len(pool), total, budget_wan
    )
    return BudgetSelection(
        project_ids=tuple(take), cost_wan=total, budget_wan=float(budget_wan), projects=chosen
    )


def what_if_key(dataset: Dataset, assessment: Assessment, plan: pd.DataFrame) -> str:
    """Return a content hash naming one what-if run (the app's cache key).

    Parameters
    ----------
    dataset : Dataset
        The dataset the plan is built in.
    assessment : Assessment
        Its assessment (the settings are part of the key).
    plan : DataFrame
        The projects of the plan, column ``project_id``.

    Returns
    -------
    str
        Hex SHA-256 of the dataset's content hash, the settings and the sorted project ids.
    """
    h = hashlib.sha256()
    h.update(dataset.content_hash.encode())
    h.update(repr(assessment.settings).encode())
    h.update("|".join(sorted(map(str, plan["project_id"]))).encode())
    return h.hexdigest()


@dataclass(frozen=True, eq=False)
class WhatIf:
    """The county after a plan is built (:func:`what_if`).

    Attributes
    ----------
    dataset : Dataset
        The dataset with the plan's projects built (roads hardened, links, facilities,
        doctors, pipe branches); the input dataset is unchanged.
    assessment : Assessment
        :func:`geo.assessment.assess` of that dataset, same settings and DEM.
    review : PlanReview
        KPIs before/after (:func:`geo.plan.compare_kpis`) and the problem items the plan
        closes, leaves and creates.
    simulated : int
        Projects of the plan built in the what-if (``what_if`` true).
    not_simulated : int
        Projects costed but not simulated (boosters, source works: they need engineering
        data).
    """

    dataset: Dataset
    assessment: Assessment
    review: PlanReview
    simulated: int
    not_simulated: int


def what_if(
    dataset: Dataset,
    plan: pd.DataFrame,
    assessment: Assessment,
    *,
    before_items: pd.DataFrame | None = None,
) -> WhatIf:
    """Build a plan in a copy of the dataset, re-assess, and compare with the current state.

    Parameters
    ----------
    dataset : Dataset
        The dataset ``assessment`` was computed on.
    plan : DataFrame
        The projects to build (rows of :func:`candidate_projects`, e.g.
        :attr:`BudgetSelection.projects`).
    assessment : Assessment
        The current assessment; its settings and DEM are used again after the plan.
    before_items : DataFrame, optional
        The current problem items (default :func:`geo.ledger.problem_items` of
        ``assessment``).

    Returns
    -------
    WhatIf
    """
    after_ds = apply_projects(dataset, plan, assessment)
    dem = assessment.terrain.dem if assessment.terrain is not None else None
    after = assess(after_ds, assessment.settings, dem=dem)
    review = compare_assessments(assessment, after, before_items=before_items)
    simulated = int(plan["what_if"].astype(bool).sum()) if len(plan) else 0
    return WhatIf(
        dataset=after_ds,
        assessment=after,
        review=review,
        simulated=simulated,
        not_simulated=len(plan) - simulated,
    )


def compare_assessments(
    before: Assessment, after: Assessment, *, before_items: pd.DataFrame | None = None
) -> PlanReview:
    """Compare two assessments: KPIs side by side and the problem items closed, left, new.

    Parameters
    ----------
    before : Assessment
        The current state.
    after : Assessment
        The state after a plan (:func:`what_if`) or a draft (:func:`geo.plan.as_built`).
    before_items : DataFrame, optional
        Problem items of ``before`` (default :func:`geo.ledger.problem_items` of it).

    Returns
    -------
    PlanReview
        :func:`geo.projects.review_plan` of the two and their problem items.
    """
    items = problem_items(before) if before_items is None else before_items
    return review_plan(before, after, items, problem_items(after))


def acceptance_changes(plan: pd.DataFrame, ledger_items: pd.DataFrame) -> list[Change]:
    """Return the ledger edits that record an accepted plan: each item's 关联项目.

    Parameters
    ----------
    plan : DataFrame
        The plan's projects, columns ``item_key``, ``project_id``, ``content``,
        ``cost_wan`` (万元).
    ledger_items : DataFrame
        The 整改台账 (columns ``key``, ``version``).

    Returns
    -------
    list of Change
        One field edit (``project`` = ``<project id>：<建设内容>，估算 <cost> 万元``) per
        project whose item is in the ledger, at the version read; projects whose items the
        ledger does not hold are left out.
    """
    if ledger_items.empty or plan.empty:
        return []
    version = ledger_items.set_index("key")["version"]
    in_ledger = plan.loc[plan["item_key"].isin(set(version.index))]
    return [
        Change(
            p.item_key,
            int(version[p.item_key]),
            None,
            {"project": f"{p.project_id}：{p.content}，估算 {p.cost_wan:.1f} 万元"},
        )
        for p in in_ledger.itertuples()
    ]
