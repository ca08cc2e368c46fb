"""Create or migrate the GapMap server database (every store's tables, Alembic).

Usage::

    python -m scripts.db upgrade [--db URL]    bring every store (ledger, accounts, datasets,
                                               region) to its newest schema
    python -m scripts.db current [--db URL]    print the revisions the database is at

The database is ``--db`` or ``$GAPMAP_DB_URL`` (``postgresql+psycopg://owner:…@127.0.0.1/
gapmap``). Run ``upgrade`` as the database's owner role (``scripts/server.sh`` does): the app
itself connects as a role that may not change the schema. Every failure ends with exit
code 2 and a Chinese message.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import sqlalchemy as sa

from layers import GapMapError
from layers.store import migrate
from scripts.guard import guarded

log = logging.getLogger("gapmap.db")

DB_URL_ENV = "GAPMAP_DB_URL"


class DatabaseError(GapMapError, RuntimeError):
    """The database cannot be reached or migrated."""


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors in Chinese (exit code 2, as every other failure)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"参数错误：{message}（用 --help 查看用法）\n")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; any failure ends with exit code 2 and a message, never a traceback."""
    return guarded(lambda: _main(argv), argv, inputs_zh="数据库连接或迁移脚本")


def _main(argv: list[str] | None) -> int:
    parser = _Parser(
        prog="python -m scripts.db",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["upgrade", "current"])
    parser.add_argument("--db", help=f"database URL (default: ${DB_URL_ENV})")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    url = (args.db or os.environ.get(DB_URL_ENV, "")).strip()
    if not url:
        raise DatabaseError(
            f"no database given: pass --db URL or set ${DB_URL_ENV}",
            zh=f"未指定数据库：请用 --db 给出数据库地址，或设置环境变量 {DB_URL_ENV}"
            "（如 postgresql+psycopg://gapmap_owner:密码@127.0.0.1:5432/gapmap）",
        )
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ValueError) as exc:
        raise DatabaseError(
            f"not a database URL: {exc}",
            zh="数据库地址格式不对，应为 postgresql+psycopg://用户:密码@主机:端口/库名",
        ) from exc
    where = engine.url.render_as_string(hide_password=True)
    try:
        if args.command == "upgrade":
            migrate.upgrade(engine)
            with engine.connect() as conn:
                heads = sorted(migrate.current_heads(conn))
            print(f"数据库已是最新结构（{where}）：{'、'.join(heads)}")
        else:
            with engine.connect() as conn:
                heads = sorted(migrate.current_heads(conn))
            missing = sorted(migrate.head_revisions() - set(heads))
            print(f"{where}：{'、'.join(heads) or '（空库，尚未建表）'}")
            if missing:
                print(f"待升级：{'、'.join(missing)}（运行 python -m scripts.db upgrade）")
    except sa.exc.OperationalError as exc:
        raise DatabaseError(
            f"cannot connect to {where}: {exc.orig}",
            zh=f"无法连接数据库 {where}：请检查 PostgreSQL 是否已启动、用户名和密码是否正确"
            f"（{str(exc.orig).strip().splitlines()[0] if exc.orig else exc}）",
        ) from exc
    except sa.exc.ProgrammingError as exc:
        raise DatabaseError(
            f"migration refused on {where}: {exc.orig}",
            zh=f"数据库 {where} 拒绝建表：请以数据库所有者身份运行（scripts/server.sh 会这样做）"
            f"（{str(exc.orig).strip().splitlines()[0] if exc.orig else exc}）",
        ) from exc
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
