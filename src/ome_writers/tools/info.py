"""Describe and validate a dataset on disk with independent readers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class DatasetReport:
    """What a dataset holds and whether independent readers accept it."""

    path: Path
    kind: str
    arrays: dict[str, tuple[tuple[int, ...], str, str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # image -> shape of each resolution level (level 0 first), for pyramids
    levels: dict[str, list[tuple[int, ...]]] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        """Whether no reader reported a problem."""
        return not self.problems

    def lines(self) -> list[str]:
        """Human-readable summary."""
        out = [f"{self.path} ({self.kind})"]
        for name, (shape, dtype, axes) in self.arrays.items():
            out.append(f"  {name}: shape={shape} dtype={dtype} axes={axes}")
        for image, shapes in self.levels.items():
            listed = ", ".join(f"{k}: {shape}" for k, shape in enumerate(shapes))
            out.append(f"  {image}: {len(shapes)} resolution levels ({listed})")
        out.extend(f"  problem: {p}" for p in self.problems)
        out.append("  valid" if self.valid else "  INVALID")
        return out


def inspect_dataset(path: str | Path) -> DatasetReport:
    """Open `path` (OME-Zarr, OME-TIFF file/directory or scratch) and validate it."""
    path = Path(path)
    if (path / "zarr.json").is_file():
        return _inspect_zarr(path)
    if (path / "manifest.json").is_file():
        return _inspect_scratch(path)
    if path.is_file() and path.suffix.lower() in (".tif", ".tiff"):
        return _inspect_tiff([path], path)
    if path.is_dir():
        tiffs = sorted(
            p for p in path.iterdir() if p.suffix.lower() in (".tif", ".tiff")
        )
        if tiffs:
            return _inspect_tiff(tiffs, path)
    report = DatasetReport(path, "unknown")
    report.problems.append("not an OME-Zarr, OME-TIFF or scratch dataset")
    return report


def _inspect_zarr(path: Path) -> DatasetReport:
    report = DatasetReport(path, "OME-Zarr")
    try:
        import yaozarrs

        yaozarrs.validate_zarr_store(str(path))
    except Exception as e:  # any reader error is a finding, not a crash
        report.problems.append(f"yaozarrs: {e}")
    for array_json in sorted(path.rglob("zarr.json")):
        meta = json.loads(array_json.read_text())
        if meta.get("node_type") != "array":
            continue
        name = str(array_json.parent.relative_to(path))
        axes = ",".join(meta.get("dimension_names") or [])
        report.arrays[name] = (tuple(meta["shape"]), str(meta["data_type"]), axes)
    for group_json in sorted(path.rglob("zarr.json")):
        meta = json.loads(group_json.read_text())
        multiscales = meta.get("attributes", {}).get("ome", {}).get("multiscales")
        if meta.get("node_type") != "group" or not multiscales:
            continue
        datasets = multiscales[0].get("datasets", [])
        if len(datasets) < 2:
            continue
        image = str(group_json.parent.relative_to(path))
        prefix = "" if image == "." else f"{image}/"
        report.levels[image] = [
            report.arrays.get(f"{prefix}{d['path']}", ((),))[0] for d in datasets
        ]
    return report


def _inspect_tiff(files: list[Path], path: Path) -> DatasetReport:
    report = DatasetReport(path, "OME-TIFF")
    try:
        import tifffile
    except ImportError:
        report.problems.append("tifffile is not installed")
        return report
    for file in files:
        try:
            with tifffile.TiffFile(file) as tif:
                for i, series in enumerate(tif.series):
                    key = f"{file.name}[{i}]"
                    report.arrays[key] = (
                        tuple(series.shape),
                        str(series.dtype),
                        series.axes,
                    )
                    if len(series.levels) > 1:
                        report.levels[key] = [tuple(lv.shape) for lv in series.levels]
            import ome_types

            ome_types.from_tiff(file)
        except Exception as e:
            report.problems.append(f"{file.name}: {e}")
    return report


def _inspect_scratch(path: Path) -> DatasetReport:
    report = DatasetReport(path, "scratch")
    manifest = json.loads((path / "manifest.json").read_text())
    axes = ",".join(manifest.get("storage_dimensions", []))
    for i, shape in enumerate(manifest.get("position_shapes", [])):
        data = path / f"pos_{i}.dat"
        if not data.is_file():
            report.problems.append(f"missing {data.name}")
        report.arrays[data.name] = (tuple(shape), manifest["dtype"], axes)
    return report
