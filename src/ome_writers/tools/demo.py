"""`ome-writers demo`: a demo-camera acquisition through pymmcore-plus, checked."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ome_writers.tools._output import ProgressLine, print_line

if TYPE_CHECKING:
    from ome_writers import SizeEstimate

#: the file name suffix of each format the demo writes
SUFFIXES = {"ome-zarr": ".ome.zarr", "ome-tiff": ".ome.tiff"}


def run_demo(
    *,
    output: str,
    formats: list[str],
    t: int,
    z: int,
    c: int,
    positions: int,
    width: int,
    height: int,
    pixel_size: float,
    levels: int = 1,
    labels: bool = False,
) -> int:
    """Acquire with the demo camera into each format (``ome-zarr``,
    ``ome-tiff``), validate, print a summary. With `labels`, an analysis
    thresholds each frame of the first channel into the label image "cells"
    of its position (OME-Zarr only)."""
    try:
        import useq

        from ome_writers.adapters.demo_camera import (
            CHANNELS,
            decode_frame_counter,
            demo_core,
        )
    except ImportError as e:
        print(f"the demo needs pymmcore-plus and useq-schema: {e}")
        print('install them with: pip install "ome-writers[pymmcore-plus,all]"')
        return 2
    from ome_writers import AcquisitionSettings
    from ome_writers.tools.info import inspect_dataset

    plan: dict[str, Any] = {"axis_order": "tpcz"}
    if t > 1:
        plan["time_plan"] = {"interval": 0.05, "loops": t}
    if z > 1:
        plan["z_plan"] = {"range": (z - 1) * 0.5, "step": 0.5}
    if c:
        plan["channels"] = list(CHANNELS)[:c]
    if positions > 1:
        plan["stage_positions"] = [
            {"x": 100.0 * i, "y": 50.0 * i, "z": 0.0, "name": f"pos{i}"}
            for i in range(positions)
        ]
    sequence = useq.MDASequence(**plan)
    n_frames = len(list(sequence))
    out_dir = Path(output)
    out_dir.mkdir(parents=True, exist_ok=True)
    status = 0
    for fmt in formats:
        core = demo_core(width=width, height=height, pixel_size_um=pixel_size or None)
        path = out_dir / f"demo{SUFFIXES[fmt]}"
        line = ProgressLine(path.name, n_frames, "frames")
        done = [0]

        def progress(
            *_: Any, done: list[int] = done, line: ProgressLine = line
        ) -> None:
            done[0] += 1
            line.update(done[0])

        core.mda.events.frameReady.connect(progress)
        with_labels = labels and fmt == "ome-zarr"
        size = _estimated_size(core, sequence, path, pixel_size, levels, with_labels)
        print_line(f"{path.name}: {n_frames} frames, {size} on disk")
        start = time.perf_counter()
        # settings reach pymmcore-plus as the output: the camera's bit depth
        # (and pyramid levels) are not otherwise passed on
        target = AcquisitionSettings(
            root_path=str(path),
            overwrite=True,
            pyramid=levels if levels > 1 else None,
            significant_bits=core.getImageBitDepth(),
            labels=[_label_image()] if with_labels else (),
        )
        view: Any
        if with_labels:
            view, labelled, written_settings = _run_with_labels(core, sequence, target)
        else:
            if labels:
                print_line(f"{path.name}: label images are written to OME-Zarr only")
            core.mda.run(sequence, output=target, overwrite=True)
            view = core.mda.get_view()
        seconds = time.perf_counter() - start
        line.close()
        data = np.asarray(view)
        frames = data.reshape(-1, *data.shape[-2:])
        counters = sorted(decode_frame_counter(f) for f in frames)
        in_order = counters == list(range(counters[0], counters[0] + len(counters)))
        report = inspect_dataset(
            path if fmt == "ome-zarr" or positions <= 1 else out_dir / "demo"
        )
        print("\n".join(report.lines()))
        mb = data.nbytes / 1e6
        print(
            f"  {n_frames} frames, {mb:.1f} MB in {seconds:.2f} s; "
            f"view dims={view.dims} shape={view.shape}; "
            f"every frame present once: {in_order}"
        )
        if not (report.valid and in_order and len(counters) == n_frames):
            status = 1
        if with_labels and not _print_labels(path, written_settings, labelled):
            status = 1
    return status


#: the demo's label image: bright objects of the first channel
LABEL_NAME = "cells"


def _label_image() -> Any:
    from ome_writers import LabelImage

    return LabelImage(
        name=LABEL_NAME,
        dtype="uint8",
        colors={1: (255, 200, 0, 255)},
        properties={1: {"class": "bright"}},
    )


def threshold(frame: np.ndarray) -> np.ndarray:
    """Label 1 where `frame` is brighter than its mean by 2 standard deviations."""
    values = frame.astype(np.float64)
    mask: np.ndarray = values > values.mean() + 2 * values.std()
    return mask.astype(np.uint8)


def _run_with_labels(
    core: Any, sequence: Any, target: Any
) -> tuple[Any, dict[tuple[int, ...], np.ndarray], Any]:
    """Run `sequence` through `OMEWriterHandler`, with an analysis after it
    that writes a thresholded label plane for each frame of the first
    channel; the view, the planes written by (position, time, z), and the
    settings written."""
    from ome_writers.adapters.pymmcore_plus import OMEWriterHandler

    handler = OMEWriterHandler(target)
    written: dict[tuple[int, ...], np.ndarray] = {}

    def analyse(img: np.ndarray, event: Any, meta: Any) -> None:
        index = event.index
        if index.get("c", 0) == 0:
            mask = threshold(img)
            handler.write_label(LABEL_NAME, mask, event)
            written[tuple(index.get(a, 0) for a in "ptz")] = mask

    events = core.mda.events
    slots = [
        (events.sequenceStarted, handler.sequenceStarted),
        (events.frameReady, handler.frameReady),
        (events.frameReady, analyse),  # after the handler appended the frame
        (events.sequenceFinished, handler.sequenceFinished),
    ]
    for signal, slot in slots:
        signal.connect(slot)
    try:
        core.mda.run(sequence)
    finally:
        for signal, slot in slots:
            signal.disconnect(slot)
    return handler.view(), written, handler.settings


def _print_labels(
    path: Path, settings: Any, written: dict[tuple[int, ...], np.ndarray]
) -> bool:
    """Print each image's label image, read back; whether every plane the
    analysis wrote is there."""
    import zarr

    from ome_writers.metadata._zarr_layout import plan_layout

    ok = True
    for p, image in enumerate(plan_layout(settings).image_paths):
        name = "/".join(part for part in (image, "labels", LABEL_NAME) if part != ".")
        array = zarr.open_array(str(path / name / "0"), mode="r")
        data = np.asarray(array[...])
        planes = data.reshape(-1, *data.shape[-2:])
        mine = [m for k, m in written.items() if k[0] == p]
        found = sum(1 for m in mine if any(np.array_equal(m, q) for q in planes))
        ok = ok and found == len(mine)
        share = 100 * float((data > 0).mean()) if data.size else 0.0
        print(
            f"  {name}: shape {tuple(array.shape)} {array.dtype}, "
            f"{found}/{len(mine)} planes labelled, {share:.1f}% of pixels label 1"
        )
    return ok


def _estimated_size(
    core: Any,
    sequence: Any,
    path: Path,
    pixel_size: float,
    levels: int,
    labels: bool,
) -> SizeEstimate:
    """What the acquisition of `sequence` will write at `path` (the settings
    the pymmcore-plus handler makes of it)."""
    from ome_writers import AcquisitionSettings, useq_to_acquisition_settings

    fields = useq_to_acquisition_settings(
        sequence,
        int(core.getImageWidth()),
        int(core.getImageHeight()),
        pixel_size_um=pixel_size or None,
    )
    settings = AcquisitionSettings(
        root_path=str(path),
        dtype=f"uint{8 * int(core.getBytesPerPixel())}",
        pyramid=levels if levels > 1 else None,
        labels=[_label_image()] if labels else (),
        **fields,
    )
    return settings.estimated_size
