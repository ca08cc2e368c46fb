"""`python -m scripts.users`: bootstrap the first admin, manage accounts, exit 2 in Chinese."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from layers.store.accounts import AccountStore

ROOT = Path(__file__).resolve().parents[1]
PW = "gapmap-secret-1"


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'gapmap.sqlite'}"


class Proc(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


def users(db, *args, stdin=None):
    """Run ``scripts.users`` in this process (a subprocess costs 1.3 s of imports each)."""
    from scripts.users import main

    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin or "")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(["--db", db, *args])
            except SystemExit as exc:  # argparse's own exit
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        sys.stdin = old_stdin
    return Proc(code, out.getvalue(), err.getvalue())


def ok(proc):
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_bootstrap_add_list_disable_enable_reset_audit(db):
    out = ok(users(db, "add", "县管理员", "--role", "admin", "--password-stdin", stdin=PW + "\n"))
    assert "第一个县级管理员" in out
    # a second admin needs --by
    proc = users(db, "add", "李四", "--role", "admin", "--password-stdin", stdin=PW)
    assert proc.returncode == 2 and "--by" in proc.stderr
    out = ok(
        users(
            db,
            "add",
            "王明",
            "--role",
            "township",
            "--scope",
            "640324103",
            "--display-name",
            "王明",
            "--by",
            "县管理员",
            "--password-stdin",
            stdin=PW,
        )
    )
    assert "乡镇填报员" in out and "640324103" in out
    ok(
        users(
            db,
            "add",
            "水务张",
            "--role",
            "department",
            "--department",
            "水务局",
            "--by",
            "县管理员",
            "--password-stdin",
            stdin=PW,
        )
    )
    listing = ok(users(db, "list"))
    assert "王明" in listing and "水务局" in listing and "正常" in listing
    ok(users(db, "disable", "王明", "--by", "县管理员"))
    assert "已停用" in ok(users(db, "list"))
    ok(users(db, "enable", "王明", "--by", "县管理员"))
    ok(users(db, "reset", "王明", "--by", "县管理员", "--password-stdin", stdin="new-password-2"))
    ok(users(db, "passwd", "王明", "--password-stdin", stdin="new-password-2\nnewer-password-3\n"))
    ok(users(db, "role", "王明", "--role", "verifier", "--by", "县管理员"))
    with AccountStore(db) as store:
        assert store.authenticate("王明", "newer-password-3").actor.role.value == "verifier"
        frame = store.accounts().set_index("username")
        assert frame.loc["县管理员", "created_by"] == "setup"
        assert frame.loc["王明", "created_by"] == "县管理员"
    audit = ok(users(db, "audit", "--user", "王明"))
    for label in ("创建账户", "停用账户", "启用账户", "管理员重置密码", "修改密码", "修改角色"):
        assert label in audit
    assert "cli:" in audit


def test_db_from_environment(db):
    ok(
        subprocess.run(
            [sys.executable, "-m", "scripts.users", "add", "admin", "--role", "admin",
             "--password-stdin"],
            cwd=ROOT, input=PW, capture_output=True, text=True, timeout=120,
            env={**os.environ, "GAPMAP_DB_URL": db},
        )
    )  # fmt: skip
    assert "admin" in ok(users(db, "list"))


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("add", "admin", "--role", "admin", "--password-stdin"), "short", "至少需要 10"),
        (("add", "admin", "--role", "admin", "--password-stdin"), "", "标准输入"),
        (("add", "王明", "--role", "township", "--password-stdin"), PW, "县级管理员"),
        (("add", "王明", "--role", "boss"), None, "参数错误"),
        (("disable", "王明", "--by", "nobody"), None, "管理员"),
        (("passwd", "nobody", "--password-stdin"), "a-password-1\nb-password-2\n", "原密码"),
    ],
)
def test_failures_exit_2_in_chinese(db, args, stdin, message):
    proc = users(db, *args, stdin=stdin)
    assert proc.returncode == 2, proc.stdout
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_township_without_scope_and_non_admin_by(db):
    ok(users(db, "add", "admin", "--role", "admin", "--password-stdin", stdin=PW))
    proc = users(db, "add", "王明", "--role", "township", "--by", "admin", "--password-stdin",
                 stdin=PW)  # fmt: skip
    assert proc.returncode == 2 and "乡镇代码" in proc.stderr
    ok(users(db, "add", "看", "--role", "viewer", "--by", "admin", "--password-stdin", stdin=PW))
    proc = users(db, "disable", "admin", "--by", "看")
    assert proc.returncode == 2 and "不是已启用的县级管理员" in proc.stderr


def test_unreachable_database_is_a_chinese_message(tmp_path):
    # a real process: the exit code and stderr as a shell sees them
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.users", "--db",
         "postgresql+psycopg://nobody:secret@127.0.0.1:1/none", "list"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2 and "无法访问账户数据库" in proc.stderr
    assert "secret" not in proc.stderr and "Traceback" not in proc.stderr
