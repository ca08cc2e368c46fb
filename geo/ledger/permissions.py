"""Who may do what in the 整改台账: the role matrix of issue 14 as pure functions.

::

    role        items it may write                 what
    admin       every item                         snapshots, every transition (incl. 暂缓,
                                                   豁免, reopening), every field, XLSX import,
                                                   plan acceptance (project links)
    township    township_code in actor.townships   待整改→整改中, 整改中→已整改待验收; fields
    department  indicator in actor.indicators      measure, responsible_unit, deadline, project,
                                                   notes, evidence; XLSX import of those rows
    verifier    every item                         已整改待验收→已销号 / →整改中 (with notes,
                                                   closed_on)
    viewer      nothing                            nothing

The ledger (:class:`geo.ledger.Ledger`) checks every write with :func:`check`; the app asks
:func:`may` and :func:`allowed_transitions` to hide what a role may not do. On PostgreSQL the
same matrix is enforced again by row-level security (migration ``ledger_0003``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from geo.ledger.fields import FIELDS, FIELDS_ZH
from geo.ledger.states import TRANSITIONS, LedgerError, State
from layers.store.actors import ROLE_ZH, Actor, Role

__all__ = [
    "ACTION_ZH",
    "EDITOR_FIELDS",
    "ROLE_TRANSITIONS",
    "Action",
    "PermissionDeniedError",
    "allowed_fields",
    "allowed_transitions",
    "check",
    "in_scope",
    "may",
    "refusal",
]


class Action(StrEnum):
    """A write to the ledger."""

    SNAPSHOT = "snapshot"  # 记入快照
    TRANSITION = "transition"  # 状态变更
    UPDATE = "update"  # 信息修改
    EVIDENCE = "evidence"  # 上传佐证材料
    IMPORT = "import"  # 导入台账表
    ACCEPT_PLAN = "accept_plan"  # 采纳方案（关联项目）


ACTION_ZH: Mapping[Action, str] = MappingProxyType(
    {
        Action.SNAPSHOT: "记入快照",
        Action.TRANSITION: "变更状态",
        Action.UPDATE: "修改信息",
        Action.EVIDENCE: "上传佐证材料",
        Action.IMPORT: "导入台账表",
        Action.ACCEPT_PLAN: "采纳方案",
    }
)

EDITOR_FIELDS: frozenset[str] = frozenset(
    {"measure", "responsible_unit", "deadline", "project", "notes", "evidence"}
)
"""Fields a township or department editor may set (not ``reason``, not ``closed_on``)."""

_VERIFIER_FIELDS: frozenset[str] = frozenset({"notes", "closed_on"})

ROLE_TRANSITIONS: Mapping[Role, frozenset[tuple[State, State]]] = MappingProxyType(
    {
        Role.ADMIN: frozenset((a, b) for a, bs in TRANSITIONS.items() for b in bs),
        Role.TOWNSHIP: frozenset(
            {(State.OPEN, State.IN_PROGRESS), (State.IN_PROGRESS, State.AWAITING_ACCEPTANCE)}
        ),
        Role.DEPARTMENT: frozenset(
            {(State.OPEN, State.IN_PROGRESS), (State.IN_PROGRESS, State.AWAITING_ACCEPTANCE)}
        ),
        Role.VERIFIER: frozenset(
            {
                (State.AWAITING_ACCEPTANCE, State.CLOSED),
                (State.AWAITING_ACCEPTANCE, State.IN_PROGRESS),
            }
        ),
        Role.VIEWER: frozenset(),
    }
)
"""The (from, to) state moves each role may make (within :data:`TRANSITIONS`)."""

_ROLE_MAY_ZH: Mapping[Role, str] = MappingProxyType(
    {
        Role.ADMIN: "可进行全部操作",
        Role.TOWNSHIP: "只能办理本乡镇的问题：待整改→整改中→已整改待验收，填写整改措施、责任单位、"
        "完成时限、关联项目、备注和佐证材料",
        Role.DEPARTMENT: "只能办理本部门指标的问题：待整改→整改中→已整改待验收，填写整改措施、"
        "责任单位、完成时限、关联项目、备注和佐证材料",
        Role.VERIFIER: "只能验收：已整改待验收→已销号，或验收不通过退回整改中"
        "（可填备注、销号日期）",
        Role.VIEWER: "只能查看，不能修改台账",
    }
)


class PermissionDeniedError(LedgerError):
    """The actor's role does not allow this write; nothing was saved (the refusal is audited).

    Attributes
    ----------
    actor : Actor
    action : Action
    key : str or None
        The item, when the write concerns one.
    """

    def __init__(self, actor: Actor, action: Action, key: str | None, why: str, why_zh: str):
        self.actor, self.action, self.key = actor, Action(action), key
        self.why, self.why_zh = why, why_zh
        what = f"{action} of {key}" if key else str(action)
        what_zh = f"{ACTION_ZH[Action(action)]}（问题 {key}）" if key else ACTION_ZH[Action(action)]
        super().__init__(
            f"{actor.username} ({actor.role}) may not {what}: {why}; nothing was saved",
            zh=f"{actor.label}无权{what_zh}：{why_zh}。{ROLE_ZH[actor.role]}"
            f"{_ROLE_MAY_ZH[actor.role]}。本次修改未保存。",
        )


def _get(item: Any, name: str) -> str:
    if item is None:
        return ""
    value = item.get(name) if isinstance(item, Mapping) else getattr(item, name, "")
    return "" if value is None or value != value else str(value)  # NaN → ""


def in_scope(actor: Actor, item: Any) -> bool:
    """Return whether ``item`` (a row of :meth:`Ledger.items`) is within the actor's scope.

    Admins and verifiers see and act on every item; a township editor on the items whose
    ``township_code`` is one of its townships; a department user on the items of its
    indicators; a viewer on none.
    """
    role = actor.role
    if role in (Role.ADMIN, Role.VERIFIER):
        return True
    if role is Role.TOWNSHIP:
        return _get(item, "township_code") in actor.townships
    if role is Role.DEPARTMENT:
        return _get(item, "indicator") in actor.indicators
    return False


def allowed_transitions(actor: Actor, item: Any) -> set[State]:
    """Return the states ``actor`` may move ``item`` to from its current ``state``."""
    if not in_scope(actor, item):
        return set()
    state = State(_get(item, "state"))
    return {b for a, b in ROLE_TRANSITIONS[actor.role] if a is state}


def allowed_fields(actor: Actor, *, transition: bool = False) -> frozenset[str]:
    """Return the fields ``actor`` may set (with a state change when ``transition``)."""
    if actor.role is Role.ADMIN:
        return frozenset(FIELDS)
    if actor.role in (Role.TOWNSHIP, Role.DEPARTMENT):
        return EDITOR_FIELDS
    if actor.role is Role.VERIFIER and transition:
        return _VERIFIER_FIELDS
    return frozenset()


def refusal(
    actor: Actor,
    action: Action | str,
    item: Any = None,
    *,
    to_state: State | None = None,
    fields: Iterable[str] = (),
) -> tuple[str, str] | None:
    """Return why ``actor`` may not do this (English, Chinese), or None when it may.

    Parameters
    ----------
    actor : Actor
    action : Action or str
    item : mapping, optional
        The item (``key``, ``state``, ``township_code``, ``indicator``) written to.
    to_state : State, optional
        The state asked for (transitions).
    fields : iterable of str
        The fields the write sets.
    """
    action = Action(action)
    role = actor.role
    if role is Role.VIEWER:
        return "the viewer role is read-only", "查看角色只能查看"
    if role is Role.ADMIN:
        return None
    if action in (Action.SNAPSHOT, Action.ACCEPT_PLAN):
        return (
            "only a county administrator may do this (a county-level action)",
            "这是县级操作，只有县级管理员可以办理",
        )
    if action is Action.IMPORT and role is Role.VERIFIER:
        return "a verifier may not import ledger workbooks", "验收人员不能导入台账表"
    if item is None:
        return None  # the role may do this action on some items
    if not in_scope(actor, item):
        if role is Role.TOWNSHIP:
            towns = "、".join(sorted(actor.townships))
            return (
                f"item of township {_get(item, 'township_code')}, outside {towns}",
                f"该问题属于乡镇 {_get(item, 'township_name') or _get(item, 'township_code')}，"
                f"不在您负责的乡镇（{towns}）内",
            )
        return (
            f"indicator {_get(item, 'indicator')} is not one of {actor.department}'s",
            f"该问题的指标不属于{actor.department}",
        )
    fields = set(fields)
    if to_state is not None:
        state = State(_get(item, "state"))
        if (state, to_state) not in ROLE_TRANSITIONS[role]:
            return (
                f"the {role} role may not move an item from {state} to {to_state}",
                f"{ROLE_ZH[role]}不能把问题从“{state.zh}”改为“{to_state.zh}”",
            )
    elif role is Role.VERIFIER and fields:
        return (
            "a verifier edits fields only with an acceptance decision",
            "验收人员只能在验收（销号或退回整改）时填写备注和销号日期",
        )
    if action is Action.EVIDENCE and role is Role.VERIFIER:
        return "a verifier may not attach evidence", "验收人员不能上传佐证材料"
    extra = sorted(fields - allowed_fields(actor, transition=to_state is not None))
    if extra:
        return (
            f"the {role} role may not set {extra}",
            f"{ROLE_ZH[role]}不能修改：{'、'.join(FIELDS_ZH.get(f, f) for f in extra)}",
        )
    return None


def may(
    actor: Actor,
    action: Action | str,
    item: Any = None,
    *,
    to_state: State | None = None,
    fields: Iterable[str] = (),
) -> bool:
    """Return whether ``actor`` may do ``action`` (on ``item``, when given).

    Without an item: whether the role may do this action on some item at all (the app
    hides the button when not).
    """
    return refusal(actor, action, item, to_state=to_state, fields=fields) is None


def check(
    actor: Actor,
    action: Action | str,
    item: Any = None,
    *,
    to_state: State | None = None,
    fields: Iterable[str] = (),
) -> None:
    """Raise :class:`PermissionDeniedError` unless ``actor`` may do this.

    Raises
    ------
    PermissionDeniedError
    """
    why = refusal(actor, action, item, to_state=to_state, fields=fields)
    if why is not None:
        key = _get(item, "key") or None
        raise PermissionDeniedError(actor, Action(action), key, *why)
