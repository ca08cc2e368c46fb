"""A second process for the ledger tests: a concurrent editor, or a writer to be killed.

Run as ``python -m tests.ledger_worker MODE --db PATH ...``; prints one JSON line per
outcome on stdout. Modes:

``edit``
    Read the item, touch ``--ready``, wait for ``--go``, then edit ``--field=--value``
    with the version read (a stale one for the loser). On a conflict, print it, reload
    and apply the same edit again (what the app does after showing the conflict).
``crash-snapshot``
    Record a snapshot of ``--n`` large synthetic items; once the items are written but
    before the transaction commits, touch ``--marker`` and sleep (to be killed).
``crash-loop``
    Edit ``--key`` in a loop; touch ``--marker`` after the first commit (to be killed at
    a random moment).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from sqlalchemy import event

from geo.ledger import ConflictError, Ledger, make_items
from layers.store.actors import Actor


def _wait_for(path: Path, timeout_s: float = 30.0) -> None:
    end = time.monotonic() + timeout_s
    while not path.exists():
        if time.monotonic() > end:
            raise TimeoutError(path)
        time.sleep(0.001)


def _edit(args: argparse.Namespace) -> None:
    ledger = Ledger(args.db)
    version = int(ledger.item(args.key)["version"])
    Path(args.ready).touch()
    _wait_for(Path(args.go))
    edit = {args.field: args.value}
    try:
        item = ledger.update(
            args.key, actor=Actor.of(args.user, "admin"), expected_version=version, **edit
        )
        print(json.dumps({"outcome": "won", "version": int(item["version"])}), flush=True)
        return
    except ConflictError as exc:
        print(
            json.dumps(
                {"outcome": "conflict", "zh": exc.zh, "actual": exc.actual_version},
                ensure_ascii=False,
            ),
            flush=True,
        )
    fresh = int(ledger.item(args.key)["version"])
    item = ledger.update(
        args.key, actor=Actor.of(args.user, "admin"), expected_version=fresh, **edit
    )
    print(json.dumps({"outcome": "retried", "version": int(item["version"])}), flush=True)


def _crash_snapshot(args: argparse.Namespace) -> None:
    ledger = Ledger(args.db)

    @event.listens_for(ledger.engine, "before_cursor_execute")
    def _stall(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO EVENTS"):
            Path(args.marker).touch()
            time.sleep(120)  # inside the open write transaction: the test kills us here

    filler = "砂石路" * 300
    items = make_items(
        {
            "key": [f"crash:{i:06d}" for i in range(args.n)],
            "indicator": "hard_road",
            "unit_kind": "natural_village",
            "unit_code": [f"{i:06d}" for i in range(args.n)],
            "problem_type": "未通硬化路",
            "description": [f"{i}{filler}" for i in range(args.n)],
        }
    )
    ledger.record_snapshot(
        items, actor=Actor.of("crash", "admin"), dataset_hash="crash", settings={"p": 1}
    )
    print(json.dumps({"outcome": "not killed"}), flush=True)


def _crash_loop(args: argparse.Namespace) -> None:
    ledger = Ledger(args.db)
    i = 0
    while True:
        version = int(ledger.item(args.key)["version"])
        ledger.update(
            args.key, actor=Actor.of("loop", "admin"), expected_version=version, notes=f"第{i}次"
        )
        if i == 0:
            Path(args.marker).touch()
        i += 1


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["edit", "crash-snapshot", "crash-loop"])
    p.add_argument("--db", required=True)
    p.add_argument("--key")
    p.add_argument("--user")
    p.add_argument("--field")
    p.add_argument("--value")
    p.add_argument("--ready")
    p.add_argument("--go")
    p.add_argument("--marker")
    p.add_argument("--n", type=int, default=5000)
    args = p.parse_args(argv)
    {"edit": _edit, "crash-snapshot": _crash_snapshot, "crash-loop": _crash_loop}[args.mode](args)


if __name__ == "__main__":
    main(sys.argv[1:])
