"""GapMap layers: schemas, readers, validation and writers (formats, CRS, field names)."""

import logging

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
from layers.schema import LAYER_ORDER, LAYERS, Field, LayerSchema, get_schema
from layers.validate import normalise_layer, validate_dataset
from layers.write import atomic_path, write_layers

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "LAYERS",
    "LAYER_ORDER",
    "ArchiveError",
    "CRSError",
    "Dataset",
    "Field",
    "GapMapError",
    "LayerError",
    "LayerReadError",
    "LayerSchema",
    "LayerValidationError",
    "NetworkError",
    "Problem",
    "ProblemKind",
    "Severity",
    "atomic_path",
    "get_schema",
    "normalise_layer",
    "read_dataset",
    "validate_dataset",
    "write_layers",
]
