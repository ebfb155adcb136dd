"""Building and writing a dataset's group documents on a background thread.

The first array, not the group documents, is what the first frame needs. The
documents are built from the NGFF models (yaozarrs), whose import alone takes
longer than the rest of `create_stream` for a few positions, so they are built
and written while the first frames arrive. Whoever needs them (a loss-window
visit, a checkpoint, a metadata read or update, close) waits for them with
`documents`, which raises what building or writing them raised. What else
depends on the settings alone (a bounded acquisition's first OME-XML) can
follow them on the same thread (`start`'s `then`); its failure does not make
the documents fail: the caller does that work again when it needs it (close).
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from ome_writers._io._object_store import DatasetPath
    from ome_writers._schema import AcquisitionSettings
    from ome_writers.metadata._zarr_layout import ZarrLayout


def _build(settings: AcquisitionSettings, layout: ZarrLayout) -> dict[str, Any]:
    from ome_writers.metadata._ngff import group_documents

    return group_documents(settings, layout)


class GroupsAhead:
    """The group documents of `layout`: built (and written) once, on demand or
    in the background (`start`); `root_extra()` adds to the root's attributes."""

    def __init__(
        self,
        settings: AcquisitionSettings,
        layout: ZarrLayout,
        root_extra: Callable[[], dict[str, Any]] | None = None,
        *,
        zarr_format: int = 3,
    ) -> None:
        self._settings = settings
        self._zarr_format = zarr_format
        self._layout = layout
        self._root_extra = root_extra
        self._documents: dict[str, dict[str, Any]] | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self, root: DatasetPath, then: Callable[[], None] | None = None) -> None:
        """Build the documents and write them below `root` on a thread, then
        call `then` there (once they are written; a failure is ignored)."""
        self._thread = threading.Thread(
            target=self._run,
            args=(root, then),
            name="ome-writers-groups",
            daemon=True,
        )
        self._thread.start()

    def _run(self, root: DatasetPath, then: Callable[[], None] | None) -> None:
        from ome_writers.metadata._zarr_groups import write_group, write_groups

        try:
            documents = self._built()
            new = {path: attrs for path, attrs in documents.items() if path != "."}
            zarr_format = self._zarr_format
            write_groups(root, new, zarr_format=zarr_format)
            # the root replaces its placeholder (`ZarrBackend.prepare`), last:
            # the groups it names exist by then
            if "." in documents:
                write_group(
                    root, ".", documents["."], atomic=True, zarr_format=zarr_format
                )
            self._documents = documents
        except BaseException as e:
            self._error = e
            return
        if then is not None:
            with contextlib.suppress(Exception):  # the caller redoes it
                then()

    def wait(self) -> None:
        """Return once the documents are written; raise what that raised."""
        self.documents()

    def documents(self) -> dict[str, dict[str, Any]]:
        """Group path -> attributes (the caller's to edit and rewrite)."""
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        if self._documents is None:  # never started: build them here
            self._documents = self._built()
        return self._documents

    def _built(self) -> dict[str, dict[str, Any]]:
        documents = _build(self._settings, self._layout)
        if self._root_extra is not None and "." in documents:
            documents["."].update(self._root_extra())
        return documents
