"""Safe opening of zipped uploads (``.zip`` deliverables, ``.kmz``).

Planning deliverables usually come zipped (a FileGDB folder, a set of shapefiles), and
an upload is untrusted input. :func:`extract_zip` refuses, with an :class:`ArchiveError`
saying which file, what and how to fix it:

- members with absolute paths, drive letters or ``..`` that would land outside ``dest``
  (path traversal, "zip slip");
- symbolic-link members;
- encrypted members (GapMap has no password to give);
- more members, or more declared bytes, than the limits;
- members whose compression ratio is over the limit (zip bombs), and archives whose
  members together are (many small members that add up to a bomb);
- member paths nested deeper than :data:`DEFAULT_MAX_DEPTH` folders, or with a name
  longer than :data:`MAX_NAME_BYTES` (a path longer than :data:`MAX_PATH_BYTES`);
- two members of one name (also when they differ only in case), and a member that is a
  file and a folder at once;
- members that turn out larger than they declared while extracting (the declared sizes
  in a zip are not to be trusted; the actual bytes are counted as they are written);
- corrupt archives and files that are not zips at all.

Member names written by Chinese Windows without the UTF-8 flag are GBK; they are decoded
as such instead of as the code page 437 the zip standard prescribes.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from layers.errors import ArchiveError

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_FILES",
    "DEFAULT_MAX_RATIO",
    "DEFAULT_MAX_TOTAL_BYTES",
    "MAX_NAME_BYTES",
    "MAX_PATH_BYTES",
    "check_zip",
    "extract_zip",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_TOTAL_BYTES = 2 * 1024**3
"""Largest total uncompressed size accepted (2 GiB): a county's layers are far smaller."""
DEFAULT_MAX_FILES = 10_000
"""Most members accepted; a FileGDB holds a few dozen files per feature class."""
DEFAULT_MAX_RATIO = 200
"""Highest uncompressed/compressed ratio accepted for a member, and for the archive as a
whole once it expands past 1 MiB (so that many small members cannot add up to a bomb:
2,000 members of 1 MiB − 1 byte each stay under any per-member check); zip bombs reach
~1000."""
DEFAULT_MAX_DEPTH = 32
"""Most folder levels in a member's path; deliverables nest a few levels, not hundreds."""
MAX_NAME_BYTES = 255
"""Longest file or folder name (one path part), in UTF-8 bytes: the limit of most file
systems (ext4, NTFS in UTF-16 units, APFS)."""
MAX_PATH_BYTES = 1024
"""Longest member path, in UTF-8 bytes (well under Linux's 4,096-byte PATH_MAX once the
extraction folder is prefixed)."""

_RATIO_MIN_BYTES = 1024 * 1024  # small members (a .cpg, an empty .dbf) compress absurdly well
_CHUNK_BYTES = 1024 * 1024
_ENCRYPTED_FLAG = 0x1
_UTF8_FLAG = 0x800


@dataclass(frozen=True)
class _Member:
    info: zipfile.ZipInfo
    name: str  # decoded, with "/" separators
    parts: tuple[str, ...]  # path parts below dest
    is_dir: bool


def _error(path: Path, en: str, zh: str, fix: str) -> ArchiveError:
    return ArchiveError(f"{path.name}: {en}", zh=f"压缩文件 {path.name}：{zh}。{fix}")


def _decoded_name(info: zipfile.ZipInfo) -> str:
    """Return the member name, with GBK names from Chinese Windows decoded correctly."""
    name = info.filename
    if not info.flag_bits & _UTF8_FLAG:
        try:
            raw = name.encode("cp437")
        except UnicodeEncodeError:
            return name
        for encoding in ("utf-8", "gbk"):
            try:
                return raw.decode(encoding)
            except UnicodeDecodeError:
                continue
    return name


def _members(
    path: Path,
    zf: zipfile.ZipFile,
    *,
    max_total_bytes: int,
    max_files: int,
    max_ratio: float,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> list[_Member]:
    """Check every member's metadata; return them, or raise on the first refusal."""
    infos = zf.infolist()
    if len(infos) > max_files:
        raise _error(
            path,
            f"holds {len(infos)} members, more than the limit of {max_files}",
            f"包含 {len(infos)} 个文件，超过上限 {max_files} 个",
            "请只压缩需要导入的图层文件",
        )
    declared = sum(i.file_size for i in infos)
    if declared > max_total_bytes:
        raise _error(
            path,
            f"would unpack to {declared:,} bytes, more than the limit of {max_total_bytes:,}",
            f"解压后共 {declared:,} 字节，超过上限 {max_total_bytes:,} 字节",
            "请只压缩需要导入的图层，或分成几个压缩包",
        )
    members: list[_Member] = []
    for info in infos:
        name = _decoded_name(info).replace("\\", "/")
        if info.flag_bits & _ENCRYPTED_FLAG:
            raise _error(
                path,
                f"member {name!r} is encrypted; GapMap cannot open password-protected archives",
                f"其中的“{name}”已加密（设置了密码）",
                "请解压后不设密码重新压缩，再导入",
            )
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise _error(
                path,
                f"member {name!r} is a symbolic link; links are refused",
                f"其中的“{name}”是符号链接，出于安全原因拒绝解压",
                "请压缩实际文件而不是链接",
            )
        pure = PurePosixPath(name)
        drive = len(name) >= 2 and name[1] == ":"
        if pure.is_absolute() or drive or ".." in pure.parts or "\0" in name:
            raise _error(
                path,
                f"member {name!r} would be written outside the extraction folder "
                "(absolute path or '..'); the archive is refused",
                f"其中的“{name}”路径指向解压目录之外（绝对路径或“..”），出于安全原因拒绝解压",
                "请检查压缩包来源，用相对路径重新压缩",
            )
        parts = tuple(p for p in pure.parts if p not in ("", "."))
        if not parts:
            continue
        if len(parts) - 1 > max_depth:
            raise _error(
                path,
                f"member {name[:80]!r}… is nested {len(parts) - 1} folders deep, more than the "
                f"limit of {max_depth}",
                f"其中的“{name[:40]}…”嵌套了 {len(parts) - 1} 层文件夹，超过上限 {max_depth} 层",
                "请把数据文件放在压缩包的顶层或少数几层文件夹中重新压缩",
            )
        long = [p for p in parts if len(p.encode("utf-8")) > MAX_NAME_BYTES]
        if long or len(name.encode("utf-8")) > MAX_PATH_BYTES:
            what = long[0] if long else name
            raise _error(
                path,
                f"member {name[:80]!r} has a name of {len(what.encode('utf-8'))} bytes, more "
                f"than the limit of {MAX_NAME_BYTES if long else MAX_PATH_BYTES} (file "
                "systems cannot hold it)",
                f"其中的“{name[:40]}…”名称过长（{len(what.encode('utf-8'))} 字节，上限 "
                f"{MAX_NAME_BYTES if long else MAX_PATH_BYTES} 字节），无法解压",
                "请把文件和文件夹改成较短的名称后重新压缩",
            )
        size, packed = info.file_size, max(info.compress_size, 1)
        if size >= _RATIO_MIN_BYTES and size / packed > max_ratio:
            raise _error(
                path,
                f"member {name!r} has a compression ratio of {size / packed:.0f}:1, over the "
                f"limit of {max_ratio:g}:1 (a zip bomb?)",
                f"其中的“{name}”压缩比为 {size / packed:.0f}:1，超过上限 {max_ratio:g}:1，"
                "疑似“压缩炸弹”",
                "如确为正常数据，请解压后直接导入文件或 .gdb 文件夹",
            )
        members.append(_Member(info, name, parts, name.endswith("/") or info.is_dir()))
    packed_total = max(sum(i.compress_size for i in infos), 1)
    if declared >= _RATIO_MIN_BYTES and declared / packed_total > max_ratio:
        raise _error(
            path,
            f"would unpack {packed_total:,} bytes into {declared:,}: a compression ratio of "
            f"{declared / packed_total:.0f}:1 over all its members, over the limit of "
            f"{max_ratio:g}:1 (a zip bomb?)",
            f"全部文件的总压缩比为 {declared / packed_total:.0f}:1（{packed_total:,} 字节解压为 "
            f"{declared:,} 字节），超过上限 {max_ratio:g}:1，疑似“压缩炸弹”",
            "请检查压缩包来源；如确为正常数据，请解压后直接导入文件",
        )
    _check_clashes(path, members)
    return members


def _check_clashes(path: Path, members: list[_Member]) -> None:
    """Refuse two members with one name (any case) and a file that is also a folder."""
    files: dict[tuple[str, ...], str] = {}
    folders: dict[tuple[str, ...], str] = {}
    for m in members:
        key = tuple(p.casefold() for p in m.parts)
        for depth in range(1, len(key) + (0 if not m.is_dir else 1)):
            folders.setdefault(key[:depth], m.name)
        if m.is_dir:
            continue
        if key in files:
            raise _error(
                path,
                f"holds two members named {files[key]!r} and {m.name!r} (names differ at most "
                "in case); which one is meant cannot be told",
                f"其中有两个同名文件“{files[key]}”和“{m.name}”（仅大小写不同也算同名），"
                "无法判断使用哪一个",
                "请删除重复的文件后重新压缩",
            )
        files[key] = m.name
    for key, name in files.items():
        if key in folders:
            raise _error(
                path,
                f"member {name!r} is a file and also a folder ({folders[key]!r} lies inside "
                "it); it cannot be extracted",
                f"其中的“{name}”既是文件又是文件夹（“{folders[key]}”在它下面），无法解压",
                "请给文件或文件夹改名后重新压缩",
            )


def _open(path: Path) -> zipfile.ZipFile:
    if not path.exists():
        raise ArchiveError(
            f"file not found: {path}", zh=f"找不到文件：{path}。请检查路径和文件名是否正确"
        )
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as err:
        raise _error(
            path,
            f"is not a valid zip archive or is damaged ({err})",
            "不是有效的 zip 压缩文件或已损坏",
            "请重新下载或重新压缩（使用标准 zip 格式）后再导入",
        ) from err
    except OSError as err:
        raise _error(
            path,
            f"cannot be read ({err})",
            f"无法读取（{err}）",
            "请确认文件未被其他程序占用、有读取权限",
        ) from err


def _stream(
    path: Path,
    zf: zipfile.ZipFile,
    member: _Member,
    *,
    written_before: int,
    max_total_bytes: int,
    max_ratio: float,
) -> Iterator[bytes]:
    """Yield a member's bytes, counting them against the declared size and the limits."""
    info = member.info
    count = 0
    try:
        with zf.open(info) as src:
            while chunk := src.read(_CHUNK_BYTES):
                count += len(chunk)
                if count > info.file_size:
                    raise _error(
                        path,
                        f"member {member.name!r} unpacks to more than its declared "
                        f"{info.file_size:,} bytes; the archive is refused",
                        f"其中的“{member.name}”实际大小超过其声明的 {info.file_size:,} 字节，"
                        "压缩包可能被篡改",
                        "请检查压缩包来源并重新压缩",
                    )
                if written_before + count > max_total_bytes:
                    raise _error(
                        path,
                        f"unpacks to more than the limit of {max_total_bytes:,} bytes",
                        f"解压后超过上限 {max_total_bytes:,} 字节",
                        "请只压缩需要导入的图层，或分成几个压缩包",
                    )
                if count >= _RATIO_MIN_BYTES and count / max(info.compress_size, 1) > max_ratio:
                    raise _error(
                        path,
                        f"member {member.name!r} expands over {max_ratio:g}:1 (a zip bomb?)",
                        f"其中的“{member.name}”压缩比超过 {max_ratio:g}:1，疑似“压缩炸弹”",
                        "如确为正常数据，请解压后直接导入文件或 .gdb 文件夹",
                    )
                yield chunk
    except ArchiveError:
        raise
    except RuntimeError as err:  # zipfile raises this for encryption it detects late
        raise _error(
            path,
            f"member {member.name!r} cannot be read: {err}",
            f"其中的“{member.name}”无法读取（可能已加密）",
            "请解压后不设密码重新压缩，再导入",
        ) from err
    except NotImplementedError as err:
        raise _error(
            path,
            f"member {member.name!r} uses an unsupported compression method ({err})",
            f"其中的“{member.name}”使用了不支持的压缩方式",
            "请用标准 zip（Deflate）格式重新压缩",
        ) from err
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as err:
        raise _error(
            path,
            f"member {member.name!r} is damaged ({err})",
            f"其中的“{member.name}”已损坏",
            "请重新下载或重新压缩后再导入",
        ) from err


def check_zip(
    path: str | os.PathLike[str],
    *,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    max_files: int = DEFAULT_MAX_FILES,
    max_ratio: float = DEFAULT_MAX_RATIO,
) -> list[str]:
    """Check a zip (or KMZ) without writing anything: metadata, then every member's bytes.

    Parameters
    ----------
    path : path-like
        The archive.
    max_total_bytes, max_files, max_ratio
        Limits, as in :func:`extract_zip`.

    Returns
    -------
    list of str
        Member names (decoded), directories excluded.

    Raises
    ------
    ArchiveError
        If the archive is missing, corrupt, or breaks any rule.
    """
    path = Path(path)
    with _open(path) as zf:
        members = _members(
            path, zf, max_total_bytes=max_total_bytes, max_files=max_files, max_ratio=max_ratio
        )
        total = 0
        for m in members:
            if m.is_dir:
                continue
            for chunk in _stream(
                path,
                zf,
                m,
                written_before=total,
                max_total_bytes=max_total_bytes,
                max_ratio=max_ratio,
            ):
                total += len(chunk)
    return [m.name for m in members if not m.is_dir]


def extract_zip(
    path: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    max_files: int = DEFAULT_MAX_FILES,
    max_ratio: float = DEFAULT_MAX_RATIO,
) -> Path:
    """Extract a zip (or KMZ) into ``dest`` safely; refuse anything suspicious.

    Every member is checked before anything is written (paths, links, encryption,
    declared sizes and ratios), then extracted in chunks while its actual size is
    counted. If a check fails during extraction, everything written so far is removed.

    Parameters
    ----------
    path : path-like
        The archive.
    dest : path-like
        Folder to extract into; created if missing. Nothing is written outside it.
    max_total_bytes : int
        Largest total uncompressed size, bytes (default 2 GiB).
    max_files : int
        Most members (default 10,000).
    max_ratio : float
        Highest uncompressed/compressed ratio of a member of 1 MiB or more (default 200).

    Returns
    -------
    pathlib.Path
        ``dest``, resolved.

    Raises
    ------
    ArchiveError
        If the archive is missing, corrupt, or breaks any rule; the message says which
        file, what, and how to fix it (``zh`` in Chinese).
    """
    path = Path(path)
    root = Path(dest)
    with _open(path) as zf:
        members = _members(
            path, zf, max_total_bytes=max_total_bytes, max_files=max_files, max_ratio=max_ratio
        )
        root.mkdir(parents=True, exist_ok=True)
        root = root.resolve()
        created: list[Path] = []
        try:
            _extract_members(path, zf, members, root, created, max_total_bytes, max_ratio)
        except BaseException:
            for p in reversed(created):
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
            raise
    logger.info("extracted %s: %d members", path.name, len(members))
    return root


def _extract_members(
    path: Path,
    zf: zipfile.ZipFile,
    members: list[_Member],
    root: Path,
    created: list[Path],
    max_total_bytes: int,
    max_ratio: float,
) -> None:
    """Write the checked members below ``root``, recording each path created."""
    total = 0
    for m in members:
        try:
            _extract_one(path, zf, m, root, created, total, max_total_bytes, max_ratio)
        except ArchiveError:
            raise
        except OSError as err:  # a name the file system refuses, a full disk ...
            raise _error(
                path,
                f"member {m.name[:120]!r} cannot be extracted ({err.strerror or err})",
                f"其中的“{m.name[:60]}”无法解压（{err.strerror or err}）",
                "请检查磁盘空间和文件夹权限，或压缩包中是否有同名的文件和文件夹、过长的名称",
            ) from err
        if not m.is_dir:
            total += (root.joinpath(*m.parts)).stat().st_size


def _extract_one(
    path: Path,
    zf: zipfile.ZipFile,
    m: _Member,
    root: Path,
    created: list[Path],
    total: int,
    max_total_bytes: int,
    max_ratio: float,
) -> None:
    """Write one member (a folder, or a file streamed against the limits)."""
    target = root.joinpath(*m.parts)
    if not target.resolve().is_relative_to(root):  # belt and braces
        raise _error(
            path,
            f"member {m.name!r} would be written outside the extraction folder",
            f"其中的“{m.name}”路径指向解压目录之外，出于安全原因拒绝解压",
            "请检查压缩包来源，用相对路径重新压缩",
        )
    for parent in reversed([target, *target.parents] if m.is_dir else target.parents):
        if parent == root or root not in parent.parents:
            continue
        if not parent.exists():
            parent.mkdir()
            created.append(parent)
    if m.is_dir:
        return
    created.append(target)
    with open(target, "wb") as out:
        for chunk in _stream(
            path,
            zf,
            m,
            written_before=total,
            max_total_bytes=max_total_bytes,
            max_ratio=max_ratio,
        ):
            out.write(chunk)
