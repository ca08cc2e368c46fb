"""Safe zip extraction: traversal, links, encryption, bombs, lies and corruption are refused."""

from __future__ import annotations

import os
import stat
import zipfile

import pytest

from layers import ArchiveError, LayerReadError
from layers.archive import check_zip, extract_zip

MIB = 1024 * 1024


def make_zip(path, members, *, compression=zipfile.ZIP_DEFLATED):
    """Write ``{name or ZipInfo: bytes}`` to a zip and return its path."""
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def patch_all(path, old: bytes, new: bytes):
    """Replace bytes everywhere in a file (member names in local and central headers)."""
    data = path.read_bytes()
    assert data.count(old) >= 2
    path.write_bytes(data.replace(old, new))


def files_under(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def test_extracts_nested_members_and_gbk_names(tmp_path):
    src = make_zip(
        tmp_path / "a.zip",
        {"data/ABCDEF.txt": b"gbk name", "data/sub/b.txt": b"b", "data/empty/": b""},
    )
    # Chinese Windows writes GBK names without the UTF-8 flag; zipfile cannot, so patch.
    patch_all(src, b"ABCDEF", "自然村".encode("gbk"))
    dest = extract_zip(src, tmp_path / "out")
    assert dest == (tmp_path / "out").resolve()
    assert files_under(dest) == [
        "data",
        "data/empty",
        "data/sub",
        "data/sub/b.txt",
        "data/自然村.txt",
    ]
    assert (dest / "data" / "自然村.txt").read_bytes() == b"gbk name"
    assert check_zip(src) == ["data/自然村.txt", "data/sub/b.txt"]


@pytest.mark.parametrize("name", ["../evil.txt", "a/../../evil.txt", "..\\evil.txt"])
def test_path_traversal_is_refused_and_nothing_is_written(tmp_path, name):
    src = make_zip(tmp_path / "evil.zip", {"ok.txt": b"fine", name: b"pwned"})
    dest = tmp_path / "deep" / "out"
    with pytest.raises(ArchiveError) as info:
        extract_zip(src, dest)
    assert "outside" in str(info.value) and "解压目录之外" in info.value.zh
    assert "evil.zip" in info.value.zh
    assert not list(tmp_path.rglob("evil.txt"))
    assert not (dest / "ok.txt").exists()  # refused before anything is written


def test_absolute_path_is_refused(tmp_path):
    info = zipfile.ZipInfo("placeholder/abs.txt")
    src = make_zip(tmp_path / "abs.zip", {info: b"x"})
    patch_all(src, b"placeholder/abs.txt", b"/tmp/gapmap_abs.txt")
    with pytest.raises(ArchiveError, match="outside"):
        extract_zip(src, tmp_path / "out")
    assert not os.path.exists("/tmp/gapmap_abs.txt")


def test_symlink_member_is_refused(tmp_path):
    link = zipfile.ZipInfo("link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    src = make_zip(tmp_path / "link.zip", {link: b"/etc/passwd"})
    with pytest.raises(ArchiveError) as info:
        extract_zip(src, tmp_path / "out")
    assert "符号链接" in info.value.zh
    assert not (tmp_path / "out" / "link").exists()


def test_encrypted_member_is_refused(tmp_path):
    src = make_zip(tmp_path / "secret.zip", {"a.txt": b"secret"})
    data = bytearray(src.read_bytes())
    # zipfile cannot encrypt: set bit 0 of the general-purpose flags by hand, in the local
    # header (offset 6) and the central directory entry (offset 8).
    local = data.index(b"PK\x03\x04")
    central = data.index(b"PK\x01\x02")
    data[local + 6] |= 0x01
    data[central + 8] |= 0x01
    src.write_bytes(bytes(data))
    with pytest.raises(ArchiveError) as info:
        extract_zip(src, tmp_path / "out")
    assert "encrypted" in str(info.value) and "加密" in info.value.zh


def test_zip_bomb_is_refused_by_ratio(tmp_path):
    src = tmp_path / "bomb.zip"
    with (
        zipfile.ZipFile(src, "w", compression=zipfile.ZIP_DEFLATED) as zf,
        zf.open("zeros.bin", "w") as f,  # streamed: 64 MiB of zeros, ~1000:1
    ):
        for _ in range(64):
            f.write(bytes(MIB))
    assert src.stat().st_size < MIB
    with pytest.raises(ArchiveError) as info:
        extract_zip(src, tmp_path / "out")
    assert "ratio" in str(info.value) and "压缩炸弹" in info.value.zh
    assert not (tmp_path / "out" / "zeros.bin").exists()


def test_small_members_may_compress_well(tmp_path):
    # a .cpg or a blank-padded .dbf of a few KiB compresses far over 200:1; that is fine
    src = make_zip(tmp_path / "small.zip", {"a.dbf": b" " * 200_000, "a.cpg": b"UTF-8"})
    extract_zip(src, tmp_path / "out")
    assert (tmp_path / "out" / "a.dbf").stat().st_size == 200_000


def test_total_size_and_member_count_limits(tmp_path):
    src = make_zip(
        tmp_path / "big.zip", {"a.bin": os.urandom(2 * MIB)}, compression=zipfile.ZIP_STORED
    )
    with pytest.raises(ArchiveError, match="limit"):
        extract_zip(src, tmp_path / "out", max_total_bytes=MIB)
    many = make_zip(tmp_path / "many.zip", {f"f{i}.txt": b"x" for i in range(5)})
    with pytest.raises(ArchiveError) as info:
        extract_zip(many, tmp_path / "out2", max_files=3)
    assert "5" in info.value.zh and "3" in info.value.zh


def test_lying_sizes_are_caught_while_extracting(tmp_path):
    payload = b"".join(b"%08d village road\n" % i for i in range(120_000))  # 2.4 MB, ~10:1
    src = make_zip(tmp_path / "liar.zip", {"first.txt": b"ok", "data.txt": payload})
    data = bytearray(src.read_bytes())
    # declare 1,000 bytes instead of the real size, in both headers
    real = len(payload).to_bytes(4, "little")
    local = data.index(b"PK\x03\x04", data.index(b"data.txt") - 40)
    central = data.index(b"PK\x01\x02", data.index(b"PK\x01\x02") + 4)
    assert data[local + 22 : local + 26] == real and data[central + 24 : central + 28] == real
    data[local + 22 : local + 26] = (1000).to_bytes(4, "little")
    data[central + 24 : central + 28] = (1000).to_bytes(4, "little")
    src.write_bytes(bytes(data))
    with pytest.raises(ArchiveError):
        extract_zip(src, tmp_path / "out")
    assert files_under(tmp_path / "out") == []  # what was written before is removed
    with pytest.raises(ArchiveError):
        check_zip(src)


def test_corrupt_and_non_zip_files(tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"this is not a zip at all" * 10)
    with pytest.raises(ArchiveError) as info:
        extract_zip(junk, tmp_path / "out")
    assert "junk.zip" in info.value.zh and "损坏" in info.value.zh
    good = make_zip(tmp_path / "good.zip", {"a.txt": os.urandom(50_000)})
    cut = tmp_path / "cut.zip"
    cut.write_bytes(good.read_bytes()[:30_000])
    with pytest.raises(ArchiveError):
        extract_zip(cut, tmp_path / "out")


def test_missing_archive(tmp_path):
    with pytest.raises(ArchiveError) as info:
        extract_zip(tmp_path / "nope.zip", tmp_path / "out")
    assert "找不到文件" in info.value.zh
    assert isinstance(info.value, LayerReadError) and isinstance(info.value, OSError)


def test_limits_are_keyword_only(tmp_path):
    src = make_zip(tmp_path / "a.zip", {"a.txt": b"a"})
    with pytest.raises(TypeError):
        extract_zip(src, tmp_path / "out", 10)  # type: ignore[misc]
