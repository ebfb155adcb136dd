"""OME-Zarr (NGFF) 0.6rc0 documents, as plain JSON: RFC-5 coordinate systems.

No library has models of 0.6rc0 yet, so its documents are the v0.5 ones
(`_ngff`, validated by yaozarrs) restated:

- every image's ``multiscales`` names its axes in a coordinate system
  (`INTRINSIC`), and each level maps its array into it (a ``scale``, or a
  ``sequence`` of a scale and a translation);
- the images of a collection or plate stand in one ``scene`` at the root,
  each placed by its stage coordinates (a ``translation`` into `STAGE`); a
  single image carries that translation in its own ``multiscales``;
- the frames' acquisition times, once known, are a ``coordinates`` field of
  the time axis (`time_field_group`) that a ``byDimension`` transformation
  maps into `TIMES` (`add_time_coordinates`).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ome_writers.metadata._zarr_layout import ZarrLayout

VERSION = "0.6rc0"
#: the coordinate system every level of an image maps into
INTRINSIC = "physical"
#: the stage's coordinate system (the scene's, or a single image's)
STAGE = "stage"
#: an image's coordinate system with the frames' acquisition times on t
TIMES = "acquisition_time"
#: where an image's time coordinates are, relative to the image group
TIME_FIELD = "coordinateTransformations/acquisition_time"
#: the array (one level) of the time coordinates, relative to `TIME_FIELD`
TIME_FIELD_ARRAY = "0"


def restated(
    groups: dict[str, dict[str, Any]],
    layout: ZarrLayout,
    stages: Sequence[list[float] | None],
    *,
    scene: bool = True,
) -> dict[str, dict[str, Any]]:
    """The v0.5 `groups` of `layout` as 0.6rc0 documents.

    `stages` gives each image's stage coordinates along its axes (None: the
    image has no place on the stage). `scene`: place a collection's or
    plate's images in a scene at the root (else in their own multiscales).
    """
    out = copy.deepcopy(groups)
    for attributes in out.values():
        ome = attributes.get("ome")
        if isinstance(ome, dict):
            ome["version"] = VERSION
    for path in layout.image_paths:
        out[path]["ome"] = image_document(out[path]["ome"])
    placed = [
        (path, offsets)
        for path, offsets in zip(layout.image_paths, stages, strict=True)
        if offsets is not None
    ]
    if layout.kind != "image" and scene:
        if placed:
            axes = out[placed[0][0]]["ome"]["multiscales"][0]["coordinateSystems"]
            out["."]["ome"]["scene"] = scene_document(axes[0]["axes"], placed)
    else:
        for path, offsets in placed:
            add_stage(out[path]["ome"], offsets)
    return out


def image_document(ome: dict[str, Any]) -> dict[str, Any]:
    """The 0.6rc0 ``ome`` of an image from its v0.5 one (axes, levels, omero)."""
    multiscale = ome["multiscales"][0]
    datasets = []
    for dataset in multiscale["datasets"]:
        path = str(dataset["path"])
        scale: list[float] = []
        translation: list[float] = []
        for transform in dataset["coordinateTransformations"]:
            if transform["type"] == "scale":
                scale = list(transform["scale"])
            elif transform["type"] == "translation":
                translation = list(transform["translation"])
        transform = level_transform(path, scale, translation)
        datasets.append({"path": path, "coordinateTransformations": [transform]})
    restated: dict[str, Any] = {}
    if multiscale.get("name") is not None:
        restated["name"] = multiscale["name"]
    restated["coordinateSystems"] = [
        {"name": INTRINSIC, "axes": copy.deepcopy(multiscale["axes"])}
    ]
    restated["datasets"] = datasets
    out: dict[str, Any] = {"version": VERSION, "multiscales": [restated]}
    if "omero" in ome:
        out["omero"] = ome["omero"]
    return out


def level_transform(
    path: str, scale: list[float], translation: list[float]
) -> dict[str, Any]:
    """The one transformation from a level's array into `INTRINSIC`."""
    ends = {"input": {"path": path}, "output": {"name": INTRINSIC}}
    if not any(translation):
        return {"type": "scale", "scale": scale, **ends}
    return {
        "type": "sequence",
        **ends,
        "transformations": [
            {"type": "scale", "scale": scale},
            {"type": "translation", "translation": translation},
        ],
    }


def scene_document(
    axes: list[dict[str, Any]], placed: Sequence[tuple[str, list[float]]]
) -> dict[str, Any]:
    """A scene placing each image (path, stage coordinates) in `STAGE`."""
    return {
        "coordinateSystems": [{"name": STAGE, "axes": copy.deepcopy(axes)}],
        "coordinateTransformations": [
            {
                "type": "translation",
                "name": f"{path} on the stage",
                "translation": offsets,
                "input": {"path": path, "name": INTRINSIC},
                "output": {"name": STAGE},
            }
            for path, offsets in placed
        ],
    }


def add_stage(ome: dict[str, Any], offsets: list[float]) -> None:
    """Place a single image on the stage within its own multiscales."""
    multiscale = ome["multiscales"][0]
    axes = multiscale["coordinateSystems"][0]["axes"]
    multiscale["coordinateSystems"].append({"name": STAGE, "axes": copy.deepcopy(axes)})
    multiscale.setdefault("coordinateTransformations", []).append(
        {
            "type": "translation",
            "translation": offsets,
            "input": {"name": INTRINSIC},
            "output": {"name": STAGE},
        }
    )


# ------------------------------------------------------------ time coordinates


def time_axis(ome: dict[str, Any]) -> int | None:
    """Index of the time axis of an image's 0.6rc0 ``ome``, or None."""
    systems = _systems(ome)
    if not systems:
        return None
    axes = systems[0].get("axes") or []
    return next((i for i, a in enumerate(axes) if a.get("type") == "time"), None)


def has_time_coordinates(ome: dict[str, Any]) -> bool:
    """Whether the image's multiscales map its time axis to `TIMES`."""
    return any(s.get("name") == TIMES for s in _systems(ome))


def add_time_coordinates(ome: dict[str, Any]) -> bool:
    """Map the image's time axis to the times of `TIME_FIELD` (in `TIMES`).

    False (and nothing changed) when the document has no time axis in a
    coordinate system of ours, or has the mapping already.
    """
    t = time_axis(ome)
    if t is None or has_time_coordinates(ome):
        return False
    multiscale = ome["multiscales"][0]
    axes = copy.deepcopy(multiscale["coordinateSystems"][0]["axes"])
    axes[t] = {"name": axes[t]["name"], "type": "time", "unit": "second"}
    multiscale["coordinateSystems"].append({"name": TIMES, "axes": axes})
    others = [i for i in range(len(axes)) if i != t]
    parts: list[dict[str, Any]] = [
        {
            "transformation": {"type": "coordinates", "path": TIME_FIELD},
            "inputAxes": [t],
            "outputAxes": [t],
        }
    ]
    if others:
        parts.append(
            {
                "transformation": {"type": "identity"},
                "inputAxes": others,
                "outputAxes": others,
            }
        )
    multiscale.setdefault("coordinateTransformations", []).append(
        {
            "type": "byDimension",
            "name": "acquisition times",
            "input": {"name": INTRINSIC},
            "output": {"name": TIMES},
            "transformations": parts,
        }
    )
    return True


def time_field_group(ome: dict[str, Any]) -> dict[str, Any] | None:
    """The ``ome`` of the group holding an image's time coordinates (None:
    the image's document has no time axis in a coordinate system of ours).

    A multiscale image of one level: along its first axis the image's time
    points (scaled as the image's time axis), along its second the one
    coordinate, the time point's acquisition time in seconds.
    """
    t = time_axis(ome)
    if t is None:
        return None
    multiscale = ome["multiscales"][0]
    axis = copy.deepcopy(multiscale["coordinateSystems"][0]["axes"][t])
    coordinate = {"name": "coordinate", "type": "coordinate", "discrete": True}
    scale = _level0_scale(multiscale)[t]
    path = TIME_FIELD_ARRAY
    return {
        "version": VERSION,
        "multiscales": [
            {
                "name": "acquisition times",
                "coordinateSystems": [
                    {
                        "name": INTRINSIC,
                        "axes": [axis, coordinate],
                    }
                ],
                "datasets": [
                    {
                        "path": path,
                        "coordinateTransformations": [
                            level_transform(path, [scale, 1.0], [])
                        ],
                    }
                ],
            }
        ],
    }


def _systems(ome: dict[str, Any]) -> list[dict[str, Any]]:
    multiscales = ome.get("multiscales") or [{}]
    systems = multiscales[0].get("coordinateSystems") or []
    return [s for s in systems if isinstance(s, dict)]


def _level0_scale(multiscale: dict[str, Any]) -> list[float]:
    transform = multiscale["datasets"][0]["coordinateTransformations"][0]
    if transform["type"] == "sequence":
        transform = transform["transformations"][0]
    return [float(s) for s in transform["scale"]]
