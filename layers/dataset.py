"""The Dataset: a county's validated layers, their provenance and one content hash.

A :class:`Dataset` is what every analysis takes. It is frozen: what-if changes make a
new Dataset (:meth:`Dataset.replace_layers`) and never touch the one the user loaded.
The content hash identifies the data a result, a report or a ledger snapshot came from.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import geopandas as gpd
import pyogrio

from layers.errors import LayerReadError, LayerValidationError, Problem, Severity
from layers.schema import CORE_LAYERS, LAYER_ORDER
from layers.validate import (
    PROBLEMS_ATTR,
    SOURCE_FILE_ATTR,
    _facts_of,
    _Geoms,
    _hash_geometries,
    _normalise_layer,
    _normalised_facts,
    analysis_problems,
    remember_normalised,
    validate_dataset,
)

if TYPE_CHECKING:  # layers.epanet imports WNTR: only where a model is read
    from layers.epanet import InpModel
    from layers.read import LayerLoad

__all__ = ["Dataset", "read_dataset"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Dataset:
    """Validated GapMap layers in EPSG:4326, with provenance and problems.

    Attributes
    ----------
    layers : mapping of str to GeoDataFrame
        Normalised layers by GapMap layer name, in :data:`layers.schema.LAYER_ORDER`.
        Treat the frames as read-only; analyses never mutate them.
    problems : tuple of Problem
        Every problem found per layer and across layers (errors and warnings).
    provenance : mapping of str to mapping
        Per layer: file, driver, CRS conversion, renames, rows read.
    name : str
        Human-readable name (file stem for a GeoPackage).
    inputs : tuple of Path
        Files the layers came from; writers refuse to overwrite them.
    water_model : InpModel or None
        The county's own EPANET model (:func:`layers.epanet.read_inp`), when it has one:
        the water analysis then runs it instead of building one from the water layers.
    dem : Path or None
        The county's DEM (GeoTIFF), when it has one.
    """

    layers: Mapping[str, gpd.GeoDataFrame]
    problems: tuple[Problem, ...] = ()
    provenance: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    name: str = ""
    inputs: tuple[Path, ...] = ()
    water_model: InpModel | None = None
    dem: Path | None = None

    def __post_init__(self) -> None:
        ordered = {k: self.layers[k] for k in LAYER_ORDER if k in self.layers}
        object.__setattr__(self, "layers", MappingProxyType(ordered))
        # A problem reported twice (a layer's own problems added again by a caller that
        # merges a load's problems with the re-validated dataset's) is listed once.
        object.__setattr__(self, "problems", tuple(dict.fromkeys(self.problems)))
        object.__setattr__(self, "provenance", MappingProxyType(dict(self.provenance)))

    @classmethod
    def from_frames(
        cls,
        frames: Mapping[str, gpd.GeoDataFrame],
        *,
        name: str = "",
        files: Mapping[str, str] | None = None,
    ) -> Dataset:
        """Normalise and validate in-memory frames (EPSG:4326) into a Dataset.

        Parameters
        ----------
        frames : mapping of str to GeoDataFrame
            Layer name → frame; unknown layer names raise ``LayerError``.
        name : str, optional
            Dataset name.
        files : mapping of str to str, optional
            File name per layer, for problem records.
        """
        layers, problems, facts = _validated(frames, files)
        dataset = cls(layers=layers, problems=tuple(problems), name=name)
        dataset._keep_content_hash(facts)
        return dataset

    def _keep_content_hash(self, facts: Mapping[str, _Geoms]) -> None:
        """Compute :attr:`content_hash` now, with the layers' ``facts`` at hand.

        Only for a dataset without a water model or DEM (their bytes are read when the
        hash is first asked for, as before).
        """
        if self.water_model is None and self.dem is None:
            self.__dict__["content_hash"] = _content_hash(self.layers, facts)

    @property
    def errors(self) -> tuple[Problem, ...]:
        """The problems that block analysis."""
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)

    @property
    def ok(self) -> bool:
        """True when no problem is an error."""
        return not self.errors

    def analysis_problems(self, *, required: tuple[str, ...] = CORE_LAYERS) -> tuple[Problem, ...]:
        """Return the problems that keep this dataset from a county analysis.

        Its own errors, plus ``missing_layer``/``empty_layer`` for each ``required`` layer
        absent or without features and ``outside_china`` for features GapMap cannot
        measure (see :func:`layers.validate.analysis_problems`).
        """
        files = {k: str(v.attrs.get(SOURCE_FILE_ATTR, "")) for k, v in self.layers.items()}
        extra = analysis_problems(self.layers, files=files, required=required, name=self.name)
        return tuple(dict.fromkeys([*self.problems, *extra]))

    def raise_if_errors(self, *, required: tuple[str, ...] = CORE_LAYERS) -> Dataset:
        """Raise :class:`LayerValidationError` unless the dataset can be analysed.

        Raises when any problem is an error, when a ``required`` layer (default
        :data:`~layers.schema.CORE_LAYERS`) is missing or empty, or when a feature lies
        outside China; the exception lists every problem. Pass ``required=()`` for a
        partial dataset (e.g. water layers only).
        """
        LayerValidationError.raise_if_errors(self.analysis_problems(required=required))
        return self

    def __getitem__(self, layer: str) -> gpd.GeoDataFrame:
        """Return one layer; a missing layer raises ``KeyError`` naming those present."""
        try:
            return self.layers[layer]
        except KeyError:
            raise KeyError(
                f"dataset {self.name!r} has no layer {layer!r}; it has {list(self.layers)}"
            ) from None

    def get(self, layer: str, default: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame | None:
        """Return one layer, or ``default`` when the dataset does not have it."""
        return self.layers.get(layer, default)

    def __contains__(self, layer: object) -> bool:
        return layer in self.layers

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 (hex) of every input, so no cache or snapshot mixes old and new inputs.

        It covers each layer's name, columns, attribute values as text (``astype(str)``:
        a column's dtype does not count, so a layer read back from another format hashes
        the same), row order and geometries (:func:`layers.validate.hash_geometries`),
        the EPANET model (text, declared CRS, village → node table) and the DEM file's
        bytes.
        """
        extra = []
        if self.water_model is not None:
            extra.append(b"\0water_model\0" + self.water_model.sha256.encode())
        if self.dem_sha256:
            extra.append(b"\0dem\0" + self.dem_sha256.encode())
        return _content_hash(self.layers, {}, extra)

    @cached_property
    def dem_sha256(self) -> str:
        """SHA-256 (hex) of the DEM file's bytes; ``""`` without a DEM."""
        return _file_sha256(self.dem) if self.dem is not None else ""

    def replace_layers(self, **frames: gpd.GeoDataFrame) -> Dataset:
        """Return a new Dataset with some layers replaced and everything re-validated.

        Used for what-if plans: the original Dataset is unchanged (its water model and
        DEM are carried over).
        """
        merged = dict(self.layers)
        merged.update(frames)
        layers, own, facts = _validated(merged, {})
        new = Dataset(layers=layers, problems=tuple(own), name=self.name)
        # a core layer replaced by an empty one, or by features outside China, is an error
        replaced = {k: new.layers[k] for k in frames if k in new.layers}
        files = {k: str(v.attrs.get(SOURCE_FILE_ATTR, "")) for k, v in replaced.items()}
        problems = (
            *new.problems,
            *analysis_problems(
                replaced, files=files, required=[k for k in replaced if k in CORE_LAYERS]
            ),
        )
        if self.water_model is not None:
            problems = (*problems, *_water_model_problems(self.water_model, new.layers))
        dataset = Dataset(
            layers=new.layers,
            problems=problems,
            provenance=self.provenance,
            name=self.name,
            inputs=self.inputs,
            water_model=self.water_model,
            dem=self.dem,
        )
        dataset._keep_content_hash(facts)
        return dataset

    def with_water_model(self, model: InpModel | None) -> Dataset:
        """Return a new Dataset that uses ``model`` as its water network (None: the layers').

        The model's reader notes and its check against the county boundary
        (:func:`layers.epanet.extent_problems`: a network outside the county is an error)
        join :attr:`problems`.
        """
        kept = tuple(p for p in self.problems if p.layer not in ("inp", "epanet"))
        extra = _water_model_problems(model, self.layers) if model is not None else []
        return replace(self, problems=(*kept, *extra), water_model=model)

    def with_dem(self, path: str | os.PathLike[str] | None) -> Dataset:
        """Return a new Dataset whose DEM is the GeoTIFF at ``path`` (None: no DEM)."""
        return replace(self, dem=Path(path).resolve() if path is not None else None)


def _validated(
    frames: Mapping[str, gpd.GeoDataFrame], files: Mapping[str, str] | None
) -> tuple[dict[str, gpd.GeoDataFrame], list[Problem], dict[str, _Geoms]]:
    """:meth:`Dataset.from_frames`: the normalised layers, their problems and facts.

    The facts (:class:`layers.validate._Geoms`) of each layer, normalised here or known
    as normalised by its fingerprint, are of the very frame returned.
    """
    files = dict(files or {})
    layers: dict[str, gpd.GeoDataFrame] = {}
    problems: list[Problem] = []
    facts: dict[str, _Geoms] = {}
    for layer, frame in frames.items():
        file = files.get(layer) or str(frame.attrs.get(SOURCE_FILE_ATTR, ""))
        files[layer] = file
        known, known_facts = _normalised_facts(frame)
        if known == layer:
            # unchanged since layers.read.load (or an earlier Dataset) normalised it:
            # its problems were found then, with its file; normalising again would
            # report them anew, worse (a wrong type becomes a missing value)
            layers[layer] = frame
            facts[layer] = known_facts
            problems += frame.attrs.get(PROBLEMS_ATTR, ())
            continue
        norm, probs, facts[layer] = _normalise_layer(frame, layer, file=file)
        remember_normalised(norm, layer, file=file, problems=probs, geometry_facts=facts[layer])
        layers[layer] = norm
        problems += probs
    problems += validate_dataset(layers, files=files, geometry_facts=facts)
    return layers, problems, facts


def _content_hash(
    layers: Mapping[str, gpd.GeoDataFrame],
    facts: Mapping[str, _Geoms],
    extra: list[bytes] | None = None,
) -> str:
    """:attr:`Dataset.content_hash` of ``layers`` (in order), then the ``extra`` bytes.

    ``facts``: the layers' facts where the caller has them (used only for the very
    frames they are of).
    """
    h = hashlib.sha256(b"gapmap-content-2\0")
    for layer, frame in layers.items():
        _frame_content(h, layer, frame, facts.get(layer))
    for chunk in extra or ():
        h.update(chunk)
    return h.hexdigest()


def _frame_content(
    h: hashlib._Hash, layer: str, frame: gpd.GeoDataFrame, facts: _Geoms | None = None
) -> None:
    """Feed one layer (name, columns, text of every value, geometries) into ``h``."""
    columns = "\x1f".join(map(str, frame.columns))
    h.update(f"\0layer\0{layer}\0{len(frame.columns)}\0{len(columns)}\0{columns}\0".encode())
    arr = frame.geometry.to_numpy()
    facts = _facts_of(arr, facts)
    geom_name = frame.geometry.name
    for pos, (name, col) in enumerate(frame.items()):
        if name != geom_name:
            h.update(facts.column_digest(pos, name, col))
    _hash_geometries(h, arr, facts)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _water_model_problems(model: InpModel, layers: Mapping[str, gpd.GeoDataFrame]) -> list[Problem]:
    """Return the model's reader notes and its place check against the county layer."""
    from layers.epanet import extent_problems

    county = layers.get("county")
    return [*model.problems, *extent_problems(model.node_xy, model.crs, county, file=model.name)]


def read_dataset(path: str | os.PathLike[str], *, coords: str | int | None = None) -> Dataset:
    """Read every GapMap layer of a GeoPackage (or other multi-layer file) into a Dataset.

    Layers named like GapMap layers are read: the English name (``natural_villages``), a
    Chinese name (``自然村``, ``道路``, ``医疗机构`` ...) or a name holding one
    (``同心县自然村``); other layers are ignored (and logged). Each layer is normalised and
    validated, then the dataset is validated across layers, and a core layer
    (:data:`~layers.schema.CORE_LAYERS`) that is missing or empty, or a feature outside
    China, is an error (``missing_layer``, ``empty_layer``, ``outside_china``) naming the
    file. Validation problems do not raise; check :attr:`Dataset.ok` or call
    :meth:`Dataset.raise_if_errors`.

    Parameters
    ----------
    path : path-like
        A GeoPackage or FileGDB holding layers named like :data:`LAYER_ORDER`, or a
        folder of GeoParquet files ``<layer>.parquet`` (the columnar, fast read; also a
        single ``.parquet`` file named like its layer).
    coords : str or int, optional
        Coordinate declaration for every layer (see :func:`layers.read.read`); default:
        the file's own CRS.

    Raises
    ------
    LayerReadError
        If the file cannot be opened or holds no GapMap layer.
    """
    with _cyclic_gc_paused():
        return _read_dataset(Path(path), coords=coords)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a dataset is read (then restore it).

    Reading makes hundreds of thousands of shapely geometries (300k road lines in a
    province), which count towards the collector's thresholds: each full collection
    then walks every tracked object of the process (≈ 0.1 s per 500k objects; two per
    province read) and finds nothing, geometries holding no references. Reference
    counting still frees everything as usual; cycles made meanwhile wait for the next
    collection after the read.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _read_dataset(path: Path, *, coords: str | int | None) -> Dataset:
    """:func:`read_dataset` (with the collector paused)."""
    from layers.read import load  # read.py imports dataset-free modules only

    if not path.exists():
        raise LayerReadError(f"file not found: {path}", zh=f"找不到文件：{path}")
    if path.suffix.lower() == ".zip":
        return _read_zipped_dataset(path, coords=coords)
    if path.suffix.lower() == ".parquet" or (
        path.is_dir() and path.suffix.lower() != ".gdb" and any(path.glob("*.parquet"))
    ):
        return _read_parquet_dataset(path)
    try:
        available = [str(n) for n, _ in pyogrio.list_layers(path)]
    except pyogrio.errors.DataSourceError as exc:
        raise LayerReadError(
            f"{path.name}: cannot be opened as a GeoPackage or FileGDB ({exc})",
            zh=f"{path.name} 无法作为 GeoPackage 或 FileGDB 打开：文件可能已损坏或格式不对，"
            "请重新导出后上传",
        ) from exc
    chosen = _gapmap_layers(available)
    wanted = [n for n in LAYER_ORDER if n in chosen]
    ignored = sorted(set(available) - set(chosen.values()))
    if ignored:
        logger.info("%s: ignoring layers that are not GapMap layers: %s", path.name, ignored)
    if not wanted:
        raise LayerReadError(
            f"{path.name} holds no GapMap layer (found {available}); name layers like "
            f"{', '.join(LAYER_ORDER)}",
            zh=f"{path.name} 中没有可识别的图层（现有 {available}），图层名应为："
            f"{', '.join(LAYER_ORDER)}",
        )
    loads = {
        layer: load(path, layer=layer, coords=coords, sublayer=chosen[layer]) for layer in wanted
    }
    return _loaded_dataset(
        loads, dict.fromkeys(loads, path.name), path=path, inputs=(path.resolve(),)
    )


def _loaded_dataset(
    loads: Mapping[str, LayerLoad],
    files: dict[str, str],
    *,
    path: Path,
    inputs: tuple[Path, ...],
) -> Dataset:
    """Make the Dataset of the layers loaded from ``path`` (a file or a folder of files).

    Each layer's problems, then those across layers and those that keep it from being
    analysed, checked with the facts the loads found; the content hash made with them.
    """
    layers = {layer: loaded.frame for layer, loaded in loads.items()}
    facts = {layer: ld.facts for layer, ld in loads.items() if ld.facts is not None}
    problems = [p for loaded in loads.values() for p in loaded.problems]
    problems += validate_dataset(layers, files=files, geometry_facts=facts)
    problems += analysis_problems(layers, files=files, name=path.name, geometry_facts=facts)
    logger.info("read %s: %d layers, %d problems", path.name, len(layers), len(problems))
    dataset = Dataset(
        layers=layers,
        problems=tuple(problems),
        provenance={layer: _as_mapping(ld.provenance) for layer, ld in loads.items()},
        name=path.stem,
        inputs=inputs,
    )
    dataset._keep_content_hash(facts)
    return dataset


def _read_parquet_dataset(path: Path) -> Dataset:
    """Read a folder of GeoParquet layers (``<layer>.parquet``) into a Dataset."""
    from layers.read import load_parquet, parquet_layers

    found = parquet_layers(path)
    if not found:
        raise LayerReadError(
            f"{path.name} holds no GapMap layer; name files like <layer>.parquet "
            f"({', '.join(LAYER_ORDER)})",
            zh=f"{path.name} 中没有可识别的图层，文件名应为“图层名.parquet”："
            f"{', '.join(LAYER_ORDER)}",
        )
    loads: dict[str, LayerLoad] = {}
    files: dict[str, str] = {}
    for layer in [n for n in LAYER_ORDER if n in found]:
        file = f"{path.name}/{found[layer].name}" if path.is_dir() else path.name
        loads[layer], files[layer] = load_parquet(found[layer], layer=layer, file=file), file
    return _loaded_dataset(
        loads, files, path=path, inputs=tuple(p.resolve() for p in found.values())
    )


def _gapmap_layers(available: list[str]) -> dict[str, str]:
    """Map GapMap layer names to the file's layers; exact names win.

    A file's layer may be named in English, in Chinese (自然村, 道路, 医疗机构 ...), or
    hold such a name (同心县自然村).
    """
    from layers.read import layer_of

    chosen: dict[str, tuple[int, str]] = {}
    for name in available:
        layer, rank = layer_of(name)
        if layer is None:
            continue
        if layer in chosen and chosen[layer][0] <= rank:
            logger.warning(
                "layers %r and %r both look like %s; using %r",
                chosen[layer][1],
                name,
                layer,
                chosen[layer][1],
            )
            continue
        chosen[layer] = (rank, name)
    return {k: v for k, (_, v) in chosen.items()}


def _in_zip(p: Problem, zip_name: str) -> Problem:
    return dataclasses.replace(p, file=f"{zip_name}/{p.file}" if p.file else zip_name)


def _read_zipped_dataset(path: Path, *, coords: str | int | None) -> Dataset:
    """Extract a zipped county dataset safely once, then read its one GPKG or FileGDB."""
    from layers.archive import extract_zip

    with tempfile.TemporaryDirectory(prefix="gapmap-zip-") as tmp:
        root = extract_zip(path, Path(tmp))
        found = sorted([*root.rglob("*.gpkg"), *(d for d in root.rglob("*.gdb") if d.is_dir())])
        if len(found) != 1:
            names = [str(f.relative_to(root)) for f in found]
            raise LayerReadError(
                f"{path.name} must hold exactly one .gpkg or .gdb county dataset, found {names}; "
                "read a folder/zip of mixed files with layers.delivery (scripts.ingest)",
                zh=f"{path.name} 中应当只有一个 GeoPackage（.gpkg）或 FileGDB（.gdb）整县数据，"
                f"实际找到：{names or '无'}；单个图层请在「单个图层」中上传，多种格式的整套资料"
                "请在「上传整县资料包」中上传（或用 python -m scripts.ingest）",
            )
        try:
            dataset = read_dataset(found[0], coords=coords)
        except LayerReadError as err:
            raise LayerReadError(
                f"{path.name}: {err}", zh=f"压缩文件 {path.name}：{err.zh}"
            ) from err
        member = found[0].relative_to(root).as_posix()
        layers = {}
        for layer, frame in dataset.layers.items():
            frame.attrs[SOURCE_FILE_ATTR] = f"{path.name}/{member}"
            frame.attrs[PROBLEMS_ATTR] = tuple(
                _in_zip(p, path.name) for p in frame.attrs.get(PROBLEMS_ATTR, ())
            )
            layers[layer] = frame
        # The extracted copy is gone after this block: layers are in memory already.
        return Dataset(
            layers=layers,
            problems=tuple(_in_zip(p, path.name) for p in dataset.problems),
            provenance=dataset.provenance,
            name=dataset.name or path.stem,
            inputs=(path.resolve(),),
        )


def _as_mapping(provenance: object) -> Mapping[str, object]:
    if isinstance(provenance, Mapping):
        return provenance
    if hasattr(provenance, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(provenance)  # type: ignore[call-overload]
    return {"value": provenance}
