"""医疗卫生空白点: townships and admin villages without health facilities or doctors.

Rules (``../shared/STANDARDS.md`` §3, thresholds in :class:`geo.settings.ClinicSettings`):

- Township level: every township has an existing 卫生院 (matched by its
  ``township_code``, else by lying inside the township polygon).
- Admin-village level: every admin village (村委会 and 社区) has a 卫生室 with at least
  one doctor. Exemptions, recorded with their reason: the admin village hosts the
  township 卫生院 (``exempt_host``), or another village's clinic serves it by agreement
  (联合设置: its code is in that clinic's ``serves_codes``; ``exempt_shared``).
- Staffing: doctors ≥ ``doctors_per_1000_min`` × population / 1,000 (rounded up); a
  shortfall is reported in its own status, not as a blank spot.
- Access: travel time of every natural village to its nearest 卫生室 (on foot by default)
  and 卫生院 (by road), with the population beyond the limits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.network import RoadGraph, shortest_from, snap, travel_matrix
from geo.settings import Settings
from layers.dataset import Dataset
from layers.schema import split_codes

__all__ = ["ClinicResult", "clinic_gaps"]

logger = logging.getLogger(__name__)

BLANK_STATUSES = ("no_clinic", "no_doctor")


@dataclass(frozen=True)
class ClinicResult:
    """Result of :func:`clinic_gaps`.

    Attributes
    ----------
    townships : GeoDataFrame
        ``code``, ``name``, ``n_health_centres``, ``doctors``, ``blank`` (no 卫生院).
    admin_villages : GeoDataFrame
        ``code``, ``name``, ``township_code``, ``population``, ``n_clinics``, ``doctors``,
        ``doctors_required``, ``status`` (``ok``, ``no_clinic``, ``no_doctor``,
        ``short_of_doctors``, ``exempt_host``, ``exempt_shared``), ``blank``,
        ``served_by`` (clinic ids that serve it by agreement).
    villages : GeoDataFrame
        Natural villages: ``id``, ``name``, ``admin_village_code``, ``township_code``,
        ``population``, ``clinic_min``, ``clinic_id``, ``health_centre_min``,
        ``health_centre_id``, ``clinic_ok``, ``health_centre_ok``.
    """

    townships: gpd.GeoDataFrame
    admin_villages: gpd.GeoDataFrame
    villages: gpd.GeoDataFrame


def _travel(
    graph: RoadGraph,
    settings: Settings,
    origins: pd.DataFrame,
    facilities: gpd.GeoDataFrame,
    mode: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Minutes from each origin to the nearest facility and that facility's row (-1).

    ``origins`` is the origins' :func:`~geo.network.snap` to the existing roads (made
    once for every facility kind).
    """
    net = settings.network
    n = len(origins)
    if len(facilities) == 0:
        return np.full(n, np.inf), np.full(n, -1)
    at = snap(graph, facilities.geometry, max_m=net.snap_max_m, edge_mask=graph.edge_mask())
    snaps = pd.concat([origins, at], ignore_index=True)
    matrix, node = travel_matrix(graph, None, mode=mode, settings=net, snaps=snaps)
    o_nodes, f_nodes = node[:n], node[n:]
    cost, src, _ = shortest_from(matrix, f_nodes)
    minutes = np.where(o_nodes >= 0, cost[np.maximum(o_nodes, 0)], np.inf)
    lookup = pd.Series(np.arange(len(f_nodes)), index=f_nodes)
    lookup = lookup[(lookup.index >= 0) & ~lookup.index.duplicated()]
    which = np.full(n, -1)
    reach = np.isfinite(minutes)
    which[reach] = lookup.reindex(src[o_nodes[reach]]).to_numpy()
    return minutes, which


def _count_and_doctors(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    """Facilities (``n``) and their doctors (``doctors``) per value of ``by``."""
    groups = frame.groupby(by)
    return pd.DataFrame({"n": groups.size(), "doctors": groups["doctors"].sum()})


def clinic_gaps(dataset: Dataset, graph: RoadGraph, settings: Settings) -> ClinicResult:
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
    # the villages projected and snapped once, for the 卫生室 and the 卫生院
    net = settings.network
    origins = snap(graph, villages.geometry, max_m=net.snap_max_m, edge_mask=graph.edge_mask())
    c_min, c_idx = _travel(graph, settings, origins, rooms, cs.clinic_travel_mode)
    h_min, h_idx = _travel(graph, settings, origins, centres, cs.health_centre_travel_mode)
    av_codes = villages["admin_village_code"]
    township = av_codes.map(admin[["code", "township_code"]].set_index("code")["township_code"])
    unknown = township.isna().to_numpy()
    if unknown.any():  # an admin village the layer lacks: its code's township part
        township = township.fillna(av_codes[unknown].str[:9])
    vr = gpd.GeoDataFrame(
        {
            "id": villages["id"],
            "name": villages["name"],
            "admin_village_code": villages["admin_village_code"],
            "township_code": township,
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
