"""Item states of the 整改台账, the transitions allowed between them, and the ledger errors.

The closed loop of the seed documents (整改—验收—销号)::

    待整改 ──► 整改中 ──► 已整改待验收 ──► 已销号
                 ▲              │ 验收不通过
                 └──────────────┘
    待整改 / 整改中 / 已整改待验收 ──► 暂缓 / 豁免      (reason required)
    暂缓 ──► 待整改 / 豁免    豁免 ──► 待整改
    已销号 ──► 待整改                                   (人工重新打开, reason required)

A 已销号 item that fails again in a new snapshot is reopened automatically (待整改, with
``reopened`` set and a ``reopened`` event); no person can skip a step of the loop.
States are stored as the English codes of :class:`State`; people see :data:`STATE_ZH`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType

from geo.labels import beijing_text
from layers.errors import GapMapError

__all__ = [
    "CLOSED_STATES",
    "OPEN_STATES",
    "REASON_REQUIRED",
    "STATE_ZH",
    "TRANSITIONS",
    "ConflictError",
    "IllegalTransitionError",
    "ItemNotFoundError",
    "LedgerError",
    "State",
    "beijing_time",
    "is_closed",
    "is_open",
    "parse_state",
    "parse_states",
]


class State(StrEnum):
    """The state of one problem item (stored code; Chinese label in :data:`STATE_ZH`)."""

    OPEN = "open"  # 待整改
    IN_PROGRESS = "in_progress"  # 整改中
    AWAITING_ACCEPTANCE = "awaiting_acceptance"  # 已整改待验收
    CLOSED = "closed"  # 已销号
    DEFERRED = "deferred"  # 暂缓
    EXEMPT = "exempt"  # 豁免

    @property
    def zh(self) -> str:
        """Chinese label, as in the county office's ledger."""
        return STATE_ZH[self]


STATE_ZH: Mapping[State, str] = MappingProxyType(
    {
        State.OPEN: "待整改",
        State.IN_PROGRESS: "整改中",
        State.AWAITING_ACCEPTANCE: "已整改待验收",
        State.CLOSED: "已销号",
        State.DEFERRED: "暂缓",
        State.EXEMPT: "豁免",
    }
)
"""Chinese label of each state."""

OPEN_STATES: frozenset[State] = frozenset(
    {State.OPEN, State.IN_PROGRESS, State.AWAITING_ACCEPTANCE}
)
"""States in which an item still needs work (the 问题清单 proper)."""

CLOSED_STATES: frozenset[State] = frozenset({State.CLOSED, State.EXEMPT})
"""States in which an item needs no more work: 已销号 and 豁免 (the 项目库 leaves them out).

Neither open nor closed: 暂缓 (deferred: no work now, but not finished either)."""


def is_open(state: str | State) -> bool:
    """Return True for a state in :data:`OPEN_STATES` (code or Chinese label)."""
    return parse_state(state) in OPEN_STATES


def is_closed(state: str | State) -> bool:
    """Return True for a state in :data:`CLOSED_STATES` (code or Chinese label)."""
    return parse_state(state) in CLOSED_STATES


REASON_REQUIRED: frozenset[State] = frozenset({State.DEFERRED, State.EXEMPT})
"""States an item may only be in with a non-empty ``reason``."""

TRANSITIONS: Mapping[State, frozenset[State]] = MappingProxyType(
    {
        State.OPEN: frozenset({State.IN_PROGRESS, State.DEFERRED, State.EXEMPT}),
        State.IN_PROGRESS: frozenset({State.AWAITING_ACCEPTANCE, State.DEFERRED, State.EXEMPT}),
        State.AWAITING_ACCEPTANCE: frozenset(
            {State.CLOSED, State.IN_PROGRESS, State.DEFERRED, State.EXEMPT}
        ),
        State.CLOSED: frozenset({State.OPEN}),
        State.DEFERRED: frozenset({State.OPEN, State.EXEMPT}),
        State.EXEMPT: frozenset({State.OPEN}),
    }
)
"""Transitions a person may make (``from → {to}``); everything else is refused."""

_BY_LABEL = {**{s.value: s for s in State}, **{v: k for k, v in STATE_ZH.items()}}


class LedgerError(GapMapError, ValueError):
    """A ledger operation is not possible as asked (bad field, bad date, bad input frame)."""


class ItemNotFoundError(GapMapError, LookupError):
    """No item with this key is in the ledger.

    Parameters
    ----------
    key : str
        The key asked for.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(
            f"no ledger item with key {key!r}; record a snapshot that contains it, or check "
            "the key (export the ledger to see every key)",
            zh=f"台账中没有编号为“{key}”的问题，请核对问题编号（可重新导出台账查看）",
        )


class IllegalTransitionError(LedgerError):
    """A state change that the workflow does not allow, or that lacks its reason.

    Attributes
    ----------
    key : str
    from_state, to_state : State
    """

    def __init__(
        self, key: str, from_state: State, to_state: State, *, missing_reason: bool = False
    ) -> None:
        self.key, self.from_state, self.to_state = key, from_state, to_state
        if missing_reason:
            super().__init__(
                f"{key}: moving from {from_state} to {to_state} needs a reason (pass reason='...')",
                zh=f"问题 {key} 从“{from_state.zh}”改为“{to_state.zh}”必须填写原因说明",
            )
            return
        allowed = sorted(TRANSITIONS[from_state], key=list(State).index)
        allowed_en = ", ".join(allowed) or "none"
        allowed_zh = "、".join(s.zh for s in allowed) or "无"
        super().__init__(
            f"{key}: cannot move from {from_state} to {to_state}; allowed next states: "
            f"{allowed_en}",
            zh=f"问题 {key} 不能从“{from_state.zh}”直接改为“{to_state.zh}”；"
            f"当前状态允许改为：{allowed_zh}",
        )


class ConflictError(GapMapError, RuntimeError):
    """Someone else changed the item since it was read (optimistic locking).

    Nothing was saved. Reload the item and apply the change again.

    Attributes
    ----------
    key : str
    expected_version : int
        The version the caller edited.
    actual_version : int or None
        The version now in the ledger (None when unknown, e.g. a lost insert race).
    changed_by, changed_at : str
        Who made the current version, and when (UTC ISO-8601).
    """

    def __init__(
        self,
        key: str,
        expected_version: int,
        actual_version: int | None,
        *,
        changed_by: str = "",
        changed_at: str = "",
    ) -> None:
        self.key = key
        self.expected_version = expected_version
        self.actual_version = actual_version
        self.changed_by, self.changed_at = changed_by, changed_at
        who = f" by {changed_by} at {changed_at}" if changed_by else ""
        who_zh = (
            f"已被 {changed_by} 于 {beijing_time(changed_at)} 修改"
            if changed_by
            else "刚被他人修改"
        )
        now = f"version {actual_version}" if actual_version is not None else "a newer version"
        super().__init__(
            f"{key} was changed{who} ({now}) after you read version {expected_version}; "
            "nothing was saved: reload the item and apply your change again",
            zh=f"问题 {key} 在您打开后{who_zh}（您编辑的是第 {expected_version} 版"
            + (f"，当前为第 {actual_version} 版" if actual_version is not None else "")
            + "）。为避免覆盖他人的修改，本次修改未保存，请刷新后重新填写。",
        )


def beijing_time(iso_utc: str) -> str:
    """Return ``2026-05-01 10:03（北京时间）`` for ``2026-05-01T02:03:04.000+00:00``.

    :func:`geo.labels.beijing_text` with the zone spelt out (a sentence; a table says
    北京时间 in its header instead). A text that is not a time is returned unchanged.
    """
    text = beijing_text(iso_utc)
    return text if text == iso_utc else f"{text}（北京时间）"


def parse_state(value: State | str) -> State:
    """Return the :class:`State` for a code (``in_progress``) or label (``整改中``).

    Raises
    ------
    LedgerError
        For anything else; the message lists the labels.
    """
    if isinstance(value, State):
        return value
    state = _BY_LABEL.get(str(value).strip())
    if state is None:
        labels = "、".join(STATE_ZH.values())
        raise LedgerError(
            f"unknown state {value!r}; use one of {[s.value for s in State]} or {labels}",
            zh=f"无法识别的整改状态“{value}”，应为：{labels}",
        )
    return state


def parse_states(values: State | str | Iterable[State | str]) -> list[State]:
    """Return a list of states from one state or an iterable of codes/labels."""
    if isinstance(values, State | str):
        return [parse_state(values)]
    return [parse_state(v) for v in values]
