"""The editable fields of a ledger item, their Chinese names, and how their values are cleaned.

Pure values and functions (no storage): used by the ledger service, the permission rules
and the XLSX import.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from geo.ledger.states import LedgerError
from layers.store.ledger import EVENT_FIELDS

__all__ = ["DATE_FIELDS", "FIELDS", "FIELDS_ZH", "clean_fields", "parse_date"]

FIELDS: tuple[str, ...] = EVENT_FIELDS  # the editable columns the ledger stores
"""Fields a person edits: 整改措施, 责任单位, 完成时限 (date), 关联项目, 备注, 佐证材料
(attachment paths, one per line), 原因说明 (required for 暂缓/豁免), 销号日期 (date)."""

FIELDS_ZH: Mapping[str, str] = {
    "measure": "整改措施",
    "responsible_unit": "责任单位",
    "deadline": "完成时限",
    "project": "关联项目",
    "notes": "备注",
    "evidence": "佐证材料",
    "reason": "原因说明",
    "closed_on": "销号日期",
    "state": "整改状态",
}
"""Chinese names of the editable fields (and of ``state``)."""

DATE_FIELDS = ("deadline", "closed_on")
_DATE_RE = (
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T].*)?"
    r"|(\d{4})(\d{2})(\d{2})"
)


def parse_date(value: object, *, field_name: str = "date") -> str | None:
    """Return an ISO date ``YYYY-MM-DD`` from a date, datetime or text, or None if blank.

    Text may be ``2026-06-30``, ``2026/6/30``, ``2026.6.30``, ``20260630`` or
    ``2026年6月30日`` (a time part after the date is ignored).

    Raises
    ------
    LedgerError
        For anything that is not a calendar date.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        if pd.isna(value):
            return None
        return value.date().isoformat()
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    if not text:
        return None
    m = re.fullmatch(_DATE_RE, text)
    try:
        if m is None:
            raise ValueError(text)
        y, mo, d = (g for g in m.groups() if g is not None)
        return date(int(y), int(mo), int(d)).isoformat()
    except ValueError:
        zh = FIELDS_ZH.get(field_name, field_name)
        raise LedgerError(
            f"{field_name}: {value!r} is not a date; write it as YYYY-MM-DD",
            zh=f"{zh}“{value}”不是有效日期，请按 2026-06-30 的格式填写",
        ) from None


def clean_fields(fields: Mapping[str, Any]) -> dict[str, str | None]:
    """Return field edits with dates as ISO text, evidence lists joined, blanks as None.

    Raises
    ------
    LedgerError
        For an unknown field or a bad date.
    """
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise LedgerError(
            f"unknown ledger field(s) {unknown}; editable fields are {list(FIELDS)} "
            "(change the state with transition())",
            zh=f"无法修改的字段：{'、'.join(unknown)}",
        )
    out: dict[str, str | None] = {}
    for name, value in fields.items():
        if name in DATE_FIELDS:
            out[name] = parse_date(value, field_name=name)
        elif name == "evidence" and isinstance(value, list | tuple):
            paths = [str(p).strip() for p in value if str(p).strip()]
            out[name] = "\n".join(paths) or None
        elif value is None or (isinstance(value, float) and np.isnan(value)):
            out[name] = None
        else:
            out[name] = str(value).strip() or None
    return out
