"""Who is acting: a user with one role and, for some roles, a scope.

Every write to a store takes an :class:`Actor` (never a typed name). In server mode the actor
comes from the login (built-in account, OpenID Connect claims or a trusted proxy header); in
local mode (one person on one machine, no login) it is :meth:`Actor.local`.

The roles of the county team (issue 14)::

    role         sees                     may do
    admin        everything               everything, incl. snapshots, plans, accounts
    township     the county               its townships' items: 待整改→整改中→已整改待验收,
                                          evidence, notes, XLSX import of its rows
    department   the county               the same for its department's indicators
    verifier     everything               已整改待验收 → 已销号 / back to 整改中
    viewer       everything               nothing that writes
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from layers.errors import GapMapError

__all__ = ["DEPARTMENTS", "ROLE_ZH", "Actor", "ActorError", "Role"]


class ActorError(GapMapError, ValueError):
    """An actor (account, role, scope) is not well formed."""


class Role(StrEnum):
    """The role of a user (stored code; Chinese label in :data:`ROLE_ZH`)."""

    ADMIN = "admin"  # 县级管理员
    TOWNSHIP = "township"  # 乡镇填报员
    DEPARTMENT = "department"  # 行业部门
    VERIFIER = "verifier"  # 验收
    VIEWER = "viewer"  # 查看

    @property
    def zh(self) -> str:
        """Chinese label."""
        return ROLE_ZH[self]


ROLE_ZH: Mapping[Role, str] = MappingProxyType(
    {
        Role.ADMIN: "县级管理员",
        Role.TOWNSHIP: "乡镇填报员",
        Role.DEPARTMENT: "行业部门",
        Role.VERIFIER: "验收",
        Role.VIEWER: "查看",
    }
)

DEPARTMENTS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "交通局": frozenset({"hard_road"}),
        "商务局": frozenset({"services"}),
        "卫健局": frozenset({"clinics"}),
        "水务局": frozenset({"water", "water_guarantee", "water_quality"}),
        "教育局": frozenset({"edu_primary", "edu_junior", "kindergarten"}),
        "民政局": frozenset({"elderly_care"}),
        "通信管理局": frozenset({"telecom_5g", "telecom_gigabit"}),
        "生态环境局": frozenset({"sewage"}),
        "农业农村局": frozenset({"waste", "toilets"}),
        "住建局": frozenset({"unsafe_housing"}),
        "乡村振兴局": frozenset({"site_public"}),
    }
)
"""The departments (行业部门) and the indicator codes of the ledger each one answers for.

Every indicator of the default table (:func:`geo.indicators.indicator_table`) names its
department, and that department lists its code here."""


def parse_role(value: str | Role) -> Role:
    """Return a role from its code (``township``) or Chinese label (``乡镇填报员``).

    Raises
    ------
    ActorError
        If the role is unknown (the message lists the valid ones).
    """
    if isinstance(value, Role):
        return value
    text = str(value).strip()
    for role in Role:
        if text in (role.value, ROLE_ZH[role]):
            return role
    valid = "、".join(f"{r.value}（{ROLE_ZH[r]}）" for r in Role)
    raise ActorError(
        f"unknown role {value!r}; use one of {[r.value for r in Role]}",
        zh=f"未知角色「{value}」，可选：{valid}",
    )


@dataclass(frozen=True)
class Actor:
    """A user acting on the stores.

    Parameters
    ----------
    username : str
        The login name (unique; what the ledger records as 操作人).
    role : Role or str
    display_name : str
        The name shown (e.g. 王明); defaults to ``username``.
    townships : iterable of str
        Township codes (9 digits) a ``township`` editor may edit; required for that role.
    department : str, optional
        A key of :data:`DEPARTMENTS` (e.g. 水务局); required for the ``department`` role.
    """

    username: str
    role: Role
    display_name: str = ""
    townships: frozenset[str] = field(default_factory=frozenset)
    department: str | None = None

    def __post_init__(self) -> None:
        name = str(self.username or "").strip()
        if not name:
            raise ActorError("an actor needs a username", zh="用户名不能为空")
        object.__setattr__(self, "username", name)
        object.__setattr__(self, "role", parse_role(self.role))
        object.__setattr__(self, "display_name", str(self.display_name or name).strip())
        towns = self.townships
        towns = frozenset(str(t).strip() for t in ([towns] if isinstance(towns, str) else towns))
        object.__setattr__(self, "townships", frozenset(t for t in towns if t))
        if self.role is Role.TOWNSHIP and not self.townships:
            raise ActorError(
                f"{name}: a township editor needs at least one township code (--scope)",
                zh=f"{name}：乡镇填报员必须指定所管乡镇（乡镇代码，如 640324103）",
            )
        if self.role is Role.DEPARTMENT and self.department not in DEPARTMENTS:
            raise ActorError(
                f"{name}: a department user needs one of {list(DEPARTMENTS)} (--department)",
                zh=f"{name}：行业部门用户必须指定部门（{'、'.join(DEPARTMENTS)}）",
            )

    @property
    def indicators(self) -> frozenset[str]:
        """The ledger indicators of a department user (empty for other roles)."""
        return DEPARTMENTS.get(self.department or "", frozenset())

    @property
    def label(self) -> str:
        """``王明（乡镇填报员）``: who this is, for the page header and the audit trail."""
        return f"{self.display_name}（{ROLE_ZH[self.role]}）"

    @classmethod
    def local(cls, username: str | None = None) -> Actor:
        """Return the one user of local mode (no login): the machine user, as administrator."""
        try:
            name = username or getpass.getuser()
        except (KeyError, OSError):
            name = "local"
        return cls(f"本机:{name}", Role.ADMIN, display_name=f"本机用户 {name}")

    @classmethod
    def of(
        cls,
        username: str,
        role: str | Role,
        *,
        townships: Iterable[str] = (),
        department: str | None = None,
        display_name: str = "",
    ) -> Actor:
        """Build an actor from plain values (CLI, account rows, token claims)."""
        return cls(username, parse_role(role), display_name, frozenset(townships), department)
