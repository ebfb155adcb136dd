"""The `ome-writers` command."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence


def _cmd_info(args: argparse.Namespace) -> int:
    from ._inspect import inspect_dataset

    status = 0
    for path in args.paths:
        report = inspect_dataset(path)
        print("\n".join(report.lines()))
        status |= not report.valid
    return status


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `ome-writers` command."""
    from ._version import __version__

    parser = argparse.ArgumentParser(
        prog="ome-writers",
        description="Stream microscope frames into OME-Zarr and OME-TIFF.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser(
        "info", aliases=["validate"], help="describe and validate datasets"
    )
    info.add_argument("paths", nargs="+", help="OME-Zarr, OME-TIFF or scratch paths")
    info.set_defaults(func=_cmd_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `ome-writers` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
