"""A seeded corpus of malformed and unusual inputs, derived from the shipped data.

Every case writes its input into a folder it is given (pytest's ``tmp_path``), calls a
GapMap entry point on it and compares what happened with what the case expects:

- ``must-fail``: an error of one of the expected problem codes (or a ``LayerReadError`` /
  ``ArchiveError``), located: file name, layer, row where it applies, field where it
  applies;
- ``must-pass``: no error, and the value the case checks (rows read, names, an indicator).

The outcome of a case is one of :data:`OUTCOMES`: ``ok``; ``crash`` (an exception that is
not one of the project's own, or a temporary folder left behind); ``silent`` (analysed as
valid although wrong, or a wrong value); ``unhelpful`` (an error without a file name,
without its row/field, a duplicate problem, or the wrong diagnosis); ``refused`` (a valid
input refused).

The cases come from the demo county (``data/demo/tongxin.gpkg``, a seeded sample of rows
per case) and the hand-made tiny county (``tests/fixtures/tiny_county.py``), in every
format GapMap reads: GeoPackage, Shapefile (UTF-8/GBK, with, without and with a lying
``.cpg``), GeoJSON, KML, KMZ, CSV, XLSX, zipped and not.

Run ``python -m tests.corpus`` to print the outcome counts by class.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tempfile
import time
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from layers.errors import ArchiveError, GapMapError, LayerReadError, Problem, Severity

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo" / "tongxin.gpkg"
OUTCOMES = ("ok", "crash", "silent", "unhelpful", "refused")
SEED = 20261201

# --------------------------------------------------------------------------- expectations


@dataclass(frozen=True)
class Expect:
    """What a case must give.

    Attributes
    ----------
    fail : bool
        True: must fail; False: must pass.
    codes : tuple of str
        Acceptable problem kinds (``ProblemKind`` values), or ``"read_error"`` /
        ``"archive_error"`` for an exception.
    layer : str or None
        The layer the problem must name.
    field : str or None
        The field the problem must name (None: any, e.g. geometry).
    row : int or None
        The 1-based row the problem must name (None: not checked).
    check : callable, optional
        For must-pass: called with the result; returns "" when right, else what is wrong.
    """

    fail: bool
    codes: tuple[str, ...] = ()
    layer: str | None = None
    field: str | None = None
    row: int | None = None
    check: Callable[[object], str] | None = None


def must_fail(
    *codes: str, layer: str | None = None, field: str | None = None, row: int | None = None
) -> Expect:
    """Expect an error of one of ``codes`` (located to ``layer``/``field``/``row``)."""
    return Expect(True, codes, layer, field, row)


def must_pass(check: Callable[[object], str] | None = None) -> Expect:
    """Expect no error, and ``check(result) == ""``."""
    return Expect(False, check=check)


@dataclass(frozen=True)
class Case:
    """One corpus input: how to build it, which entry point reads it, what to expect.

    ``build(folder) -> (path, kwargs)`` writes the input. ``entry`` is ``layer``
    (:func:`layers.read.load`), ``dataset`` (:func:`layers.dataset.read_dataset`, then
    :func:`geo.assessment.assess` when it validates) or ``replace`` (a dataset with one
    layer replaced from a file, as the app does).
    """

    id: str
    cls: str
    fmt: str
    entry: str
    build: Callable[[Path], tuple[Path, dict[str, object]]]
    expect: Expect


@dataclass
class Outcome:
    """What happened to one case."""

    case: str
    cls: str
    fmt: str
    outcome: str
    detail: str = ""
    seconds: float = 0.0


# ------------------------------------------------------------------------------ sources


@cache
def demo_layer(layer: str) -> gpd.GeoDataFrame:
    """One layer of the demo GeoPackage (EPSG:4326), read once per process."""
    return pyogrio.read_dataframe(DEMO, layer=layer)


@cache
def tiny_frames() -> dict[str, gpd.GeoDataFrame]:
    """The tiny county's layers (EPSG:4326)."""
    from tests.fixtures import tiny_county

    return tiny_county.build()


def sample(layer: str, rng: np.random.Generator, n: int = 16) -> gpd.GeoDataFrame:
    """A seeded sample of ``n`` demo rows, in file order, index reset."""
    full = demo_layer(layer)
    pick = np.sort(rng.choice(len(full), size=min(n, len(full)), replace=False))
    return full.iloc[pick].reset_index(drop=True)


# ------------------------------------------------------------------------------ writers

POINT_FORMATS = ("gpkg", "shp", "geojson", "kml", "kmz", "csv", "xlsx", "zip-shp", "zip-csv")
OTHER_FORMATS = ("gpkg", "shp", "geojson", "kml", "kmz", "zip-shp")


def _quiet(func: Callable[[], object]) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func()


def _table(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    """Attributes as text plus 经度/纬度 columns (points only)."""
    df = pd.DataFrame(frame.drop(columns=frame.geometry.name)).astype(object)
    df = df.where(df.notna(), "")
    x = shapely.get_x(frame.geometry.to_numpy())
    y = shapely.get_y(frame.geometry.to_numpy())
    df["经度"] = [f"{v:.7f}" if np.isfinite(v) else "" for v in x]
    df["纬度"] = [f"{v:.7f}" if np.isfinite(v) else "" for v in y]
    return df.astype(str)


def write_shp(
    frame: gpd.GeoDataFrame, path: Path, *, encoding: str = "UTF-8", cpg: str | None = ""
) -> Path:
    """Write a shapefile; ``cpg`` "" writes the true one, None none, other text a lie."""
    _quiet(lambda: pyogrio.write_dataframe(frame, path, encoding=encoding))
    cpg_path = path.with_suffix(".cpg")
    cpg_path.unlink(missing_ok=True)
    if cpg == "":
        cpg_path.write_text("UTF-8" if encoding.upper() == "UTF-8" else "936")
    elif cpg is not None:
        cpg_path.write_text(cpg)
    return path


def _zip(path: Path, files: list[Path], *, names: list[str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, f in enumerate(files):
            zf.write(f, names[i] if names else f.name)
    return path


def write(frame: gpd.GeoDataFrame, fmt: str, folder: Path, stem: str) -> Path:
    """Write ``frame`` as ``fmt`` into ``folder``; return the path to read."""
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "gpkg":
        path = folder / f"{stem}.gpkg"
        _quiet(lambda: pyogrio.write_dataframe(frame, path, layer=stem))
    elif fmt == "shp":
        path = write_shp(frame, folder / f"{stem}.shp")
    elif fmt == "geojson":
        path = folder / f"{stem}.geojson"
        _quiet(lambda: pyogrio.write_dataframe(frame, path, driver="GeoJSON"))
    elif fmt in ("kml", "kmz"):
        kml = folder / f"{stem}.kml"
        _quiet(lambda: pyogrio.write_dataframe(frame, kml, driver="LIBKML"))
        path = kml
        if fmt == "kmz":
            path = _zip(folder / f"{stem}.kmz", [kml], names=["doc.kml"])
            kml.unlink()
    elif fmt == "csv":
        path = folder / f"{stem}.csv"
        _table(frame).to_csv(path, index=False, encoding="utf-8")
    elif fmt == "xlsx":
        path = folder / f"{stem}.xlsx"
        _table(frame).to_excel(path, index=False)
    elif fmt in ("zip-shp", "zip-csv"):
        inner = folder / "inner"
        src = write(frame, fmt[4:], inner, stem)
        parts = [p for p in inner.iterdir() if p.stem == src.stem]
        path = _zip(folder / f"{stem}.zip", parts)
    else:
        raise ValueError(fmt)
    return path


def problem_file(path: Path) -> str:
    """The file name a problem about ``path`` must carry."""
    return path.name


# ----------------------------------------------------------------------------- running


def _located(p: Problem, *, file: str) -> str:
    if not p.file or file not in p.file:
        return f"problem {p.kind} without its file ({p.file!r}, expected {file!r})"
    if not p.layer:
        return f"problem {p.kind} without its layer"
    if not p.message_zh or not p.message:
        return f"problem {p.kind} without a Chinese and English message"
    return ""


def _judge_problems(problems: tuple[Problem, ...], expect: Expect, file: str) -> tuple[str, str]:
    errors = [p for p in problems if p.severity is Severity.ERROR]
    keys = [(p.kind, p.file, p.layer, p.row, p.field, p.message) for p in problems]
    if len(set(keys)) < len(keys):
        dup = Counter(keys).most_common(1)[0][0]
        return "unhelpful", f"problem listed twice: {dup}"
    for p in errors:
        if msg := _located(p, file=file):
            return "unhelpful", msg
    if not expect.fail:
        if errors:
            return "refused", "; ".join(str(p) for p in errors[:3])
        return "ok", ""
    if not errors:
        return "silent", "no error"
    hits = [p for p in errors if str(p.kind) in expect.codes]
    if expect.layer:
        hits = [p for p in hits if p.layer == expect.layer]
    if not hits:
        got = sorted({f"{p.kind}/{p.layer}/{p.field}" for p in errors})
        return "unhelpful", f"wrong diagnosis: expected {expect.codes} on {expect.layer}, got {got}"
    if expect.field is not None and not any(p.field == expect.field for p in hits):
        return (
            "unhelpful",
            f"{expect.codes} without field {expect.field!r}: {[p.field for p in hits]}",
        )
    if expect.row is not None and not any(p.row == expect.row for p in hits):
        return "unhelpful", f"{expect.codes} without row {expect.row}: {[p.row for p in hits][:5]}"
    return "ok", ""


def _judge_exception(err: GapMapError, expect: Expect, file: str) -> tuple[str, str]:
    from layers.errors import LayerValidationError

    if isinstance(err, LayerValidationError):
        return _judge_problems(err.problems, expect, file)
    text = f"{err} {err.zh}"
    if file not in str(err) or file not in err.zh:
        return "unhelpful", f"{type(err).__name__} without the file name {file!r}: {err}"
    if not expect.fail:
        return "refused", f"{type(err).__name__}: {err}"
    want = set(expect.codes)
    if "archive_error" in want and isinstance(err, ArchiveError):
        return "ok", ""
    if "read_error" in want and isinstance(err, LayerReadError):
        return "ok", ""
    return (
        "unhelpful",
        f"wrong diagnosis: expected {expect.codes}, got {type(err).__name__}: {text[:200]}",
    )


def _run_entry(case: Case, path: Path, kwargs: dict[str, object]) -> tuple[str, str]:
    from layers.dataset import Dataset, read_dataset
    from layers.read import load

    file = problem_file(path)
    if case.entry == "layer":
        loaded = load(path, **kwargs)  # type: ignore[arg-type]
        verdict = _judge_problems(tuple(loaded.problems), case.expect, file)
        result: object = loaded
    elif case.entry == "replace":
        base = read_dataset(kwargs.pop("base"))  # type: ignore[arg-type]
        loaded = load(path, **kwargs)  # type: ignore[arg-type]
        new = base.replace_layers(**{str(kwargs["layer"]): loaded.frame})
        merged = Dataset(
            layers=new.layers,
            problems=(*loaded.problems, *new.problems),
            provenance=new.provenance,
            name=new.name,
        )
        verdict = _judge_problems(merged.problems, case.expect, file)
        result = merged
    else:
        dataset = read_dataset(path, **kwargs)  # type: ignore[arg-type]
        verdict = _judge_problems(dataset.problems, case.expect, file)
        result = dataset
        if verdict[0] == "ok" and not case.expect.fail:
            from geo.assessment import assess
            from geo.settings import Settings

            dataset.raise_if_errors()
            result = assess(dataset, Settings())
        elif verdict[0] == "silent":
            # what the CLI would do next: raise_if_errors passes, the analyses run
            from geo.assessment import assess
            from geo.settings import Settings

            dataset.raise_if_errors()
            assess(dataset, Settings())
            return "silent", "no error; analysed"
    if verdict[0] == "ok" and case.expect.check is not None and (msg := case.expect.check(result)):
        return "silent", msg
    return verdict


def remove_tree(root: Path) -> None:
    """Remove a folder tree of any depth (``shutil.rmtree`` recurses; paths may be too long).

    Walks with directory file descriptors, one open at a time.
    """
    if not root.exists():
        return
    flags = os.O_RDONLY | os.O_DIRECTORY
    fd = os.open(root, flags)
    names: list[str] = []
    while True:
        sub = None
        with os.scandir(fd) as it:
            entries = list(it)
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                sub = e.name
                break
            os.unlink(e.name, dir_fd=fd)
        if sub is not None:
            new = os.open(sub, flags | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = new
            names.append(sub)
            continue
        if not names:
            os.close(fd)
            os.rmdir(root)
            return
        parent = os.open("..", flags, dir_fd=fd)
        os.close(fd)
        fd = parent
        os.rmdir(names.pop(), dir_fd=fd)


def run_case(case: Case, folder: Path) -> Outcome:
    """Build and run one case in ``folder``; never raises."""
    t0 = time.perf_counter()
    work = folder / "in"
    temp = folder / "tmp"
    work.mkdir(parents=True, exist_ok=True)
    temp.mkdir(parents=True, exist_ok=True)
    path, kwargs = case.build(work)
    old = tempfile.tempdir
    tempfile.tempdir = str(temp)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                outcome, detail = _run_entry(case, path, dict(kwargs))
            except GapMapError as err:
                outcome, detail = _judge_exception(err, case.expect, problem_file(path))
            except (Exception, RecursionError) as err:
                outcome, detail = "crash", f"{type(err).__name__}: {str(err)[:300]}"
    finally:
        tempfile.tempdir = old
    left = list(temp.iterdir())
    if left and outcome != "crash":
        outcome, detail = "crash", f"temporary folder left behind: {left[0].name}"
    remove_tree(folder)
    return Outcome(case.id, case.cls, case.fmt, outcome, detail, time.perf_counter() - t0)


# ------------------------------------------------------------------------------- cases

LAYER_FILE = {
    "natural_villages": "自然村",
    "clinics": "医疗机构",
    "roads": "道路",
    "townships": "乡镇",
    "service_points": "便民服务设施",
}
ZH_COLUMNS = {
    # distinct when a Shapefile cuts them to 10 bytes (UTF-8 or GBK)
    "natural_villages": {
        "id": "编号", "name": "村名", "admin_village_code": "所属行政村代码",
        "households": "常住户数", "population": "常住人口", "relocation_planned": "规划搬迁撤并",
    },
    "clinics": {"id": "机构编号", "name": "机构名称", "kind": "机构类别", "doctors": "乡村医生人数",
                "admin_village_code": "所在行政村代码", "township_code": "所在乡镇代码"},
    "roads": {"id": "道路编号", "road_class": "道路等级", "surface": "路面类型",
              "width_m": "路面宽度(米)", "status": "建设状态"},
    "townships": {"code": "乡镇代码", "name": "乡镇名称"},
    "service_points": {"id": "设施编号", "name": "设施名称", "kind": "设施类别"},
}  # fmt: skip
INT_FIELD = {"natural_villages": "households", "clinics": "doctors"}
FLOAT_FIELD = {"roads": "width_m"}
REQUIRED_TEXT = {
    "natural_villages": "name",
    "clinics": "name",
    "roads": "road_class",
    "townships": "name",
    "service_points": "name",
}
ID_FIELD = {
    "natural_villages": "id",
    "clinics": "id",
    "roads": "id",
    "townships": "code",
    "service_points": "id",
}
POINT_LAYERS = ("natural_villages", "clinics", "service_points")


def _check_rows(frame: gpd.GeoDataFrame, layer: str) -> Callable[[object], str]:
    ids = [str(v) for v in frame[ID_FIELD[layer]]]
    names = [str(v) for v in frame["name"]] if "name" in frame else None

    def check(result: object) -> str:
        got = result.frame  # type: ignore[attr-defined]
        if len(got) != len(ids):
            return f"{len(got)} rows read of {len(ids)}"
        if sorted(map(str, got[ID_FIELD[layer]])) != sorted(ids):
            return "ids changed on read"
        if names is not None and sorted(map(str, got["name"])) != sorted(names):
            bad = sorted(set(map(str, got["name"])) - set(names))[:3]
            return f"names changed on read (mojibake?): {bad}"
        return ""

    return check


def _set(frame: gpd.GeoDataFrame, col: str, row: int, value: object) -> gpd.GeoDataFrame:
    out = frame.copy()
    out[col] = out[col].astype(object)
    out.loc[row, col] = value
    return out


def _move(frame: gpd.GeoDataFrame, rows: np.ndarray, func: Callable) -> gpd.GeoDataFrame:
    out = frame.copy()
    geoms = out.geometry.to_numpy().copy()
    geoms[rows] = shapely.transform(geoms[rows], func)
    out = out.set_geometry(geoms)
    return out.set_crs(4326, allow_override=True)


def layer_mutations(layer: str, rng: np.random.Generator):
    """Yield (mutation name, class, frame, Expect) for one seeded sample of ``layer``."""
    base = sample(layer, rng)
    n = len(base)
    r = int(rng.integers(0, n))
    row = r + 1
    idf = ID_FIELD[layer]
    text = REQUIRED_TEXT[layer]
    yield "valid", "refused:valid", base, must_pass(_check_rows(base, layer))
    yield (
        "missing_field", "unhelpful:missing_field", base.drop(columns=[text]),
        must_fail("missing_field", layer=layer, field=text),
    )  # fmt: skip
    yield (
        "blank_required", "unhelpful:missing_value", _set(base, text, r, ""),
        must_fail("missing_value", "value_not_allowed", layer=layer, field=text, row=row),
    )  # fmt: skip
    yield (
        "duplicate_id", "unhelpful:duplicate_id", _set(base, idf, r, base[idf].iloc[(r + 1) % n]),
        must_fail("duplicate_id", layer=layer, field=idf, row=row),
    )  # fmt: skip
    num = INT_FIELD.get(layer) or FLOAT_FIELD.get(layer)
    if num:
        yield (
            "text_in_number", "unhelpful:wrong_type", _set(base, num, r, "约30"),
            must_fail("wrong_type", layer=layer, field=num, row=row),
        )  # fmt: skip
        yield (
            "negative", "unhelpful:out_of_range", _set(base, num, r, "-5"),
            must_fail("out_of_range", layer=layer, field=num, row=row),
        )  # fmt: skip
    if layer in INT_FIELD:
        f = INT_FIELD[layer]
        yield (
            "inf_in_int", "silent:inf_in_integer", _set(base, f, r, "inf"),
            must_fail("out_of_range", "wrong_type", layer=layer, field=f, row=row),
        )  # fmt: skip
    if layer == "natural_villages":
        bad = _set(base, "households", r, int(base["population"].iloc[r]) + 7)
        yield (
            "households_gt_population", "silent:households_gt_population", bad,
            must_fail("inconsistent_values", "out_of_range", layer=layer, field="households",
                      row=row),
        )  # fmt: skip
    if layer in POINT_LAYERS:
        yield (
            "latitude_97", "silent:latitude_over_90",
            _move(base, np.array([r]), lambda c: np.column_stack([c[:, 0], c[:, 1] * 0 + 97.0])),
            must_fail("coordinate_range", layer=layer, row=row),
        )  # fmt: skip
        yield (
            "swap_one", "unhelpful:swapped_lonlat",
            _move(base, np.array([r]), lambda c: c[:, ::-1]),
            must_fail("swapped_lonlat", layer=layer, row=row),
        )  # fmt: skip
    yield (
        "swap_all", "unhelpful:swapped_lonlat", _move(base, np.arange(n), lambda c: c[:, ::-1]),
        must_fail("swapped_lonlat", layer=layer),
    )  # fmt: skip
    yield (
        "outside_china", "silent:outside_gk_zones",
        _move(base, np.arange(n), lambda c: c - np.array([100.0, 0.0])),
        must_fail("outside_china", "crs_missing", layer=layer),
    )  # fmt: skip
    zh = base.rename(columns=ZH_COLUMNS[layer])
    yield (
        "chinese_columns",
        "refused:truncated_or_chinese_fields",
        zh,
        must_pass(_check_rows(base, layer)),
    )


def _layer_case(layer: str, fmt: str, seed: int, name: str, cls: str, frame, expect) -> Case:
    stem = LAYER_FILE[layer] if seed % 2 else layer
    if fmt in ("kml", "kmz") and name == "missing_field":
        # a KML placemark always has a <name>: a dropped name column reads as empty names
        expect = dataclasses.replace(expect, codes=("missing_field", "missing_value"))

    def build(folder: Path) -> tuple[Path, dict[str, object]]:
        return write(frame, fmt, folder, stem), {"layer": layer}

    return Case(f"{layer}-{fmt}-{name}-{seed}", cls, fmt, "layer", build, expect)


_LAT_OVER_90 = ("latitude_97", "swap_one", "swap_all")


def layer_cases() -> list[Case]:
    """Every layer mutation in every format the layer's geometry allows."""
    cases: list[Case] = []
    plan = {
        "natural_villages": (POINT_FORMATS, 3),
        "clinics": (POINT_FORMATS, 2),
        "service_points": (POINT_FORMATS, 2),
        "roads": (OTHER_FORMATS, 3),
        "townships": (OTHER_FORMATS, 2),
    }
    for layer, (formats, seeds) in plan.items():
        for fmt in formats:
            for s in range(seeds):
                rng = np.random.default_rng([SEED, s, len(layer), len(fmt)])
                for name, cls, frame, expect in layer_mutations(layer, rng):
                    if fmt in ("kml", "kmz") and name in _LAT_OVER_90:
                        continue  # LIBKML cannot write a latitude over 90°
                    cases.append(_layer_case(layer, fmt, s, name, cls, frame, expect))
    return cases


# ----------------------------------------------------------------- format-specific cases


def shapefile_cases() -> list[Case]:
    """.cpg / .dbf variants: GBK, no .cpg, lying .cpg, mixed encodings, cut names."""
    cases: list[Case] = []
    for s in range(6):
        rng = np.random.default_rng([SEED, 7, s])
        layer = ("natural_villages", "roads", "clinics")[s % 3]
        base = sample(layer, rng)
        ok = must_pass(_check_rows(base, layer))
        variants = {
            "gbk_cpg": ("GBK", ""),
            "gbk_no_cpg": ("GBK", None),
            "utf8_no_cpg": ("UTF-8", None),
            "utf8_cpg_says_gbk": ("UTF-8", "936"),
            "gbk_cpg_says_utf8": ("GBK", "UTF-8"),
        }
        for name, (enc, cpg) in variants.items():

            def build(folder: Path, enc=enc, cpg=cpg, base=base, layer=layer):
                return write_shp(base, folder / f"{layer}.shp", encoding=enc, cpg=cpg), {
                    "layer": layer
                }

            cls = "silent:lying_cpg" if "says" in name else "refused:encoding"
            cases.append(Case(f"shp-{name}-{s}", cls, "shp", "layer", build, ok))
        for zh in (False, True):
            # names cut to 10 bytes: admin_village_code → admin_vill, 道路等级 → 道路等 ...
            frame = base.rename(columns=ZH_COLUMNS[layer]) if zh else base
            for enc in ("UTF-8", "GBK"):

                def build(folder: Path, frame=frame, enc=enc, layer=layer):
                    return write_shp(frame, folder / f"{layer}.shp", encoding=enc), {"layer": layer}

                cases.append(
                    Case(
                        f"shp-cut-names-{'zh' if zh else 'en'}-{enc}-{s}",
                        "refused:truncated_or_chinese_fields",
                        "shp",
                        "layer",
                        build,
                        ok,
                    )
                )
        r = int(rng.integers(1, len(base)))

        def build_mixed(folder: Path, base=base, layer=layer, r=r):
            path = write_shp(base, folder / f"{layer}.shp", encoding="GBK", cpg=None)
            _recode_dbf_record(path.with_suffix(".dbf"), r, "gbk", "utf-8")
            return path, {"layer": layer}

        cases.append(
            Case(
                f"shp-mixed-encoding-{s}",
                "silent:mixed_encoding",
                "shp",
                "layer",
                build_mixed,
                must_fail("encoding", layer=layer, row=r + 1),
            )
        )
    return cases


def _recode_dbf_record(dbf: Path, record: int, src: str, dst: str) -> None:
    """Re-encode one .dbf record's text from ``src`` to ``dst`` (fields may overflow: cut)."""
    data = bytearray(dbf.read_bytes())
    header_len = int.from_bytes(data[8:10], "little")
    record_len = int.from_bytes(data[10:12], "little")
    fields = []
    for i in range(32, header_len - 1, 32):
        if data[i] == 0x0D:
            break
        fields.append((chr(data[i + 11]), data[i + 16]))
    start = header_len + record * record_len + 1
    for ftype, width in fields:
        if ftype == "C":
            raw = bytes(data[start : start + width]).rstrip(b" ")
            text = raw.decode(src, "replace")
            new = text.encode(dst)
            while len(new) > width:
                text = text[:-1]
                new = text.encode(dst)
            data[start : start + width] = new.ljust(width, b" ")
        start += width
    dbf.write_bytes(bytes(data))


def spreadsheet_cases() -> list[Case]:
    """CSV/XLSX: duplicated column names, a stray quote, a damaged XLSX, GBK text."""
    cases: list[Case] = []
    for s in range(8):
        rng = np.random.default_rng([SEED, 8, s])
        layer = POINT_LAYERS[s % 3]
        base = sample(layer, rng, n=670 if s < 2 else 40)
        r = int(rng.integers(1, len(base) - 2))
        dup_col = ("name", INT_FIELD.get(layer, "kind"))[s % 2]
        for fmt in ("csv", "xlsx"):

            def build_dup(folder: Path, base=base, fmt=fmt, layer=layer, dup_col=dup_col):
                table = _table(base)
                cols = list(table.columns)
                other = cols.index(ID_FIELD[layer]) + (1 if dup_col != cols[1] else 2)
                cols[other] = dup_col
                table.columns = cols
                path = folder / f"{layer}.{fmt}"
                if fmt == "csv":
                    table.to_csv(path, index=False)
                else:
                    table.to_excel(path, index=False)
                return path, {"layer": layer}

            cases.append(
                Case(
                    f"{fmt}-duplicate-column-{s}",
                    "crash:duplicate_column",
                    fmt,
                    "layer",
                    build_dup,
                    must_fail("duplicate_field", layer=layer, field=dup_col),
                )
            )

        def build_quote(folder: Path, base=base, layer=layer, r=r):
            table = _table(base)
            table.loc[r, "name"] = '"' + str(table.loc[r, "name"])
            path = folder / f"{layer}.csv"
            body = table.to_csv(index=False, quoting=3, escapechar=None)  # QUOTE_NONE
            path.write_text(body, encoding="utf-8")
            return path, {"layer": layer}

        cases.append(
            Case(
                f"csv-stray-quote-{s}",
                "silent:rows_lost",
                "csv",
                "layer",
                build_quote,
                must_fail("malformed_row", layer=layer, row=r + 1),
            )
        )

        def build_gbk(folder: Path, base=base, layer=layer):
            path = folder / f"{layer}.csv"
            _table(base).to_csv(path, index=False, encoding="gbk")
            return path, {"layer": layer}

        cases.append(
            Case(f"csv-gbk-{s}", "refused:encoding", "csv", "layer", build_gbk,
                 must_pass(_check_rows(base, layer)))
        )  # fmt: skip

        def build_corrupt(folder: Path, base=base, layer=layer, s=s):
            path = folder / f"{layer}.xlsx"
            _table(base).to_excel(path, index=False)
            _damage_xlsx(path, seed=s)
            return path, {"layer": layer}

        cases.append(
            Case(
                f"xlsx-corrupt-{s}",
                "silent:rows_lost",
                "xlsx",
                "layer",
                build_corrupt,
                must_fail("read_error", "archive_error", "malformed_row", layer=layer),
            )
        )
    return cases


def _damage_xlsx(path: Path, *, seed: int) -> None:
    """Flip bytes in the middle of the worksheet's compressed data (CRC no longer matches)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("xl/worksheets/sheet1.xml")
    # local header: 30 bytes + name + extra
    off = info.header_offset
    name_len = int.from_bytes(data[off + 26 : off + 28], "little")
    extra_len = int.from_bytes(data[off + 28 : off + 30], "little")
    start = off + 30 + name_len + extra_len
    at = start + info.compress_size * (40 + seed) // 100
    for i in range(6):
        data[at + i] ^= 0x5A
    path.write_bytes(bytes(data))


def kml_cases() -> list[Case]:
    """KML/KMZ: features without ids, a 名称 column beside an empty <name>."""
    cases: list[Case] = []
    for s in range(6):
        rng = np.random.default_rng([SEED, 9, s])
        layer = POINT_LAYERS[s % 3]
        base = sample(layer, rng)
        for fmt in ("kml", "kmz"):
            no_id = base.drop(columns=["id"])
            cases.append(
                _layer_case(layer, fmt, s, "no_ids", "silent:kml_positional_ids", no_id,
                            must_fail("missing_field", "missing_value", layer=layer, field="id"))
            )  # fmt: skip
            named = base.rename(columns={"name": "名称"})
            cases.append(
                _layer_case(layer, fmt, s, "name_column_zh", "unhelpful:kml_name_column", named,
                            must_pass(_check_rows(base, layer)))
            )  # fmt: skip
    return cases


# -------------------------------------------------------------------------- archive cases


def _zip_members(path: Path, members: list[tuple[str, bytes]]) -> Path:
    def write() -> None:
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members:
                zf.writestr(name, data)

    _quiet(write)  # zipfile warns about the duplicate names these cases are about
    return path


def archive_cases() -> list[Case]:
    """Unsafe zips: deep paths, long names, file/folder clashes, duplicates, many small bombs."""
    cases: list[Case] = []
    for s in range(4):
        rng = np.random.default_rng([SEED, 10, s])
        csv = _table(sample("natural_villages", rng, n=10)).to_csv(index=False).encode()
        shapes: dict[str, list[tuple[str, bytes]]] = {
            f"deep-{d}": [("/".join(["d"] * d) + "/natural_villages.csv", csv)]
            for d in (64, 300, 2000)
        }
        shapes.update(
            {f"long-name-{n}": [("x" * n + ".csv", csv)] for n in (256, 400)}
            | {
                "long-name-zh": [("自" * 90 + ".csv", csv)],
                "file-and-folder": [("data", b"x"), ("data/natural_villages.csv", csv)],
                "folder-then-file": [("data/natural_villages.csv", csv), ("data", b"x")],
                "duplicate-member": [("natural_villages.csv", csv), ("natural_villages.csv", csv)],
                "duplicate-case": [("natural_villages.csv", csv), ("Natural_Villages.CSV", csv)],
                "many-small": [(f"pad/{i:04d}.bin", bytes(1024 * 1024 - 1)) for i in range(40)]
                + [("natural_villages.csv", csv)],
            }
        )
        for name, members in shapes.items():
            for suffix in (".zip", ".kmz"):
                if suffix == ".kmz" and not name.startswith(("deep", "many", "dup")):
                    continue

                def build(folder: Path, members=members, suffix=suffix):
                    ms = members
                    if suffix == ".kmz":
                        ms = [(re.sub(r"\.csv$", ".kml", n, flags=re.I), b) for n, b in members]
                    return _zip_members(folder / f"upload{suffix}", ms), {
                        "layer": "natural_villages"
                    }

                cls = (
                    "crash:zip_recursion" if name.startswith("deep") else
                    "silent:zip_small_members" if name == "many-small" else
                    "crash:zip_oserror"
                )  # fmt: skip
                cases.append(
                    Case(
                        f"zip-{name}{suffix}-{s}",
                        cls,
                        "zip" if suffix == ".zip" else "kmz",
                        "layer",
                        build,
                        must_fail("archive_error"),
                    )
                )
    return cases


# -------------------------------------------------------------------------- dataset cases

CORE_LAYERS = ("county", "townships", "admin_villages", "natural_villages", "roads", "clinics")
ZH_LAYER_NAMES = {
    "county": "县界",
    "townships": "乡镇",
    "admin_villages": "行政村",
    "natural_villages": "自然村",
    "relocation_sites": "移民安置区",
    "roads": "道路",
    "clinics": "医疗机构",
    "service_points": "便民服务设施",
}


def _write_gpkg(
    frames: dict[str, gpd.GeoDataFrame], path: Path, names: dict[str, str] | None = None
) -> Path:
    for layer, frame in frames.items():
        name = (names or {}).get(layer, layer)
        _quiet(lambda frame=frame, name=name: pyogrio.write_dataframe(frame, path, layer=name))
    return path


def _expected_hard_road_rate() -> float:
    from tests.fixtures import tiny_county

    statuses = [v[0] for v in tiny_county.EXPECTED_HARD_ROAD.values()]
    target = [s for s in statuses if s in ("connected", "not_connected")]
    return 100.0 * target.count("connected") / len(target)


def _indicator(result: object, name: str) -> pd.Series:
    county = result.rollup.county  # type: ignore[attr-defined]
    hit = county.loc[county["indicator"].str.contains(name)]
    return hit.iloc[0] if len(hit) else pd.Series(dtype=object)


def _check_assessment(*, services_no_data: bool = False) -> Callable[[object], str]:
    want = _expected_hard_road_rate()

    def check(result: object) -> str:
        hr = _indicator(result, "通硬化路率")
        if not len(hr) or not math.isclose(float(hr["value"]), want, abs_tol=1e-9):
            return f"通硬化路率 {None if not len(hr) else hr['value']} != {want}"
        sv = _indicator(result, "一刻钟")
        if services_no_data:
            if len(sv) and (not pd.isna(sv["met"]) or np.isfinite(float(sv["value"]))):
                return (
                    f"services without facilities gave {sv['value']} (met={sv['met']}), not 无数据"
                )
            if len(sv) and sv.get("status", "") != "无数据":
                return "services without facilities not marked 无数据"
        return ""

    return check


def dataset_cases() -> list[Case]:
    """Whole-county inputs: missing/empty/renamed layers, missing codes, far coordinates."""
    cases: list[Case] = []
    tiny = tiny_frames()

    def add(
        name: str, cls: str, frames, expect: Expect, *, names=None, zipped=False, entry="dataset"
    ):
        def build(folder: Path, frames=frames, names=names, zipped=zipped):
            path = _write_gpkg(frames, folder / "county.gpkg", names)
            if zipped:
                path = _zip(folder / "county.zip", [path])
            return path, {}

        fmt = "zip-gpkg" if zipped else "gpkg"
        cases.append(Case(f"dataset-{name}-{fmt}", cls, fmt, entry, build, expect))

    for zipped in (False, True):
        add("valid", "refused:valid", tiny, must_pass(_check_assessment()), zipped=zipped)
        add("chinese-layer-names", "crash:chinese_layer_names", tiny,
            must_pass(_check_assessment()), names=ZH_LAYER_NAMES, zipped=zipped)  # fmt: skip
        for layer in ("natural_villages", "roads", "clinics"):
            add(f"chinese-name-{layer}", "crash:chinese_layer_names", tiny,
                must_pass(_check_assessment()), names={layer: ZH_LAYER_NAMES[layer]},
                zipped=zipped)  # fmt: skip
        for layer in CORE_LAYERS:
            rest = {k: v for k, v in tiny.items() if k != layer}
            cls = "silent:no_county_layer" if layer == "county" else "crash:missing_core_layer"
            add(f"missing-{layer}", cls, rest, must_fail("missing_layer", layer=layer),
                zipped=zipped)  # fmt: skip
            empty = dict(tiny) | {layer: tiny[layer].iloc[0:0]}
            cls = "crash:empty_roads" if layer == "roads" else "silent:empty_core_layer"
            add(f"empty-{layer}", cls, empty, must_fail("empty_layer", layer=layer), zipped=zipped)
        for layer in ("townships", "admin_villages", "county"):
            no_code = dict(tiny) | {layer: tiny[layer].drop(columns=["code"])}
            add(f"no-code-{layer}", "crash:no_code_column", no_code,
                must_fail("missing_field", layer=layer, field="code"), zipped=zipped)  # fmt: skip
        no_sp = {k: v for k, v in tiny.items() if k != "service_points"}
        add("missing-service_points", "crash:service_points_missing", no_sp,
            must_pass(_check_assessment(services_no_data=True)), zipped=zipped)  # fmt: skip
        empty_sp = dict(tiny) | {"service_points": tiny["service_points"].iloc[0:0]}
        add("empty-service_points", "crash:service_points_empty", empty_sp,
            must_pass(_check_assessment(services_no_data=True)), zipped=zipped)  # fmt: skip
        far = {k: v.set_geometry(v.geometry.translate(-100.0, 0.0)) for k, v in tiny.items()}
        add("outside-china", "crash:outside_gk_zones", far,
            must_fail("outside_china", layer="county"), zipped=zipped)  # fmt: skip
        nv = tiny["natural_villages"].copy()
        nv.loc[2, "households"] = int(nv.loc[2, "population"]) + 1
        add("households-gt-population", "silent:households_gt_population",
            dict(tiny) | {"natural_villages": nv},
            must_fail("inconsistent_values", "out_of_range", layer="natural_villages",
                      field="households", row=3), zipped=zipped)  # fmt: skip
    # a layer replaced from a file, as the app does: problems named once, with their file
    for s, fmt in enumerate(("csv", "gpkg", "geojson", "xlsx", "shp", "kml")):
        nv = tiny["natural_villages"].copy()
        nv = nv.astype({"admin_village_code": object, "households": object})
        nv.loc[s % len(nv), "admin_village_code"] = "640399999999"
        nv.loc[(s + 3) % len(nv), "households"] = "很多"

        def build(folder: Path, nv=nv, fmt=fmt):
            base = _write_gpkg(tiny, folder / "county.gpkg")
            return write(nv, fmt, folder / "upload", "自然村"), {
                "base": base,
                "layer": "natural_villages",
            }

        cases.append(
            Case(
                f"replace-unknown-code-{fmt}",
                "unhelpful:dataset_pass_no_file",
                fmt,
                "replace",
                build,
                must_fail("unknown_code", layer="natural_villages", field="admin_village_code",
                          row=s % len(nv) + 1),
            )
        )  # fmt: skip
    return cases


def all_cases() -> list[Case]:
    """The whole corpus, in a fixed order."""
    return [
        *layer_cases(),
        *shapefile_cases(),
        *spreadsheet_cases(),
        *kml_cases(),
        *archive_cases(),
        *dataset_cases(),
    ]


def chunks(n_chunks: int) -> list[list[Case]]:
    """Split the corpus into ``n_chunks`` interleaved chunks of similar cost."""
    cases = all_cases()
    return [cases[i::n_chunks] for i in range(n_chunks)]


def summarise(outcomes: list[Outcome]) -> pd.DataFrame:
    """Counts of outcomes by case class."""
    df = pd.DataFrame([dataclasses.asdict(o) for o in outcomes])
    table = pd.crosstab(df["cls"], df["outcome"]).reindex(columns=list(OUTCOMES), fill_value=0)
    table.loc["TOTAL"] = table.sum()
    return table


def main() -> None:
    """Run the whole corpus in one process and print the counts by class."""
    import sys

    t0 = time.perf_counter()
    outcomes = []
    cases = all_cases()
    wanted = [a for a in sys.argv[1:] if not a.startswith("-")]
    if wanted:
        cases = [c for c in cases if any(w in c.id or w in c.cls for w in wanted)]
    tmp = Path(tempfile.mkdtemp(prefix="gapmap-corpus-"))
    try:
        for i, case in enumerate(cases):
            outcomes.append(run_case(case, tmp / str(i)))
    finally:
        remove_tree(tmp)
    pd.set_option("display.width", 200)
    print(summarise(outcomes).to_string())
    print(f"{len(cases)} cases in {time.perf_counter() - t0:.0f} s")
    times = pd.DataFrame([dataclasses.asdict(o) for o in outcomes])
    print(times.groupby("fmt")["seconds"].agg(["count", "sum", "mean"]).round(3).to_string())
    print(times.nlargest(12, "seconds")[["case", "seconds"]].to_string())
    if "-v" in sys.argv:
        for o in outcomes:
            if o.outcome != "ok":
                print(f"{o.outcome:9} {o.case}: {o.detail[:240]}")


if __name__ == "__main__":
    main()
