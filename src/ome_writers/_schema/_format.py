"""Output format models: OME-Zarr, OME-TIFF and the in-memory scratch format."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal

from pydantic import field_validator

from ome_writers._registry import backend_names
from ome_writers._schema._base import SettingsModel

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


class OmeZarrFormat(SettingsModel):
    """OME-Zarr v0.5 output (a directory)."""

    name: Literal["ome-zarr"] = "ome-zarr"
    backend: ZarrBackendName = "auto"
    suffix: str = ".ome.zarr"

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        return _registered(value, "ome-zarr")

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
