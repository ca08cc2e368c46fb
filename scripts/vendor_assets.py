"""Vendor the Leaflet/Folium browser assets from npm into ``app/static/vendor``.

The app must draw maps with no network (leaders on site inspections), so every JS/CSS file
Folium and streamlit-folium would fetch from a CDN is copied here from the npm registry and
served by Streamlit's static serving (``/app/static/vendor/...``). The result is committed;
run this again only to change a version::

    python -m scripts.vendor_assets

Packages and versions are listed in :data:`PACKAGES`; the licence file of every package is
copied next to its files. ``app/maps/assets.py`` maps Folium's asset names to these files.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

log = logging.getLogger("vendor_assets")

ROOT = Path(__file__).resolve().parents[1]
DEST = ROOT / "app" / "static" / "vendor"

# npm spec -> (folder under vendor/, [paths inside the package to copy])
PACKAGES: dict[str, tuple[str, list[str]]] = {
    "leaflet@1.9.4": (
        "leaflet",
        ["dist/leaflet.js", "dist/leaflet.css", "dist/images/", "LICENSE"],
    ),
    "jquery@3.7.1": ("jquery", ["dist/jquery.min.js", "LICENSE.txt"]),
    "bootstrap@5.2.2": (
        "bootstrap",
        ["dist/js/bootstrap.bundle.min.js", "dist/css/bootstrap.min.css", "LICENSE"],
    ),
    "@fortawesome/fontawesome-free@6.2.0": (
        "fontawesome",
        ["css/all.min.css", "webfonts/", "LICENSE.txt"],
    ),
    "leaflet.awesome-markers@2.0.5": (
        "awesome-markers",
        [
            "dist/leaflet.awesome-markers.min.js",
            "dist/leaflet.awesome-markers.css",
            "dist/images/",
            "LICENSE",
        ],
    ),
    "leaflet.markercluster@1.1.0": (
        "markercluster",
        [
            "dist/leaflet.markercluster.js",
            "dist/MarkerCluster.css",
            "dist/MarkerCluster.Default.css",
            "MIT-LICENCE.txt",
        ],
    ),
    "leaflet.locatecontrol@0.66.2": (
        "locatecontrol",
        ["dist/L.Control.Locate.min.js", "dist/L.Control.Locate.min.css", "LICENSE"],
    ),
    "leaflet.fullscreen@3.0.0": (
        "fullscreen",
        ["Control.FullScreen.js", "Control.FullScreen.css", "icon-fullscreen.svg", "LICENSE"],
    ),
}

# folium's "leaflet.awesome.rotate.min.css" is generated, not published on npm.
ROTATE_CSS = "".join(
    f".fa-rotate-{deg}{{-webkit-transform:rotate({deg}deg);transform:rotate({deg}deg)}}"
    for deg in range(0, 360)
)


def _pack(spec: str, workdir: Path) -> Path:
    out = subprocess.run(
        ["npm", "pack", spec, "--silent", "--pack-destination", str(workdir)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return workdir / out.splitlines()[-1]


def _extract(tgz: Path, wanted: list[str], dest: Path) -> list[str]:
    copied: list[str] = []
    with tarfile.open(tgz) as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            inner = member.name.removeprefix("package/")
            if not any(inner == w or (w.endswith("/") and inner.startswith(w)) for w in wanted):
                continue
            if inner.endswith((".map", ".ttf")):
                continue  # source maps and ttf fonts are not needed by modern browsers
            target = dest / inner
            target.parent.mkdir(parents=True, exist_ok=True)
            data = tar.extractfile(member)
            assert data is not None
            target.write_bytes(io.BufferedReader(data).read())
            copied.append(inner)
    missing = [w for w in wanted if not any(c == w or c.startswith(w) for c in copied)]
    if missing:
        raise SystemExit(f"{tgz.name}: not found in package: {missing}")
    return sorted(copied)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEST)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    staging = Path(tempfile.mkdtemp(prefix="vendor-", dir=args.dest.parent))
    manifest: dict[str, dict[str, object]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for spec, (folder, wanted) in PACKAGES.items():
                tgz = _pack(spec, Path(tmp))
                files = _extract(tgz, wanted, staging / folder)
                manifest[folder] = {"npm": spec, "files": files}
                log.info("%s -> vendor/%s (%d files)", spec, folder, len(files))
        (staging / "folium").mkdir()
        (staging / "folium" / "leaflet.awesome.rotate.min.css").write_text(ROTATE_CSS)
        manifest["folium"] = {
            "generated": "fa-rotate-N classes",
            "files": ["leaflet.awesome.rotate.min.css"],
        }
        (staging / "MANIFEST.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
        )
        if args.dest.exists():
            old = args.dest.with_name(args.dest.name + ".old")
            args.dest.rename(old)
            staging.rename(args.dest)
            shutil.rmtree(old)
        else:
            staging.rename(args.dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
