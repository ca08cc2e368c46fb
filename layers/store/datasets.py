"""Dataset versions in PostGIS: every upload kept, the accepted one is the county's dataset.

In server mode a county's data is not a file on someone's disk but a series of versions in
the server database. :meth:`DatasetStore.put` writes each layer of a
:class:`~layers.dataset.Dataset` as a PostGIS table of its own (EPSG:4326 geometry, GiST
index) in schema ``gapmap_datasets``, named by version and layer (``v00003_roads``), with
one ``dataset_versions`` row (content hash, uploader, time, note), one ``dataset_layers``
row per layer (SHA-256, row count, column types, problems) and the files that complete the
version (the EPANET ``.inp`` text and the DEM's bytes, each with its SHA-256) in
``dataset_files``. A version becomes the county's dataset only when an administrator
:meth:`~DatasetStore.accept` s it (an append-only acceptance row; the latest one wins);
:meth:`~DatasetStore.accepted` reads it back as a Dataset with the same content hash.

Nothing is ever overwritten or deleted: a version's tables are created once
(``if_exists="fail"``) and the bookkeeping tables refuse UPDATE, DELETE and TRUNCATE
(triggers of migration ``datasets_0001``); the layer tables get the same trigger.

The tables are created by :mod:`layers.store.migrate` (``python -m scripts.db upgrade``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd
import shapely
import sqlalchemy as sa
from geoalchemy2 import Geometry, WKBElement
from sqlalchemy.engine import URL, Connection, Engine

from layers.errors import GapMapError, Problem, ProblemKind, Severity
from layers.store.actors import Actor, Role
from layers.store.base import ServerStore, frame_columns, restore_dtypes
from layers.validate import remember_normalised

if TYPE_CHECKING:
    from layers.dataset import Dataset

__all__ = [
    "SCHEMA",
    "DatasetPermissionError",
    "DatasetStore",
    "DatasetStoreError",
    "layer_sha256",
]

logger = logging.getLogger(__name__)

SCHEMA = "gapmap_datasets"
"""The PostgreSQL schema holding the layer tables of every version."""
ROW_COLUMN = "_gapmap_row"
"""The column keeping a layer's feature order in its table."""
_SRID = 4326


class DatasetStoreError(GapMapError, RuntimeError):
    """The dataset store cannot do what was asked (no such version, wrong database, …)."""


class DatasetPermissionError(DatasetStoreError, PermissionError):
    """The actor's role may not upload or accept datasets (only 县级管理员 may)."""


def layer_sha256(layer: str, frame: gpd.GeoDataFrame) -> str:
    """Return the SHA-256 (hex) of one layer: its name, columns, attributes and geometry.

    The same bytes :attr:`layers.dataset.Dataset.content_hash` hashes for the layer, so a
    layer read back from the database has the hash it was written with.
    """
    h = hashlib.sha256(layer.encode())
    h.update(",".join(map(str, frame.columns)).encode())
    attrs = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    h.update(pd.util.hash_pandas_object(attrs.astype(str), index=False).to_numpy())
    wkb = shapely.to_wkb(frame.geometry.to_numpy(), hex=False)
    h.update(b"".join(w if w is not None else b"\0" for w in wkb))
    return h.hexdigest()


def _default_files_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "gapmap" / "datasets"


class DatasetStore(ServerStore):
    """The county's dataset versions in a PostgreSQL/PostGIS database.

    Parameters
    ----------
    engine_or_url : Engine, URL or str
        The server database (``postgresql+psycopg://…``), migrated to the ``datasets``
        head (``python -m scripts.db upgrade``).
    files_dir : path-like, optional
        Where :meth:`accepted` and :meth:`read` put a version's DEM (as
        ``<sha256>.tif``, written once, atomically); default
        ``$XDG_CACHE_HOME/gapmap/datasets``.

    Raises
    ------
    DatasetStoreError
        If the database is not PostgreSQL or not migrated.
    """

    error = DatasetStoreError
    branch = "datasets_"
    what = "dataset versions"
    needs_pg_zh = (
        "数据集版本库需要 PostgreSQL + PostGIS 数据库（服务器模式，见 README「服务器部署」）"
    )
    no_tables_zh = "数据库尚未建表或版本过旧：请由管理员运行 python -m scripts.db upgrade"

    def __init__(
        self,
        engine_or_url: Engine | URL | str,
        *,
        files_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.files_dir = Path(files_dir) if files_dir is not None else _default_files_dir()
        super().__init__(engine_or_url)

    # ------------------------------------------------------------------ writes

    def put(self, dataset: Dataset, *, by: Actor, note: str = "") -> int:
        """Store ``dataset`` as a new version; return its version number.

        Each layer becomes table ``gapmap_datasets.v<version>_<layer>`` (EPSG:4326, GiST
        index, append-only); the water model's text and the DEM's bytes are stored with
        their SHA-256. The version is *not* the county's dataset until :meth:`accept`.

        Parameters
        ----------
        dataset : Dataset
            A validated dataset (its layers are in EPSG:4326).
        by : Actor
            Who uploads; only an administrator (:attr:`Role.ADMIN`) may.
        note : str
            What this version is (shown in the version list).

        Raises
        ------
        DatasetPermissionError
            If ``by`` is not an administrator.
        """
        _require_admin(by, "上传数据集")
        files = _files_of(dataset)
        with self._begin() as conn:
            version = conn.execute(
                sa.text(
                    "INSERT INTO dataset_versions (name, content_hash, uploaded_by, "
                    "uploaded_by_label, note, provenance, problems) VALUES (:name, :hash, "
                    ":by, :label, :note, :prov, :problems) RETURNING version"
                ),
                {
                    "name": dataset.name,
                    "hash": dataset.content_hash,
                    "by": by.username,
                    "label": by.label,
                    "note": note,
                    "prov": json.dumps(dict(dataset.provenance), ensure_ascii=False, default=str),
                    "problems": _problems_json(dataset.problems),
                },
            ).scalar_one()
            for position, (layer, frame) in enumerate(dataset.layers.items()):
                self._put_layer(conn, version, position, layer, frame)
            for kind, (name, content, meta) in files.items():
                conn.execute(
                    sa.text(
                        "INSERT INTO dataset_files (version, kind, name, sha256, size_bytes, "
                        "meta, content) VALUES (:v, :kind, :name, :sha, :size, :meta, :content)"
                    ),
                    {
                        "v": version,
                        "kind": kind,
                        "name": name,
                        "sha": hashlib.sha256(content).hexdigest(),
                        "size": len(content),
                        "meta": json.dumps(meta, ensure_ascii=False),
                        "content": content,
                    },
                )
        logger.info(
            "dataset %r stored as version %d by %s (%d layers, %s)",
            dataset.name,
            version,
            by.username,
            len(dataset.layers),
            dataset.content_hash[:12],
        )
        return int(version)

    def _put_layer(
        self, conn: Connection, version: int, position: int, layer: str, frame: gpd.GeoDataFrame
    ) -> None:
        table = f"v{version:05d}_{layer}"[:63]
        geom = frame.geometry.name
        if frame.crs is None or frame.crs.to_epsg() != _SRID:
            frame = frame.to_crs(_SRID) if frame.crs is not None else frame.set_crs(_SRID)
        # Not GeoDataFrame.to_postgis: it loads through COPY … CSV, where an empty text
        # becomes NULL (a village road named "" would come back without a name). The same
        # table through pandas' INSERTs: geometry as EWKB (geoalchemy2), GiST index made by
        # geoalchemy2 on CREATE TABLE, and if_exists="fail" so no table is ever replaced.
        out = pd.DataFrame(frame.drop(columns=geom))
        out.insert(0, ROW_COLUMN, range(len(frame)))
        wkb = shapely.to_wkb(frame.geometry.to_numpy(), hex=False)
        out[geom] = [None if w is None else WKBElement(w, srid=_SRID) for w in wkb]
        out.to_sql(
            table,
            conn,
            schema=SCHEMA,
            if_exists="fail",
            index=False,
            chunksize=5000,
            dtype={geom: Geometry(geometry_type=_geometry_type(frame), srid=_SRID)},
        )
        conn.exec_driver_sql(
            f'CREATE TRIGGER "{table}_append_only" BEFORE UPDATE OR DELETE OR TRUNCATE '
            f'ON {SCHEMA}."{table}" FOR EACH STATEMENT '
            "EXECUTE FUNCTION public.gapmap_datasets_append_only()"
        )
        columns = frame_columns(frame)
        conn.execute(
            sa.text(
                "INSERT INTO dataset_layers (version, layer, position, table_name, sha256, "
                "row_count, columns, source_file, problems) VALUES (:v, :layer, :pos, :t, "
                ":sha, :n, :cols, :file, :problems)"
            ),
            {
                "v": version,
                "layer": layer,
                "pos": position,
                "t": table,
                "sha": layer_sha256(layer, frame),
                "n": len(frame),
                "cols": json.dumps(columns, ensure_ascii=False),
                "file": str(frame.attrs.get("gapmap_file", "")),
                "problems": _problems_json(frame.attrs.get("gapmap_problems", ())),
            },
        )

    def accept(self, version: int, *, by: Actor, note: str = "") -> None:
        """Make ``version`` the county's dataset (an append-only acceptance; latest wins).

        Raises
        ------
        DatasetPermissionError
            If ``by`` is not an administrator (only 县级管理员 accept datasets).
        DatasetStoreError
            If there is no such version.
        """
        _require_admin(by, "验收（启用）数据集")
        with self._begin() as conn:
            self._version_row(conn, version)
            conn.execute(
                sa.text(
                    "INSERT INTO dataset_acceptances (version, accepted_by, accepted_by_label, "
                    "note) VALUES (:v, :by, :label, :note)"
                ),
                {"v": int(version), "by": by.username, "label": by.label, "note": note},
            )
        logger.info("dataset version %d accepted by %s", version, by.username)

    # ------------------------------------------------------------------- reads

    def accepted_version(self) -> int | None:
        """Return the version the county accepted last, or None before any acceptance."""
        with self.engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT version FROM dataset_acceptances ORDER BY id DESC LIMIT 1")
            ).scalar_one_or_none()

    def accepted(self) -> Dataset | None:
        """Return the county's accepted dataset (read back from PostGIS), or None."""
        version = self.accepted_version()
        return None if version is None else self.read(version)

    def read(self, version: int) -> Dataset:
        """Return one version as a :class:`~layers.dataset.Dataset`.

        The layers come back in their order, with their column types, feature order and
        problems; the water model from its text; the DEM as a file in :attr:`files_dir`.
        The content hash is checked against the one recorded at upload.

        Raises
        ------
        DatasetStoreError
            If there is no such version, or its data no longer has its recorded hash.
        """
        from layers.dataset import Dataset

        with self.engine.connect() as conn:
            row = self._version_row(conn, version)
            layer_rows = conn.execute(
                sa.text(
                    "SELECT layer, table_name, columns, source_file, problems "
                    "FROM dataset_layers WHERE version = :v ORDER BY position"
                ),
                {"v": int(version)},
            ).all()
            layers = {
                lr.layer: self._read_layer(conn, lr.layer, lr.table_name, lr) for lr in layer_rows
            }
            file_rows = {
                fr.kind: fr
                for fr in conn.execute(
                    sa.text(
                        "SELECT kind, name, sha256, meta, content FROM dataset_files "
                        "WHERE version = :v"
                    ),
                    {"v": int(version)},
                )
            }
        water_model = _water_model(file_rows.get("water_model"))
        dem = self._dem_path(file_rows.get("dem"))
        dataset = Dataset(
            layers=layers,
            problems=_problems_from(row.problems),
            provenance=json.loads(row.provenance or "{}"),
            name=row.name,
            water_model=water_model,
            dem=dem,
        )
        if dataset.content_hash != row.content_hash:
            raise DatasetStoreError(
                f"dataset version {version} does not have its recorded content hash "
                f"({dataset.content_hash[:12]} ≠ {row.content_hash[:12]})",
                zh=f"数据集版本 {version} 的内容与入库时的校验值不一致，请联系管理员检查数据库",
            )
        return dataset

    def versions(self) -> pd.DataFrame:
        """Return every version, newest first.

        Columns: ``version``, ``name``, ``content_hash``, ``uploaded_by``
        (``uploaded_by_label`` as shown), ``uploaded_at``, ``note``, ``layers`` (count),
        ``features`` (rows in all layers), ``water_model`` and ``dem`` (file names or
        ``""``), ``accepted`` (True for the county's dataset), ``accepted_by``,
        ``accepted_at`` (the latest acceptance of that version).
        """
        sql = """
        WITH latest AS (
            SELECT DISTINCT ON (version) version, accepted_by_label, accepted_at
            FROM dataset_acceptances ORDER BY version, id DESC
        ), current AS (
            SELECT version FROM dataset_acceptances ORDER BY id DESC LIMIT 1
        )
        SELECT v.version, v.name, v.content_hash, v.uploaded_by, v.uploaded_by_label,
               v.uploaded_at, v.note,
               (SELECT count(*) FROM dataset_layers l WHERE l.version = v.version) AS layers,
               (SELECT coalesce(sum(row_count), 0) FROM dataset_layers l
                 WHERE l.version = v.version) AS features,
               coalesce((SELECT name FROM dataset_files f
                  WHERE f.version = v.version AND kind = 'water_model'), '') AS water_model,
               coalesce((SELECT name FROM dataset_files f
                  WHERE f.version = v.version AND kind = 'dem'), '') AS dem,
               v.version IN (SELECT version FROM current) AS accepted,
               coalesce(a.accepted_by_label, '') AS accepted_by, a.accepted_at
        FROM dataset_versions v LEFT JOIN latest a ON a.version = v.version
        ORDER BY v.version DESC
        """
        with self.engine.connect() as conn:
            frame = pd.read_sql_query(sa.text(sql), conn)
        return frame.astype({"layers": "int64", "features": "int64", "accepted": "bool"})

    # ----------------------------------------------------------------- helpers

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @staticmethod
    def _version_row(conn: Connection, version: int) -> Any:
        row = conn.execute(
            sa.text(
                "SELECT version, name, content_hash, provenance, problems "
                "FROM dataset_versions WHERE version = :v"
            ),
            {"v": int(version)},
        ).one_or_none()
        if row is None:
            raise DatasetStoreError(
                f"no dataset version {version}",
                zh=f"没有数据集版本 {version}，请在版本列表中选择已有的版本",
            )
        return row

    @staticmethod
    def _read_layer(conn: Connection, layer: str, table: str, meta: Any) -> gpd.GeoDataFrame:
        columns: list[list[str]] = json.loads(meta.columns)
        geom = next(c for c, dtype in columns if dtype == "geometry")
        frame = gpd.read_postgis(
            sa.text(f'SELECT * FROM {SCHEMA}."{table}" ORDER BY {ROW_COLUMN}'),
            conn,
            geom_col=geom,
        )
        frame = restore_dtypes(frame.drop(columns=ROW_COLUMN)[[c for c, _ in columns]], columns)
        frame = gpd.GeoDataFrame(frame, geometry=geom, crs=f"EPSG:{_SRID}")
        remember_normalised(
            frame, layer, file=meta.source_file, problems=_problems_from(meta.problems)
        )
        return frame

    def _dem_path(self, row: Any) -> Path | None:
        if row is None:
            return None
        from layers.raster import keep_bytes

        return keep_bytes(bytes(row.content), folder=self.files_dir, suffix=".tif")


def _geometry_type(frame: gpd.GeoDataFrame) -> str:
    """PostGIS type of a layer's column: its one geometry type, else GEOMETRY (Z if 3D)."""
    kinds = frame.geometry.geom_type.dropna().unique()
    kind = str(kinds[0]).upper() if len(kinds) == 1 else "GEOMETRY"
    kind = "LINESTRING" if kind == "LINEARRING" else kind
    return kind + ("Z" if frame.geometry.has_z.any() else "")


def _require_admin(actor: Actor, action_zh: str) -> None:
    if actor.role is not Role.ADMIN:
        raise DatasetPermissionError(
            f"{actor.username} ({actor.role.value}) may not {action_zh}: administrators only",
            zh=f"{actor.label}无权{action_zh}：只有县级管理员可以上传和验收数据集",
        )


def _files_of(dataset: Dataset) -> dict[str, tuple[str, bytes, dict[str, Any]]]:
    """Return the files completing a version: kind → (name, bytes, meta)."""
    files: dict[str, tuple[str, bytes, dict[str, Any]]] = {}
    model = dataset.water_model
    if model is not None:
        meta = {
            "crs": model.crs,
            "encoding": model.encoding,
            "village_nodes": dict(model.village_nodes),
            "model_sha256": model.sha256,
        }
        files["water_model"] = (model.name, model.text.encode("utf-8"), meta)
    if dataset.dem is not None:
        files["dem"] = (dataset.dem.name, dataset.dem.read_bytes(), {})
    return files


def _water_model(row: Any) -> Any:
    if row is None:
        return None
    from layers.epanet import inp_from_bytes

    meta = json.loads(row.meta)
    model = inp_from_bytes(bytes(row.content), row.name, crs=meta["crs"] or "schematic")
    if meta.get("village_nodes"):
        model = model.with_village_nodes(meta["village_nodes"])
    return model


def _problems_json(problems: Any) -> str:
    return json.dumps([p.as_dict() for p in problems], ensure_ascii=False)


def _kind(code: str) -> Any:
    try:
        return ProblemKind(code)
    except ValueError:
        from layers.epanet import WaterProblemKind

        return WaterProblemKind(code)


def _problems_from(text: str) -> tuple[Problem, ...]:
    out = []
    for d in json.loads(text or "[]"):
        d = dict(d)
        d["kind"] = _kind(d["kind"])
        d["severity"] = Severity(d["severity"])
        out.append(Problem(**d))
    return tuple(out)
