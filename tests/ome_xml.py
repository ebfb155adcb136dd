"""``OME/METADATA.ome.xml`` of an OME-Zarr dataset, read without our code.

ome-types validates against the OME 2016-06 schema; Bio-Formats' XMLValidate
is the other validator (the jar of tests/backends/tiff/conftest.py). The
document names the schema by its web address, which XMLValidate fetches;
the check gives it a copy naming the schema the jar ships instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from typing import TYPE_CHECKING, Any

import ome_types
import pytest

if TYPE_CHECKING:
    from pathlib import Path

OME_XSD = "http://www.openmicroscopy.org/Schemas/OME/2016-06/ome.xsd"
_JAR_XSD = "released-schema/2016-06/ome.xsd"


def read_ome_xml(root: Path) -> ome_types.OME:
    """The dataset's OME-XML, validated against the schema by ome-types."""
    text = (root / "OME" / "METADATA.ome.xml").read_text(encoding="utf-8")
    return ome_types.from_xml(text, validate=True)


def series(root: Path) -> list[str]:
    """The ``series`` of the dataset's ``OME`` group (read as JSON)."""
    doc = json.loads((root / "OME" / "zarr.json").read_text(encoding="utf-8"))
    return list(doc["attributes"]["ome"]["series"])


def plane_metadata(ome: ome_types.OME) -> list[list[dict[str, Any]]]:
    """Per image, each Plane's (TheZ, TheC, TheT), its attributes and the
    keys of its MapAnnotation, in document order."""
    maps = (
        ome.structured_annotations.map_annotations if ome.structured_annotations else []
    )
    annotations = {a.id: {m.k: m.value for m in a.value.ms} for a in maps}
    out = []
    for image in ome.images:
        planes = []
        for plane in image.pixels.planes:
            record: dict[str, Any] = {"zct": (plane.the_z, plane.the_c, plane.the_t)}
            for key in ("delta_t", "exposure_time", "position_x", "position_y"):
                if getattr(plane, key) is not None:
                    record[key] = getattr(plane, key)
            if plane.position_z is not None:
                record["position_z"] = plane.position_z
            for ref in plane.annotation_refs:
                record.update(annotations.get(ref.id, {}))
            planes.append(record)
        out.append(planes)
    return out


def bioformats_validate(root: Path, tmp_path: Path) -> None:
    """Bio-Formats' XMLValidate finds no error in the dataset's OME-XML."""
    if os.environ.get("OME_WRITERS_SKIP_BIOFORMATS") == "1":
        pytest.skip("OME_WRITERS_SKIP_BIOFORMATS=1")
    from tests.backends.tiff.conftest import _jar

    jar = _jar()
    xsd = tmp_path / "ome.xsd"
    if not xsd.is_file():
        with zipfile.ZipFile(jar) as zf:
            xsd.write_bytes(zf.read(_JAR_XSD))
    text = (root / "OME" / "METADATA.ome.xml").read_text(encoding="utf-8")
    assert OME_XSD in text
    local = tmp_path / f"{root.name}.METADATA.ome.xml"
    local.write_text(text.replace(OME_XSD, xsd.as_uri()), encoding="utf-8")
    out = subprocess.run(
        ["java", "-cp", str(jar), "loci.formats.tools.XMLValidate", str(local)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = out.stdout + out.stderr
    assert "No validation errors found" in report, report[-3000:]
    assert "ERROR" not in report, report[-3000:]
