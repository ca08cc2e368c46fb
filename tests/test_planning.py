"""方案 (geo.planning): open items, the plan within a budget (against brute force), what-if."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from geo.assessment import assess
from geo.ledger import problem_items
from geo.ledger.states import State
from geo.planning import (
    acceptance_changes,
    candidate_projects,
    compare_assessments,
    default_budget_wan,
    open_keys,
    select_within_budget,
    what_if,
    what_if_key,
)
from geo.projects import apply_projects, project_library, review_plan
from geo.settings import Settings
from layers import Dataset
from tests.fixtures import tiny_county as tc


@pytest.fixture(scope="module")
def tiny():
    ds = Dataset.from_frames(tc.build(), name="tiny")
    a = assess(ds, Settings())
    return ds, a, problem_items(a)


def _projects(costs, people, indicators=None) -> pd.DataFrame:
    """A ranked candidate list as project_library ranks it (people per 万元, then cost)."""
    n = len(costs)
    frame = pd.DataFrame(
        {
            "project_id": [f"P-{i}" for i in range(n)],
            "item_key": [f"x:{i}" for i in range(n)],
            "indicator": indicators or ["hard_road"] * n,
            "cost_wan": np.asarray(costs, dtype=float),
            "people": np.asarray(people, dtype=float),
        }
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["people_per_wan"] = np.where(
            frame["cost_wan"] > 0, frame["people"] / frame["cost_wan"], np.inf
        )
    frame = frame.sort_values(
        ["people_per_wan", "cost_wan", "item_key"], ascending=[False, True, True]
    ).reset_index(drop=True)
    frame["rank"] = np.arange(1, n + 1)
    return frame


# ------------------------------------------------------------------- open items (ledger)


def test_open_keys_leave_out_closed_and_exempt_items_only():
    items = pd.DataFrame({"key": [f"k:{s.value}" for s in State] + ["k:new"]})
    book = pd.DataFrame({"key": [f"k:{s.value}" for s in State], "state": [s.value for s in State]})
    keys = open_keys(items, book)
    # 暂缓 still needs its project (later); 已销号 and 豁免 need none; unseen items are open
    assert keys == {"k:open", "k:in_progress", "k:awaiting_acceptance", "k:deferred", "k:new"}
    assert open_keys(items, book.iloc[:0]) is None  # an empty ledger: every item is open


def test_open_keys_are_those_of_the_rule_the_view_had(tiny):
    """The 项目库 view's own rule before i15 (CLOSED_STATES = {"closed", "exempt"})."""
    _, _, items = tiny
    states = [s.value for s in State]
    book = pd.DataFrame(
        {"key": items["key"].iloc[:-2], "state": [states[i % 6] for i in range(len(items) - 2)]}
    )
    still_open = book.loc[~book["state"].isin({"closed", "exempt"}), "key"]
    before = set(still_open) | (set(items["key"]) - set(book["key"]))
    assert open_keys(items, book) == before


def test_candidate_projects_skip_closed_items_and_keep_county_ranks(tiny):
    _, a, items = tiny
    everything = project_library(items, a)
    closed = everything["item_key"].iloc[0]
    book = pd.DataFrame({"key": [closed], "state": ["closed"]})
    p = candidate_projects(items, a, book)
    assert closed not in set(p["item_key"])
    assert len(p) == len(everything) - 1
    town = str(everything["township_code"].iloc[-1])
    mine = candidate_projects(items, a, book.iloc[:0], township_code=town)
    assert set(mine["township_code"]) == {town}
    ranks = everything.set_index("project_id")["rank"]
    assert (mine["rank"].to_numpy() == ranks.loc[mine["project_id"]].to_numpy()).all()


# --------------------------------------------------------------- the plan within a budget


def test_budget_by_hand_skips_a_project_too_dear_and_takes_a_cheaper_one_after():
    # ranks: A 10/1 (100 万, 1000 people), B 5/1 (100 万), C 4/1 (300 万), D 2/1 (50 万)
    p = _projects([100, 100, 300, 50], [1000, 500, 1200, 100])
    assert list(p["project_id"]) == ["P-0", "P-1", "P-2", "P-3"]
    sel = select_within_budget(p, budget_wan=260)
    assert sel.project_ids == ("P-0", "P-1", "P-3")  # C does not fit after A+B; D does
    assert sel.cost_wan == 250.0 and sel.budget_wan == 260.0
    assert list(sel.projects["project_id"]) == list(sel.project_ids) and len(sel) == 3
    assert select_within_budget(p, budget_wan=0).project_ids == ()
    assert select_within_budget(p, budget_wan=550).project_ids == ("P-0", "P-1", "P-2", "P-3")
    # only the chosen indicators; the input order does not matter, the rank does
    q = p.assign(indicator=["water", "hard_road", "water", "water"]).iloc[::-1]
    assert select_within_budget(q, budget_wan=400, indicators=["water"]).project_ids == (
        "P-0",
        "P-2",
    )
    assert default_budget_wan(p) == 280.0


def test_unknown_costs_are_never_taken_and_free_projects_always_are():
    p = _projects([np.nan, 0.0, 30.0], [100, 10, 30])
    assert select_within_budget(p, budget_wan=0).project_ids == ("P-1",)
    assert "P-0" not in select_within_budget(p, budget_wan=1e9).project_ids


def _brute_force(costs: np.ndarray, budget: float) -> tuple[int, ...]:
    """The rule stated without a walk: of every affordable subset, the first in rank order.

    Subsets are compared by their membership vectors in rank order (rank 1 first), so the
    chosen one holds the best-ranked project that can be afforded at all, then the next
    best that can be afforded with it, and so on.
    """
    best: tuple[int, ...] | None = None
    for bits in itertools.product((1, 0), repeat=len(costs)):  # 1 first: lexicographic max
        if float(np.dot(bits, costs)) <= budget + 1e-9:
            best = bits
            break
    assert best is not None
    return tuple(i for i, b in enumerate(best) if b)


def _knapsack(costs: np.ndarray, people: np.ndarray, budget: float) -> float:
    """Most people any affordable subset serves (brute force)."""
    return max(
        float(np.dot(bits, people))
        for bits in itertools.product((0, 1), repeat=len(costs))
        if float(np.dot(bits, costs)) <= budget + 1e-9
    )


@pytest.mark.parametrize("seed", range(40))
def test_budget_selection_equals_brute_force_on_random_cases(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 10))
    costs = rng.integers(1, 60, n).astype(float) * 5  # 万元, multiples of 5: exact sums
    people = rng.integers(0, 3000, n).astype(float)
    p = _projects(costs, people)
    budget = float(rng.uniform(0, costs.sum() * 1.1))
    sel = select_within_budget(p, budget_wan=budget)
    ranked = p["cost_wan"].to_numpy()
    expect = _brute_force(ranked, budget)
    assert sel.project_ids == tuple(p["project_id"].iloc[list(expect)])
    # affordable, and nothing left out would still fit
    assert sel.cost_wan <= budget
    left = p.loc[~p["project_id"].isin(sel.ids), "cost_wan"]
    assert (left > budget - sel.cost_wan).all()
    # a rule, not an optimum: never more people than the best affordable subset
    served = float(p.loc[p["project_id"].isin(sel.ids), "people"].sum())
    assert served <= _knapsack(ranked, p["people"].to_numpy(), budget) + 1e-9


def test_the_rule_is_not_an_optimum():
    """One dear project of the best ratio can shut out two that serve more together."""
    p = _projects([90, 50, 50], [990, 500, 500])  # ratios 11, 10, 10
    sel = select_within_budget(p, budget_wan=100)
    assert sel.project_ids == ("P-0",)
    assert _knapsack(p["cost_wan"].to_numpy(), p["people"].to_numpy(), 100) == 1000


def _view_rule_before_i15(projects: pd.DataFrame, budget: float, kinds) -> tuple[set, float]:
    """The loop app/views/projects.py ran before the rule moved to geo.planning (verbatim)."""
    pool = projects.loc[projects["indicator"].isin(kinds)]
    take, total = [], 0.0
    for pid, cost in zip(pool["project_id"], pool["cost_wan"], strict=True):
        if total + cost <= budget:
            take.append(pid)
            total += cost
    return set(take), total


def test_demo_selection_is_the_one_the_view_made(demo_assessment):
    a = demo_assessment
    items = problem_items(a)
    projects = candidate_projects(items, a, pd.DataFrame(columns=["key", "state"]))
    assert len(projects) == len(items)  # one project per problem item
    kinds_all = sorted(set(projects["indicator"]))
    subsets = [kinds_all, ["hard_road"], ["water"], ["services", "clinics"], []]
    total = float(projects["cost_wan"].sum())
    budgets = [0.0, 50.0, 400.0, default_budget_wan(projects), total * 0.9, total, 1e6]
    for township in [None, *sorted(set(projects["township_code"]))[:3]]:
        p = projects if township is None else projects[projects["township_code"] == township]
        for kinds, budget in itertools.product(subsets, budgets):
            ids, cost = _view_rule_before_i15(p, budget, kinds)
            sel = select_within_budget(p, budget_wan=budget, indicators=kinds)
            assert sel.ids == ids and sel.cost_wan == cost, (township, kinds, budget)


# ----------------------------------------------------------------------------- what-if


def test_what_if_is_the_views_apply_assess_review(tiny):
    ds, a, items = tiny
    p = project_library(items, a)
    plan = select_within_budget(p, budget_wan=float(p["cost_wan"].sum()) / 2).projects
    result = what_if(ds, plan, a)
    # the steps the view ran itself before i15
    after_ds = apply_projects(ds, plan, a)
    after = assess(after_ds, a.settings)
    review = review_plan(a, after, items, problem_items(after))
    assert result.dataset.content_hash == after_ds.content_hash != ds.content_hash
    pd.testing.assert_frame_equal(result.review.kpis, review.kpis)
    for part in ("closed", "remaining", "new"):
        got, exp = getattr(result.review, part), getattr(review, part)
        assert sorted(got["key"]) == sorted(exp["key"]), part
    assert result.simulated + result.not_simulated == len(plan)
    assert result.simulated == int(plan["what_if"].sum())


def test_what_if_of_every_project_closes_what_it_builds(tiny):
    ds, a, items = tiny
    p = project_library(items, a)
    before = ds.content_hash
    result = what_if(ds, p, a, before_items=items)
    assert ds.content_hash == before  # the input is not changed
    # what the what-if builds closes; the seed indicators' projects are costed only
    built = set(p.loc[p["what_if"], "item_key"])
    assert result.simulated == len(built) and result.not_simulated == len(p) - len(built)
    assert set(result.review.closed["key"]) == built
    assert set(result.review.remaining["key"]) == set(items["key"]) - built
    assert result.review.new.empty
    names = a.rollup.county.set_index("code")["indicator"]
    kpi = result.review.kpis.set_index("indicator")
    assert kpi.loc[names[["hard_road", "services", "clinics"]], "met_planned"].all()
    same = compare_assessments(a, result.assessment)
    assert set(same.closed["key"]) == built


def test_what_if_key_is_a_content_hash_of_dataset_settings_and_plan(tiny):
    ds, a, items = tiny
    p = project_library(items, a)
    k = what_if_key(ds, a, p.iloc[:3])
    assert k == what_if_key(ds, a, p.iloc[:3].iloc[::-1])  # the set of projects, not order
    assert k != what_if_key(ds, a, p.iloc[:2])
    s = a.settings
    cheap = replace(a, settings=replace(s, projects=replace(s.projects, clinic_build_wan=5.0)))
    assert k != what_if_key(ds, cheap, p.iloc[:3])
    other = Dataset.from_frames(tc.build(), name="tiny2")
    nv = other["natural_villages"].copy()
    nv.loc[0, "households"] = int(nv.loc[0, "households"]) + 1
    assert k != what_if_key(other.replace_layers(natural_villages=nv), a, p.iloc[:3])


def test_acceptance_changes_record_the_project_at_the_version_read(tiny):
    _, a, items = tiny
    p = project_library(items, a).iloc[:3]
    book = pd.DataFrame({"key": list(p["item_key"].iloc[:2]), "version": [4, 7]})
    changes = acceptance_changes(p, book)
    assert [(c.key, c.expected_version, c.to_state) for c in changes] == [
        (p["item_key"].iloc[0], 4, None),
        (p["item_key"].iloc[1], 7, None),
    ]
    first = p.iloc[0]
    assert changes[0].fields == {
        "project": f"{first['project_id']}：{first['content']}，估算 {first['cost_wan']:.1f} 万元"
    }
    assert acceptance_changes(p, book.iloc[:0]) == []
