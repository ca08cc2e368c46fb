"""Ledger progress for reports: what each snapshot found, and where the items stand today."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import pandas as pd

from geo.ledger.states import OPEN_STATES, STATE_ZH, State

__all__ = ["PROGRESS_COLUMNS", "overdue", "snapshot_progress", "state_counts"]

PROGRESS_COLUMNS = ("snapshot_id", "created_at", "found", "new", "gone")
"""Columns of :func:`snapshot_progress`."""


def snapshot_progress(
    snapshots: pd.DataFrame,
    found: Mapping[int, pd.DataFrame],
    *,
    township_code: str | None = None,
) -> pd.DataFrame:
    """Problems found by each snapshot, and how many were new or gone since the one before.

    Parameters
    ----------
    snapshots : DataFrame
        :meth:`geo.ledger.Ledger.snapshots` (``id``, ``created_at`` …), oldest first.
    found : mapping of int to DataFrame
        Each snapshot's items (:meth:`geo.ledger.Ledger.snapshot_items`: ``key`` and
        ``township_code`` at least).
    township_code : str, optional
        Count only this township's items.

    Returns
    -------
    DataFrame
        :data:`PROGRESS_COLUMNS`: ``found`` (problem items the snapshot found), ``new``
        (found now, not by the snapshot before), ``gone`` (found before, not now: fixed, or
        no longer a problem in the data); the first snapshot's ``new`` is its ``found``.
    """
    rows, before = [], set()
    for sid, created in zip(snapshots["id"], snapshots["created_at"], strict=True):
        items = found.get(int(sid), pd.DataFrame(columns=["key", "township_code"]))
        if township_code is not None:
            items = items.loc[items["township_code"] == township_code]
        keys = set(items["key"])
        rows.append((int(sid), created, len(keys), len(keys - before), len(before - keys)))
        before = keys
    return pd.DataFrame(rows, columns=list(PROGRESS_COLUMNS))


def state_counts(items: pd.DataFrame) -> pd.DataFrame:
    """Items per state (every state, in ledger order): ``state``, ``state_zh``, ``items``."""
    counts = items["state"].value_counts() if not items.empty else pd.Series(dtype=int)
    return pd.DataFrame(
        {
            "state": [s.value for s in State],
            "state_zh": [STATE_ZH[s] for s in State],
            "items": [int(counts.get(s.value, 0)) for s in State],
        }
    )


def overdue(items: pd.DataFrame, *, today: date) -> pd.Series:
    """Flag each item still open (待整改/整改中/待验收) whose 完成时限 is before ``today``.

    ``deadline`` is an ISO date text (``2026-10-31``), a date or datetime, or empty; an
    item without one is never overdue.
    """
    if items.empty:
        return pd.Series(dtype=bool, index=items.index)
    open_ = items["state"].isin([s.value for s in OPEN_STATES])
    text = items["deadline"].astype("string").str.strip().replace("", pd.NA)
    when = pd.to_datetime(text, errors="coerce", format="mixed")
    return (open_ & (when < pd.Timestamp(today))).fillna(False).astype(bool)
