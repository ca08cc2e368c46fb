"""Dataset versions in PostGIS: put, accept (administrators only), read back, never overwritten.

Runs on a real PostgreSQL + PostGIS (``GAPMAP_TEST_PG_URL``, started by ``.ci/run``); each
test gets a database of its own.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from geopandas.testing import assert_geodataframe_equal

from layers.dataset import read_dataset
from layers.epanet import read_inp
from layers.store.actors import Actor, Role
from layers.store.datasets import (
    SCHEMA,
    DatasetPermissionError,
    DatasetStore,
    DatasetStoreError,
    layer_sha256,
)
from tests.pg import PG_URL, fresh_database

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo"

pytestmark = pytest.mark.skipif(
    not PG_URL, reason="set GAPMAP_TEST_PG_URL to run the dataset store on PostgreSQL"
)

ADMIN = Actor.of("county_admin", Role.ADMIN, display_name="李主任")
VERIFIER = Actor.of("yanshou", Role.VERIFIER)
TOWNSHIP = Actor.of("wangming", Role.TOWNSHIP, townships=["640324103"])


@pytest.fixture
def pg_url():
    """A fresh, migrated database (PostGIS created by the superuser, as server.sh does)."""
    with fresh_database(prefix="gapmap_test_ds") as url:
        yield sa.make_url(url)


@pytest.fixture
def store(pg_url, tmp_path):
    with DatasetStore(pg_url, files_dir=tmp_path / "files") as s:
        yield s


@pytest.fixture(scope="module")
def demo():
    """The shipped demo with its EPANET model and DEM: a complete county dataset."""
    ds = read_dataset(DEMO / "tongxin.gpkg").with_dem(DEMO / "tongxin_dem.tif")
    return ds.with_water_model(read_inp(DEMO / "tongxin.inp", crs="EPSG:4326"))


def test_round_trip_of_the_demo(store, demo, tmp_path):
    version = store.put(demo, by=ADMIN, note="2026 年县级数据")
    assert store.accepted() is None  # uploaded is not accepted
    store.accept(version, by=ADMIN)
    back = store.accepted()
    assert back is not None
    assert back.content_hash == demo.content_hash
    assert list(back.layers) == list(demo.layers)
    for layer, frame in demo.layers.items():
        assert_geodataframe_equal(
            back[layer], frame.reset_index(drop=True), check_like=False, check_dtype=True
        )
        assert layer_sha256(layer, back[layer]) == layer_sha256(layer, frame)
    assert back.problems == demo.problems
    assert back.name == demo.name
    assert back.water_model.sha256 == demo.water_model.sha256
    assert back.dem.read_bytes() == (DEMO / "tongxin_dem.tif").read_bytes()
    assert back.dem.parent == tmp_path / "files"  # a managed folder, not /tmp


def test_versions_and_latest_acceptance_wins(store, demo):
    v1 = store.put(demo, by=ADMIN, note="first")
    roads = demo["roads"].copy()
    roads.loc[roads.index[0], "surface"] = "沥青"
    edited = demo.replace_layers(roads=roads)
    v2 = store.put(edited, by=ADMIN, note="second")
    assert v2 == v1 + 1
    store.accept(v2, by=ADMIN)
    assert store.accepted().content_hash == edited.content_hash
    store.accept(v1, by=ADMIN)  # back to the first: a new acceptance row, nothing rewritten
    assert store.accepted_version() == v1
    table = store.versions()
    assert list(table["version"]) == [v2, v1]
    assert table.set_index("version")["accepted"].to_dict() == {v1: True, v2: False}
    row = table.set_index("version").loc[v1]
    assert row["uploaded_by"] == "county_admin"
    assert row["uploaded_by_label"] == "李主任（县级管理员）"
    assert row["layers"] == len(demo.layers)
    assert row["features"] == sum(len(f) for f in demo.layers.values())
    assert row["water_model"] == "tongxin.inp"
    assert row["dem"] == "tongxin_dem.tif"
    assert row["content_hash"] == demo.content_hash
    with store.engine.connect() as conn:
        accepts = conn.execute(sa.text("SELECT count(*) FROM dataset_acceptances")).scalar()
    assert accepts == 2


def test_each_layer_is_a_postgis_table_with_a_spatial_index(store, demo):
    version = store.put(demo, by=ADMIN)
    with store.engine.connect() as conn:
        tables = conn.execute(
            sa.text(
                "SELECT f_table_name, srid, type FROM geometry_columns "
                "WHERE f_table_schema = :s ORDER BY f_table_name"
            ),
            {"s": SCHEMA},
        ).all()
        indexes = conn.execute(
            sa.text("SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = :s"),
            {"s": SCHEMA},
        ).all()
        layers = pd.read_sql_query(
            sa.text("SELECT * FROM dataset_layers WHERE version = :v"), conn, params={"v": version}
        )
    assert {t for t, _, _ in tables} == {f"v{version:05d}_{k}" for k in demo.layers}
    assert {srid for _, srid, _ in tables} == {4326}
    gist = {t for t, d in indexes if "USING gist" in d}
    assert gist == {t for t, _, _ in tables}
    got = layers.set_index("layer")
    for layer, frame in demo.layers.items():
        assert got.loc[layer, "row_count"] == len(frame)
        assert got.loc[layer, "sha256"] == layer_sha256(layer, frame)


def test_only_an_administrator_uploads_and_accepts(store, demo):
    for actor in (VERIFIER, TOWNSHIP, Actor.of("leader", Role.VIEWER)):
        with pytest.raises(DatasetPermissionError) as err:
            store.put(demo, by=actor)
        assert "只有县级管理员" in err.value.zh
    version = store.put(demo, by=ADMIN)
    with pytest.raises(DatasetPermissionError) as err:
        store.accept(version, by=VERIFIER)
    assert "无权验收" in err.value.zh and "验收" in err.value.zh
    assert store.accepted() is None
    with pytest.raises(DatasetStoreError) as err:
        store.accept(version + 10, by=ADMIN)
    assert f"没有数据集版本 {version + 10}" in err.value.zh


def test_nothing_is_overwritten_or_deleted(store, demo):
    version = store.put(demo, by=ADMIN)
    store.accept(version, by=ADMIN)
    table = f'{SCHEMA}."v{version:05d}_roads"'
    refused = [
        "UPDATE dataset_versions SET note = 'x'",
        "DELETE FROM dataset_acceptances",
        "UPDATE dataset_layers SET sha256 = 'x'",
        "DELETE FROM dataset_files",
        "TRUNCATE dataset_versions CASCADE",
        f"UPDATE {table} SET surface = '沥青'",
        f"DELETE FROM {table}",
        f"TRUNCATE {table}",
    ]
    for sql in refused:
        with store.engine.begin() as conn, pytest.raises(sa.exc.DBAPIError) as err:
            conn.exec_driver_sql(sql)
        assert "append-only" in str(err.value), sql
    # a version's tables are created once: writing the same version again fails
    frame = demo["roads"]
    with store.engine.begin() as conn, pytest.raises(ValueError, match="already exists"):
        frame.to_postgis(f"v{version:05d}_roads", conn, schema=SCHEMA, if_exists="fail")
    assert store.accepted().content_hash == demo.content_hash


def test_tampered_layer_is_detected(store, demo, pg_url):
    version = store.put(demo, by=ADMIN)
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:  # the superuser switches the trigger off: a forged edit
        conn.exec_driver_sql(
            f'ALTER TABLE {SCHEMA}."v{version:05d}_clinics" DISABLE TRIGGER USER;'
            f'UPDATE {SCHEMA}."v{version:05d}_clinics" SET doctors = doctors + 1'
        )
    engine.dispose()
    with pytest.raises(DatasetStoreError) as err:
        store.read(version)
    assert "校验值不一致" in err.value.zh


def test_a_small_dataset_with_nulls_and_mixed_geometries(store):
    from layers.dataset import Dataset

    demo = read_dataset(DEMO / "tongxin.gpkg")
    frames = {k: demo[k] for k in ("county", "townships", "admin_villages", "natural_villages")}
    nv = frames["natural_villages"].head(5).copy()
    nv.loc[nv.index[0], "water_node"] = None
    frames["natural_villages"] = nv
    towns = frames["townships"].copy()
    # polygons and one multipoint: a column of type GEOMETRY
    towns.loc[towns.index[0], "geometry"] = shapely.MultiPoint([(106.2, 36.9), (106.3, 36.95)])
    frames["townships"] = towns
    small = Dataset(layers=frames, name="小样")
    version = store.put(small, by=ADMIN)
    back = store.read(version)
    assert back.content_hash == small.content_hash
    assert pd.isna(back["natural_villages"]["water_node"].iloc[0])
    assert back["townships"].geometry.iloc[0].geom_type == "MultiPoint"
    assert back.water_model is None and back.dem is None
    assert isinstance(back["county"], gpd.GeoDataFrame)


def test_refuses_sqlite_and_an_unmigrated_database(tmp_path):
    with pytest.raises(DatasetStoreError) as err:
        DatasetStore(f"sqlite:///{tmp_path / 'x.db'}")
    assert "PostgreSQL" in err.value.zh
    with fresh_database(migrated=False) as url:
        with pytest.raises(DatasetStoreError) as err:
            DatasetStore(url)
        assert "scripts.db upgrade" in err.value.zh
