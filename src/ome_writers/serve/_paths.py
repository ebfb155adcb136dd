"""A request target resolved to a file inside the served root, or nothing."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from urllib.parse import unquote

# Characters a dataset's file names never hold: separators (after decoding,
# a segment must stay one name), NUL, and ':' (a drive on Windows).
_FORBIDDEN = ("/", "\\", "\x00", ":")


class ServedRoot:
    """The files a server may read: a directory's tree, or one file.

    Parameters
    ----------
    path
        A directory (every regular file below it is served) or a file (served
        under its own name, at ``/NAME``).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        given = Path(path)
        if not given.exists():
            raise FileNotFoundError(f"nothing to serve at {str(given)!r}")
        real = os.path.realpath(given)
        if os.path.isdir(real):
            self.directory = real
            self.file_name: str | None = None
        elif os.path.isfile(real):
            self.directory = os.path.dirname(real)
            self.file_name = given.name
        else:
            raise ValueError(f"{str(given)!r} is neither a directory nor a file")
        self.path = given
        self._file = real

    def resolve(self, raw_target: str) -> str | None:
        """The real path of a request target's file; None: outside or missing.

        The target's path is percent-decoded once, segment by segment; empty,
        ``.`` and ``..`` segments and segments that decode to a separator, NUL
        or ``:`` are refused, and the result (symbolic links resolved) must lie
        inside the root. Whether it is a regular file is left to the reader.
        """
        path = raw_target.partition("?")[0].partition("#")[0]
        if not path.startswith("/"):
            return None  # absolute-form or authority-form targets
        names = []
        for segment in path[1:].split("/"):
            try:
                name = unquote(segment, errors="strict")
            except UnicodeDecodeError:
                return None
            if name in ("", ".", "..") or any(c in name for c in _FORBIDDEN):
                return None
            names.append(name)
        if self.file_name is not None:
            return self._file if names == [self.file_name] else None
        return self._inside(names)

    def _inside(self, names: list[str]) -> str | None:
        # The root is real already: only the names below it are looked at, and
        # symbolic links among them are followed only to check where they lead.
        path = self.directory
        for name in names:
            path = os.path.join(path, name)
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                return None  # missing (or unreadable): nothing to serve
            if stat.S_ISLNK(mode):
                real = os.path.realpath(os.path.join(self.directory, *names))
                inside = os.path.commonpath([real, self.directory]) == self.directory
                return real if inside and real != self.directory else None
        return path
