"""Database errors of the stores, classified by their real error codes.

SQLAlchemy wraps the driver's exception; its ``orig`` carries the code: psycopg's
``sqlstate`` (PostgreSQL SQLSTATE, e.g. ``40P01``) or sqlite3's ``sqlite_errorcode``
(primary code in the low byte: SQLITE_BUSY 5, SQLITE_LOCKED 6, SQLITE_READONLY 8,
SQLITE_FULL 13, SQLITE_CANTOPEN 14). Never a message string.

A driver ``OperationalError`` with no SQLSTATE at all is a connection that never got (or
lost) its server: psycopg raises it when the server refuses the connection, is not there,
or closed it; it is :attr:`StoreFault.UNAVAILABLE`.
"""

from __future__ import annotations

from enum import StrEnum

from layers.errors import GapMapError

__all__ = ["RETRYABLE", "StoreError", "StoreFault", "classify", "sqlstate", "translate"]


class StoreFault(StrEnum):
    """What went wrong with the database, whatever the engine."""

    BUSY = "busy"  # another writer holds the lock (SQLite busy/locked, PG lock timeout)
    DEADLOCK = "deadlock"  # PG 40P01: retry
    SERIALIZATION = "serialization"  # PG 40001: retry
    FULL = "full"  # disk full: SQLITE_FULL, PG 53100
    READ_ONLY = "read_only"  # SQLITE_READONLY, PG 25006
    CANT_OPEN = "cant_open"  # SQLITE_CANTOPEN (folder missing or not writable)
    DENIED = "denied"  # PG 42501 (privileges, row-level security)
    UNAVAILABLE = "unavailable"  # PG 08xxx, 57P0x: connection lost / server down


RETRYABLE = frozenset({StoreFault.DEADLOCK, StoreFault.SERIALIZATION})
"""Faults after which the whole transaction is simply run again."""

_SQLITE = {
    5: StoreFault.BUSY,
    6: StoreFault.BUSY,
    8: StoreFault.READ_ONLY,
    13: StoreFault.FULL,
    14: StoreFault.CANT_OPEN,
}
_PG = {
    "40P01": StoreFault.DEADLOCK,
    "40001": StoreFault.SERIALIZATION,
    "55P03": StoreFault.BUSY,  # lock_not_available
    "57014": StoreFault.BUSY,  # query_canceled (statement/lock timeout)
    "53100": StoreFault.FULL,
    "25006": StoreFault.READ_ONLY,
    "42501": StoreFault.DENIED,
}


def sqlstate(exc: BaseException) -> str | None:
    """Return the PostgreSQL SQLSTATE of a (wrapped) driver error, or None."""
    orig = getattr(exc, "orig", exc)
    return getattr(orig, "sqlstate", None)


def classify(exc: BaseException) -> StoreFault | None:
    """Return the :class:`StoreFault` of a database error, or None if it is none of them."""
    orig = getattr(exc, "orig", exc)
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return _SQLITE.get(code & 0xFF)
    state = getattr(orig, "sqlstate", None)
    if isinstance(state, str):
        if state in _PG:
            return _PG[state]
        if state.startswith("08") or state in ("57P01", "57P02", "57P03"):
            return StoreFault.UNAVAILABLE
    elif not hasattr(orig, "sqlite_errorcode") and any(
        k.__name__ == "OperationalError" for k in type(orig).__mro__
    ):
        return StoreFault.UNAVAILABLE  # a server's DB-API OperationalError, no server answered
    return None


_ZH = {
    StoreFault.BUSY: "{s}正被其他用户写入，请稍后重试",
    StoreFault.DEADLOCK: "{s}同时修改的人太多，本次修改未保存，请重试",
    StoreFault.SERIALIZATION: "{s}同时修改的人太多，本次修改未保存，请重试",
    StoreFault.FULL: "{s}所在磁盘已满，本次修改未保存：请清理磁盘空间（或联系管理员）后重试",
    StoreFault.READ_ONLY: "{s}数据库是只读的，本次修改未保存：请检查{s}文件及其文件夹的写入权限",
    StoreFault.CANT_OPEN: "无法打开{s}数据库文件：请检查{s}文件夹是否存在、是否可写",
    StoreFault.DENIED: "数据库拒绝了本次{s}修改（权限不足），未保存",
    StoreFault.UNAVAILABLE: "无法连接{s}数据库服务器（如正在修改，本次修改未保存）：请稍后重试，"
    "或请管理员检查 PostgreSQL 是否在运行",
}
_EN = {
    StoreFault.BUSY: "the {s} is busy (another user is writing); try again",
    StoreFault.DEADLOCK: "a deadlock with another writer; nothing was saved, try again",
    StoreFault.SERIALIZATION: "a conflict with another writer; nothing was saved, try again",
    StoreFault.FULL: "the disk of the {s} is full; nothing was saved: free some space",
    StoreFault.READ_ONLY: "the {s} database is read-only; nothing was saved: check permissions",
    StoreFault.CANT_OPEN: "cannot open the {s} database file: check its folder exists and is "
    "writable",
    StoreFault.DENIED: "the database refused this {s} write (permission denied)",
    StoreFault.UNAVAILABLE: "the {s} database server cannot be reached; try again later",
}


class StoreError(GapMapError, OSError):
    """A database fault (disk full, read-only, busy, …) with a message saying what to do.

    Attributes
    ----------
    fault : StoreFault
    code : str or int or None
        The SQLSTATE or SQLite error code.
    """

    def __init__(self, fault: StoreFault, *, subject: str, subject_zh: str, code: object) -> None:
        self.fault, self.code = fault, code
        super().__init__(
            f"{_EN[fault].format(s=subject)} [{code}]", zh=_ZH[fault].format(s=subject_zh)
        )


def translate(
    exc: BaseException, *, subject: str = "store", subject_zh: str = "数据"
) -> StoreError | None:
    """Return the :class:`StoreError` for a database error (None: not a known fault)."""
    fault = classify(exc)
    if fault is None:
        return None
    orig = getattr(exc, "orig", exc)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorcode", None)
    return StoreError(fault, subject=subject, subject_zh=subject_zh, code=code)
