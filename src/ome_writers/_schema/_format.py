"""Output format models (OME-Zarr, OME-TIFF, the in-memory scratch format) and
the names and root-path suffixes that select them."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import field_validator, model_validator

from ome_writers._registry import (
    BACKENDS,
    BY_NAME,
    backend_names,
    first_available,
    zarr_format_writers,
)
from ome_writers._schema._base import SettingsModel

if TYPE_CHECKING:
    from typing_extensions import Self

# The backend names of each format, for static type checkers (a test keeps them
# equal to the registry). At run time the registry decides: a backend added
# with one registry record is accepted without touching these.
ZarrBackendLiteral = Literal[
    "auto", "tensorstore", "acquire-zarr", "zarrs-python", "zarr-python"
]
TiffBackendLiteral = Literal["auto", "tifffile"]
ScratchBackendLiteral = Literal["scratch"]
if TYPE_CHECKING:
    ZarrBackendName = ZarrBackendLiteral
    TiffBackendName = TiffBackendLiteral
    ScratchBackendName = ScratchBackendLiteral
else:
    ZarrBackendName = TiffBackendName = ScratchBackendName = str


def _registered(value: str, format_name: str, auto: bool = True) -> str:
    names = (*(("auto",) if auto else ()), *backend_names(format_name))
    if value not in names:
        raise ValueError(
            f"Unknown {format_name} backend {value!r}; expected one of {names}"
        )
    return value


def ome_stem_suffix(path: str) -> tuple[str, str]:
    """Split a path into stem and OME suffix.

    ``"a/b.ome.tiff" -> ("a/b", ".ome.tiff")``; ``"a/b.zarr" -> ("a/b", ".zarr")``;
    no recognised extension -> ``(path, "")``.
    """
    lower = path.lower()
    for ext in (".tiff", ".tif", ".zarr"):
        if lower.endswith(ext):
            stem = path[: -len(ext)]
            if stem.lower().endswith(".ome"):
                return stem[:-4], ".ome" + ext
            return stem, ext
    return path, ""


#: the NGFF versions `OmeZarrFormat.ngff_version` names
NgffVersion = Literal["0.4", "0.5", "0.6rc0"]
#: the Zarr format each NGFF version is stored in
ZARR_FORMATS: dict[str, int] = {"0.4": 2, "0.5": 3, "0.6rc0": 3}


class OmeZarrFormat(SettingsModel):
    """OME-Zarr output (a directory).

    Parameters
    ----------
    backend : str
        The library that writes the arrays, or "auto".
    suffix : str
        The suffix of the output directory.
    ngff_version : "0.4" | "0.5" | "0.6rc0"
        The OME-Zarr (NGFF) version written: "0.5" (default, Zarr v3);
        "0.4" (Zarr v2, for software that does not read Zarr v3 yet; written
        by the backends whose library writes Zarr v2); "0.6rc0", a release
        candidate (Zarr v3), adds coordinate systems, a scene of the stage
        positions and the frames' times (docs: formats).
    """

    name: Literal["ome-zarr"] = "ome-zarr"
    backend: ZarrBackendName = "auto"
    suffix: str = ".ome.zarr"
    ngff_version: NgffVersion = "0.5"

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        return _registered(value, "ome-zarr")

    @model_validator(mode="after")
    def _backend_writes_version(self) -> Self:
        record = BY_NAME.get(self.backend)
        zarr_format = self.zarr_format
        if record is not None and not record.writes_zarr_format(zarr_format):
            writes = ", ".join(f"v{n}" for n in record.zarr_formats or (3,))
            raise ValueError(
                f"The {self.backend} backend writes Zarr {writes} only, not the "
                f"Zarr v{zarr_format} of OME-Zarr {self.ngff_version}; backends "
                f"that write it: {zarr_format_writers(zarr_format)}"
            )
        return self

    @property
    def zarr_format(self) -> int:
        """The Zarr format of the arrays and groups (2 for NGFF 0.4, else 3)."""
        return ZARR_FORMATS[self.ngff_version]

    def get_output_path(self, root_path: str, *, num_positions: int = 1) -> str:
        """Path of the dataset written for `root_path`."""
        return ome_stem_suffix(os.fspath(root_path))[0] + self.suffix


class OmeTiffFormat(SettingsModel):
    """OME-TIFF output: one file, or one file per position in a directory.

    Parameters
    ----------
    prefer_single_file : "auto" | "always" | "never"
        "auto": one file for a single position, a directory of per-position
        files otherwise. "always": every position as a series of one file.
    multi_file_metadata : "redundant" | "master-tiff" | "companion-file"
        Where the full OME-XML lives when there are several files.
    companion_file : str
        Name of the companion file in "companion-file" mode.
    """

    name: Literal["ome-tiff"] = "ome-tiff"
    backend: TiffBackendName = "auto"
    suffix: str = ".ome.tiff"
    prefer_single_file: Literal["auto", "always", "never"] = "auto"
    multi_file_metadata: Literal["redundant", "master-tiff", "companion-file"] = (
        "redundant"
    )
    companion_file: str = "companion.ome"

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        return _registered(value, "ome-tiff")

    @field_validator("prefer_single_file", mode="before")
    @classmethod
    def _bool_to_mode(cls, value: object) -> object:
        if value is True:
            return "always"
        if value is False:
            return "never"
        return value

    def is_single_file(self, num_positions: int) -> bool:
        """Whether every position goes into one file."""
        if self.prefer_single_file == "always":
            return True
        return self.prefer_single_file == "auto" and num_positions <= 1

    def get_output_path(self, root_path: str, *, num_positions: int = 1) -> str:
        """Path of the file (single file) or directory (one file per position)."""
        stem = ome_stem_suffix(os.fspath(root_path))[0]
        return stem + self.suffix if self.is_single_file(num_positions) else stem


class ScratchFormat(SettingsModel):
    """In-process arrays for live viewing and tests (optionally memory-mapped).

    Parameters
    ----------
    max_memory_bytes : int
        Above this estimated size, arrays spill to a temporary directory (or
        raise `MemoryError` when `spill_to_disk` is False).
    spill_to_disk : bool
        Whether to fall back to disk-backed arrays.
    """

    name: Literal["scratch"] = "scratch"
    backend: ScratchBackendName = "scratch"
    max_memory_bytes: int = 4 * 1024**3
    suffix: str = ""
    spill_to_disk: bool = True

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        return _registered(value, "scratch", auto=False)

    def get_output_path(self, root_path: str, *, num_positions: int = 1) -> str:
        """The root path, unchanged."""
        return os.fspath(root_path)


FormatObject = OmeTiffFormat | OmeZarrFormat | ScratchFormat
_FORMAT_MODELS: dict[str, type[FormatObject]] = {
    "ome-zarr": OmeZarrFormat,
    "ome-tiff": OmeTiffFormat,
    "scratch": ScratchFormat,
}
# format names and their short forms; backend names and aliases: the registry
_FORMAT_NAMES: dict[str, type[FormatObject]] = {
    "ome-tiff": OmeTiffFormat,
    "tiff": OmeTiffFormat,
    "ome-zarr": OmeZarrFormat,
    "zarr": OmeZarrFormat,
}


def _format_aliases() -> dict[str, tuple[type[FormatObject], str | None]]:
    """Every name `format=` accepts -> (format model, backend or None)."""
    out: dict[str, tuple[type[FormatObject], str | None]] = {
        name: (cls, None) for name, cls in _FORMAT_NAMES.items()
    }
    for record in BACKENDS:
        for name in (record.name, *record.aliases):
            out[name] = (_FORMAT_MODELS[record.format], record.name)
    return out


def _format_from_string(name: str, suffix: str) -> FormatObject:
    key = name.lower()
    aliases = _format_aliases()
    if key not in aliases:
        raise ValueError(
            f"Unknown format {name!r}. Use one of {sorted(aliases)} or 'auto'."
        )
    cls, backend = aliases[key]
    if cls is ScratchFormat:
        return ScratchFormat(backend=backend or "scratch")
    kwargs: dict[str, Any] = {}
    if backend:
        kwargs["backend"] = backend
    if suffix:
        kwargs["suffix"] = suffix
    return cls(**kwargs)


def _format_name_of(fields: Mapping[str, Any], suffix: str) -> str | None:
    """The format a `format=` mapping without a name means: its backend's,
    OME-Zarr for an ``ngff_version``, else the root path's suffix's."""
    record = BY_NAME.get(str(fields.get("backend", "")))
    if record is not None:
        return record.format
    if "ngff_version" in fields or suffix.lower().endswith(".zarr"):
        return "ome-zarr"
    if suffix.lower().endswith((".tif", ".tiff")):
        return "ome-tiff"
    return None


def resolve_format(value: Any, root_path: str) -> Any:
    """The `format=` input to validate: "auto" and names made format models,
    the root path's suffix given to a dict that names none."""
    if root_path.lower().endswith(".ozx"):
        stem = root_path[: -len(".ozx")]
        raise ValueError(
            f"root_path {root_path!r}: a single-file OME-Zarr (.ozx) is written "
            "whole, not streamed into; write the acquisition to "
            f"{stem + '.ome.zarr'!r} and pack it afterwards with "
            f"`ome-writers convert {stem}.ome.zarr {root_path}`"
        )
    suffix = ome_stem_suffix(root_path)[1]
    if isinstance(value, Mapping):
        name = None if "name" in value else _format_name_of(value, suffix)
        if name is not None:
            value = {**value, "name": name}
        if suffix and "suffix" not in value and value.get("name") != "scratch":
            return {**value, "suffix": suffix}
        return value
    if not isinstance(value, str):
        return value
    if value.lower() != "auto":
        return _format_from_string(value, suffix)
    if root_path == "":
        return ScratchFormat()
    if suffix.endswith((".tif", ".tiff")):
        return OmeTiffFormat(suffix=suffix)
    if suffix.endswith(".zarr"):
        return OmeZarrFormat(suffix=suffix)
    record = first_available()
    warnings.warn(
        f"\n\nOutput format could not be inferred from root_path {root_path!r}. "
        f"Picking the first available format/backend: "
        f"{record.format!r}/{record.name!r}.\nThat may not be what you want, and "
        "a future version may refuse it: pass the format explicitly (for example "
        "format='ome-zarr' or format='ome-tiff') or end root_path with "
        "'.ome.zarr' or '.ome.tiff'.\n",
        UserWarning,
        stacklevel=4,
    )
    return _format_from_string(record.name, "")


def check_zarr_format(fmt: Any, dimensions: Any, positions: Any) -> None:
    """Zarr v2 (OME-Zarr 0.4) has no shards: raise `ValueError` when a
    dimension (of the acquisition or a position's own) asks for them."""
    if not isinstance(fmt, OmeZarrFormat) or fmt.zarr_format != 2:
        return
    own = (p.dimensions or () for p in positions)
    sharded = sorted(
        {
            d.name
            for d in (*dimensions, *(d for dims in own for d in dims))
            if d.shard_size_chunks
        }
    )
    if sharded:
        raise ValueError(
            f"OME-Zarr {fmt.ngff_version} is stored as Zarr v2, which has no "
            f"shards: remove shard_size_chunks from {sharded}, or write "
            "ngff_version='0.5'"
        )
