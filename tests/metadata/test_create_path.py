"""Nothing only close needs sits on the path to the first frame.

The OME-XML model library (ome-types) takes most of a second to import; the
OME-TIFF models are built at close, and OME-Zarr never imports it (its
collection OME-XML is text). The NGFF models (yaozarrs) take longer to import
than the rest of creating an OME-Zarr stream; the group documents are built
from them in the background. `create_stream` for 8 positions must neither
import these models nor build one on the caller's thread. Each case runs in a
fresh interpreter, whose import system records the thread every ome-types,
yaozarrs and OME-XML/NGFF module of ours is imported on.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.backends.params import backend_params

CHILD = textwrap.dedent(
    """
    import json, sys, threading

    imports = []  # (module, thread) of every model library / builder import
    MODELS = ("ome_types.", "yaozarrs.")
    BUILDERS = ("._ome_model", "._ngff")

    class Recorder:
        # submodules only: the availability probe looks up "ome_types" itself
        # (importlib.util.find_spec) without importing it
        def find_spec(self, name, path=None, target=None):
            if name.startswith(MODELS) or name.endswith(BUILDERS):
                imports.append((name, threading.current_thread().name))
            return None

    sys.meta_path.insert(0, Recorder())

    import numpy as np
    from ome_writers import AcquisitionSettings, Dimension, create_stream

    backend, root = sys.argv[1], sys.argv[2]
    settings = AcquisitionSettings(
        root_path=root,
        format=backend,
        dimensions=[
            Dimension(name="t", count=2, type="time"),
            Dimension(name="p", count=8, type="position"),
            Dimension(name="c", count=2, type="channel"),
            Dimension(name="y", count=16),
            Dimension(name="x", count=16),
        ],
        dtype="uint16",
    )
    before = len(imports)
    stream = create_stream(settings)
    during_create = imports[before:]
    for _ in range(settings.num_frames):
        stream.append(np.zeros((16, 16), "uint16"))
    stream.close()
    print(json.dumps({"during_create": during_create, "all": imports}))
    """
)


@pytest.mark.parametrize("backend", backend_params(writes_files=True))
def test_create_stream_leaves_ome_xml_to_close(tmp_path: Path, backend: str) -> None:
    suffix = ".ome.tiff" if backend == "tifffile" else ".ome.zarr"
    root = tmp_path / f"eight{suffix}"
    out = subprocess.run(
        [sys.executable, "-c", CHILD, backend, str(root)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    on_caller = [
        name for name, thread in report["during_create"] if thread == "MainThread"
    ]
    assert on_caller == [], on_caller
    imported = {name for name, _ in report["all"]}
    ome_types = {name for name in imported if not name.startswith("yaozarrs.")}
    if backend == "tifffile":
        # the OME-XML is still written (at close): by then the models were
        # imported (in the background)
        assert "ome_types.model" in imported
        assert "ome_writers.metadata._ome_model" in imported
    else:
        # OME/METADATA.ome.xml is built as text: ome-types is never imported
        ome_types -= {"ome_writers.metadata._ngff"}
        assert not ome_types, sorted(ome_types)
        assert (root / "OME" / "METADATA.ome.xml").is_file()
        # the group documents were built from the NGFF models, off the caller
        assert "ome_writers.metadata._ngff" in imported
        assert "yaozarrs.v05" in imported
        assert json.loads((root / "zarr.json").read_text())["attributes"]["ome"]
