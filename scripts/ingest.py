"""Turn a county's delivery (a folder or zip of mixed files) into the county's GeoPackage.

Usage::

    python -m scripts.ingest --delivery 同心县资料包.zip --out out/同心县.gpkg
        [--manifest 同心县.toml] [--accept-proposal]

The first run scans the delivery, writes a proposed manifest (which file is which layer,
coordinate system, encoding, field mapping, with the evidence as comments) and stops with
exit code 2 so that the proposal is checked; ``--accept-proposal`` goes on without
stopping. With a manifest (next year's delivery, the same choices) one command reads,
validates and writes:

- ``--out`` the GeoPackage of the GapMap layers;
- beside it ``<stem>.inp`` (the water model) and ``<stem>_dem.tif`` (the DEM) when the
  delivery has them; their coordinate systems are printed.

Any problem stops with a message saying which file and how to fix it, exit code 2, and
nothing written. Outputs are written atomically and never over an input.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

from layers.delivery import (
    ROLE_ZH,
    DeliveryScan,
    read_delivery,
    read_manifest,
    scan_delivery,
    write_manifest,
)
from layers.errors import GapMapError, LayerValidationError, Severity
from layers.write import atomic_path, write_layers
from scripts.guard import guarded

log = logging.getLogger("gapmap.ingest")


def _summary(scan: DeliveryScan) -> str:
    lines = []
    for p in scan.files:
        coords = p.coords or (f"文件自带（{p.source_crs}）" if p.source_crs else "—")
        lines.append(f"  {p.path}: {ROLE_ZH[p.role]}；坐标系 {coords}；{p.reason_zh}")
        lines += [f"    ⚠ {w}" for w in p.warnings_zh]
        if p.coords_detected and not p.warnings_zh:
            lines.append("    ⚠ 坐标系由坐标数值检测得出（文件和数据说明都没有写明），请核对")
        if p.missing_fields:
            lines.append(
                f"    ⚠ 缺少必填字段：{'、'.join(p.missing_fields)}（请在清单 fields 中补充）"
            )
    return "\n".join(lines)


def _copy(src: Path, dest: Path, inputs: tuple[Path, ...]) -> Path:
    with atomic_path(dest, inputs=inputs) as tmp:
        shutil.copyfile(src, tmp)
    return dest


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; any failure ends with exit code 2 and a message, never a traceback."""
    return guarded(lambda: _main(argv), argv, inputs_zh="资料包中")


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.ingest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--delivery", required=True, type=Path, help="delivery folder or .zip")
    parser.add_argument(
        "--manifest",
        type=Path,
        default=None,
        help="manifest TOML (default: <out>.manifest.toml; written with a proposal if missing)",
    )
    parser.add_argument("--out", required=True, type=Path, help="county GeoPackage to write")
    parser.add_argument(
        "--accept-proposal",
        action="store_true",
        help="write the proposed manifest and go on without stopping for a check",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings only")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    out: Path = args.out
    manifest_path: Path = args.manifest or out.with_name(f"{out.stem}.manifest.toml")
    delivery: Path = args.delivery
    inputs = [delivery, manifest_path]
    if delivery.is_dir():
        inputs += [p for p in delivery.rglob("*") if p.is_file()]
    t0 = time.perf_counter()
    try:
        if not manifest_path.exists():
            scan = scan_delivery(delivery)
            manifest = scan.manifest(county=out.stem)
            write_manifest(manifest_path, manifest, inputs=tuple(inputs[:1]))
            print(f"资料包 {delivery.name}：{len(scan.files)} 个文件，建议如下：")
            print(_summary(scan))
            if not args.accept_proposal:
                print(
                    f"\n已生成建议清单 {manifest_path}。请逐项核对每个文件的图层（layer）、"
                    "坐标系（coords）、编码和字段对应（fields），修改后再次运行：\n"
                    f"  python -m scripts.ingest --delivery {delivery} --manifest "
                    f"{manifest_path} --out {out}\n"
                    "（确认建议无误时也可加 --accept-proposal 直接导入）",
                    file=sys.stderr,
                )
                return 2
        else:
            manifest = read_manifest(manifest_path)
        with tempfile.TemporaryDirectory(prefix="gapmap-ingest-") as extras_dir:
            result = read_delivery(delivery, manifest, extras_dir=extras_dir)
            dataset = result.dataset
            dataset.raise_if_errors()
            t_read = time.perf_counter() - t0
            frozen = tuple(Path(p) for p in inputs)
            gpkg = write_layers(out, dict(dataset.layers), inputs=frozen)
            extras = []
            if result.water_model is not None:
                inp = _copy(result.water_model, out.with_name(f"{out.stem}.inp"), frozen)
                extras.append(
                    f"供水管网模型 {inp}（坐标系 {result.water_model_coords or '未声明'}）"
                )
            if result.dem is not None:
                dem = _copy(result.dem, out.with_name(f"{out.stem}_dem.tif"), frozen)
                extras.append(f"高程数据 {dem}（坐标系 {result.dem_crs or '未声明'}）")
    except LayerValidationError as err:
        print(err.zh, file=sys.stderr)
        print(f"\n共 {len(err.problems)} 条问题；未写出任何文件。", file=sys.stderr)
        return 2
    except GapMapError as err:
        print(err.zh, file=sys.stderr)
        return 2
    warnings = [p for p in dataset.problems if p.severity is Severity.WARNING]
    print(f"读取并检查 {t_read:.1f} s → {gpkg}（{len(dataset.layers)} 个图层）")
    for layer, frame in dataset.layers.items():
        print(f"  {ROLE_ZH[layer]}（{layer}）：{len(frame)} 个要素")
    for line in extras:
        print(f"  {line}")
    for p in warnings:
        where = ROLE_ZH.get(p.layer, _OTHER_ZH.get(p.layer, p.layer))
        print(f"  提示 {p.file} / {where}：{p.message_zh}")
    if result.unlisted:
        print("  清单中没有的文件（未读取）：" + "、".join(result.unlisted))
    print(
        "下一步（分析，含供水模型和高程数据）：\n"
        f"  python -m scripts.analyze --data {delivery} --manifest {manifest_path} "
        "--out <结果文件夹>"
    )
    return 0


_OTHER_ZH = {"inp": "供水管网模型", "epanet": "EPANET 计算"}


if __name__ == "__main__":
    sys.exit(main())
