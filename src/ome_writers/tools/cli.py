"""The `ome-writers` command."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from ome_writers.tools._output import silence_closed_output

if TYPE_CHECKING:
    from collections.abc import Sequence


def _cmd_info(args: argparse.Namespace) -> int:
    from ome_writers.tools.info import inspect_dataset

    reports = [inspect_dataset(path) for path in args.paths]
    if args.json:
        docs = [report.to_dict() for report in reports]
        print(json.dumps(docs[0] if len(docs) == 1 else docs, indent=2))
    else:
        for report in reports:
            print("\n".join(report.lines()))
    if args.strict:
        return int(not all(r.valid and not r.warnings for r in reports))
    return int(not all(report.valid for report in reports))


def _cmd_repair(args: argparse.Namespace) -> int:
    from ome_writers.tools.repair import repair

    failed = 0
    for path in args.paths:
        try:
            print(repair(path))
        except (OSError, ValueError) as e:  # not ours, or nothing to repair from
            print(f"error: {e}", file=sys.stderr)
            failed = 1
    return failed


def _cmd_demo(args: argparse.Namespace) -> int:
    from ome_writers.tools.demo import run_demo

    return run_demo(
        output=args.output,
        formats=["ome-zarr", "ome-tiff"] if args.format == "both" else [args.format],
        t=args.t,
        z=args.z,
        c=args.c,
        positions=args.positions,
        width=args.width,
        height=args.height,
        pixel_size=args.pixel_size,
        levels=args.levels,
        labels=args.labels,
    )


#: the formats' names as file suffixes spell them -> the names `format=` takes
_FORMAT_SPELLINGS = {
    "ome.zarr": "ome-zarr",
    "ome.tiff": "ome-tiff",
    "ome.tif": "ome-tiff",
    "ome-tif": "ome-tiff",
    "tif": "tiff",
}


def _format_name(text: str) -> str:
    """``ome.zarr`` or ``.ome.zarr`` -> ``ome-zarr`` (any other name as given)."""
    key = text.strip().lower().lstrip(".")
    return _FORMAT_SPELLINGS.get(key, key)


def _demo_format(text: str) -> str:
    """A format of the demo: ``ome-zarr``, ``ome-tiff`` or ``both``."""
    name = _format_name(text)
    return {"zarr": "ome-zarr", "tiff": "ome-tiff"}.get(name, name)


def _sizes(text: str) -> dict[str, int]:
    """``"y=256,x=256"`` -> ``{"y": 256, "x": 256}``."""
    out = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip().isdigit():
            raise argparse.ArgumentTypeError(
                f"expected NAME=COUNT[,NAME=COUNT...], got {text!r}"
            )
        out[name.strip()] = int(value)
    return out


def _pyramid(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of levels or 'auto', got {text!r}"
        ) from None


def _cmd_convert(args: argparse.Namespace) -> int:
    from ome_writers.tools.convert import ConversionError, convert

    try:
        out = convert(
            args.sources,
            args.dest,
            overwrite=args.overwrite,
            format=args.format,
            ngff_version=args.ngff_version,
            chunks=args.chunks,
            shards=args.shards,
            compression=args.compression,
            pyramid=args.pyramid,
            axes=args.axes,
            scheduler=args.scheduler,
            processes=args.processes,
            progress=not args.quiet,
        )
    except (
        ConversionError,
        ImportError,
        OSError,
        EOFError,
        ValueError,
        NotImplementedError,
    ) as e:
        print(f"ome-writers convert: error: {e}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"wrote {out} (valid)")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    try:
        from ome_writers.serve import serve
    except ImportError as e:  # the `serve` extra is not installed
        print(f"ome-writers serve: error: {e}", file=sys.stderr)
        return 2
    try:
        serve(
            args.path,
            host=args.host,
            port=args.port,
            cors=not args.no_cors,
            token=args.token,
            nice=args.nice,
            rate_limit=args.rate_limit or None,
        )
    except (OSError, ValueError) as e:  # no such path, port taken, bad token
        print(f"ome-writers serve: error: {e}", file=sys.stderr)
        return 1
    return 0


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
    info.add_argument(
        "paths",
        nargs="+",
        help="OME-Zarr (a directory or a .ozx file), OME-TIFF or scratch paths, "
        "or s3:// URLs",
    )
    info.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document per path (a list for several paths)",
    )
    info.add_argument(
        "--strict",
        action="store_true",
        help="exit with status 1 when a reader warns, too",
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
        "--format",
        type=_demo_format,
        choices=["ome-zarr", "ome-tiff", "both"],
        default="both",
        help="format(s) to write (ome.zarr, zarr, ome.tiff, tiff are accepted too)",
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
    demo.add_argument(
        "--labels",
        action="store_true",
        help="also write a label image 'cells' per position (OME-Zarr): each "
        "frame of the first channel thresholded by an analysis during the run",
    )
    demo.set_defaults(func=_cmd_demo)

    convert = sub.add_parser(
        "convert",
        help="convert TIFF, OME-Zarr or .npy images into OME-Zarr (also a "
        "single .ozx file) or OME-TIFF",
        description="Convert images into one OME-Zarr or OME-TIFF dataset; "
        "several sources (or a source of several images) become positions.",
    )
    convert.add_argument(
        "sources",
        nargs="+",
        metavar="SRC",
        help="OME-TIFF, ImageJ or plain TIFF, OME-Zarr 0.4/0.5, Zarr array or .npy",
    )
    convert.add_argument(
        "dest", metavar="DEST", help="the output (.ome.zarr, .ozx, .ome.tiff)"
    )
    convert.add_argument(
        "--overwrite", action="store_true", help="replace an existing output"
    )
    convert.add_argument(
        "--format",
        type=_format_name,
        default=None,
        help="format (ome-zarr, ome-tiff; ome.zarr, ome.tiff are accepted too) or "
        "backend name (default: DEST suffix)",
    )
    convert.add_argument(
        "--ngff-version",
        default=None,
        choices=["0.4", "0.5", "0.6rc0"],
        help="OME-Zarr version to write: 0.5 (default, Zarr v3), 0.4 (Zarr v2) "
        "or 0.6rc0 (a release candidate, Zarr v3)",
    )
    convert.add_argument(
        "--chunks",
        type=_sizes,
        default=None,
        help="elements per chunk, e.g. y=256,x=256",
    )
    convert.add_argument(
        "--shards", type=_sizes, default=None, help="chunks per shard, e.g. z=8"
    )
    convert.add_argument(
        "--compression",
        default=None,
        choices=["blosc-zstd", "blosc-lz4", "zstd", "zlib", "lzw", "none"],
    )
    convert.add_argument(
        "--pyramid",
        type=_pyramid,
        default=None,
        help="resolution levels (counting full resolution) or 'auto'",
    )
    convert.add_argument(
        "--axes",
        default=None,
        help="axis names of sources without them (.npy, plain TIFF), e.g. tczyx",
    )
    convert.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="dask.distributed scheduler address (default: local threads)",
    )
    convert.add_argument(
        "--processes",
        type=int,
        default=None,
        help="local worker processes instead of threads (default: threads, one "
        "per image up to the CPUs; 1: one stream, no threads)",
    )
    convert.add_argument("--quiet", action="store_true", help="no progress bar")
    convert.set_defaults(func=_cmd_convert)

    serve = sub.add_parser(
        "serve",
        help="serve a dataset over HTTP, read-only, to viewers and other processes",
    )
    serve.add_argument(
        "path",
        help="OME-Zarr directory or .ozx file, OME-TIFF file or directory of "
        "OME-TIFF files",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: this machine only)",
    )
    serve.add_argument(
        "--port", type=int, default=8000, help="TCP port; 0 picks a free one"
    )
    serve.add_argument(
        "--no-cors",
        action="store_true",
        help="do not let web pages of other origins read the data",
    )
    serve.add_argument(
        "--token", default=None, help="require this token on every request"
    )
    serve.add_argument(
        "--nice",
        type=int,
        default=10,
        help="CPU niceness of the server, 0-19 (default 10: a writer on this "
        "machine gets the cores first; above 0 the server also reads the disk "
        "at the idle I/O priority; 0 keeps the shell's priority for both)",
    )
    serve.add_argument(
        "--rate-limit",
        type=float,
        default=100.0,
        metavar="MBPS",
        help="MB/s of file data sent at most, all clients together (default "
        "100: a bound on what viewers take from an acquisition; 0: no limit)",
    )
    serve.set_defaults(func=_cmd_serve)

    sub.add_parser(
        "bench",
        help="write-throughput benchmark (see `ome-writers bench --help`)",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `ome-writers` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        try:
            return _run(argv)
        finally:  # inside the try: a closed stdout fails here, not at exit
            sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly
        silence_closed_output()
        return 1


def _run(argv: list[str]) -> int:
    if argv[:1] == ["bench"]:  # arguments belong to the benchmark's own parser
        from ome_writers.tools.benchmark import main as bench

        return bench(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
