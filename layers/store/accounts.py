"""Built-in accounts of server mode: users, login sessions and the audit of every login.

For a county without an identity provider. Passwords are kept only as argon2id hashes
(argon2-cffi); a session is a random token given to the browser, of which the database keeps
only the SHA-256, so a copy of the database lets no one log in. Tables (Alembic branch
``accounts``): ``accounts``, ``auth_sessions``, ``auth_events``.

- **Lockout**: ``max_failures`` wrong passwords within ``failure_window`` lock the account
  for ``lockout``; a correct password does not open a locked account.
- **Same answer**: an unknown user and a wrong password give the caller the same message, in
  comparable time (an unknown user is verified against a dummy hash); the audit keeps the
  real reason.
- **Sessions** expire after ``idle`` without use (sliding) and at the latest ``lifetime``
  after login (absolute); logout, disabling the account and a password change end them on
  the server.
- Only an administrator manages accounts; a refusal is an :class:`AuthError` and an audit
  event. The first administrator is created by :meth:`AccountStore.add_first_admin` (the
  setup command), audited as by ``setup``.

Works on SQLite (local tests) and PostgreSQL (server mode), SQLAlchemy Core.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType

import pandas as pd
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.engine import Connection, Engine

from layers.errors import GapMapError
from layers.store.actors import ROLE_ZH, Actor, Role, parse_role
from layers.store.base import server_engine

__all__ = [
    "DB_URL_ENV",
    "EVENT_ZH",
    "PASSWORD_MIN_CHARS",
    "AccountStore",
    "AuthError",
    "Session",
    "database_url",
]

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

DB_URL_ENV = "GAPMAP_DB_URL"
"""The environment variable with the server database's SQLAlchemy URL."""

PASSWORD_MIN_CHARS = 10
PASSWORD_MAX_CHARS = 1024  # a longer "password" only makes argon2 work for nothing
USERNAME_MAX_CHARS = 64

BAD_LOGIN_ZH = "用户名或密码不正确。"
"""The one answer to an unknown user and a wrong password (the audit keeps which it was)."""

EVENT_ZH = MappingProxyType(
    {
        "login_ok": "登录成功",
        "login_failed": "登录失败",
        "lockout": "账户锁定",
        "logout": "退出登录",
        "password_changed": "修改密码",
        "password_change_failed": "修改密码失败",
        "password_reset": "管理员重置密码",
        "account_created": "创建账户",
        "account_disabled": "停用账户",
        "account_enabled": "启用账户",
        "role_changed": "修改角色",
        "refused": "无权操作",
    }
)
"""Audit event codes and their Chinese labels."""

REASON_ZH = MappingProxyType(
    {
        "wrong_password": "密码错误",
        "unknown_user": "用户不存在",
        "locked": "账户已锁定",
        "disabled": "账户已停用",
        "not_admin": "非管理员",
        "oidc": "统一身份认证",
        "headers": "反向代理",
        "no_role": "无有效角色",
    }
)

SETUP = "setup"
"""The ``by`` of the first administrator, created by the setup command."""

_META = sa.MetaData()
TS = sa.DateTime(timezone=True)
ACCOUNTS = sa.Table(
    "accounts",
    _META,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(64)),
    sa.Column("display_name", sa.String(128)),
    sa.Column("role", sa.String(16)),
    sa.Column("townships", sa.Text),
    sa.Column("department", sa.String(32)),
    sa.Column("password_hash", sa.String(255)),
    sa.Column("disabled", sa.Boolean),
    sa.Column("failed_count", sa.Integer),
    sa.Column("first_failed_at", TS),
    sa.Column("locked_until", TS),
    sa.Column("created_by", sa.String(64)),
    sa.Column("created_at", TS),
    sa.Column("password_changed_at", TS),
)
SESSIONS = sa.Table(
    "auth_sessions",
    _META,
    sa.Column("token_sha256", sa.String(64), primary_key=True),
    sa.Column("username", sa.String(64)),
    sa.Column("created_at", TS),
    sa.Column("last_seen_at", TS),
    sa.Column("expires_at", TS),
    sa.Column("revoked_at", TS),
    sa.Column("client", sa.String(255)),
)
EVENTS = sa.Table(
    "auth_events",
    _META,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", TS),
    sa.Column("event", sa.String(32)),
    sa.Column("username", sa.String(64)),
    sa.Column("by", sa.String(64)),
    sa.Column("reason", sa.String(64)),
    sa.Column("detail", sa.Text),
    sa.Column("client", sa.String(255)),
)


class AuthError(GapMapError, PermissionError):
    """A login, session or account operation is refused (the ``zh`` message says why)."""


def database_url(default: Path) -> str:
    """Return the server database URL: ``$GAPMAP_DB_URL``, else a SQLite file ``default``."""
    url = os.environ.get(DB_URL_ENV, "").strip()
    return url or f"sqlite:///{Path(default).resolve()}"


def _utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes: they were written as UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _townships_text(townships: Iterable[str]) -> str:
    return ",".join(sorted({str(t).strip() for t in townships if str(t).strip()}))


@dataclass(frozen=True)
class Session:
    """A valid login session.

    Attributes
    ----------
    token : str
        The secret the browser holds (the database has only its SHA-256).
    actor : Actor
        Who is logged in (role and scope as the account has them now).
    created_at, last_seen_at, expires_at : datetime
        UTC; ``expires_at`` is the earlier of the idle and the absolute expiry.
    """

    token: str = field(repr=False)
    actor: Actor
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime

    @property
    def username(self) -> str:
        """The account's username."""
        return self.actor.username


class AccountStore:
    """The built-in accounts, their sessions and their audit, in one database.

    Parameters
    ----------
    bind : Engine or str or sqlalchemy.engine.URL
        The database (an engine, or a URL: ``sqlite:///…``, ``postgresql+psycopg://…``).
    migrate : bool, optional
        Bring the schema to its head on open (:func:`layers.store.migrate.upgrade`). Default:
        on SQLite yes; on PostgreSQL no (``scripts/db.py upgrade`` does it as the owner).
    max_failures : int
        Wrong passwords within ``failure_window`` that lock an account (default 5).
    failure_window, lockout : timedelta
        Default 15 minutes each.
    idle, lifetime : timedelta
        A session ends after ``idle`` without use (default 8 h) and at the latest
        ``lifetime`` after login (default 7 days).
    clock : callable, optional
        Returns the current time (aware, UTC); tests inject one to test expiry.
    hasher : argon2.PasswordHasher, optional
        Default: argon2-cffi's argon2id defaults (RFC 9106 low-memory profile).
    """

    def __init__(
        self,
        bind: Engine | str | sa.URL,
        *,
        migrate: bool | None = None,
        max_failures: int = 5,
        failure_window: timedelta = timedelta(minutes=15),
        lockout: timedelta = timedelta(minutes=15),
        idle: timedelta = timedelta(hours=8),
        lifetime: timedelta = timedelta(days=7),
        clock: Callable[[], datetime] | None = None,
        hasher: PasswordHasher | None = None,
    ) -> None:
        if isinstance(bind, Engine):
            self.engine, self._owns_engine = bind, False
        else:
            url = sa.make_url(bind)
            kwargs = {"connect_args": {"timeout": 30}} if url.get_backend_name() == "sqlite" else {}
            if url.get_backend_name() == "sqlite" and url.database:
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine, self._owns_engine = server_engine(url, **kwargs), True
        self.max_failures = int(max_failures)
        self.failure_window = failure_window
        self.lockout = lockout
        self.idle = idle
        self.lifetime = lifetime
        self._clock = clock or (lambda: datetime.now(UTC))
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        if migrate is None:
            migrate = self.engine.dialect.name == "sqlite"
        if migrate:
            from layers.store.migrate import upgrade

            upgrade(self.engine)

    # -- life cycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Release the database connections (if this store opened the engine)."""
        if self._owns_engine:
            self.engine.dispose()

    def __enter__(self) -> AccountStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now(self) -> datetime:
        """Return the time on the store's clock (aware, UTC)."""
        return _utc(self._clock())

    # -- account management (administrators) -----------------------------------------------

    def add(
        self,
        username: str,
        *,
        role: Role | str,
        password: str,
        display_name: str = "",
        townships: Iterable[str] = (),
        department: str | None = None,
        by: Actor,
        client: str = "",
    ) -> Actor:
        """Create an account; return its actor.

        Raises
        ------
        AuthError
            ``by`` is not an administrator, the user exists, or the password is too weak.
        ActorError
            The role and scope do not fit (a township editor without a township, …).
        """
        with self.engine.begin() as conn:
            self._require_admin(conn, by, "add", username, client)
            return self._insert(
                conn,
                username,
                role=role,
                password=password,
                display_name=display_name,
                townships=townships,
                department=department,
                by=by.username,
                client=client,
            )

    def add_first_admin(
        self, username: str, *, password: str, display_name: str = "", client: str = ""
    ) -> Actor:
        """Create the first administrator (setup); refused once an enabled one exists."""
        with self.engine.begin() as conn:
            if self._has_admin(conn):
                raise AuthError(
                    "an administrator exists already; add accounts as that administrator",
                    zh="已有县级管理员：请以管理员身份添加账户（命令行加 --by 管理员用户名）。",
                )
            return self._insert(
                conn,
                username,
                role=Role.ADMIN,
                password=password,
                display_name=display_name,
                townships=(),
                department=None,
                by=SETUP,
                client=client,
            )

    def has_admin(self) -> bool:
        """Whether an enabled administrator account exists."""
        with self.engine.connect() as conn:
            return self._has_admin(conn)

    def disable(self, username: str, *, by: Actor, client: str = "") -> None:
        """Disable an account and end all its sessions."""
        now = self.now()
        with self.engine.begin() as conn:
            self._require_admin(conn, by, "disable", username, client)
            row = self._row(conn, username, lock=True)
            if by.username == row.username:
                raise AuthError(
                    "an administrator cannot disable their own account",
                    zh="不能停用自己的账户。",
                )
            conn.execute(
                ACCOUNTS.update().where(ACCOUNTS.c.username == row.username).values(disabled=True)
            )
            ended = self._revoke_all(conn, row.username, now)
            self._event(
                conn,
                "account_disabled",
                row.username,
                by=by.username,
                client=client,
                detail=f"{ended} sessions ended",
            )

    def enable(self, username: str, *, by: Actor, client: str = "") -> None:
        """Enable an account again (and clear its lockout)."""
        with self.engine.begin() as conn:
            self._require_admin(conn, by, "enable", username, client)
            row = self._row(conn, username, lock=True)
            conn.execute(
                ACCOUNTS.update()
                .where(ACCOUNTS.c.username == row.username)
                .values(disabled=False, failed_count=0, first_failed_at=None, locked_until=None)
            )
            self._event(conn, "account_enabled", row.username, by=by.username, client=client)

    def set_role(
        self,
        username: str,
        *,
        role: Role | str,
        townships: Iterable[str] = (),
        department: str | None = None,
        by: Actor,
        client: str = "",
    ) -> Actor:
        """Change an account's role and scope; its sessions end (they carried the old role)."""
        now = self.now()
        with self.engine.begin() as conn:
            self._require_admin(conn, by, "set_role", username, client)
            row = self._row(conn, username, lock=True)
            actor = Actor.of(
                row.username,
                role,
                townships=townships,
                department=department,
                display_name=row.display_name,
            )
            if row.username == by.username and actor.role is not Role.ADMIN:
                raise AuthError(
                    "an administrator cannot take their own administrator role",
                    zh="不能取消自己的管理员角色。",
                )
            conn.execute(
                ACCOUNTS.update()
                .where(ACCOUNTS.c.username == row.username)
                .values(
                    role=actor.role.value,
                    townships=_townships_text(actor.townships),
                    department=actor.department,
                )
            )
            self._revoke_all(conn, row.username, now)
            self._event(
                conn,
                "role_changed",
                row.username,
                by=by.username,
                client=client,
                detail=f"{row.role} → {actor.role.value} {_townships_text(actor.townships)} "
                f"{actor.department or ''}".strip(),
            )
            return actor

    def reset_password(self, username: str, new: str, *, by: Actor, client: str = "") -> None:
        """Set a new password for a user (who forgot theirs); ends their sessions, unlocks."""
        now = self.now()
        with self.engine.begin() as conn:
            self._require_admin(conn, by, "reset_password", username, client)
            row = self._row(conn, username, lock=True)
            self._check_password(row.username, new)
            conn.execute(
                ACCOUNTS.update()
                .where(ACCOUNTS.c.username == row.username)
                .values(
                    password_hash=self._hasher.hash(new),
                    password_changed_at=now,
                    failed_count=0,
                    first_failed_at=None,
                    locked_until=None,
                )
            )
            self._revoke_all(conn, row.username, now)
            self._event(conn, "password_reset", row.username, by=by.username, client=client)

    # -- the user's own ----------------------------------------------------------------------

    def set_password(
        self,
        username: str,
        old: str,
        new: str,
        *,
        keep_token: str | None = None,
        client: str = "",
    ) -> None:
        """Change one's own password; every other session of the user ends.

        Parameters
        ----------
        keep_token : str, optional
            The session the change is made from, which stays valid.
        """
        now = self.now()
        with self.engine.begin() as conn:
            row = self._find(conn, username, lock=True)
            if row is None or not self._verify(row.password_hash, old):
                if row is None:
                    self._verify(self._dummy(), old)
                self._event(
                    conn,
                    "password_change_failed",
                    str(username),
                    by=str(username),
                    reason="unknown_user" if row is None else "wrong_password",
                    client=client,
                )
                raise AuthError(
                    "the current password is wrong", zh="原密码不正确，密码未修改。"
                ) from None
            self._check_password(row.username, new)
            conn.execute(
                ACCOUNTS.update()
                .where(ACCOUNTS.c.username == row.username)
                .values(password_hash=self._hasher.hash(new), password_changed_at=now)
            )
            keep = _digest(keep_token) if keep_token else None
            query = SESSIONS.update().where(
                SESSIONS.c.username == row.username, SESSIONS.c.revoked_at.is_(None)
            )
            if keep:
                query = query.where(SESSIONS.c.token_sha256 != keep)
            conn.execute(query.values(revoked_at=now))
            self._event(conn, "password_changed", row.username, by=row.username, client=client)

    # -- login and sessions ------------------------------------------------------------------

    def authenticate(self, username: str, password: str, *, client: str = "") -> Session:
        """Check a user's password; open and return a new session.

        Raises
        ------
        AuthError
            Wrong password or unknown user (the same message), account locked (the message
            says for how long) or disabled. Every attempt is audited.
        """
        now = self.now()
        name = self._clean_name(username, strict=False)
        password = str(password or "")[:PASSWORD_MAX_CHARS]
        with self.engine.begin() as conn:
            row = self._find(conn, name, lock=True) if name else None
            if row is None:
                self._verify(self._dummy(), password)  # the same work as for a real user
                self._event(
                    conn, "login_failed", name, by=name, reason="unknown_user", client=client
                )
                failure = AuthError(f"login failed for {name!r}", zh=BAD_LOGIN_ZH)
            else:
                failure = self._check_login(conn, row, password, now, client)
            if failure is None:
                token = secrets.token_urlsafe(32)
                expires = min(now + self.idle, now + self.lifetime)
                conn.execute(
                    SESSIONS.insert().values(
                        token_sha256=_digest(token),
                        username=row.username,
                        created_at=now,
                        last_seen_at=now,
                        expires_at=now + self.lifetime,
                        client=client[:255],
                    )
                )
                self._event(conn, "login_ok", row.username, by=row.username, client=client)
                return Session(token, self._actor(row), now, now, expires)
        # committed: the failed attempt and its count stay recorded
        raise failure

    def session(self, token: str | None) -> Session | None:
        """Return the session of a token if it is still valid (and mark it used), else None.

        A session is valid when it was not revoked, its absolute expiry has not passed, it
        was used within ``idle``, and its account is enabled.
        """
        if not token:
            return None
        now = self.now()
        digest = _digest(str(token))
        query = (
            sa.select(SESSIONS, ACCOUNTS)
            .join(ACCOUNTS, ACCOUNTS.c.username == SESSIONS.c.username)
            .where(SESSIONS.c.token_sha256 == digest)
        )
        with self.engine.begin() as conn:
            row = conn.execute(query).first()
            if row is None or row.revoked_at is not None or row.disabled:
                return None
            last_seen, absolute = _utc(row.last_seen_at), _utc(row.expires_at)
            if now >= absolute or now - last_seen >= self.idle:
                return None
            if now - last_seen >= timedelta(seconds=30):  # sliding, without a write per rerun
                conn.execute(
                    SESSIONS.update()
                    .where(SESSIONS.c.token_sha256 == digest)
                    .values(last_seen_at=now)
                )
                last_seen = now
            return Session(
                str(token),
                self._actor(row),
                _utc(row.created_at),
                last_seen,
                min(last_seen + self.idle, absolute),
            )

    def logout(self, token: str | None, *, client: str = "") -> None:
        """End a session on the server (the token no longer works anywhere)."""
        if not token:
            return
        now = self.now()
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(SESSIONS).where(SESSIONS.c.token_sha256 == _digest(str(token)))
            ).first()
            if row is None or row.revoked_at is not None:
                return
            conn.execute(
                SESSIONS.update()
                .where(SESSIONS.c.token_sha256 == row.token_sha256)
                .values(revoked_at=now)
            )
            self._event(conn, "logout", row.username, by=row.username, client=client)

    def record_external(
        self, event: str, username: str, *, reason: str = "", detail: str = "", client: str = ""
    ) -> None:
        """Audit a login made elsewhere (OpenID Connect, a trusted proxy).

        ``event`` is ``login_ok``, ``login_failed`` or ``logout``; ``reason`` says where or
        why (``oidc``, ``headers``, ``no_role``).
        """
        if event not in ("login_ok", "login_failed", "logout"):
            raise ValueError(f"not an external login event: {event!r}")
        with self.engine.begin() as conn:
            self._event(
                conn, event, username, by=username, reason=reason, detail=detail, client=client
            )

    # -- reading -----------------------------------------------------------------------------

    def actor(self, username: str) -> Actor:
        """Return the actor of an account (raises AuthError if there is none)."""
        with self.engine.connect() as conn:
            return self._actor(self._row(conn, username))

    def accounts(self) -> pd.DataFrame:
        """Return every account, never a hash.

        Columns: username, display_name, role, role_zh, townships (comma-separated codes),
        department, disabled, locked (now), failed_count, created_by, created_at,
        password_changed_at, last_login (UTC).
        """
        now = self.now()
        last_login = (
            sa.select(EVENTS.c.username, sa.func.max(EVENTS.c.at).label("last_login"))
            .where(EVENTS.c.event == "login_ok")
            .group_by(EVENTS.c.username)
            .subquery()
        )
        cols = [c for c in ACCOUNTS.c if c.name not in ("id", "password_hash", "first_failed_at")]
        query = (
            sa.select(*cols, last_login.c.last_login)
            .outerjoin(last_login, last_login.c.username == ACCOUNTS.c.username)
            .order_by(ACCOUNTS.c.username)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        records = []
        for r in rows:
            rec = dict(r)
            locked = _utc(rec.pop("locked_until"))
            rec["locked"] = bool(locked and locked > now)
            rec["role_zh"] = ROLE_ZH[Role(rec["role"])]
            rec["disabled"] = bool(rec["disabled"])
            for key in ("created_at", "password_changed_at", "last_login"):
                rec[key] = _utc(rec[key])
            records.append(rec)
        columns = [
            "username",
            "display_name",
            "role",
            "role_zh",
            "townships",
            "department",
            "disabled",
            "locked",
            "failed_count",
            "created_by",
            "created_at",
            "password_changed_at",
            "last_login",
        ]
        return pd.DataFrame.from_records(records, columns=columns)

    def audit(self, *, username: str | None = None, limit: int | None = None) -> pd.DataFrame:
        """Return the audit trail, newest first.

        Columns: at (UTC), event, event_zh, username, by, reason, reason_zh, detail, client.
        """
        query = sa.select(EVENTS).order_by(EVENTS.c.id.desc())
        if username:
            query = query.where(EVENTS.c.username == username)
        if limit:
            query = query.limit(int(limit))
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        for r in rows:
            r["at"] = _utc(r["at"])
            r["event_zh"] = EVENT_ZH.get(r["event"], r["event"])
            r["reason_zh"] = REASON_ZH.get(r["reason"], r["reason"])
        columns = [
            "at",
            "event",
            "event_zh",
            "username",
            "by",
            "reason",
            "reason_zh",
            "detail",
            "client",
        ]
        return pd.DataFrame.from_records(rows, columns=columns)

    # -- internals ---------------------------------------------------------------------------

    def _dummy(self) -> str:
        return self._dummy_hash

    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return self._hasher.verify(hashed, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _check_login(
        self, conn: Connection, row: sa.Row, password: str, now: datetime, client: str
    ) -> AuthError | None:
        """Verify a password against an account row; update lockout; return the refusal."""
        ok = self._verify(row.password_hash, password)
        locked = _utc(row.locked_until)
        if locked and locked > now:
            minutes = max(1, int((locked - now).total_seconds() // 60) + 1)
            self._event(
                conn, "login_failed", row.username, by=row.username, reason="locked", client=client
            )
            return AuthError(
                f"account {row.username!r} is locked until {locked.isoformat()}",
                zh=f"登录失败次数过多，账户已锁定，请约 {minutes} 分钟后再试，或请管理员解锁。",
            )
        if not ok:
            first = _utc(row.first_failed_at)
            if first is None or now - first >= self.failure_window:
                count, first = 1, now
            else:
                count = int(row.failed_count) + 1
            values: dict[str, object] = {"failed_count": count, "first_failed_at": first}
            self._event(
                conn,
                "login_failed",
                row.username,
                by=row.username,
                reason="wrong_password",
                client=client,
            )
            if count >= self.max_failures:
                values.update(locked_until=now + self.lockout, failed_count=0, first_failed_at=None)
                self._event(
                    conn,
                    "lockout",
                    row.username,
                    by=row.username,
                    client=client,
                    detail=f"{count} failures; locked until {(now + self.lockout).isoformat()}",
                )
            conn.execute(
                ACCOUNTS.update().where(ACCOUNTS.c.username == row.username).values(**values)
            )
            return AuthError(f"login failed for {row.username!r}", zh=BAD_LOGIN_ZH)
        if row.disabled:
            self._event(
                conn,
                "login_failed",
                row.username,
                by=row.username,
                reason="disabled",
                client=client,
            )
            return AuthError(
                f"account {row.username!r} is disabled", zh="该账户已停用，请联系县级管理员。"
            )
        values = {"failed_count": 0, "first_failed_at": None, "locked_until": None}
        if self._hasher.check_needs_rehash(row.password_hash):
            values["password_hash"] = self._hasher.hash(password)
        conn.execute(ACCOUNTS.update().where(ACCOUNTS.c.username == row.username).values(**values))
        return None

    def _insert(
        self,
        conn: Connection,
        username: str,
        *,
        role: Role | str,
        password: str,
        display_name: str,
        townships: Iterable[str],
        department: str | None,
        by: str,
        client: str,
    ) -> Actor:
        name = self._clean_name(username)
        actor = Actor.of(
            name,
            parse_role(role),
            townships=townships,
            department=department or None,
            display_name=display_name,
        )
        if self._find(conn, name) is not None:
            raise AuthError(f"user {name!r} exists already", zh=f"用户「{name}」已存在。")
        self._check_password(name, password)
        now = self.now()
        conn.execute(
            ACCOUNTS.insert().values(
                username=name,
                display_name=actor.display_name,
                role=actor.role.value,
                townships=_townships_text(actor.townships),
                department=actor.department,
                password_hash=self._hasher.hash(password),
                disabled=False,
                failed_count=0,
                created_by=by,
                created_at=now,
                password_changed_at=now,
            )
        )
        self._event(
            conn,
            "account_created",
            name,
            by=by,
            client=client,
            detail=f"{actor.role.value} {_townships_text(actor.townships)} "
            f"{actor.department or ''}".strip(),
        )
        logger.info("account %s (%s) created by %s", name, actor.role.value, by)
        return actor

    def _require_admin(
        self, conn: Connection, by: Actor, action: str, username: str, client: str
    ) -> None:
        if isinstance(by, Actor) and by.role is Role.ADMIN:
            return
        who = getattr(by, "username", str(by))
        # the refusal is recorded even though the caller's transaction is rolled back
        with self.engine.begin() as audit:
            self._event(
                audit,
                "refused",
                str(username),
                by=who,
                reason="not_admin",
                detail=action,
                client=client,
            )
        raise AuthError(
            f"{who} may not {action} accounts: only an administrator manages accounts",
            zh="只有县级管理员可以管理账户。",
        )

    @staticmethod
    def _has_admin(conn: Connection) -> bool:
        query = sa.select(sa.func.count()).where(
            ACCOUNTS.c.role == Role.ADMIN.value, ACCOUNTS.c.disabled.is_(False)
        )
        return bool(conn.execute(query).scalar_one())

    @staticmethod
    def _find(conn: Connection, username: str, *, lock: bool = False) -> sa.Row | None:
        query = sa.select(ACCOUNTS).where(ACCOUNTS.c.username == str(username).strip())
        if lock:
            query = query.with_for_update()
        return conn.execute(query).first()

    def _row(self, conn: Connection, username: str, *, lock: bool = False) -> sa.Row:
        row = self._find(conn, username, lock=lock)
        if row is None:
            raise AuthError(f"no account {username!r}", zh=f"没有用户「{username}」。")
        return row

    @staticmethod
    def _actor(row: sa.Row) -> Actor:
        return Actor.of(
            row.username,
            row.role,
            townships=[t for t in (row.townships or "").split(",") if t],
            department=row.department,
            display_name=row.display_name,
        )

    @staticmethod
    def _clean_name(username: str, *, strict: bool = True) -> str:
        name = unicodedata.normalize("NFC", str(username or "")).strip()
        bad = (
            not name
            or len(name) > USERNAME_MAX_CHARS
            or any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in name)
            or "," in name
        )
        if bad and strict:
            raise AuthError(
                f"invalid username {username!r}: 1–{USERNAME_MAX_CHARS} characters, "
                "no spaces, commas or control characters",
                zh=f"用户名「{username}」不可用：需 1–{USERNAME_MAX_CHARS} 个字符，"
                "不能含空格、逗号或控制字符。",
            )
        return name[:USERNAME_MAX_CHARS]

    @staticmethod
    def _check_password(username: str, password: str) -> None:
        password = str(password or "")
        if len(password) < PASSWORD_MIN_CHARS:
            raise AuthError(
                f"the password needs at least {PASSWORD_MIN_CHARS} characters",
                zh=f"密码至少需要 {PASSWORD_MIN_CHARS} 个字符。",
            )
        if len(password) > PASSWORD_MAX_CHARS:
            raise AuthError(
                f"the password is longer than {PASSWORD_MAX_CHARS} characters",
                zh=f"密码不能超过 {PASSWORD_MAX_CHARS} 个字符。",
            )
        if password.strip().casefold() == username.strip().casefold():
            raise AuthError("the password must not be the username", zh="密码不能与用户名相同。")

    @staticmethod
    def _revoke_all(conn: Connection, username: str, now: datetime) -> int:
        result = conn.execute(
            SESSIONS.update()
            .where(SESSIONS.c.username == username, SESSIONS.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return int(result.rowcount or 0)

    def _event(
        self,
        conn: Connection,
        event: str,
        username: str,
        *,
        by: str = "",
        reason: str = "",
        detail: str = "",
        client: str = "",
    ) -> None:
        conn.execute(
            EVENTS.insert().values(
                at=self.now(),
                event=event,
                username=str(username)[:USERNAME_MAX_CHARS],
                by=str(by)[:USERNAME_MAX_CHARS],
                reason=reason,
                detail=detail,
                client=str(client)[:255],
            )
        )
        log = logger.warning if event in ("login_failed", "lockout", "refused") else logger.info
        log("auth %s: %s by %s %s %s", event, username, by, reason, client)
