"""The geometry settings describe: computed once, never stale (SPEC §3.8.5)."""

from __future__ import annotations

import copy
import math
import pickle

import pytest
from hypothesis import given, settings

from ome_writers import AcquisitionSettings, Dimension, OmeTiffFormat, Position
from ome_writers._schema._geometry import AcquisitionGeometry
from tests.router.strategies import acquisitions

YX = [Dimension(name="y", count=4), Dimension(name="x", count=5)]
T3 = Dimension(name="t", count=3, type="time")
C2 = Dimension(name="c", count=2, type="channel")
P2 = Dimension(name="p", type="position", coords=["a", "b"])

# what AcquisitionSettings answers from its geometry
PUBLIC = (
    "output_path",
    "shape",
    "is_unbounded",
    "num_frames",
    "positions",
    "position_dimension_index",
    "frame_dimensions",
    "index_dimensions",
    "array_dimensions",
    "storage_index_dimensions",
    "storage_index_permutation",
    "array_storage_dimensions",
    "view_dimensions",
    "pyramid_levels",
    "is_ragged",
    "mixed_frames",
    "series_dimension_indices",
)


def _settings(*dims: Dimension, **kwargs: object) -> AcquisitionSettings:
    return AcquisitionSettings(
        dimensions=[*dims, *YX], dtype="uint16", root_path="a.ome.zarr", **kwargs
    )


def _public(s: AcquisitionSettings) -> dict[str, object]:
    return {name: getattr(s, name) for name in PUBLIC}


def _fresh(s: AcquisitionSettings) -> dict[str, object]:
    """The same answers from settings rebuilt from their fields (nothing cached)."""
    return _public(AcquisitionSettings.model_validate(s.model_dump()))


def test_geometry_is_computed_once() -> None:
    s = _settings(T3, C2)
    assert s.geometry is s.geometry
    assert s.geometry.computed_from(s)
    assert s.positions is s.positions  # a cached value, not rebuilt per access


def test_model_copy_with_new_dimensions_gives_a_new_geometry() -> None:
    s = _settings(T3, C2)
    before = s.geometry
    copied = s.model_copy(update={"dimensions": (P2, C2, *YX)})
    assert copied.geometry is not before
    assert copied.shape == (2, 2, 4, 5)
    assert [p.name for p in copied.positions] == ["a", "b"]
    assert copied.output_path == "a.ome.zarr"
    # the original keeps its own
    assert s.geometry is before
    assert s.shape == (3, 2, 4, 5)


def test_model_copy_dropping_the_pyramid() -> None:
    """The pattern the zarr pyramid levels use: new dimensions, no pyramid."""
    s = _settings(T3, pyramid=3)
    assert s.pyramid_levels == 3
    half = [d.model_copy(update={"count": 2}) for d in YX]
    level = s.model_copy(update={"dimensions": (T3, *half), "pyramid": None})
    assert level.pyramid_levels == 1
    assert [d.count for d in level.array_storage_dimensions] == [3, 2, 2]
    assert s.pyramid_levels == 3


def test_assignment_gives_a_new_geometry() -> None:
    s = _settings(C2, T3)
    assert [d.name for d in s.storage_index_dimensions] == ["t", "c"]
    s.storage_order = "acquisition"
    assert [d.name for d in s.storage_index_dimensions] == ["c", "t"]
    s.dimensions = (T3, *YX)
    assert s.num_frames == 3
    s.format = OmeTiffFormat()
    assert s.output_path == "a.ome.tiff"
    s.root_path = "b.ome.tiff"
    assert s.output_path == "b.ome.tiff"
    assert s.geometry.computed_from(s)


def test_copies_keep_a_current_geometry() -> None:
    s = _settings(P2, T3)
    s.geometry  # noqa: B018 (computed before copying)
    for other in (
        s.model_copy(),
        s.model_copy(deep=True),
        copy.copy(s),
        copy.deepcopy(s),
        pickle.loads(pickle.dumps(s)),
    ):
        assert other.geometry.computed_from(other)
        assert _public(other) == _public(s)


def test_the_geometry_is_not_a_field() -> None:
    s = _settings(T3)
    fresh = _settings(T3)
    s.geometry  # noqa: B018 (one computed, the other not)
    assert s == fresh
    assert s.model_dump() == fresh.model_dump()
    assert repr(s) == repr(fresh)
    assert "geometry" not in s.model_dump_json()


def test_without_dimensions() -> None:
    s = AcquisitionSettings(root_path="a.ome.zarr")
    with pytest.raises(ValueError, match="Cannot access 'geometry': dimensions"):
        s.geometry  # noqa: B018
    with pytest.raises(ValueError, match="Cannot access 'shape': dimensions"):
        s.shape  # noqa: B018
    assert not s.is_ragged
    assert not s.mixed_frames
    with pytest.raises(ValueError, match="needs dimensions"):
        AcquisitionGeometry.of(s)


def test_per_position_geometry() -> None:
    own = Position(name="b", dimensions=[Dimension(name="t", count=1)])
    s = _settings(
        Dimension(name="p", type="position", coords=[Position(name="a"), own]), T3
    )
    g = s.geometry
    assert g.is_ragged and not g.mixed_frames
    assert g.num_frames == 3 + 1
    assert g.frame_cells == ((0, 0), (0, 1), (0, 2), (1, 0))
    assert s.frame_cells() == list(g.frame_cells)
    assert [d.count for d in g.position_index_dimensions(1)] == [1]


def test_series_coordinates() -> None:
    angle = Dimension(name="angle", count=2, type="other")
    s = _settings(P2, angle, T3, series_dimensions=["angle"])
    assert [p.name for p in s.positions] == [
        "a_angle0",
        "a_angle1",
        "b_angle0",
        "b_angle1",
    ]
    assert s.geometry.series_coordinates == (
        {"p": "a", "angle": 0},
        {"p": "a", "angle": 1},
        {"p": "b", "angle": 0},
        {"p": "b", "angle": 1},
    )
    assert _settings(P2, T3).geometry.series_coordinates is None


@given(acquisitions(fmt="ome-zarr"), acquisitions(fmt="ome-zarr"))
@settings(max_examples=60, deadline=None)
def test_a_changed_copy_answers_like_fresh_settings(
    first: tuple[AcquisitionSettings, int], second: tuple[AcquisitionSettings, int]
) -> None:
    a, b = first[0], second[0]
    before = _public(a)  # computes and caches a's geometry
    counts = [d.count for d in a.dimensions]
    assert a.shape == tuple(counts)
    bounded = None not in counts[:-2]
    assert a.num_frames == (math.prod(counts[:-2]) if bounded else None)
    perm = a.storage_index_permutation or range(len(a.index_dimensions))
    assert [a.index_dimensions[i] for i in perm] == list(a.storage_index_dimensions)

    update = {"dimensions": b.dimensions, "storage_order": b.storage_order}
    copied = a.model_copy(update=update)
    assert _public(copied) == _fresh(copied) == _public(b)
    assert _public(a) == before  # the original keeps its answers
    a.storage_order = "acquisition"  # valid with any dimensions
    a.dimensions = b.dimensions
    a.storage_order = b.storage_order
    assert _public(a) == _fresh(a) == _public(b)
