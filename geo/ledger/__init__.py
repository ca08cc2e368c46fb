"""问题清单 and 整改台账: problem items from each analysis run, tracked to 销号.

- :mod:`geo.ledger.items` — :func:`problem_items`: an assessment → one row per problem,
  with a stable key (indicator + unit code) and Chinese 问题类型/问题描述/整改措施.
- :mod:`geo.ledger.states` — the states (待整改 → 整改中 → 已整改待验收 → 已销号, 暂缓,
  豁免), the allowed transitions, and the ledger errors.
- :mod:`geo.ledger.permissions` — who may do what (the role matrix): :func:`may`,
  :func:`allowed_transitions`, :class:`PermissionDeniedError`.
- :mod:`geo.ledger.store` — :class:`Ledger`: snapshots, append-only event history,
  optimistic locking, snapshot diffs, permission checks and their audit (the database
  itself is :mod:`layers.store.ledger`).
- :mod:`geo.ledger.xlsx` — export to the county office's XLSX layout and import edits back
  with row-level validation.
"""

from geo.ledger.fields import FIELDS, FIELDS_ZH, parse_date
from geo.ledger.items import (
    INDICATOR_ZH,
    ITEM_COLUMNS,
    check_items,
    indicator_names,
    make_items,
    problem_items,
)
from geo.ledger.permissions import PermissionDeniedError, allowed_transitions, may
from geo.ledger.states import (
    CLOSED_STATES,
    OPEN_STATES,
    STATE_ZH,
    TRANSITIONS,
    ConflictError,
    IllegalTransitionError,
    ItemNotFoundError,
    LedgerError,
    State,
    is_closed,
    is_open,
    parse_state,
)
from geo.ledger.store import Change, Ledger, SnapshotDiff
from geo.ledger.xlsx import ImportResult, export_xlsx, import_xlsx, read_xlsx

__all__ = [
    "CLOSED_STATES",
    "FIELDS",
    "FIELDS_ZH",
    "INDICATOR_ZH",
    "ITEM_COLUMNS",
    "OPEN_STATES",
    "STATE_ZH",
    "TRANSITIONS",
    "Change",
    "ConflictError",
    "IllegalTransitionError",
    "ImportResult",
    "ItemNotFoundError",
    "Ledger",
    "LedgerError",
    "PermissionDeniedError",
    "SnapshotDiff",
    "State",
    "allowed_transitions",
    "check_items",
    "export_xlsx",
    "import_xlsx",
    "indicator_names",
    "is_closed",
    "is_open",
    "make_items",
    "may",
    "parse_date",
    "parse_state",
    "problem_items",
    "read_xlsx",
]
