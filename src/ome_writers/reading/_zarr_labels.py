"""The label images an OME-Zarr image lists (NGFF ``labels`` groups)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ome_writers.reading._location import Location


def labels_group(location: Location, image_path: str) -> dict[str, Any] | None:
    """The NGFF attributes of `image_path`'s ``labels`` group (Zarr v3's
    ``attributes.ome``, or v2's ``.zattrs``), or None when it has none."""
    prefix = f"{image_path.strip('/')}/labels/" if image_path.strip("/") else "labels/"
    doc = location.read_json(prefix + "zarr.json")
    if doc is not None:
        attrs = doc.get("attributes") or {}
        ome = attrs.get("ome")
        return dict(ome) if isinstance(ome, dict) else dict(attrs)
    return location.read_json(prefix + ".zattrs")


def label_names(location: Location, image_paths: Sequence[str]) -> list[str]:
    """Every label image listed by the images' ``labels`` groups, in the
    order first listed."""
    names: dict[str, None] = {}
    for path in image_paths:
        group = labels_group(location, path)
        listed = (group or {}).get("labels")
        if isinstance(listed, list):
            names.update((str(name), None) for name in listed)
    return list(names)
