"""Computed results kept on disk: a pickle valid for one input key and one version of the code.

A county's assessment takes seconds to compute and a restarted app server, a second server
process or a region run's county opened in the app would compute it again. :func:`write`
keeps it under a key (the dataset's content hash and the settings' fingerprint) together
with :func:`code_fingerprint`; :func:`read` gives it back only when both still match, so a
change of data, settings or GapMap's own code computes anew.

Pickles are read only from folders GapMap itself writes (``out/cache`` or a region's
results); never point a cache at files from elsewhere: unpickling runs code.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import pickle
from functools import cache
from pathlib import Path
from typing import BinaryIO

from layers.write import atomic_path

__all__ = ["code_fingerprint", "default_dir", "fingerprint", "loads", "read", "write"]

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
CODE_PACKAGES = ("geo", "layers")
"""The packages whose source a cached result depends on."""
_MAGIC = b"gapmap-cache-1\n"


@cache
def code_fingerprint() -> str:
    """SHA-256 over the source of :data:`CODE_PACKAGES` (paths and bytes), once per process."""
    h = hashlib.sha256()
    for package in CODE_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            h.update(str(path.relative_to(ROOT)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def fingerprint(*parts: object) -> str:
    """Return a short stable digest of ``parts`` (their ``repr``), for keys and file names."""
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()[:32]


def default_dir() -> Path:
    """``GAPMAP_CACHE_DIR``, else ``out/cache`` under the project root."""
    return Path(os.environ.get("GAPMAP_CACHE_DIR", ROOT / "out" / "cache"))


def write(
    path: str | os.PathLike[str], obj: object, *, key: str, keep: int | None = None
) -> Path | None:
    """Pickle ``obj`` to ``path`` under ``key`` (atomically); None when it cannot be written.

    A full disk or a read-only folder only costs the cache: it is logged, never raised.
    With ``keep``, only the ``keep`` newest files of the folder with the same suffix stay.
    """
    path = Path(path)
    header = f"{key}\n{code_fingerprint()}\n".encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            f.write(_MAGIC + header)
            pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError as exc:
        logger.warning("could not keep %s in the cache: %s", path, exc)
        return None
    if keep is not None:
        _prune(path.parent, suffix=path.suffix, keep=keep)
    return path


def _prune(folder: Path, *, suffix: str, keep: int) -> None:
    # finished files only: another process's temporary file starts with a dot
    dated = []
    for p in folder.glob(f"[!.]*{suffix}"):
        try:
            dated.append((p.stat().st_mtime, p))
        except FileNotFoundError:  # pruned by another process meanwhile
            continue
    for _, old in sorted(dated, reverse=True)[keep:]:
        old.unlink(missing_ok=True)


def read(path: str | os.PathLike[str], *, key: str) -> object | None:
    """Return the object :func:`write` kept at ``path`` for ``key`` by this code, or None."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return _load(f, key=key, where=str(path))
    except FileNotFoundError:
        return None
    except OSError as exc:
        logger.warning("cached %s is unreadable (%s); computing anew", path, exc)
        return None


def loads(data: bytes, *, key: str, where: str = "cached bytes") -> object | None:
    """Return the object in ``data`` (the bytes of a file :func:`write` wrote) or None.

    The same checks as :func:`read`: the key and the version of the code must match. For
    results kept elsewhere than in a file (a county's ``county.pkl`` in the server database).
    """
    return _load(io.BytesIO(data), key=key, where=where)


def _load(f: BinaryIO, *, key: str, where: str) -> object | None:
    try:
        if f.readline() != _MAGIC:
            return None
        if f.readline().decode().strip() != key:
            return None
        if f.readline().decode().strip() != code_fingerprint():
            logger.info("%s was computed by another version of GapMap", where)
            return None
        return pickle.load(f)
    except (EOFError, pickle.UnpicklingError, AttributeError, ImportError, ValueError) as exc:
        logger.warning("cached %s is unreadable (%s); computing anew", where, exc)
        return None
