"""Label images in object storage: written beside the frames, read back from
the bucket by zarr-python and tensorstore."""

from __future__ import annotations

import numpy as np
import pytest

import ome_writers as ow
from ome_writers._registry import BY_NAME
from tests.backends.params import backend_params

from .readers import tensorstore_from_s3, zarr_from_s3

BACKENDS = backend_params(format="ome-zarr")
Y, X = 8, 6


@pytest.mark.parametrize("backend", BACKENDS)
def test_labels_round_trip(s3_prefix: str, backend: str) -> None:
    url = f"{s3_prefix}/{backend}.ome.zarr"
    settings = ow.AcquisitionSettings(
        root_path=url,
        format=backend,
        dimensions=[
            ow.Dimension(name="t", count=None, type="time"),
            ow.Dimension(name="c", count=2, type="channel"),
            ow.Dimension(name="y", count=Y, type="space"),
            ow.Dimension(name="x", count=X, type="space"),
        ],
        dtype="uint16",
        pyramid=2,
        labels=[ow.LabelImage(name="cells", dtype="uint16")],
    )
    planes = {t: np.full((Y, X), t + 1, "uint16") for t in (3, 0, 2)}
    with ow.create_stream(settings) as stream:
        for n in range(8):
            stream.append(np.full((Y, X), n, "uint16"))
        for t, plane in planes.items():
            stream.write_label("cells", plane, frame=2 * t + 1)
    expected = np.zeros((4, 1, Y, X), "uint16")
    for t, plane in planes.items():
        expected[t, 0] = plane
    got = zarr_from_s3(f"{url}/labels/cells/0")
    np.testing.assert_array_equal(got, expected)
    if BY_NAME["tensorstore"].available:
        np.testing.assert_array_equal(
            tensorstore_from_s3(f"{url}/labels/cells/0"), expected
        )
    np.testing.assert_array_equal(
        zarr_from_s3(f"{url}/labels/cells/1"), expected[..., ::2, ::2]
    )
