"""Times as a user in Ningxia reads them: Beijing time (Asia/Shanghai), never ISO UTC."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd

__all__ = ["BEIJING", "beijing_now_text", "beijing_text"]

BEIJING = ZoneInfo("Asia/Shanghai")
"""China Standard Time (UTC+8, no daylight saving)."""

_FORMAT = "%Y-%m-%d %H:%M"


def beijing_text(values: pd.Series, *, seconds: bool = False) -> pd.Series:
    """Return timestamps as Beijing-time text (``2026-12-03 02:25``).

    Parameters
    ----------
    values : Series
        Timestamps: ISO text or datetimes; naive ones are taken as UTC (the ledger and the
        stores write UTC).
    seconds : bool
        Keep the seconds (a ledger history, where two edits may fall in one minute).

    Returns
    -------
    Series
        Text, same index; empty text where a value is missing or unreadable.
    """
    stamps = pd.to_datetime(values, utc=True, errors="coerce", format="mixed")
    text = stamps.dt.tz_convert(BEIJING).dt.strftime(_FORMAT + (":%S" if seconds else ""))
    return text.fillna("")


def beijing_now_text(*, now: dt.datetime | None = None) -> str:
    """The time now in Beijing, as ``2026-12-03 02:25（北京时间）``."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now.astimezone(BEIJING).strftime(_FORMAT)}（北京时间）"
