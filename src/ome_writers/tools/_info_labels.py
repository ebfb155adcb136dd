"""`ome-writers info` for label images: each OME-Zarr image's NGFF ``labels``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ome_writers.tools._report import LabelInfo

if TYPE_CHECKING:
    from ome_writers.tools._report import DatasetReport


def label_groups(nodes: dict[str, dict[str, Any]]) -> set[str]:
    """Every group that is a label image: listed by a ``labels`` group, or
    holding ``image-label`` (they are not images of the dataset)."""
    out = set()
    for name, doc in nodes.items():
        ome = _ome(doc)
        if "image-label" in ome:
            out.add(name)
        if name == "labels" or name.endswith("/labels"):
            listed = ome.get("labels")
            if isinstance(listed, list):
                out.update(f"{name}/{label}" for label in listed)
    return out


def image_labels(
    group: str, nodes: dict[str, dict[str, Any]], report: DatasetReport
) -> list[LabelInfo]:
    """The label images the ``labels`` group of image `group` lists; one
    listed without its group (or arrays) is a problem."""
    labels_path = "labels" if group == "." else f"{group}/labels"
    listed = _ome(nodes.get(labels_path, {})).get("labels")
    if not isinstance(listed, list):
        return []
    out = []
    for name in listed:
        path = f"{labels_path}/{name}"
        ome = _ome(nodes.get(path, {}))
        multiscales = ome.get("multiscales") or [{}]
        datasets = multiscales[0].get("datasets") or []
        if not datasets:
            report.problems.append(f"{path}: a label image listed without multiscales")
            continue
        arrays = [f"{path}/{d.get('path')}" for d in datasets]
        level0 = nodes.get(arrays[0], {})
        if level0.get("node_type") != "array":
            report.problems.append(f"{arrays[0]}: label array listed is missing")
            continue
        image_label = ome.get("image-label") or {}
        colors = image_label.get("colors") or []
        properties = image_label.get("properties") or []
        out.append(
            LabelInfo(
                name=str(name),
                path=path,
                shape=tuple(int(n) for n in level0.get("shape", ())),
                dtype=str(level0.get("data_type", "")),
                levels=[report.arrays.get(a, ((),))[0] for a in arrays],
                colors=len({_value(c) for c in colors} - {None}),
                properties=len({_value(p) for p in properties} - {None}),
            )
        )
    return out


def _value(entry: Any) -> Any:
    return entry.get("label-value") if isinstance(entry, dict) else None


def _ome(doc: dict[str, Any]) -> dict[str, Any]:
    """``attributes.ome`` of a Zarr v3 node, the attributes of a v2 one."""
    attributes = doc.get("attributes", {})
    ome = attributes if doc.get("zarr_format") == 2 else attributes.get("ome", {})
    return ome if isinstance(ome, dict) else {}
