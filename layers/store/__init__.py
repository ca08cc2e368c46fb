"""Storage at the edge: the ledger, accounts, datasets and evidence on SQLite or PostgreSQL.

Server mode also keeps a region's results in PostGIS (:mod:`layers.store.region`).

- :mod:`layers.store.actors` — who is acting: :class:`Actor` (user, role, scope).
- :mod:`layers.store.migrate` — the one schema migration runner (Alembic), for every table
  of every store, on SQLite (local mode) and PostgreSQL/PostGIS (server mode).

Roles are enforced by the stores' APIs and, on PostgreSQL, by row-level security.
"""

from layers.store.actors import DEPARTMENTS, ROLE_ZH, Actor, Role

__all__ = ["DEPARTMENTS", "ROLE_ZH", "Actor", "Role"]
