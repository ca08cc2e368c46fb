"""Indicators: one table of every mappable indicator, their per-unit outcomes and verdicts.

:mod:`geo.indicators.judge` judges county indicator rows (达标 / 未达标 / 无数据);
:mod:`geo.indicators.outcomes` is the per-unit outcome frame every indicator produces and
from which the roll-up, the problem list (ledger items), report.xlsx and the maps derive.
"""

from geo.indicators.judge import STATUS_ZH, judge
from geo.indicators.outcomes import (
    OUTCOME_COLUMNS,
    OUTCOME_STATUS_ZH,
    OUTCOME_STATUSES,
    UNIT_KINDS,
    make_outcomes,
    unit_frame,
)

__all__ = [
    "OUTCOME_COLUMNS",
    "OUTCOME_STATUSES",
    "OUTCOME_STATUS_ZH",
    "STATUS_ZH",
    "UNIT_KINDS",
    "judge",
    "make_outcomes",
    "unit_frame",
]
