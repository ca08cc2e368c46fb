"""Who is using the app: the login gate of server mode, and the current actor of every page.

Local mode (default; one person on one machine): no login, the actor is
:meth:`Actor.local`, nothing on the page changes. Server mode (``GAPMAP_MODE=server``): an
anonymous browser sees only the Chinese login page — :func:`require_login` draws it through
a navigation that has only that page, and stops the script before the app's own navigation,
so neither the sidebar's page links nor any data reach the browser. Identities come from

1. **built-in accounts** (:mod:`layers.store.accounts`, database ``GAPMAP_DB_URL``): the
   login form; the session token is kept in a cookie so the session survives a reload;
2. **OpenID Connect** (``st.login``; e.g. a county's Keycloak), when ``.streamlit/
   secrets.toml`` has an ``[auth]`` section: a button on the login page; the role and scope
   come from token claims (:func:`actor_from_claims`), a user without a valid role claim is
   refused;
3. **a reverse proxy's trusted headers**, only when ``GAPMAP_TRUSTED_HEADERS=1`` (the proxy
   must authenticate every request and strip these headers from clients; the app must then
   listen on 127.0.0.1 only).

Pages call :func:`current_actor` for the user of every write.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import streamlit as st

from layers.errors import GapMapError
from layers.store.accounts import AccountStore, AuthError, Session, database_url
from layers.store.actors import ROLE_ZH, Actor, ActorError, Role

__all__ = [
    "COOKIE",
    "account_pages",
    "account_store",
    "actor_from_claims",
    "current_actor",
    "current_session",
    "identity_source",
    "mode",
    "require_login",
]

logger = logging.getLogger("gapmap.auth")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DB = ROOT / "out" / "gapmap.sqlite"
VIEWS = ROOT / "app" / "views"

COOKIE = "gapmap_session"
"""The cookie holding the built-in session's token (the server keeps only its SHA-256)."""

_TOKEN = "_gapmap_auth_token"
_ACTOR = "_gapmap_auth_actor"
_SOURCE = "_gapmap_auth_source"
_COOKIE_TODO = "_gapmap_auth_cookie"  # "set" or "clear": done by the next run's script
_NOTICE = "_gapmap_auth_notice"
_REFUSED = "_gapmap_auth_refused"

CLAIM_ENV = {
    "username": ("GAPMAP_OIDC_USERNAME_CLAIM", "preferred_username"),
    "display_name": ("GAPMAP_OIDC_NAME_CLAIM", "name"),
    "role": ("GAPMAP_OIDC_ROLE_CLAIM", "gapmap_role"),
    "townships": ("GAPMAP_OIDC_TOWNSHIPS_CLAIM", "gapmap_townships"),
    "department": ("GAPMAP_OIDC_DEPARTMENT_CLAIM", "gapmap_department"),
}
"""The id-token claim of each actor field: environment variable and default claim name."""

HEADER_ENV = {
    "username": ("GAPMAP_HEADER_USER", "X-Forwarded-User"),
    "display_name": ("GAPMAP_HEADER_NAME", "X-Forwarded-Name"),
    "role": ("GAPMAP_HEADER_ROLE", "X-Gapmap-Role"),
    "townships": ("GAPMAP_HEADER_TOWNSHIPS", "X-Gapmap-Townships"),
    "department": ("GAPMAP_HEADER_DEPARTMENT", "X-Gapmap-Department"),
}
"""The trusted proxy header of each actor field (values may be percent-encoded UTF-8)."""


# -- modes and sources -------------------------------------------------------------------------


def mode() -> str:
    """Return ``"server"`` when ``GAPMAP_MODE=server``, else ``"local"``."""
    return "server" if os.environ.get("GAPMAP_MODE", "").strip().lower() == "server" else "local"


def _oidc_configured() -> bool:
    """Whether ``.streamlit/secrets.toml`` configures ``st.login`` (an ``[auth]`` section)."""
    try:
        section = st.secrets.get("auth")
    except Exception:  # no secrets file at all: Streamlit raises, which means "no"
        return False
    return bool(section) and "client_id" in section


def identity_source() -> str:
    """Where identities come from in server mode: ``headers``, else ``accounts``.

    ``headers`` only with ``GAPMAP_TRUSTED_HEADERS=1``; OpenID Connect is offered on the
    login page next to the built-in accounts when it is configured (see the module doc).
    """
    return "headers" if os.environ.get("GAPMAP_TRUSTED_HEADERS", "").strip() == "1" else "accounts"


@st.cache_resource(show_spinner=False)
def _store(url: str) -> AccountStore:
    return AccountStore(url)


def account_store() -> AccountStore:
    """The accounts database of server mode (``GAPMAP_DB_URL``, else ``out/gapmap.sqlite``)."""
    return _store(database_url(DEFAULT_DB))


def _client() -> str:
    """The browser's address as the server sees it (a proxy's, behind one), for the audit."""
    try:
        ip = st.context.ip_address
    except Exception:  # outside a browser session (AppTest)
        ip = None
    return ip if isinstance(ip, str) and ip else "127.0.0.1"


# -- claims and headers ----------------------------------------------------------------------


def _names(table: Mapping[str, tuple[str, str]]) -> dict[str, str]:
    return {field: os.environ.get(env, default) for field, (env, default) in table.items()}


def actor_from_claims(
    claims: Mapping[str, Any], *, names: Mapping[str, str] | None = None, source: str = "OIDC"
) -> Actor:
    """Map identity claims (id-token claims or trusted headers) to an actor.

    Parameters
    ----------
    claims : mapping
        The claims; townships may be a list or a comma-separated string.
    names : mapping, optional
        Claim name of each field (``username``, ``display_name``, ``role``, ``townships``,
        ``department``); default from :data:`CLAIM_ENV`.
    source : str
        For messages (``OIDC``, ``代理``).

    Raises
    ------
    AuthError
        No username or no valid role claim (never a viewer by default), or a scope that does
        not fit the role.
    """
    names = dict(names or _names(CLAIM_ENV))
    where = "反向代理" if source == "代理" else "统一身份认证"

    def value(field: str) -> Any:
        got = claims.get(names[field])
        return unquote(got) if isinstance(got, str) else got

    username = value("username") or claims.get("sub") or claims.get("email")
    if not username:
        raise AuthError(
            f"{source}: the identity has no {names['username']!r} claim",
            zh=f"{where}未提供用户名（{names['username']}），无法登录。请联系管理员。",
        )
    role = value("role")
    if isinstance(role, list | tuple):  # e.g. Keycloak roles as a list: the one GapMap knows
        known = [r for r in role if str(r) in {x.value for x in Role} | set(ROLE_ZH.values())]
        role = known[0] if len(known) == 1 else None
    if not role:
        raise AuthError(
            f"{source}: user {username!r} has no valid {names['role']!r} claim",
            zh=f"用户「{username}」在{where}中没有 GapMap 角色（{names['role']}），"
            "不能使用本系统。请县级管理员在身份认证系统中为其分配角色。",
        )
    towns = value("townships") or ()
    if isinstance(towns, str):
        towns = [t for t in towns.replace("，", ",").replace(" ", ",").split(",") if t]
    try:
        return Actor.of(
            str(username),
            str(role),
            townships=[str(t) for t in towns],
            department=value("department") or None,
            display_name=str(value("display_name") or username),
        )
    except ActorError as err:
        raise AuthError(f"{source}: {err}", zh=f"身份认证信息不完整：{err.zh}") from err


def _claimed_name() -> str:
    """The username an identity claims (for the audit of a refusal), or ``?``."""
    try:
        if identity_source() == "headers":
            return st.context.headers.get(_names(HEADER_ENV)["username"]) or "?"
        claims = st.user.to_dict()
    except Exception:  # nothing to name
        return "?"
    name = claims.get(_names(CLAIM_ENV)["username"]) or claims.get("sub")
    return str(name or "?")


def _actor_from_headers() -> Actor:
    headers = st.context.headers
    names = _names(HEADER_ENV)
    claims = {name: headers.get(name) for name in names.values() if headers.get(name)}
    return actor_from_claims(claims, names=names, source="代理")


# -- the gate --------------------------------------------------------------------------------


def require_login(pages: Mapping[str, Iterable[Any]] | None = None) -> Actor:
    """Return the logged-in actor; in server mode without one, show only the login page.

    Call once in ``app/main.py`` before ``st.navigation``. Local mode: returns
    :meth:`Actor.local` and draws nothing. Server mode: a valid session (or OIDC identity,
    or trusted header) gives the actor and draws who is logged in (and 退出登录) in the
    sidebar; otherwise the login page is the only page and the script stops.

    Parameters
    ----------
    pages : mapping of section → st.Page, optional
        The app's navigation: a deep link to one of its pages (``/ledger``) then shows the
        login page at that address (no "page not found"), and the page itself after login.
    """
    _PATHS[:] = [p.url_path for section in (pages or {}).values() for p in section]
    if mode() == "local":
        actor = Actor.local()
        st.session_state[_ACTOR] = actor
        return actor
    _cookie_script()
    try:
        actor, source = _identify()
    except GapMapError as err:  # an identity that may not use the app (no role claim, …)
        if not st.session_state.get(_REFUSED):
            st.session_state[_REFUSED] = True
            account_store().record_external(
                "login_failed", _claimed_name(), reason="no_role", detail=err.zh, client=_client()
            )
        _refuse(err.zh)
        raise AssertionError("unreachable") from None
    if actor is None:
        _login_gate()
        raise AssertionError("unreachable")
    if st.session_state.get(_ACTOR) != actor:
        if source != "accounts":  # built-in logins are audited by the account store
            account_store().record_external(
                "login_ok", actor.username, reason=source, detail=actor.label, client=_client()
            )
        _register(actor)
    st.session_state[_ACTOR], st.session_state[_SOURCE] = actor, source
    _sidebar(actor, source)
    return actor


def current_actor() -> Actor:
    """The actor of this browser session (local mode: :meth:`Actor.local`).

    Raises
    ------
    AuthError
        In server mode before a login (a page drawn without :func:`require_login`).
    """
    actor = st.session_state.get(_ACTOR)
    if actor is not None:
        return actor
    if mode() == "local":
        return Actor.local()
    raise AuthError("not logged in", zh="请先登录。")


def current_session() -> Session | None:
    """The built-in account session of this browser (None for OIDC, headers, local mode)."""
    if mode() == "local":
        return None
    return account_store().session(st.session_state.get(_TOKEN))


def _identify() -> tuple[Actor | None, str]:
    if identity_source() == "headers":
        return _actor_from_headers(), "headers"
    if _oidc_configured() and st.user.is_logged_in:
        return actor_from_claims(st.user.to_dict()), "oidc"
    store = account_store()
    # the token of this run's login, else the cookie the browser sent when it connected
    for token in (st.session_state.get(_TOKEN), st.context.cookies.get(COOKIE)):
        session = store.session(token)
        if session is not None:
            st.session_state[_TOKEN] = token
            return session.actor, "accounts"
    if st.session_state.pop(_TOKEN, None) is not None:  # expired or revoked while open
        st.session_state[_NOTICE] = "登录已过期或已在别处退出，请重新登录。"
        st.session_state[_COOKIE_TODO] = "clear"
    st.session_state.pop(_ACTOR, None)
    return None, "accounts"


def _register(actor: Actor) -> None:
    """Give the ledger the actor's database role (row-level security on PostgreSQL)."""
    from app.state import ledger

    led = ledger()
    try:
        led.register_actor(actor)
    except Exception:  # logged; the ledger then refuses this user's writes itself
        logger.exception("could not register %s with the ledger", actor.username)


# -- cookie ------------------------------------------------------------------------------------
#
# How the session survives a reload. Streamlit 1.67 reads cookies (st.context.cookies: those
# the browser sent when its WebSocket connected) but has no API that sets one on a rerun:
# the script talks to the browser over the WebSocket, not through an HTTP response. Options:
# (a) an HttpOnly cookie from an HTTP route — Streamlit 1.67's ASGI mode (st.App with custom
#     routes, run by uvicorn) could do it, but would change how the server is started and
#     the token still has to reach that route from the page;
# (b) st.components.v1.html — an iframe, needs parent.document;
# (c) st.html(..., unsafe_allow_javascript=True) — not iframed, runs in the page itself.
# We use (c): a few lines of our own JavaScript set ``gapmap_session`` with SameSite=Strict
# (never sent by another site's request), Secure whenever the page is served over https
# (behind nginx/TLS), Path=/ and Max-Age = the session's absolute lifetime. The token is
# random (256 bits) and worthless without the server: logout, disabling the account or a
# password change revoke it server-side, and it expires there (8 h idle, 7 d at most). It
# is not HttpOnly (JavaScript sets it); no user-supplied HTML is rendered with scripts.


def _cookie_script() -> None:
    todo = st.session_state.pop(_COOKIE_TODO, None)
    if todo is None:
        return
    token = st.session_state.get(_TOKEN) if todo == "set" else None
    if token:
        max_age = int(account_store().lifetime.total_seconds())
        value = f"{COOKIE}=' + encodeURIComponent({json.dumps(token)}) + '; Max-Age={max_age}"
    else:
        value = f"{COOKIE}=; Max-Age=0"
    st.html(
        "<script>document.cookie = '"
        + value
        + "; Path=/; SameSite=Strict' + (location.protocol === 'https:' ? '; Secure' : '');"
        "</script>",
        unsafe_allow_javascript=True,
        width="content",
    )


# -- pages -------------------------------------------------------------------------------------


_PATHS: list[str] = []  # the url paths of the app's pages (require_login's pages)


def _only(page: Callable[[], None], title: str) -> None:
    """Run ``page`` as the only page: at ``/login`` and at every address of the app's pages."""
    paths = [p for p in dict.fromkeys([*_PATHS, "password", "accounts"]) if p and p != "login"]
    st.navigation(
        [
            st.Page(page, title=title, icon=":material/login:", url_path="login", default=True),
            *(st.Page(page, title=title, url_path=p, visibility="hidden") for p in paths),
        ],
        position="hidden",
    ).run()
    st.stop()


def _login_gate() -> None:
    """Show the login page as the only page of the app, then stop the script."""
    _only(_login_page, "登录")


def _login_page() -> None:
    _hide_sidebar()
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title("乡村短板一张图")
        st.caption("GapMap · 县级整改台账系统 — 请登录")
        notice = st.session_state.pop(_NOTICE, None)
        if notice:
            st.info(notice)
        with st.form("auth_login", border=True):
            username = st.text_input("用户名", key="auth_username", autocomplete="username")
            password = st.text_input(
                "密码", type="password", key="auth_password", autocomplete="current-password"
            )
            submitted = st.form_submit_button("登录", type="primary", width="stretch")
        if submitted:
            _login(username, password)
        if _oidc_configured():
            st.divider()
            if st.button("使用统一身份认证登录", key="auth_oidc", width="stretch"):
                st.login()
        st.caption("忘记密码或账户被锁定，请联系县级管理员。")


def _login(username: str, password: str) -> None:
    if not username.strip() or not password:
        st.error("请输入用户名和密码。")
        return
    try:
        session = account_store().authenticate(username, password, client=_client())
    except AuthError as err:
        st.error(err.zh)
        return
    st.session_state[_TOKEN] = session.token
    st.session_state[_COOKIE_TODO] = "set"
    st.session_state.pop("auth_password", None)
    st.rerun()


def _refuse(message_zh: str) -> None:
    """An identity that may not use the app: say why, offer to log out, show nothing else."""

    def refused() -> None:
        _hide_sidebar()
        st.title("乡村短板一张图")
        st.error(message_zh)
        if _oidc_configured() and st.user.is_logged_in and st.button("退出登录", key="auth_out"):
            st.logout()

    st.navigation([st.Page(refused, title="无权使用", url_path="login")], position="hidden").run()
    st.stop()


def _hide_sidebar() -> None:
    st.html(
        "<style>[data-testid='stSidebar'],[data-testid='stSidebarCollapsedControl'],"
        "[data-testid='stExpandSidebarButton']{display:none}</style>"
    )


def _sidebar(actor: Actor, source: str) -> None:
    with st.sidebar:
        scope = ""
        if actor.townships:
            scope = f" · 乡镇 {'、'.join(sorted(actor.townships))}"
        elif actor.department:
            scope = f" · {actor.department}"
        st.caption(f":material/account_circle: 已登录：**{actor.label}**{scope}")
        if source != "headers":
            st.button("退出登录", key="auth_logout", on_click=_logout, args=(source,))


def _logout(source: str) -> None:
    if source == "oidc":
        st.session_state.pop(_ACTOR, None)
        st.logout()
        return
    token = st.session_state.pop(_TOKEN, None)
    account_store().logout(token, client=_client())
    cookie = st.context.cookies.get(COOKIE)
    if cookie and cookie != token:  # the browser's cookie, if it is another session
        account_store().logout(cookie, client=_client())
    st.session_state.pop(_ACTOR, None)
    st.session_state[_COOKIE_TODO] = "clear"
    st.session_state[_NOTICE] = "已退出登录。"


def account_pages(actor: Actor) -> dict[str, list[Any]]:
    """The 账户 section of the navigation: password change, and account admin for admins.

    Empty in local mode (no accounts there) and for identities from OIDC or a proxy (their
    passwords live with the identity provider).
    """
    if mode() == "local":
        return {}
    pages = []
    if st.session_state.get(_SOURCE) == "accounts":
        pages.append(
            st.Page(
                VIEWS / "account_password.py",
                title="修改密码",
                icon=":material/password:",
                url_path="password",
            )
        )
    if actor.role is Role.ADMIN:
        pages.append(
            st.Page(
                VIEWS / "accounts.py",
                title="账户管理",
                icon=":material/manage_accounts:",
                url_path="accounts",
            )
        )
    return {"账户": pages} if pages else {}
