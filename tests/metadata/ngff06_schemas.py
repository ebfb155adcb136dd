"""The shipped NGFF 0.6rc0 JSON schemas, resolved locally (no network).

`validate_document` checks one group's attributes against a schema;
`validate_dataset` checks every group of a written dataset against the schema
its metadata names (image, label, plate, well, bioformats2raw, series,
scene); a ``labels`` group, for which there is no schema, lists names.

A time-coordinates field (a multiscale group below an image's
``coordinateTransformations`` group) has one time axis and one coordinate axis:
the spec text requires N + 1 dimensions for a field over N axes, while the
schema's axes rule, written for images, requires 2 or 3 space axes in every
multiscale. Such a group is checked to fail that one rule and nothing else.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SCHEMAS = Path(__file__).parent / "ngff_0_6rc0" / "schemas"
BASE = "https://ngff.openmicroscopy.org/0.6rc0/schemas/"


def _registry() -> Registry:
    resources = []
    for file in sorted(SCHEMAS.glob("*.schema")):
        contents = json.loads(file.read_text(encoding="utf-8"))
        resources.append((contents["$id"], Resource.from_contents(contents)))
    return Registry().with_resources(resources)


REGISTRY = _registry()


def validator(name: str) -> Draft202012Validator:
    """A validator for ``<name>.schema`` (e.g. "image", "scene")."""
    schema = REGISTRY.contents(BASE + f"{name}.schema")
    return Draft202012Validator(schema, registry=REGISTRY)


def errors(attributes: dict[str, Any], name: str) -> list[str]:
    """Why `attributes` fail ``<name>.schema`` (empty: valid)."""
    return [
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator(name).iter_errors(attributes)
    ]


def validate_document(attributes: dict[str, Any], name: str) -> None:
    """Raise AssertionError unless `attributes` are valid under ``<name>``."""
    found = errors(attributes, name)
    assert not found, f"{name}.schema: " + "; ".join(found[:5])


#: which schema a group's ``ome`` key selects
KEYS = {
    "multiscales": "image",
    "image-label": "label",
    "plate": "plate",
    "well": "well",
    "bioformats2raw.layout": "bf2raw",
    "series": "ome",
    "scene": "scene",
}


def groups_of(root: Path) -> dict[str, dict[str, Any]]:
    """Group path ("." for the root) -> attributes of every group below `root`."""
    out = {}
    for doc_path in sorted(root.rglob("zarr.json")):
        doc = json.loads(doc_path.read_text(encoding="utf-8"))
        if doc.get("node_type") == "group":
            out[doc_path.parent.relative_to(root).as_posix()] = doc["attributes"]
    return out


def only_space_axes_rule_fails(attributes: dict[str, Any]) -> bool:
    """Whether image.schema rejects `attributes` for the axes' space count only."""
    found = errors(attributes, "image")
    if len(found) != 1 or "coordinateSystems/0/axes" not in found[0]:
        return False
    with_space = copy.deepcopy(attributes)
    axes = with_space["ome"]["multiscales"][0]["coordinateSystems"][0]["axes"]
    axes += [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    return errors(with_space, "image") == []


FIELD = "time field (image.schema but its space-axes rule)"
#: a ``labels`` group: the 0.6rc0 schemas have none for it
LABELS = "labels group (a version and the label images' names)"


def validate_dataset(root: Path) -> dict[str, list[str]]:
    """Validate every group with ``ome`` metadata; group -> schemas checked.

    Every such group is also checked against ``ome_zarr.schema`` (any OME-Zarr
    document) and must state version 0.6rc0.
    """
    checked: dict[str, list[str]] = {}
    for path, attributes in groups_of(root).items():
        ome = attributes.get("ome")
        if ome is None:
            continue
        assert ome.get("version") == "0.6rc0", path
        if "coordinateTransformations" in path.split("/"):
            assert only_space_axes_rule_fails(attributes), path
            checked[path] = [FIELD]
            continue
        if set(ome) == {"version", "labels"}:
            labels = ome["labels"]
            assert labels, path
            assert all(isinstance(n, str) for n in labels), path
            checked[path] = [LABELS]
            continue
        names = [name for key, name in KEYS.items() if key in ome]
        assert names, f"{path}: no OME-Zarr metadata in {sorted(ome)}"
        for name in [*names, "ome_zarr"]:
            found = errors(attributes, name)
            assert not found, f"{path}: {name}.schema: " + "; ".join(found[:5])
        checked[path] = names
    return checked
