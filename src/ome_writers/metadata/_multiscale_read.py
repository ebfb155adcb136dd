"""A multiscale image's axes and levels, as any NGFF version states them.

NGFF 0.4 and 0.5 list ``axes`` and each level's ``scale`` (and
``translation``); 0.6rc0 names the axes in the coordinate system the levels
map into (their "intrinsic" one), each level by one ``scale``, ``identity``
or ``sequence`` of a scale and a translation. Plain JSON in, plain values out,
for the readers (`open`, ``info``, ``convert``).
"""

from __future__ import annotations

from typing import Any


def multiscale_axes(multiscale: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The axes of `multiscale` (name, type, unit), or None if it states none."""
    axes = multiscale.get("axes")
    if axes is None:
        systems = [
            s for s in multiscale.get("coordinateSystems") or [] if isinstance(s, dict)
        ]
        if not systems:
            return None
        name = _intrinsic_name(multiscale)
        system = next((s for s in systems if s.get("name") == name), systems[0])
        axes = system.get("axes")
    if not isinstance(axes, list):
        return None
    return [{"name": a} if isinstance(a, str) else dict(a) for a in axes]


def level_scale_translation(
    dataset: dict[str, Any],
) -> tuple[list[float] | None, list[float] | None]:
    """(scale, translation) of one level's transformations (None: not stated)."""
    scale: list[float] | None = None
    translation: list[float] | None = None
    for transform in level_transforms(dataset):
        kind = transform.get("type")
        if kind == "scale" and "scale" in transform:
            scale = [float(v) for v in transform["scale"]]
        elif kind == "translation" and "translation" in transform:
            translation = [float(v) for v in transform["translation"]]
    return scale, translation


def _intrinsic_name(multiscale: dict[str, Any]) -> str | None:
    """The coordinate system the levels map into (0.6rc0), if named."""
    for dataset in multiscale.get("datasets") or []:
        for transform in dataset.get("coordinateTransformations") or []:
            output = transform.get("output") if isinstance(transform, dict) else None
            if isinstance(output, dict) and output.get("name"):
                return str(output["name"])
    return None


def level_transforms(dataset: dict[str, Any]) -> list[dict[str, Any]]:
    """A level's transformations in order, a ``sequence`` replaced by its parts."""
    return _flat(dataset.get("coordinateTransformations") or [])


def _flat(transforms: list[Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for transform in transforms:
        if not isinstance(transform, dict):
            continue
        if transform.get("type") == "sequence":
            out.extend(_flat(transform.get("transformations") or []))
        else:
            out.append(transform)
    return out
