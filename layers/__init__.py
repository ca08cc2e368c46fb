"""GapMap layers: schemas, readers, validation and writers (formats, CRS, field names)."""

import copyreg
import logging
import types

from layers.archive import check_zip, extract_zip
from layers.coords import (
    CoordsDeclaration,
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    parse_coords,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from layers.dataset import Dataset, read_dataset
from layers.errors import (
    ArchiveError,
    CRSError,
    GapMapError,
    LayerError,
    LayerReadError,
    LayerValidationError,
    NetworkError,
    Problem,
    ProblemKind,
    Severity,
)
from layers.osm import OsmImport, completeness_report, fetch_osm, import_osm
from layers.read import LayerLoad, Provenance, list_sublayers, load, read
from layers.schema import CORE_LAYERS, LAYER_ORDER, LAYERS, Field, LayerSchema, get_schema
from layers.validate import normalise_layer, validate_dataset
from layers.write import atomic_path, write_layers

logging.getLogger(__name__).addHandler(logging.NullHandler())


def _mappingproxy(d: dict) -> types.MappingProxyType:
    return types.MappingProxyType(d)


def _reduce_mappingproxy(m: types.MappingProxyType) -> tuple:
    return _mappingproxy, (dict(m),)


# Settings, datasets and water models keep their mappings read-only (MappingProxyType),
# which pickle cannot copy by itself; an assessment must pickle to go from a dask worker
# to the client and into a region's results (a county opened without recomputing).
copyreg.pickle(types.MappingProxyType, _reduce_mappingproxy)

__all__ = [
    "CORE_LAYERS",
    "LAYERS",
    "LAYER_ORDER",
    "ArchiveError",
    "CRSError",
    "CoordsDeclaration",
    "Dataset",
    "Field",
    "GapMapError",
    "LayerError",
    "LayerLoad",
    "LayerReadError",
    "LayerSchema",
    "LayerValidationError",
    "NetworkError",
    "OsmImport",
    "Problem",
    "ProblemKind",
    "Provenance",
    "Severity",
    "atomic_path",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "check_zip",
    "completeness_report",
    "extract_zip",
    "fetch_osm",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "get_schema",
    "import_osm",
    "list_sublayers",
    "load",
    "normalise_layer",
    "parse_coords",
    "read",
    "read_dataset",
    "to_wgs84",
    "validate_dataset",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
    "write_layers",
]
