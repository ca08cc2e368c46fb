"""Indicators: one table of every mappable indicator, their per-unit outcomes and verdicts.

:mod:`geo.indicators.table` declares the indicators (:class:`Indicator`,
:func:`indicator_table`); :mod:`geo.indicators.evaluate` runs a table (:func:`evaluate`)
into outcome rows and county rows; :mod:`geo.indicators.outcomes` is the per-unit outcome
frame every indicator produces and from which the roll-up, the problem list (ledger
items), report.xlsx and the maps derive; :mod:`geo.indicators.builtin` adapts the four
base analyses to it; :mod:`geo.indicators.judge` judges county rows (达标 / 未达标 / 无数据).
"""

from geo.indicators.evaluate import (
    COUNTY_COLUMNS,
    OUTCOME_COLUMNS_ZH,
    IndicatorInputs,
    IndicatorResults,
    county_value,
    evaluate,
    no_data_outcomes,
    township_rows,
    with_previous,
)
from geo.indicators.judge import COMPARISONS, STATUS_ZH, judge
from geo.indicators.outcomes import (
    OUTCOME_COLUMNS,
    OUTCOME_STATUS_ZH,
    OUTCOME_STATUSES,
    UNIT_KINDS,
    make_outcomes,
    unit_frame,
)
from geo.indicators.table import (
    BUILTIN_CODES,
    GROUP_ZH,
    Indicator,
    IndicatorTable,
    builtin_table,
    generic_projects,
    indicator_projects,
    indicator_table,
    spec_indicator,
)

__all__ = [
    "BUILTIN_CODES",
    "COMPARISONS",
    "COUNTY_COLUMNS",
    "GROUP_ZH",
    "OUTCOME_COLUMNS",
    "OUTCOME_COLUMNS_ZH",
    "OUTCOME_STATUSES",
    "OUTCOME_STATUS_ZH",
    "STATUS_ZH",
    "UNIT_KINDS",
    "Indicator",
    "IndicatorInputs",
    "IndicatorResults",
    "IndicatorTable",
    "builtin_table",
    "county_value",
    "evaluate",
    "generic_projects",
    "indicator_projects",
    "indicator_table",
    "judge",
    "make_outcomes",
    "no_data_outcomes",
    "spec_indicator",
    "township_rows",
    "unit_frame",
    "with_previous",
]
