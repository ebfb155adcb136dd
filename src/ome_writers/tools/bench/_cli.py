"""The arguments of ``ome-writers bench`` and its `main`."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

from ._plan import run
from ._scenarios import (
    DESCRIPTIONS,
    METADATA_FRAMES,
    QUICK_SCENARIOS,
    READER_SCENARIOS,
    TIME_SERIES_SCENARIOS,
    file_backends,
)
from ._summary import add_ratios
from ._tables import dumps_rows, print_rich, render, render_markdown, scenario_title

DESCRIPTION = "Write-throughput benchmark of ome-writers, using only the public API."


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``ome-writers bench``."""
    parser = argparse.ArgumentParser(prog="ome-writers bench", description=DESCRIPTION)
    parser.add_argument(
        "-s",
        "--scenarios",
        nargs="+",
        default=None,
        choices=list(DESCRIPTIONS),
        help="scenarios to run (default: every one; with --quick: "
        f"{' '.join(QUICK_SCENARIOS)})",
    )
    backends = file_backends()
    parser.add_argument("--backends", nargs="+", default=backends, choices=backends)
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="interleaved repeats (the raw baselines run after all of them); "
        "with --compare the compared version runs first in every other one "
        "(use an even number)",
    )
    parser.add_argument(
        "--compare",
        metavar="PYTHON",
        help="interpreter with another ome-writers, run without PYTHONPATH "
        "(to compare a source tree, pass a script that sets it and runs "
        "python); 'self' runs this code again (how far identical code moves "
        "on this machine)",
    )
    parser.add_argument("--no-raw", action="store_true", help="skip raw baselines")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: frames 8x smaller, fewer of them, and scenario "
        f"{' '.join(QUICK_SCENARIOS)} unless -s says otherwise",
    )
    parser.add_argument(
        "--fps",
        type=float,
        default=None,
        help="offer frames at this rate, like a camera (default: as fast as "
        "appends return); 'late' counts appends longer than one frame period",
    )
    parser.add_argument(
        "--paced",
        type=float,
        default=None,
        metavar="FRACTION",
        help="offer frames at FRACTION of the scenario's ceiling measured in "
        "the same repeat (direct-I/O disk writes; the CPU ceiling where "
        "lower), e.g. 0.7",
    )
    parser.add_argument(
        "--s3",
        action="store_true",
        help="also write each OME-Zarr backend's rows into a loopback S3 server "
        "(moto, from the test extra)",
    )
    parser.add_argument(
        "--readers",
        type=int,
        default=0,
        metavar="N",
        help="also run each backend's row with its dataset served over HTTP "
        "(ome_writers.serve) and N reader processes polling it like viewers, "
        f"in scenarios {' '.join(READER_SCENARIOS)}; '÷no readers' pairs it "
        "with the row without readers (needs the 'serve' extra)",
    )
    parser.add_argument(
        "--reader-interval",
        type=float,
        default=0.1,
        metavar="SECONDS",
        help="seconds between one reader's polls (0: as fast as replies come)",
    )
    parser.add_argument(
        "--reader-nice",
        type=int,
        default=0,
        choices=range(20),
        metavar="N",
        help="niceness of the reader processes, 0-19 (default 0: readers on "
        "this machine compete with the writer as a local viewer does; 19 "
        "stands for viewers on other machines)",
    )
    parser.add_argument(
        "--frames",
        type=int,
        default=None,
        metavar="N",
        help="frames of the scenarios with one time axis "
        f"({' '.join(TIME_SERIES_SCENARIOS)}) instead of their defaults: longer "
        "runs give steadier ratios (scenario a: 8 MiB a frame on disk)",
    )
    parser.add_argument(
        "--metadata-frames",
        type=int,
        default=None,
        metavar="N",
        help=f"frames of scenario m (default {METADATA_FRAMES:,})",
    )
    parser.add_argument("--dir", default=None, help="where to write (default: tmp)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per run")
    parser.add_argument("--json", action="store_true", help="print JSON rows only")
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="print one Markdown table: ours beside --compare, raw and disk",
    )
    parser.add_argument(
        "--plain", action="store_true", help="plain text tables (default: rich)"
    )
    parser.add_argument(
        "--load",
        metavar="JSON",
        help="render rows saved with --json instead of running",
    )
    parser.add_argument(
        "--plot",
        metavar="FILE.png",
        help="also draw durable throughput and append latency per scenario and "
        "backend into an image (needs matplotlib: the 'plot' extra)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress lines on stderr"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print a table (or JSON rows), and draw it with --plot."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.scenarios is None:  # a smoke test runs a few rows, not every one
        quick = args.quick and not args.load
        args.scenarios = list(QUICK_SCENARIOS if quick else DESCRIPTIONS)
    if args.frames is not None and args.frames < 1:
        parser.error("--frames must be at least 1")
    if args.readers < 0 or args.reader_interval < 0:
        parser.error("--readers and --reader-interval must not be negative")
    if args.readers and not args.load and importlib.util.find_spec("aiohttp") is None:
        parser.error("--readers needs aiohttp: pip install 'ome-writers[serve]'")
    if args.plot:  # before a long run, not after it
        from ome_writers.tools.plots import require_matplotlib

        try:
            require_matplotlib()
        except ImportError as exc:
            parser.error(str(exc))
    if args.load:
        rows = [
            row
            for row in json.loads(Path(args.load).read_text())
            if row["scenario"] in args.scenarios
            and row["target"].partition(":")[2] in ("", *args.backends)
        ]
        add_ratios(rows)  # rows saved by an earlier version lack newer ratios
    else:
        rows = run(args)
    if args.json:
        print(dumps_rows(rows))
    elif args.markdown:
        print(render_markdown(rows))
    elif args.plain or not print_rich(rows):
        print(render(rows))
    status = 0 if all("error" not in r for r in rows) else 1
    if args.plot:
        from ome_writers.tools.plots import plot_benchmark

        titles = {r["scenario"]: scenario_title(rows, r["scenario"]) for r in rows}
        try:
            plot_benchmark(rows, args.plot, titles=titles)
        except ValueError as exc:  # nothing to draw
            print(f"--plot: {exc}", file=sys.stderr)
            return 1
        if not args.quiet:
            print(f"plot written to {args.plot}", file=sys.stderr)
    return status
