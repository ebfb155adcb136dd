"""The `ome-writers` command."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence


def _cmd_info(args: argparse.Namespace) -> int:
    from .info import inspect_dataset

    reports = [inspect_dataset(path) for path in args.paths]
    if args.json:
        docs = [report.to_dict() for report in reports]
        print(json.dumps(docs[0] if len(docs) == 1 else docs, indent=2))
    else:
        for report in reports:
            print("\n".join(report.lines()))
    return int(not all(report.valid for report in reports))


def _cmd_repair(args: argparse.Namespace) -> int:
    from .repair import repair

    for path in args.paths:
        print(repair(path))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(
        output=args.output,
        formats=["ome.zarr", "ome.tiff"] if args.format == "both" else [args.format],
        t=args.t,
        z=args.z,
        c=args.c,
        positions=args.positions,
        width=args.width,
        height=args.height,
        pixel_size=args.pixel_size,
        levels=args.levels,
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `ome-writers` command."""
    from ome_writers._version import __version__

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
    info.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document per path (a list for several paths)",
    )
    info.set_defaults(func=_cmd_info)

    repair = sub.add_parser(
        "repair", help="make a dataset from an interrupted acquisition readable"
    )
    repair.add_argument("paths", nargs="+")
    repair.set_defaults(func=_cmd_repair)

    demo = sub.add_parser(
        "demo", help="run a hardware-free acquisition (pymmcore-plus demo camera)"
    )
    demo.add_argument("--output", default="demo-output", help="output directory")
    demo.add_argument(
        "--format", choices=["ome.zarr", "ome.tiff", "both"], default="both"
    )
    demo.add_argument("--t", type=int, default=3, help="time points")
    demo.add_argument("--z", type=int, default=5, help="z slices")
    demo.add_argument("--c", type=int, default=2, choices=[0, 1, 2, 3], help="channels")
    demo.add_argument("--positions", type=int, default=2, help="stage positions")
    demo.add_argument("--width", type=int, default=512)
    demo.add_argument("--height", type=int, default=512)
    demo.add_argument(
        "--pixel-size", type=float, default=0.5, help="µm; 0 = uncalibrated camera"
    )
    demo.add_argument(
        "--levels",
        type=int,
        default=1,
        help="pyramid levels, counting full resolution (1 = none)",
    )
    demo.set_defaults(func=_cmd_demo)

    sub.add_parser(
        "bench",
        help="write-throughput benchmark (see `ome-writers bench --help`)",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `ome-writers` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:  # arguments belong to the benchmark's own parser
        from .benchmark import main as bench

        return bench(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
