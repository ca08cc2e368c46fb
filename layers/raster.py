"""Raster files at the edge: GeoTIFF / Cloud-Optimised GeoTIFF writing and kept raster bytes.

Every raster GapMap writes goes through :func:`layers.write.atomic_path` (a temporary file
beside the destination, then :func:`os.replace`): a crash leaves the old file or the new
one, never half a file.

- :func:`cog_path` — a scratch GeoTIFF to write into (whole or window by window); when the
  block succeeds it is translated to a COG (512-px tiles, DEFLATE, overviews) at the
  destination, atomically, and the scratch file is removed either way.
- :func:`keep_bytes` — keep uploaded raster bytes (a DEM) under a managed folder as
  ``<sha256><suffix>``: written once, atomically, and re-used when the same bytes come again,
  so uploads never pile up in the system's temporary folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import rasterio.shutil

from layers.write import atomic_path

__all__ = ["cog_path", "keep_bytes"]

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def cog_path(
    path: str | os.PathLike[str],
    *,
    inputs: Iterable[str | os.PathLike[str]] = (),
    blocksize: int = 512,
    overview_resampling: str | None = "average",
    **options: str,
) -> Iterator[Path]:
    """Yield a scratch GeoTIFF path; on success translate it to a COG at ``path``, atomically.

    Parameters
    ----------
    path : path-like
        Destination ``.tif`` (Cloud-Optimised GeoTIFF, DEFLATE).
    inputs : iterable of path-like
        Files that must not be overwritten (the data the user loaded).
    blocksize : int
        COG tile edge in pixels.
    overview_resampling : str or None
        GDAL resampling of the overviews (``average`` for continuous values); None for the
        COG driver's default.
    **options
        Further COG creation options (``BIGTIFF="IF_SAFER"``).

    Yields
    ------
    pathlib.Path
        Where to write a plain GeoTIFF (with :func:`rasterio.open` mode ``"w"``); removed
        after the block, whether it succeeds or not.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".scratch.tif", dir=path.parent)
    os.close(fd)
    scratch = Path(name)
    try:
        yield scratch
        if overview_resampling is not None:
            options = {**options, "overview_resampling": overview_resampling}
        with atomic_path(path, inputs=inputs) as tmp:
            rasterio.shutil.copy(
                scratch, tmp, driver="COG", compress="DEFLATE", blocksize=blocksize, **options
            )
        logger.info("wrote %s", path.name)
    finally:
        scratch.unlink(missing_ok=True)
        scratch.with_name(scratch.name + ".aux.xml").unlink(missing_ok=True)


def keep_bytes(data: bytes, *, folder: str | os.PathLike[str], suffix: str = ".tif") -> Path:
    """Keep ``data`` as ``folder/<sha256><suffix>`` and return that path.

    The same bytes always land in the same file: a file already there with that name is
    re-used (its bytes are checked), so uploading one DEM ten times stores it once.

    Parameters
    ----------
    data : bytes
        The file's content (e.g. an uploaded GeoTIFF).
    folder : path-like
        The managed folder (created if needed).
    suffix : str
        File name suffix, with its dot.
    """
    digest = hashlib.sha256(data).hexdigest()
    path = Path(folder) / f"{digest}{suffix}"
    if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == digest:
        return path
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    logger.info("kept %d bytes as %s", len(data), path)
    return path
