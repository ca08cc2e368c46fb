"""The disk cache of computed results (layers.cache): right key and code, or nothing."""

from __future__ import annotations

import os

from layers import cache


def test_round_trip_under_its_key(tmp_path):
    path = tmp_path / "a.pkl"
    assert cache.write(path, {"x": [1, 2]}, key="k1") == path
    assert cache.read(path, key="k1") == {"x": [1, 2]}
    assert cache.read(path, key="k2") is None  # another dataset or other settings
    assert cache.read(tmp_path / "missing.pkl", key="k1") is None


def test_another_version_of_the_code_computes_anew(tmp_path, monkeypatch):
    path = tmp_path / "a.pkl"
    cache.write(path, 42, key="k")
    monkeypatch.setattr(cache, "code_fingerprint", lambda: "0" * 64)
    assert cache.read(path, key="k") is None


def test_the_code_fingerprint_follows_the_source():
    digest = cache.code_fingerprint()
    assert len(digest) == 64
    assert cache.code_fingerprint() == digest  # once per process


def test_a_damaged_file_is_ignored_not_raised(tmp_path, caplog):
    path = tmp_path / "a.pkl"
    cache.write(path, list(range(1000)), key="k")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert cache.read(path, key="k") is None
    path.write_bytes(b"not a cache file")
    assert cache.read(path, key="k") is None


def test_an_unwritable_folder_costs_only_the_cache(tmp_path, caplog):
    (tmp_path / "taken").write_text("a file where the folder should be")
    assert cache.write(tmp_path / "taken" / "a.pkl", 1, key="k") is None
    assert "could not keep" in caplog.text


def test_keep_prunes_the_oldest_finished_files(tmp_path):
    for i in range(5):
        path = cache.write(tmp_path / f"r{i}.pkl", i, key="k", keep=3)
        os.utime(path, (1000 + i, 1000 + i))
    (tmp_path / ".r9.tmp.pkl").write_bytes(b"another process writing")
    cache.write(tmp_path / "r5.pkl", 5, key="k", keep=3)
    assert sorted(p.name for p in tmp_path.glob("r*.pkl")) == ["r3.pkl", "r4.pkl", "r5.pkl"]
    assert (tmp_path / ".r9.tmp.pkl").exists()


def test_the_folder_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GAPMAP_CACHE_DIR", str(tmp_path))
    assert cache.default_dir() == tmp_path
