"""What the server stores share: how they connect to PostgreSQL and lock a key.

- :func:`server_engine`: ``pool_pre_ping`` (a connection the server closed is replaced, not
  handed out) and a libpq ``connect_timeout`` of :data:`CONNECT_TIMEOUT_S` seconds, so that a
  page run never waits minutes for a server that does not answer.
- :func:`advisory_xact_lock`: a transaction-scoped advisory lock on a text key, hashed with
  ``hashtextextended(key, 0)`` (64 bits: two keys practically never share a lock, unlike the
  32-bit ``hashtext``).
- :class:`ServerStore`: a store on a PostGIS database migrated to its Alembic branch (the
  engine it owns or borrows, the checks on opening, :meth:`ServerStore.close`, ``with``).
- :func:`frame_columns` / :func:`restore_dtypes`: a frame's ``[[name, dtype], …]`` as kept
  next to its rows, and the dtypes put back on the frame read from them.
"""

from __future__ import annotations

from typing import ClassVar, Self

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

from layers.errors import GapMapError
from layers.store.migrate import current_heads, head_revisions

__all__ = [
    "CONNECT_TIMEOUT_S",
    "ServerStore",
    "advisory_xact_lock",
    "frame_columns",
    "restore_dtypes",
    "server_engine",
]

CONNECT_TIMEOUT_S = 3
"""Seconds libpq waits for a server to answer before the connection fails."""


def server_engine(url: URL | str, **kwargs: object) -> Engine:
    """Return an engine for a server database (PostgreSQL: pre-ping and a connect timeout).

    Parameters
    ----------
    url : URL or str
    **kwargs
        More :func:`sqlalchemy.create_engine` arguments.
    """
    url = sa.make_url(url)
    if url.get_backend_name() == "postgresql":
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_S, **kwargs.pop("connect_args", {})}  # type: ignore[dict-item]
        kwargs = {"pool_pre_ping": True, **kwargs, "connect_args": connect_args}
    return sa.create_engine(url, **kwargs)  # type: ignore[arg-type]


def advisory_xact_lock(conn: Connection, key: str) -> None:
    """Take PostgreSQL's transaction-scoped advisory lock of ``key`` (released at commit)."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": key})


class ServerStore:
    """A store in the server database (PostgreSQL + PostGIS), migrated to its branch.

    Parameters
    ----------
    engine_or_url : Engine, URL or str
        The server database; an engine is borrowed (never disposed of), a URL gets an
        engine of the store's own (:func:`server_engine`, disposed of by :meth:`close`).

    Raises
    ------
    GapMapError
        Of the subclass's :attr:`error` type: the database is not PostgreSQL, or has not
        got the subclass's tables (:attr:`branch` not at its head).
    """

    error: ClassVar[type[GapMapError]] = GapMapError
    """What :meth:`_check` raises."""
    branch: ClassVar[str] = ""
    """Prefix of the Alembic revisions of the store's tables (``region_``)."""
    what: ClassVar[str] = "this store"
    """The store in English messages (``region results``)."""
    needs_pg_zh: ClassVar[str] = (
        "需要 PostgreSQL + PostGIS 数据库（服务器模式，见 README「服务器部署」）"
    )
    """The Chinese message for a database that is not PostgreSQL."""
    no_tables_zh: ClassVar[str] = (
        "数据库尚未建表或版本过旧：请由管理员运行 python -m scripts.db upgrade"
    )
    """The Chinese message for a database without the store's tables."""

    def __init__(self, engine_or_url: Engine | URL | str) -> None:
        if isinstance(engine_or_url, Engine):
            self.engine, self._owned = engine_or_url, False
        else:
            self.engine, self._owned = server_engine(engine_or_url), True
        try:
            self._check()
        except BaseException:
            self.close()
            raise

    def _check(self) -> None:
        if self.engine.dialect.name != "postgresql":
            raise self.error(
                f"{self.what} need PostgreSQL with PostGIS, not {self.engine.dialect.name}",
                zh=self.needs_pg_zh,
            )
        wanted = {h for h in head_revisions() if h.startswith(self.branch)}
        if not wanted <= self._heads():
            raise self.error(
                f"the database has no {self.what} tables yet; run `python -m scripts.db upgrade`",
                zh=self.no_tables_zh,
            )

    def _heads(self) -> set[str]:
        """Return the database's Alembic heads (a subclass may translate a failure)."""
        with self.engine.connect() as conn:
            return current_heads(conn)

    @property
    def where(self) -> str:
        """The database, for messages (never its password)."""
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Dispose of the engine if this store created it."""
        if self._owned:
            self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def frame_columns(frame: pd.DataFrame) -> list[list[str]]:
    """Return ``[[name, dtype], …]`` of ``frame``'s columns (its geometry: ``"geometry"``)."""
    geom = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
    return [[str(c), "geometry" if c == geom else str(frame[c].dtype)] for c in frame.columns]


def restore_dtypes(frame: pd.DataFrame, columns: list[list[str]]) -> pd.DataFrame:
    """Give ``frame``'s columns (in place) the dtypes of :func:`frame_columns`; return it."""
    for name, dtype in columns:
        if dtype != "geometry" and str(frame[name].dtype) != dtype:
            frame[name] = frame[name].astype(dtype)
    return frame
