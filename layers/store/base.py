"""What the server stores share: how they connect to PostgreSQL and lock a key.

- :func:`server_engine`: ``pool_pre_ping`` (a connection the server closed is replaced, not
  handed out) and a libpq ``connect_timeout`` of :data:`CONNECT_TIMEOUT_S` seconds, so that a
  page run never waits minutes for a server that does not answer.
- :func:`advisory_xact_lock`: a transaction-scoped advisory lock on a text key, hashed with
  ``hashtextextended(key, 0)`` (64 bits: two keys practically never share a lock, unlike the
  32-bit ``hashtext``).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

__all__ = ["CONNECT_TIMEOUT_S", "advisory_xact_lock", "server_engine"]

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
