"""Evidence files of the 整改台账 (photos, 验收单): copied into a folder, atomically.

Files are written through :func:`layers.write.atomic_path`, the one atomic writer: a crash
leaves the old state or the whole new file, never half a photo.
"""

from __future__ import annotations

import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

from layers.errors import GapMapError
from layers.write import atomic_path

__all__ = ["EvidenceError", "remove", "safe_name", "store_file"]


class EvidenceError(GapMapError, OSError):
    """An evidence file cannot be read or stored."""


def safe_name(name: str) -> str:
    """Return a browser-given file name without line breaks, control characters or path parts.

    The evidence list is one path per line, so a newline in a name would split it; a path
    part could point outside the evidence folder.
    """
    return re.sub(r"[\x00-\x1f\x7f/\\:]+", "_", name).strip(" .")[-120:] or "file"


def store_file(source: str | os.PathLike[str], *, folder: Path, key: str, at: datetime) -> Path:
    """Copy ``source`` to ``<folder>/<key>/<UTC time>_<name>`` and return that path.

    Parameters
    ----------
    source : path-like
        The file to keep.
    folder : Path
        The evidence folder.
    key : str
        The item key (made safe as a folder name).
    at : datetime
        When (its UTC time stamps the file name, so names never collide).

    Raises
    ------
    EvidenceError
        If the source is missing or the folder cannot be written.
    """
    src = Path(source)
    if not src.is_file():
        raise EvidenceError(f"no such file: {src}", zh=f"找不到文件：{src}")
    sub = re.sub(r"[^0-9A-Za-z_\-\u4e00-\u9fff]+", "_", key)
    stamp = at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    dest = folder / sub / f"{stamp}_{safe_name(src.name)}"
    try:
        with atomic_path(dest, inputs=[src]) as tmp:
            shutil.copyfile(src, tmp)
    except OSError as exc:
        raise EvidenceError(
            f"cannot store evidence in {folder}: {exc}",
            zh=f"无法保存佐证材料到台账文件夹 {folder}：请检查磁盘空间和写入权限",
        ) from exc
    return dest


def remove(path: Path) -> None:
    """Remove a stored evidence file (after its ledger edit failed)."""
    path.unlink(missing_ok=True)
