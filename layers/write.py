"""Atomic writers: nothing the user had is lost or overwritten half-way.

Every writer writes a temporary file in the destination folder and then renames it over
the destination with :func:`os.replace` (atomic on POSIX and Windows within one file
system). A crash leaves either the old file or the new one, never a half-written file.
Writers refuse to write over a file that is one of the inputs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from layers.errors import LayerReadError

__all__ = ["atomic_path", "write_excel", "write_layers"]

logger = logging.getLogger(__name__)


def _check_not_input(path: Path, inputs: Iterable[str | os.PathLike[str]]) -> None:
    target = path.resolve()
    for p in inputs:
        if Path(p).resolve() == target:
            raise LayerReadError(
                f"refusing to overwrite the input file {path}; choose another output path",
                zh=f"不能覆盖输入文件 {path}，请另选输出路径",
            )


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike[str], *, inputs: Iterable[str | os.PathLike[str]] = ()
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    Parameters
    ----------
    path : path-like
        Final destination. Its folder is created if needed.
    inputs : iterable of path-like
        Files that must not be overwritten (the data the user loaded).

    Yields
    ------
    pathlib.Path
        Where to write. Removed if the block raises.
    """
    path = Path(path)
    _check_not_input(path, inputs)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # writers such as GDAL want to create the file themselves
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        for leftover in (
            tmp,
            tmp.with_name(tmp.name + "-journal"),
            tmp.with_name(tmp.name + "-wal"),
        ):
            leftover.unlink(missing_ok=True)


def write_layers(
    path: str | os.PathLike[str],
    frames: Mapping[str, gpd.GeoDataFrame],
    *,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Write several layers to one GeoPackage (or a folder of GeoParquet files), atomically.

    Parameters
    ----------
    path : path-like
        Destination ``.gpkg``, replaced as a whole if it exists; or a folder (a path
        without suffix): one GeoParquet file ``<layer>.parquet`` per layer, each replaced
        atomically (read back by :func:`layers.read_dataset`).
    frames : mapping of str to GeoDataFrame
        Layer name → frame, written in mapping order.
    inputs : iterable of path-like
        Input files that must not be overwritten.

    Returns
    -------
    pathlib.Path
        The destination path.
    """
    path = Path(path)
    if path.suffix == "" or path.is_dir():  # a folder of GeoParquet files, one per layer
        path.mkdir(parents=True, exist_ok=True)
        for name, frame in frames.items():
            with atomic_path(path / f"{name}.parquet", inputs=inputs) as tmp:
                frame.to_parquet(tmp, index=False)
            logger.info("wrote %s/%s.parquet (%d features)", path.name, name, len(frame))
        return path
    with atomic_path(path, inputs=inputs) as tmp:
        for name, frame in frames.items():
            pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG")
            logger.info("wrote %s:%s (%d features)", path.name, name, len(frame))
    return path


def write_excel(
    path: str | os.PathLike[str],
    sheets: Mapping[str, pd.DataFrame],
    *,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Write DataFrames as sheets of one XLSX workbook, atomically.

    Columns are sized to their content (CJK characters count double) and the header row
    is frozen, so the workbook is readable as opened. Every text is stored as text: a
    village name or a note that starts with ``=`` (``=HYPERLINK(…)``) never becomes a live
    formula (CSV/formula injection, OWASP), and the value reads back unchanged.

    Parameters
    ----------
    path : path-like
        Destination ``.xlsx``.
    sheets : mapping of str to DataFrame
        Sheet name (≤ 31 characters) → table.
    inputs : iterable of path-like
        Input files that must not be overwritten.
    """
    from openpyxl.utils import get_column_letter

    path = Path(path)
    with atomic_path(path, inputs=inputs) as tmp, pd.ExcelWriter(tmp, engine="openpyxl") as xl:
        for name, frame in sheets.items():
            frame.to_excel(xl, sheet_name=name[:31], index=False)
            ws = xl.sheets[name[:31]]
            ws.freeze_panes = "A2"
            for row in ws.iter_rows():
                for cell in row:
                    if cell.data_type == "f":  # openpyxl's reading of a text that starts "="
                        cell.data_type = "s"
            for i, col in enumerate(frame.columns, start=1):
                texts = [str(col), *map(str, frame[col].head(200).tolist())]
                width = max(sum(2 if ord(ch) > 0x2E80 else 1 for ch in t) for t in texts)
                ws.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 6), 60)
    logger.info("wrote %s (%d sheets)", path.name, len(sheets))
    return path
