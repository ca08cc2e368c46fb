"""A bounded load test of the 整改台账 on PostgreSQL: many users editing through the API.

``--users`` simulated users (threads, each its own township editor Actor over one of four
townships) make ``--edits`` edits each: one to three of their township's items at once
(``apply_changes``, in random order, with the ``expected_version`` each read), so that they
conflict with each other and lock several items at once. Then it checks:

- 0 lost updates: every applied edit's version is in the item's history with its notes and
  user, and every event in the history is an applied edit (or the snapshot's);
- 0 unreported conflicts: every refused edit raised ConflictError and is in the audit
  (``rejected``), and nothing else went wrong (no deadlock or database error surfaced).

::

    python -m scripts.bench_ledger_load --url postgresql+psycopg://postgres:…@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from geo.ledger import Change, ConflictError, Ledger, make_items
from layers.store.actors import Actor

logger = logging.getLogger("bench_ledger_load")

TOWNSHIPS = ("640324100", "640324101", "640324102", "640324103")
ADMIN = Actor.of("load_admin", "admin")


def _items(n: int):
    keys = [f"hard_road:L{i:04d}" for i in range(n)]
    return make_items(
        {
            "key": keys,
            "indicator": "hard_road",
            "unit_kind": "natural_village",
            "unit_code": [k.split(":")[-1] for k in keys],
            "township_code": [TOWNSHIPS[i % len(TOWNSHIPS)] for i in range(n)],
            "township_name": "镇",
            "problem_type": "未通硬化路",
            "description": "负载测试",
            "measure": "硬化",
        }
    )


def run_load(
    url: str | sa.URL,
    *,
    users: int = 20,
    edits: int = 200,
    items: int = 40,
    townships: int = 4,
    seed: int = 0,
    evidence_dir: Path | None = None,
) -> dict:
    """Run the load on a fresh ledger at ``url`` (an empty database); return the findings.

    Returns
    -------
    dict
        ``applied``, ``conflicts``, ``errors`` (unexpected exceptions, as text),
        ``lost`` (applied edits missing from the history), ``unreported`` (events that
        are no applied edit, plus conflicts missing from the audit), ``p50_ms``,
        ``p95_ms`` (save time of one apply_changes), ``seconds``.
    """
    led = Ledger(url, evidence_dir=evidence_dir)
    try:
        towns = TOWNSHIPS[:townships]
        frame = _items(items)
        frame = frame.assign(township_code=[towns[i % len(towns)] for i in range(len(frame))])
        led.record_snapshot(frame, actor=ADMIN, dataset_hash="load", settings={})
        actors = [
            Actor.of(f"load_u{i:02d}", "township", townships=[towns[i % len(towns)]])
            for i in range(users)
        ]
        for a in actors:
            led.register_actor(a)
        scope = {t: frame.loc[frame["township_code"] == t, "key"].tolist() for t in TOWNSHIPS}
        applied: list[tuple[str, int, str, str]] = []
        conflicts: Counter[str] = Counter()
        errors: list[str] = []
        times: list[float] = []
        lock = threading.Lock()
        start = threading.Barrier(users)

        def work(i: int, actor: Actor) -> None:
            rng = random.Random(seed * 1000 + i)
            mine = scope[next(iter(actor.townships))]
            start.wait()
            for j in range(edits):
                keys = rng.sample(mine, rng.randint(1, 3))
                try:
                    current = led.items().set_index("key").loc[keys, "version"]
                    note = f"{actor.username}-{j}"
                    changes = [Change(k, int(current[k]), None, {"notes": note}) for k in keys]
                    t0 = time.perf_counter()
                    versions = led.apply_changes(changes, actor=actor)
                    dt = time.perf_counter() - t0
                    with lock:
                        times.append(dt)
                        applied.extend((k, v, note, actor.username)
                                       for k, v in zip(keys, versions, strict=True))  # fmt: skip
                except ConflictError:
                    with lock:
                        conflicts[actor.username] += 1
                except Exception as exc:  # anything else is a finding
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")

        t0 = time.perf_counter()
        threads = [
            threading.Thread(target=work, args=(i, a), name=f"user{i}")
            for i, a in enumerate(actors)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - t0

        done = {(k, v): (note, who) for k, v, note, who in applied}
        lost, unreported = [], []
        for key in frame["key"]:
            hist = led.history(key, include_rejected=True)
            ev = hist[hist["outcome"] == "applied"]
            for v, note, who in zip(ev["version"], ev["notes"], ev["user"], strict=True):
                if int(v) == 1:
                    continue
                if (key, int(v)) not in done:
                    unreported.append(f"{key} v{v} by {who}")
                elif done[(key, int(v))] != (note, who):
                    lost.append(f"{key} v{v}: {done[(key, int(v))]} ≠ {(note, who)}")
            versions = set(ev["version"].astype(int))
            lost += [f"{k} v{v}" for (k, v) in done if k == key and v not in versions]
        audit = Counter()
        with led.engine.connect() as conn:
            for who, n in conn.execute(
                sa.text("SELECT by_user, count(*) FROM rejected GROUP BY by_user")
            ):
                audit[who] = n
        if audit != conflicts:
            unreported.append(f"conflicts {dict(conflicts)} vs audit {dict(audit)}")
        ms = np.array(times) * 1000 if times else np.array([0.0])
        return {
            "users": users,
            "edits": edits,
            "applied": len({(k, v) for k, v, *_ in applied}),
            "saves": len(times),
            "conflicts": sum(conflicts.values()),
            "errors": errors,
            "lost": lost,
            "unreported": unreported,
            "p50_ms": float(np.percentile(ms, 50)),
            "p95_ms": float(np.percentile(ms, 95)),
            "seconds": seconds,
            "verify": led.verify(),
        }
    finally:
        led.close()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", required=True, help="a PostgreSQL server (a database is made)")
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--edits", type=int, default=200)
    p.add_argument("--items", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    admin = sa.create_engine(args.url, isolation_level="AUTOCOMMIT")
    name = f"gapmap_load_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        out = run_load(
            sa.make_url(args.url).set(database=name),
            users=args.users,
            edits=args.edits,
            items=args.items,
            seed=args.seed,
        )
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.dispose()
    print(
        f"{out['users']} users × {out['edits']} edits in {out['seconds']:.1f} s: "
        f"{out['saves']} saves ({out['applied']} item versions), {out['conflicts']} conflicts "
        f"(all raised and audited: {not out['unreported']}), lost updates {len(out['lost'])}, "
        f"unreported {len(out['unreported'])}, other errors {len(out['errors'])}; "
        f"save time p50 {out['p50_ms']:.1f} ms, p95 {out['p95_ms']:.1f} ms"
    )
    for line in (out["lost"] + out["unreported"] + out["errors"])[:20]:
        print("  ", line)
    sys.exit(1 if out["lost"] or out["unreported"] or out["errors"] or out["verify"] else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
