"""The OME-Zarr conformance suite, written to a real S3 server on 127.0.0.1.

Every case of `ZarrConformance` runs with an ``s3://`` root on each Zarr
backend (and of `ZarrNgff04Conformance`, OME-Zarr 0.4, on two of them). The
checks read the bucket without ome-writers: each dataset is downloaded with
boto3 and validated like a local one (yaozarrs, layout, zarr-python and
tensorstore), and every array is also read straight from the server by
zarr-python and by tensorstore and must equal the download.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from ome_writers import AcquisitionSettings
from tests.backends.conformance import ZarrConformance, ZarrNgff04Conformance
from tests.backends.readers import read_zarr, zarr_array_paths

from .readers import listing, mirror, tensorstore_from_s3, zarr_from_s3

if TYPE_CHECKING:
    pass

pytestmark = pytest.mark.conformance


class S3ZarrConformance(ZarrConformance):
    """`ZarrConformance` with the datasets in a bucket."""

    stateful_examples = 3
    view_examples = 10

    @pytest.fixture(autouse=True)
    def _bucket(self, s3_prefix: str) -> None:
        self.prefix = s3_prefix
        # url -> (listing, settings of its download)
        self._mirrors: dict[str, tuple[Any, AcquisitionSettings]] = {}

    def root_path(self, directory: Path) -> str:
        return f"{self.prefix}/{uuid.uuid4().hex[:8]}/{self.backend}.ome.zarr"

    def local(self, settings: AcquisitionSettings) -> AcquisitionSettings:
        """The settings of the dataset's download (again when objects changed)."""
        url = settings.output_path
        objects = listing(url)
        known = self._mirrors.get(url)
        if known is not None and known[0] == objects:
            return known[1]
        dest = self.tmp / f"mirror-{len(self._mirrors)}" / Path(url).name
        mirror(url, dest)
        local = settings.model_copy(update={"root_path": str(dest)})
        self._mirrors[url] = (objects, local)
        return local

    # hooks: the download, checked against reads straight from the server

    def read_back(self, settings: AcquisitionSettings, position: int) -> np.ndarray:
        local = self.local(settings)
        path = zarr_array_paths(local)[position]
        stored = read_zarr(path).data
        url = f"{settings.output_path}/{path.relative_to(local.output_path).as_posix()}"
        np.testing.assert_array_equal(zarr_from_s3(url), stored)
        driver = "zarr" if (path / ".zarray").is_file() else "zarr3"
        np.testing.assert_array_equal(tensorstore_from_s3(url, driver), stored)
        return super().read_back(local, position)

    def check_dataset(self, settings: AcquisitionSettings) -> None:
        super().check_dataset(self.local(settings))

    def stored_compression(self, settings: AcquisitionSettings) -> str:
        return super().stored_compression(self.local(settings))

    def read_image_metadata(self, settings: AcquisitionSettings) -> Any:
        return super().read_image_metadata(self.local(settings))

    def read_frame_metadata(self, settings: AcquisitionSettings) -> Any:
        return super().read_frame_metadata(self.local(settings))

    def read_global_metadata(self, settings: AcquisitionSettings) -> Any:
        return super().read_global_metadata(self.local(settings))

    def read_display(self, settings: AcquisitionSettings) -> Any:
        return super().read_display(self.local(settings))


class TestS3Tensorstore(S3ZarrConformance):
    backend = "tensorstore"


class TestS3ZarrPython(S3ZarrConformance):
    backend = "zarr-python"


class TestS3ZarrsPython(S3ZarrConformance):
    backend = "zarrs-python"


class TestS3AcquireZarr(S3ZarrConformance):
    backend = "acquire-zarr"
    opens_before_first_flush = False


class S3ZarrNgff04Conformance(S3ZarrConformance, ZarrNgff04Conformance):
    """OME-Zarr 0.4 (Zarr v2) in a bucket."""


class TestS3TensorstoreNgff04(S3ZarrNgff04Conformance):
    backend = "tensorstore"


class TestS3ZarrPythonNgff04(S3ZarrNgff04Conformance):
    backend = "zarr-python"
