"""医疗卫生空白点 equal the implementation they replaced, frame for frame, bit for bit.

``_old_clinic_gaps`` (and ``_old_travel``) below is :func:`geo.clinics.clinic_gaps` as it
was before the natural villages were projected and snapped once for both facility kinds
(each travel matrix snapped the villages and the facilities together) and the township
code prefix was cut only where the admin layer lacks a village (2026-12). Old and new run
on fresh graphs of the same roads: the shipped demo county, a small synthetic province
(also with both travel modes swapped), the province without 卫生院 and with no facility
at all, and villages of unknown admin villages.
"""

from __future__ import annotations

import dataclasses
import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal

from geo.clinics import BLANK_STATUSES, ClinicResult, _count_and_doctors, clinic_gaps
from geo.network import RoadGraph, build_graph, shortest_from, travel_matrix
from geo.settings import Settings, load_settings
from layers import Dataset
from layers.schema import split_codes
from scripts.bench_access import county_kwargs, synthetic_province

logger = logging.getLogger(__name__)

# --- the previous implementation, kept as the reference ----------------------------------


def _old_travel(
    graph: RoadGraph,
    settings: Settings,
    origins: gpd.GeoSeries,
    facilities: gpd.GeoDataFrame,
    mode: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Minutes from each origin to the nearest facility and that facility's row (-1)."""
    net = settings.network
    n = len(origins)
    if len(facilities) == 0:
        return np.full(n, np.inf), np.full(n, -1)
    geoms = pd.concat([origins, facilities.geometry], ignore_index=True)
    matrix, node = travel_matrix(
        graph, gpd.GeoSeries(geoms, crs=origins.crs), mode=mode, settings=net
    )
    o_nodes, f_nodes = node[:n], node[n:]
    cost, src, _ = shortest_from(matrix, f_nodes)
    minutes = np.where(o_nodes >= 0, cost[np.maximum(o_nodes, 0)], np.inf)
    lookup = pd.Series(np.arange(len(f_nodes)), index=f_nodes)
    lookup = lookup[(lookup.index >= 0) & ~lookup.index.duplicated()]
    which = np.full(n, -1)
    reach = np.isfinite(minutes)
    which[reach] = lookup.reindex(src[o_nodes[reach]]).to_numpy()
    return minutes, which


def _old_clinic_gaps(dataset: Dataset, graph: RoadGraph, settings: Settings) -> ClinicResult:
    """Find 医疗卫生空白点 and travel times to clinics.

    Parameters
    ----------
    dataset : Dataset
        Needs ``townships``, ``admin_villages``, ``natural_villages`` and ``clinics``.
    graph : RoadGraph
        The road graph of the dataset.
    settings : Settings
        ``settings.clinics`` and ``settings.network``.

    Returns
    -------
    ClinicResult
    """
    cs = settings.clinics
    clinics = dataset["clinics"]
    clinics = clinics.loc[clinics["status"] == "现状"]
    townships = dataset["townships"]
    admin = dataset["admin_villages"]

    centres = clinics.loc[clinics["kind"] == "卫生院"].copy()
    # a centre with no township code is matched to the township polygon it lies in
    no_code = centres["township_code"] == ""
    if no_code.any():
        joined = gpd.sjoin(
            centres.loc[no_code, ["geometry"]],
            townships[["code", "geometry"]],
            how="left",
            predicate="within",
        )
        joined = joined[~joined.index.duplicated()]
        centres.loc[no_code, "township_code"] = joined["code"].fillna("").to_numpy()
    per_tw = _count_and_doctors(centres, "township_code")
    tw = gpd.GeoDataFrame(
        {"code": townships["code"], "name": townships["name"]},
        geometry=townships.geometry,
        crs=townships.crs,
    )
    tw["n_health_centres"] = tw["code"].map(per_tw["n"]).fillna(0).astype(int).to_numpy()
    tw["doctors"] = tw["code"].map(per_tw["doctors"]).fillna(0).astype(int).to_numpy()
    tw["blank"] = tw["n_health_centres"] == 0

    rooms = clinics.loc[clinics["kind"] == "卫生室"]
    per_av = _count_and_doctors(rooms, "admin_village_code")
    hosts = set(centres["admin_village_code"]) - {""}
    shared: dict[str, list[str]] = {}
    for cid, codes in zip(rooms["id"], rooms["serves_codes"], strict=True):
        for code in split_codes(codes):  # the separators validation accepts
            shared.setdefault(code, []).append(str(cid))
    av = gpd.GeoDataFrame(
        {
            "code": admin["code"],
            "name": admin["name"],
            "township_code": admin["township_code"],
            "population": admin["population"],
        },
        geometry=admin.geometry,
        crs=admin.crs,
    )
    av["n_clinics"] = av["code"].map(per_av["n"]).fillna(0).astype(int).to_numpy()
    av["doctors"] = av["code"].map(per_av["doctors"]).fillna(0).astype(int).to_numpy()
    pop = av["population"].fillna(0).to_numpy(dtype=float)
    av["doctors_required"] = np.ceil(pop / 1000.0 * cs.doctors_per_1000_min).astype(int)
    av["served_by"] = av["code"].map(lambda c: ";".join(shared.get(c, []))).astype(str)
    has_room = av["n_clinics"].to_numpy() > 0
    doctors = av["doctors"].to_numpy()
    status = np.select(
        [
            has_room & (doctors >= av["doctors_required"].to_numpy()) & (doctors > 0),
            has_room & (doctors == 0),
            has_room,
            av["code"].isin(hosts).to_numpy(),
            (av["served_by"] != "").to_numpy(),
        ],
        ["ok", "no_doctor", "short_of_doctors", "exempt_host", "exempt_shared"],
        default="no_clinic",
    )
    av["status"] = status
    av["blank"] = np.isin(status, BLANK_STATUSES)

    villages = dataset["natural_villages"]
    c_min, c_idx = _old_travel(graph, settings, villages.geometry, rooms, cs.clinic_travel_mode)
    h_min, h_idx = _old_travel(
        graph, settings, villages.geometry, centres, cs.health_centre_travel_mode
    )
    township = villages["admin_village_code"].map(admin.set_index("code")["township_code"])
    vr = gpd.GeoDataFrame(
        {
            "id": villages["id"],
            "name": villages["name"],
            "admin_village_code": villages["admin_village_code"],
            "township_code": township.fillna(villages["admin_village_code"].str[:9]),
            "population": villages["population"],
            "clinic_min": c_min,
            "clinic_id": np.where(
                c_idx >= 0, rooms["id"].to_numpy()[np.maximum(c_idx, 0)] if len(rooms) else "", ""
            ),
            "health_centre_min": h_min,
            "health_centre_id": np.where(
                h_idx >= 0,
                centres["id"].to_numpy()[np.maximum(h_idx, 0)] if len(centres) else "",
                "",
            ),
        },
        geometry=villages.geometry,
        crs=villages.crs,
    )
    vr["clinic_ok"] = vr["clinic_min"] <= cs.clinic_max_time_min
    vr["health_centre_ok"] = vr["health_centre_min"] <= cs.health_centre_max_time_min
    for frame in (tw, av, vr):
        frame.attrs["settings_profile"] = settings.profile
        frame.attrs["dataset_hash"] = dataset.content_hash
    logger.info(
        "clinics: %d blank townships, %d blank admin villages",
        int(tw["blank"].sum()),
        int(av["blank"].sum()),
    )
    return ClinicResult(townships=tw, admin_villages=av, villages=vr)


# --- the comparisons ---------------------------------------------------------------------


def _assert_same(dataset: Dataset, settings: Settings) -> None:
    new = clinic_gaps(dataset, build_graph(dataset["roads"]), settings)
    old = _old_clinic_gaps(dataset, build_graph(dataset["roads"]), settings)
    for field in ("townships", "admin_villages", "villages"):
        got, want = getattr(new, field), getattr(old, field)
        assert_geodataframe_equal(got, want, check_less_precise=False)
        pd.testing.assert_frame_equal(
            pd.DataFrame(got.drop(columns="geometry")),
            pd.DataFrame(want.drop(columns="geometry")),
            check_exact=True,
        )
        assert got.attrs == want.attrs


@pytest.fixture(scope="module")
def province() -> dict[str, gpd.GeoDataFrame]:
    return synthetic_province(**county_kwargs(1200))


def test_demo_equals_the_previous_implementation(demo_dataset):
    _assert_same(demo_dataset, load_settings())


def test_province_equals_the_previous_implementation(province):
    dataset = Dataset.from_frames(province, name="province")
    result = clinic_gaps(dataset, build_graph(dataset["roads"]), load_settings())
    assert np.isfinite(result.villages["clinic_min"]).any()
    assert result.admin_villages["blank"].any() and result.townships["blank"].any()
    settings = load_settings()
    _assert_same(dataset, settings)
    swapped = dataclasses.replace(
        settings.clinics, clinic_travel_mode="drive", health_centre_travel_mode="walk"
    )
    _assert_same(dataset, dataclasses.replace(settings, clinics=swapped))


def test_province_without_centres_or_clinics_equals_the_previous_implementation(province):
    clinics = province["clinics"]
    for kept in (clinics["kind"] != "卫生院", clinics["kind"] == "卫生院", clinics["kind"] == ""):
        frames = {**province, "clinics": clinics.loc[kept]}
        _assert_same(Dataset.from_frames(frames, name="province"), load_settings())


def test_villages_of_unknown_admin_villages_equal_the_previous_implementation(province):
    villages = province["natural_villages"].copy()
    codes = villages["admin_village_code"].to_numpy(dtype=object).copy()
    codes[::5] = "640000999999"
    codes[1::7] = "6400"
    villages["admin_village_code"] = codes
    _assert_same(Dataset.from_frames({**province, "natural_villages": villages}), load_settings())
