"""Manage the built-in accounts of server mode from the command line.

Usage::

    python -m scripts.users add 王明 --role township --scope 640324103 [--display-name 王明]
        [--department 水务局] [--password-stdin] [--by 管理员]
    python -m scripts.users disable 王明 --by 管理员
    python -m scripts.users enable 王明 --by 管理员
    python -m scripts.users reset 王明 --by 管理员 [--password-stdin]
    python -m scripts.users role 王明 --role verifier --by 管理员
    python -m scripts.users passwd 王明            (one's own password: old, then new)
    python -m scripts.users list
    python -m scripts.users audit [--user 王明] [--limit 50]

Roles: admin (县级管理员), township (乡镇填报员, ``--scope`` township codes, repeat or
comma-separate), department (行业部门, ``--department`` 交通局/商务局/卫健局/水务局),
verifier (验收), viewer (查看).

The database is ``--db`` or ``$GAPMAP_DB_URL`` (default: ``out/gapmap.sqlite``). The first
administrator is created while none exists (``add NAME --role admin``; audited as by
``setup``); after that every change names the administrator it is made for with ``--by``.
Whoever runs this command has the database's credentials, so ``--by`` is what the audit
records, not a second login.

Passwords are read with a hidden prompt (twice), or one line from standard input with
``--password-stdin`` (``passwd`` reads two lines: the old and the new one). Every failure
ends with exit code 2 and a Chinese message.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import socket
import sys
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from layers import GapMapError
from layers.store.accounts import EVENT_ZH, AccountStore, AuthError, database_url
from layers.store.actors import DEPARTMENTS, Actor, Role
from scripts.guard import guarded

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DB = ROOT / "out" / "gapmap.sqlite"

log = logging.getLogger("gapmap.users")


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors in Chinese (exit code 2, as every other failure)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"参数错误：{message}（用 --help 查看用法）\n")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; every failure becomes exit code 2 and a Chinese message."""
    return guarded(lambda: _main(argv), argv, inputs_zh="命令参数")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m scripts.users",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--db", default=None, help="database URL (default $GAPMAP_DB_URL)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def with_by(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--by", default=None, help="the administrator making the change")
        return p

    def with_role(p: argparse.ArgumentParser, *, required: bool) -> None:
        p.add_argument("--role", required=required, choices=[r.value for r in Role])
        p.add_argument(
            "--scope",
            action="append",
            default=[],
            help="township code(s) of a township editor (repeat or comma-separate)",
        )
        p.add_argument("--department", default=None, choices=list(DEPARTMENTS))

    add = with_by(sub.add_parser("add", help="create an account"))
    add.add_argument("username")
    with_role(add, required=True)
    add.add_argument("--display-name", default="")
    add.add_argument("--password-stdin", action="store_true")
    for name in ("disable", "enable"):
        with_by(sub.add_parser(name, help=f"{name} an account")).add_argument("username")
    reset = with_by(sub.add_parser("reset", help="set a new password for a user"))
    reset.add_argument("username")
    reset.add_argument("--password-stdin", action="store_true")
    role = with_by(sub.add_parser("role", help="change a user's role and scope"))
    role.add_argument("username")
    with_role(role, required=True)
    passwd = sub.add_parser("passwd", help="change one's own password")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true")
    sub.add_parser("list", help="list the accounts")
    audit = sub.add_parser("audit", help="show the audit trail (newest first)")
    audit.add_argument("--user", default=None)
    audit.add_argument("--limit", type=int, default=50)
    return parser


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    url = args.db or database_url(DEFAULT_DB)
    try:
        with AccountStore(url) as store:
            return _run(store, args)
    except sa.exc.SQLAlchemyError as err:
        shown = sa.make_url(url).render_as_string(hide_password=True)
        raise GapMapError(
            f"cannot use the accounts database {shown}: {type(err).__name__}",
            zh=f"无法访问账户数据库（{shown}）：{type(err).__name__}。请检查 --db 或 "
            "GAPMAP_DB_URL，并确认已运行 python -m scripts.db upgrade 建表。",
        ) from err


def _client() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid()) if hasattr(os, "getuid") else "?"
    return f"cli:{user}@{socket.gethostname()}"


def _run(store: AccountStore, args: argparse.Namespace) -> int:
    client = _client()
    cmd = args.command
    if cmd == "list":
        _print_accounts(store)
        return 0
    if cmd == "audit":
        _print_audit(store, user=args.user, limit=args.limit)
        return 0
    if cmd == "passwd":
        old, new = _passwords(args.password_stdin, old=True)
        store.set_password(args.username, old, new, client=client)
        print(f"已修改「{args.username}」的密码；该用户的其他登录会话已结束。")
        return 0
    if cmd == "add" and args.role == Role.ADMIN.value and not store.has_admin():
        if args.by:
            raise AuthError(
                "no administrator exists yet; create the first one without --by",
                zh="还没有县级管理员：创建第一个管理员时不要加 --by。",
            )
        (password,) = _passwords(args.password_stdin)
        store.add_first_admin(
            args.username, password=password, display_name=args.display_name, client=client
        )
        print(f"已创建第一个县级管理员「{args.username}」。")
        return 0
    by = _admin(store, args.by)
    if cmd == "add":
        (password,) = _passwords(args.password_stdin)
        actor = store.add(
            args.username,
            role=args.role,
            password=password,
            display_name=args.display_name,
            townships=_scope(args.scope),
            department=args.department,
            by=by,
            client=client,
        )
        print(f"已创建账户「{actor.username}」：{actor.label}{_scope_zh(actor)}。")
    elif cmd == "disable":
        store.disable(args.username, by=by, client=client)
        print(f"已停用「{args.username}」，其登录会话已全部结束。")
    elif cmd == "enable":
        store.enable(args.username, by=by, client=client)
        print(f"已启用「{args.username}」。")
    elif cmd == "reset":
        (password,) = _passwords(args.password_stdin)
        store.reset_password(args.username, password, by=by, client=client)
        print(f"已重置「{args.username}」的密码，其登录会话已全部结束。")
    elif cmd == "role":
        actor = store.set_role(
            args.username,
            role=args.role,
            townships=_scope(args.scope),
            department=args.department,
            by=by,
            client=client,
        )
        print(f"「{actor.username}」现为 {actor.label}{_scope_zh(actor)}；其登录会话已结束。")
    return 0


def _admin(store: AccountStore, username: str | None) -> Actor:
    """The administrator named by ``--by`` (an enabled admin account)."""
    if not username:
        if not store.has_admin():
            raise AuthError(
                "no administrator exists yet: first run `add NAME --role admin`",
                zh="还没有县级管理员：请先运行 python -m scripts.users add 用户名 --role admin "
                "创建第一个管理员。",
            )
        raise AuthError(
            "name the administrator making the change with --by",
            zh="请用 --by 管理员用户名 指明由哪位县级管理员操作（记入审计）。",
        )
    frame = store.accounts().set_index("username")
    if (
        username not in frame.index
        or frame.loc[username, "role"] != Role.ADMIN.value
        or frame.loc[username, "disabled"]
    ):
        raise AuthError(
            f"--by {username!r} is not an enabled administrator account",
            zh=f"--by「{username}」不是已启用的县级管理员账户。",
        )
    return store.actor(username)


def _scope(values: list[str]) -> list[str]:
    return [t.strip() for v in values for t in v.replace("，", ",").split(",") if t.strip()]


def _scope_zh(actor: Actor) -> str:
    if actor.townships:
        return f"，乡镇 {'、'.join(sorted(actor.townships))}"
    if actor.department:
        return f"，部门 {actor.department}"
    return ""


def _passwords(from_stdin: bool, *, old: bool = False) -> tuple[str, ...]:
    """Read the password(s): lines of stdin, or hidden prompts (the new one twice)."""
    if from_stdin:
        lines = [line.rstrip("\r\n") for line in sys.stdin.readlines()]
        need = 2 if old else 1
        if len(lines) < need or not all(lines[:need]):
            raise AuthError(
                "--password-stdin: give the password on standard input",
                zh="--password-stdin：请在标准输入中给出密码"
                + ("（两行：原密码、新密码）" if old else "（一行）")
                + "。",
            )
        return tuple(lines[:need])
    current = (getpass.getpass("原密码："),) if old else ()
    new = getpass.getpass("新密码：" if old else "密码：")
    if getpass.getpass("再次输入：") != new:
        raise AuthError("the passwords differ", zh="两次输入的密码不一致，未作修改。")
    return (*current, new)


def _local(when) -> str:
    """A UTC time (pandas Timestamp or None) in the server's local time."""
    if when is None or pd.isna(when):
        return "—"
    return pd.Timestamp(when).to_pydatetime().astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _print_accounts(store: AccountStore) -> None:
    frame = store.accounts()
    if frame.empty:
        print("（还没有账户）")
        return
    for r in frame.itertuples():
        state = "已停用" if r.disabled else ("已锁定" if r.locked else "正常")
        scope = r.townships or r.department or ""
        last = (
            r.last_login.astimezone().strftime("%Y-%m-%d %H:%M")
            if r.last_login is not None
            else "—"
        )
        print(f"{r.username}\t{r.display_name}\t{r.role_zh}\t{scope}\t{state}\t最近登录 {last}")


def _print_audit(store: AccountStore, *, user: str | None, limit: int) -> None:
    for r in store.audit(username=user, limit=limit).itertuples():
        reason = f"（{r.reason_zh}）" if r.reason else ""
        print(
            f"{_local(r.at)}\t{EVENT_ZH.get(r.event, r.event)}{reason}\t"
            f"{r.username}\t由 {r.by}\t{r.client}\t{r.detail}".rstrip()
        )


if __name__ == "__main__":
    sys.exit(main())
