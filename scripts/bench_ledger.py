"""Storage of the 整改台账 per 100 snapshots of the demo: the old layout against the new one.

The old layout is the ledger code of 9b34b0f (every snapshot row repeats the item texts),
loaded from git; the new one is :class:`geo.ledger.Ledger` (texts stored once, by hash).
Both record the same demo assessment ``--snapshots`` times, side by side in one run::

    python -m scripts.bench_ledger --snapshots 100 [--pg-url postgresql+psycopg://…]

SQLite: file size (after a WAL checkpoint). PostgreSQL: pg_total_relation_size of every
table of a fresh database per layout.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from geo.assessment import assess
from geo.ledger import Ledger, problem_items
from geo.settings import load_settings
from layers import read_dataset
from layers.store.actors import Actor

ROOT = Path(__file__).resolve().parents[1]
logger = logging.getLogger("bench_ledger")


def _old_module(folder: Path):
    src = subprocess.run(
        ["git", "show", "9b34b0f:geo/ledger/store.py"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    path = folder / "old_store.py"
    path.write_text(src, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("gapmap_old_ledger_store", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _record(led, items, n, *, old: bool, a) -> float:
    t0 = time.perf_counter()
    who = {"user": "bench"} if old else {"actor": Actor.of("bench", "admin")}
    for i in range(n):
        led.record_snapshot(items, dataset_hash=f"{a.dataset_hash}-{i}", settings=a.settings,
                            note=f"第{i + 1}次", **who)  # fmt: skip
    return time.perf_counter() - t0


def _sqlite_mb(path: Path) -> float:
    eng = sa.create_engine(f"sqlite:///{path}")
    with eng.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    eng.dispose()
    return path.stat().st_size / 1e6


def _pg_mb(url: sa.URL) -> float:
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        size = conn.exec_driver_sql(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r'"
        ).scalar()
    eng.dispose()
    return float(size) / 1e6


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--snapshots", type=int, default=100)
    p.add_argument("--pg-url", default="", help="also measure on this PostgreSQL server")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    dataset = read_dataset(ROOT / "data" / "demo" / "tongxin.gpkg")
    a = assess(dataset, load_settings())
    items = problem_items(a)
    n = args.snapshots
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old = _old_module(tmp)
        for label, make, is_old in (("old", old.Ledger, True), ("new", Ledger, False)):
            folder = tmp / label
            with make(folder) as led:
                secs = _record(led, items, n, old=is_old, a=a)
            mb = _sqlite_mb(folder / "gapmap_ledger.sqlite")
            rows.append(("sqlite", label, mb, secs))
        if args.pg_url:
            admin = sa.create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
            for label, make, is_old in (("old", old.Ledger, True), ("new", Ledger, False)):
                name = f"gapmap_bench_{uuid.uuid4().hex[:10]}"
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
                url = sa.make_url(args.pg_url).set(database=name)
                try:
                    with make(url, evidence_dir=tmp / "ev") as led:
                        secs = _record(led, items, n, old=is_old, a=a)
                    rows.append(("postgresql", label, _pg_mb(url), secs))
                finally:
                    with admin.connect() as conn:
                        conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
            admin.dispose()
    print(f"demo: {len(items)} items per snapshot, {n} snapshots")
    print(f"{'database':<11} {'layout':<6} {'MB':>9} {'MB/100 snapshots':>17} {'s/snapshot':>11}")
    for db, label, mb, secs in rows:
        print(f"{db:<11} {label:<6} {mb:9.2f} {mb * 100 / n:17.2f} {secs / n:11.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
