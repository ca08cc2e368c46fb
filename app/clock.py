"""The time now as a user in Ningxia reads it (Beijing time; stored times: geo.labels)."""

from __future__ import annotations

import datetime as dt

from geo.labels import beijing_text

__all__ = ["beijing_now_text"]


def beijing_now_text(*, now: dt.datetime | None = None) -> str:
    """The time now in Beijing, as ``2026-12-03 02:25（北京时间）``."""
    return f"{beijing_text(now or dt.datetime.now(dt.UTC))}（北京时间）"
