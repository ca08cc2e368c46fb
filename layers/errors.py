"""The GapMap exception tree and the validation problem record.

Every exception carries an English message for developers and logs, and a Chinese
message (``zh``) that the app shows to users. Messages say what is wrong *and how to
fix it*, in the manner of r5py's exceptions.

::

    GapMapError
    ├── LayerError(ValueError)            a layer's content is wrong
    │   └── LayerValidationError          ... with the full list of problems
    ├── LayerReadError(OSError)           a file cannot be opened or decoded
    │   └── ArchiveError                  a zip/kmz is unsafe, encrypted or broken
    ├── CRSError(ValueError)              a coordinate system is missing or unknown
    └── NetworkError(ValueError)          a road or water network cannot be built
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum

__all__ = [
    "ArchiveError",
    "CRSError",
    "GapMapError",
    "LayerError",
    "LayerReadError",
    "LayerValidationError",
    "NetworkError",
    "Problem",
    "ProblemKind",
    "Severity",
]


class GapMapError(Exception):
    """Base of every GapMap error.

    Parameters
    ----------
    message : str
        English message: what is wrong and how to fix it.
    zh : str, optional
        The same for users, in Chinese. Defaults to the English message.
    """

    def __init__(self, message: str, *, zh: str | None = None) -> None:
        super().__init__(message)
        self.zh = zh or message


class LayerError(GapMapError, ValueError):
    """A layer's content is wrong (fields, values, geometries, codes)."""


class LayerReadError(GapMapError, OSError):
    """A file cannot be opened, found or decoded."""


class ArchiveError(LayerReadError):
    """A zip or kmz archive is unsafe (path traversal, too large), encrypted or broken."""


class CRSError(GapMapError, ValueError):
    """A coordinate reference system is missing, unknown or inconsistent."""


class NetworkError(GapMapError, ValueError):
    """A road or water network cannot be built from the layers given."""


class Severity(StrEnum):
    """How bad a problem is: errors block analysis, warnings do not."""

    ERROR = "error"
    WARNING = "warning"


class ProblemKind(StrEnum):
    """Every kind of validation problem GapMap reports."""

    MISSING_FIELD = "missing_field"
    MISSING_VALUE = "missing_value"
    WRONG_TYPE = "wrong_type"
    VALUE_NOT_ALLOWED = "value_not_allowed"
    OUT_OF_RANGE = "out_of_range"
    BAD_PATTERN = "bad_pattern"
    DUPLICATE_ID = "duplicate_id"
    EMPTY_GEOMETRY = "empty_geometry"
    INVALID_GEOMETRY = "invalid_geometry"
    WRONG_GEOMETRY_TYPE = "wrong_geometry_type"
    OUTSIDE_COUNTY = "outside_county"
    SWAPPED_LONLAT = "swapped_lonlat"
    WRONG_HEMISPHERE = "wrong_hemisphere"
    CRS_MISSING = "crs_missing"
    UNKNOWN_CODE = "unknown_code"
    UNKNOWN_FIELD = "unknown_field"
    MISSING_LAYER = "missing_layer"
    EMPTY_LAYER = "empty_layer"
    COORDINATE_RANGE = "coordinate_range"
    OUTSIDE_CHINA = "outside_china"
    INCONSISTENT_VALUES = "inconsistent_values"
    DUPLICATE_FIELD = "duplicate_field"
    MALFORMED_ROW = "malformed_row"
    ENCODING = "encoding"


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found in one layer, located to the row and field.

    Attributes
    ----------
    kind : ProblemKind
        Machine-readable kind of problem.
    file : str
        File name the layer came from (``""`` for frames built in memory).
    layer : str
        GapMap layer name (``natural_villages``, ``roads`` ...).
    row : int or None
        1-based row number in the source file (feature order), or None for the
        whole layer.
    feature_id : str or None
        The feature's id/code, when it has one.
    field : str or None
        GapMap field name (English), or None for geometry/CRS problems.
    message_zh : str
        What is wrong, in Chinese.
    fix_zh : str
        How to fix it, in Chinese.
    message : str
        What is wrong and how to fix it, in English.
    severity : Severity
        ERROR blocks analysis; WARNING is shown but does not.
    value : str or None
        The offending value as text, when there is one.
    """

    kind: ProblemKind
    file: str
    layer: str
    row: int | None
    feature_id: str | None
    field: str | None
    message_zh: str
    fix_zh: str
    message: str
    severity: Severity = Severity.ERROR
    value: str | None = None

    def __deepcopy__(self, memo: dict[int, object]) -> Problem:
        # immutable (frozen, fields of str/int/enum): pandas deep-copies ``frame.attrs``,
        # where normalised layers keep their problems, on every derived frame and column
        return self

    def as_dict(self) -> dict[str, object]:
        """Return the problem as a plain dict (enums as strings)."""
        d = asdict(self)
        d["kind"] = str(self.kind)
        d["severity"] = str(self.severity)
        return d

    def __str__(self) -> str:
        where = f"{self.file or '<memory>'}:{self.layer}"
        if self.row is not None:
            where += f" row {self.row}"
        if self.feature_id:
            where += f" (id {self.feature_id})"
        if self.field:
            where += f" field {self.field}"
        return f"{where}: {self.message}"


class LayerValidationError(LayerError):
    """A layer (or dataset) failed validation; ``problems`` lists every problem at once.

    Parameters
    ----------
    problems : sequence of Problem
        All the problems found (errors and warnings).
    """

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        errors = [p for p in self.problems if p.severity is Severity.ERROR]
        head = "\n".join(f"  - {p}" for p in errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        head_zh = "\n".join(
            f"  - {p.file or '内存'} / {p.layer}"
            + (f" / 第{p.row}行" if p.row is not None else "")
            + f" / {p.field or '几何'}: "
            f"{p.message_zh}（{p.fix_zh}）"
            for p in errors[:20]
        )
        super().__init__(
            f"{len(errors)} validation error(s); fix them in the source file and load it "
            f"again:\n{head}{more}",
            zh=f"发现 {len(errors)} 个数据问题，请在源文件中逐条修改后重新导入：\n{head_zh}",
        )

    @classmethod
    def raise_if_errors(cls, problems: Iterable[Problem]) -> None:
        """Raise when any problem is an error; warnings alone pass."""
        problems = list(problems)
        if any(p.severity is Severity.ERROR for p in problems):
            raise cls(problems)
