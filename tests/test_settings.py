"""Settings: one frozen object, profiles, TOML overrides, and clear errors."""

import dataclasses

import pytest

from geo.settings import Settings, load_settings


def test_defaults_follow_standards():
    s = load_settings()
    assert s.hard_road.households_min == 20
    assert s.hard_road.hard_surfaces == ("沥青", "水泥")
    assert s.network.snap_max_m == 200.0
    assert s.network.walk_speed_kmh == 4.5
    assert s.services.limit_min("药店") == 15.0
    assert s.clinics.clinic_max_time_min == 30.0
    assert s.water.demand_lpcd == 40.0 and s.targets.tap_rate_pct == 98.0


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        load_settings().network.snap_max_m = 1.0  # type: ignore[misc]


def test_mofcom_profile_has_tiers():
    s = load_settings("mofcom")
    assert s.services.limit_min("便利菜店") == 10.0
    assert s.services.limit_min("综合超市") == 15.0


def test_toml_profile_overrides_and_extends(tmp_path):
    path = tmp_path / "county.toml"
    path.write_text(
        'base = "mofcom"\n[hard_road]\nhouseholds_min = 30\n'
        'hard_surfaces = ["沥青", "水泥", "块石"]\n'
        '[network]\ndrive_speed_kmh = { "村道" = 20 }\n',
        encoding="utf-8",
    )
    s = load_settings(path)
    assert s.profile == "county"
    assert s.hard_road.households_min == 30
    assert s.hard_road.hard_surfaces == ("沥青", "水泥", "块石")
    assert s.network.drive_speed_kmh["村道"] == 20 and s.network.drive_speed_kmh["国道"] == 60
    assert s.services.limit_min("药店") == 10.0  # from the base profile


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[hard_road]\nhouseholds = 30\n", "unknown setting"),
        ("[roads]\nx = 1\n", "section"),
        # targets live in [targets] only: the old names say where they went
        ("[water]\ntap_rate_target_pct = 90\n", r"now \[targets\] tap_rate_pct"),
        ("[hard_road]\ntarget_rate_pct = 90\n", r"now \[targets\] hard_road_rate_pct"),
    ],
)
def test_unknown_names_are_refused(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=match):
        load_settings(path)
    with pytest.raises(ValueError, match="unknown settings profile"):
        load_settings("nope")


def test_every_setting_is_printed_with_the_results():
    rows = Settings().as_records()
    names = {(r["section"], r["name"]) for r in rows}
    assert ("hard_road", "households_min") in names and ("", "profile") in names
    assert len(rows) == 1 + sum(
        len(dataclasses.fields(getattr(Settings(), f.name)))
        for f in dataclasses.fields(Settings)
        if f.name not in {"profile", "indicators"}
    )  # plus one row per county indicator: none in the default profile


def test_a_county_profile_adds_its_own_indicators_and_rejects_bad_ones(tmp_path):
    good = tmp_path / "county.toml"
    good.write_text(
        '[[indicators]]\ncode = "post_logistics"\nname_zh = "到村级寄递物流服务点"\n'
        'kinds = ["物流配送站点"]\nmode = "drive"\nmax_time_min = 30\n',
        encoding="utf-8",
    )
    s = load_settings(good)
    (spec,) = s.indicators
    assert (spec.code, spec.kinds, spec.mode, spec.max_time_min) == (
        "post_logistics", ("物流配送站点",), "drive", 30.0,
    )  # fmt: skip
    assert ("indicators", "post_logistics") in {(r["section"], r["name"]) for r in s.as_records()}
    bad = tmp_path / "bad.toml"
    for body, says in [
        ('[[indicators]]\ncode = "x"\nname_zh = "x"\nmode = "fly"\nmax_time_min = 1\n', "mode"),
        ('[[indicators]]\ncode = "x"\nname_zh = "x"\nmode = "straight"\n', "max_distance_m"),
        ('[[indicators]]\ncode = "X-1"\nname_zh = "x"\nmax_time_min = 1\n', "lower-case"),
        ('[[indicators]]\ncode = "x"\nname_zh = "x"\nmax_time_min = 1\nlimit = 2\n', "unknown"),
    ]:
        bad.write_text(body, encoding="utf-8")
        with pytest.raises(ValueError, match=says):
            load_settings(bad)


def test_the_settings_digest_is_one_key_exact_and_the_same_in_every_process():
    """One digest of the settings keys a region county's input hash and the app's cache."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from scripts.region import settings_hash

    s = load_settings("default")
    assert s.digest() == load_settings("default").digest() == settings_hash(s)
    assert len(s.digest()) == 64
    moved = dataclasses.replace(s, region=dataclasses.replace(s.region, buffer_m=10_000.5))
    assert moved.digest() != s.digest()
    assert load_settings("mofcom").digest() != s.digest()  # a profile's own times
    # another process (another hash seed) gives the same digest: a rerun skips what is current
    code = "from geo.settings import load_settings; print(load_settings('default').digest())"
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, cwd=root, check=True)  # fmt: skip
    assert done.stdout.strip() == s.digest()
