"""Which per-frame metadata each pymmcore-plus path records, as documented.

`core.mda.run(seq, output=path)` goes through pymmcore-plus's own sink, which
passes `append` only part of each frame's metadata; `OMEWriterHandler` builds
the metadata itself. What each stores (read back by zarr-python and ome-types)
must be what the table in docs/pymmcore_plus.md says, and the keys both store
must have the same values.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

useq = pytest.importorskip("useq")
pytest.importorskip("pymmcore_plus")

import ome_types  # noqa: E402
import zarr  # noqa: E402

from ome_writers.adapters.demo_camera import demo_core  # noqa: E402
from ome_writers.adapters.pymmcore_plus import OMEWriterHandler  # noqa: E402

DOC = Path(__file__).parents[2] / "docs" / "pymmcore_plus.md"


def _documented_keys() -> tuple[set[str], set[str]]:
    """Keys the docs' table says `output=` and `OMEWriterHandler` record."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Per-frame metadata", 1)[1].split("\n## ", 1)[0]
    run_keys: set[str] = set()
    handler_keys: set[str] = set()
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 6 or not cells[0].startswith("`"):
            continue
        keys = set(re.findall(r"`([a-z_]+)`", cells[0]))
        if cells[2] == "yes":
            run_keys |= keys
        if cells[3] == "yes":
            handler_keys |= keys
    return run_keys, handler_keys


RUN_KEYS, FULL_KEYS = _documented_keys()
# runs differ in their timing only
VARYING = {"delta_t"}
# stored as OME Plane attributes of the same names
PLANE_KEYS = ("delta_t", "exposure_time", "position_x", "position_y", "position_z")
SEQUENCES = {
    "one-position": {
        "time_plan": {"interval": 0, "loops": 2},
        "channels": ["DAPI", "Cy5"],
        "stage_positions": [(1.0, 2.0, 3.0)],
    },
    "two-positions": {
        "channels": ["DAPI", "FITC"],
        "stage_positions": [(1.0, 2.0, 3.0), {"x": 5, "y": 6, "z": 7, "name": "b"}],
    },
}


def _zarr_frames(root: Path) -> list[dict[str, Any]]:
    """Per-frame metadata of every image group (zarr-python), position order."""
    group = zarr.open_group(str(root), mode="r")
    if "multiscales" in group.attrs["ome"]:  # one image at the root
        groups = [group]
    else:  # a collection: its series, in position order
        names = zarr.open_group(str(root / "OME"), mode="r").attrs["ome"]["series"]
        groups = [zarr.open_group(str(root / name), mode="r") for name in names]
    frames: list[dict[str, Any]] = []
    for g in groups:
        for record in g.attrs["ome_writers"]["frame_metadata"]:
            frames.append({k: v for k, v in record.items() if k != "storage_index"})
    return frames


def _tiff_frames(path: Path) -> list[dict[str, Any]]:
    """Per-frame metadata of every plane (ome-types), image and plane order.

    A multi-file set's first file carries the OME-XML of every file.
    """
    folder = path.parent / path.name.removesuffix(".ome.tiff")
    first = path if path.is_file() else sorted(folder.glob("*.ome.tiff"))[0]
    ome = ome_types.from_tiff(first)
    maps = (
        ome.structured_annotations.map_annotations if ome.structured_annotations else []
    )
    annotations = {a.id: {m.k: m.value for m in a.value.ms} for a in maps}
    frames: list[dict[str, Any]] = []
    for image in ome.images:
        for plane in image.pixels.planes:
            record: dict[str, Any] = {
                key: getattr(plane, key)
                for key in PLANE_KEYS
                if getattr(plane, key) is not None
            }
            for ref in plane.annotation_refs:
                for k, v in annotations.get(ref.id, {}).items():
                    # structured values are stored as JSON text
                    record[k] = json.loads(v) if v[:1] in "{[" else v
            frames.append(record)
    return frames


def test_docs_table_is_read() -> None:
    assert set(PLANE_KEYS) == RUN_KEYS
    assert RUN_KEYS < FULL_KEYS
    assert {"camera", "properties", "event_index"} <= FULL_KEYS


@pytest.mark.parametrize("fmt", ["ome.zarr", "ome.tiff"])
@pytest.mark.parametrize("case", list(SEQUENCES))
def test_mda_run_and_handler_record_what_the_docs_say(
    tmp_path: Path, fmt: str, case: str
) -> None:
    seq = useq.MDASequence(**SEQUENCES[case])
    core = demo_core(width=32, height=24)
    run_path = tmp_path / f"run.{fmt}"
    handler_path = tmp_path / f"handler.{fmt}"
    core.mda.run(seq, output=str(run_path), overwrite=True)
    core.mda.run(seq, output=OMEWriterHandler(handler_path, overwrite=True))

    read = _zarr_frames if fmt == "ome.zarr" else _tiff_frames
    from_run, from_handler = read(run_path), read(handler_path)
    n_events = len(list(seq.iter_events()))
    assert len(from_run) == len(from_handler) == n_events
    for k, (a, b) in enumerate(zip(from_run, from_handler, strict=True)):
        assert set(a) == RUN_KEYS, f"frame {k}"
        assert set(b) == FULL_KEYS, f"frame {k}"
        for key in RUN_KEYS - VARYING:
            assert a[key] == b[key], f"frame {k}: {key}"
    events = list(seq.iter_events())
    for frame, event in zip(from_handler, events, strict=True):
        assert frame["camera"] == "Camera"
        assert frame["event_index"] == {str(k): v for k, v in event.index.items()}
        assert frame["properties"]["Camera-fluorophore"] == event.channel.config
        assert frame["position_x"] == event.x_pos
