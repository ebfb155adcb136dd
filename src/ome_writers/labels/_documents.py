"""NGFF documents of label images: the ``labels`` group and each label
image's ``multiscales`` with ``image-label`` (0.4, 0.5 or 0.6rc0)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaozarrs.v04 as ngff04
import yaozarrs.v05 as ngff05

from ome_writers.metadata import _ngff06
from ome_writers.metadata._ngff import (
    _attributes,
    _dump,
    _ImageAttributes,
    ngff_version,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ome_writers._schema import AcquisitionSettings, LabelImage

#: the label image's source, relative to its group: the image two levels up
SOURCE = "../../"


def label_path(image_path: str, *parts: str) -> str:
    """A path below an image group's ``labels`` group."""
    head = [] if image_path == "." else [image_path]
    return "/".join([*head, "labels", *parts])


def image_label(
    label: LabelImage, version: str, properties: Mapping[int, Mapping[str, Any]]
) -> dict[str, Any]:
    """The ``image-label`` object: colours, properties, source."""
    out: dict[str, Any] = {}
    if version == "0.4":
        out["version"] = "0.4"
    if label.colors:
        out["colors"] = [
            {"label-value": value, "rgba": list(rgba)}
            for value, rgba in sorted(label.colors.items())
        ]
    if properties:
        out["properties"] = [
            {"label-value": value, **dict(props)}
            for value, props in sorted(properties.items())
        ]
    out["source"] = {"image": SOURCE}
    return out


def label_documents(
    settings: AcquisitionSettings,
    labels: Sequence[tuple[LabelImage, AcquisitionSettings]],
    image_paths: Sequence[str],
    properties: Mapping[str, Mapping[int, Mapping[str, Any]]],
) -> dict[str, dict[str, Any]]:
    """Group path -> attributes of every ``labels`` group and label image.

    `labels` pairs each label image with its settings (`label_settings`);
    `properties` holds each label image's current properties by name.
    """
    version = ngff_version(settings)
    names = [label.name for label, _ in labels]
    if version == "0.4":
        group = _dump(ngff04.LabelsGroup(labels=names))
    else:
        group = _dump(ngff05.LabelsGroup(labels=names))
        group["version"] = version
    out: dict[str, dict[str, Any]] = {}
    for image in image_paths:
        out[label_path(image)] = _attributes(version, dict(group))
    for label, lsettings in labels:
        # 0.6rc0 places images in a scene: the label shares its image's system
        named = _ImageAttributes(lsettings, stage=version != _ngff06.VERSION)
        for image, position in zip(image_paths, lsettings.positions, strict=True):
            ome = named(label.name, position)
            ome.pop("omero", None)
            if version == _ngff06.VERSION:
                ome = _ngff06.image_document(ome)
            ome["image-label"] = image_label(
                label, version, properties.get(label.name, {})
            )
            _validate(version, ome)
            out[label_path(image, label.name)] = _attributes(version, ome)
    return out


def _validate(version: str, ome: dict[str, Any]) -> None:
    """Check a label image's document against the NGFF models (0.4, 0.5)."""
    if version == _ngff06.VERSION:
        return  # validated against the 0.6rc0 schemas in the tests
    models = ngff04 if version == "0.4" else ngff05
    models.LabelImage.model_validate(ome)
