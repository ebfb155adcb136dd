"""The plan: which rows run, in which order, each in a process of its own."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from ._run_ours import our_package
from ._s3 import LoopbackS3
from ._scenarios import OURS_ONLY, RAW, READER_SCENARIOS, TIFF_SCENARIOS
from ._summary import add_ratios, median_of_repeats

if TYPE_CHECKING:
    import argparse

#: the script every worker process runs, by path (see `_worker_entry`)
WORKER_SCRIPT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "_worker_entry.py"
)


def targets_for(
    name: str,
    backends: list[str],
    raw: bool,
    compare: str | None,
    s3: bool = False,
    readers: int = 0,
) -> list[str]:
    """Rows of one scenario: ``ceiling``, ``disk``, then ``ours:<b>``,
    ``s3:<b>``, ``other:<b>``, ``served:<b>`` (with `readers`) per backend,
    then ``raw:<lib>`` (which `_run_plan` runs after every repeat of the
    others)."""
    from ome_writers._registry import BY_NAME

    if name == "g":
        return ["camera"]

    def applies(backend: str) -> bool:
        return backend != "tifffile" or name in TIFF_SCENARIOS

    rows = ["ceiling", "disk"]
    for backend in backends:
        if applies(backend):
            rows.append(f"ours:{backend}")
            if s3 and "s3" in BY_NAME[backend].url_schemes:
                rows.append(f"s3:{backend}")
            if compare and name not in OURS_ONLY:
                rows.append(f"other:{backend}")
            if readers and name in READER_SCENARIOS:
                rows.append(f"served:{backend}")
    if raw and name not in OURS_ONLY:
        rows += [f"raw:{lib}" for lib in RAW if applies(lib)]
    return rows


#: ``--compare self``: the compared rows run this code again, so that their
#: ratios show how far identical code moves on this machine (the noise band)
SELF = "self"


def _run_job(
    job: dict[str, Any], compare: str | None, timeout: float
) -> dict[str, Any]:
    """`job` measured in a worker process: its result row, or an error row."""
    python = sys.executable
    env = None
    other = bool(compare) and job["target"].startswith("other:")
    itself = compare in (SELF, sys.executable)  # this very code, compared
    if other and not itself:
        assert compare is not None
        python = compare
        # the compared interpreter imports its own ome-writers, not one on
        # our PYTHONPATH (a source checkout run with PYTHONPATH=src)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cmd = [python, WORKER_SCRIPT, "--worker", json.dumps(job)]
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, check=False, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if proc.returncode:
        lines = proc.stderr.strip().splitlines() or ["(no output)"]
        return {"error": lines[-1][:200]}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    if other and not itself and result.get("package") == our_package():
        # another interpreter that found this package: not a comparison
        return {"error": f"{compare} imported this ome-writers, not its own"}
    return result


def compile_package() -> None:
    """Byte-compile ome-writers' modules once, as installing a wheel does.

    From a source checkout with PYTHONDONTWRITEBYTECODE set, each worker would
    otherwise compile the modules it imports inside its first `create_stream`,
    which a version installed from a wheel never does.
    """
    import compileall

    compileall.compile_dir(our_package(), quiet=2)


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every (scenario, row) `args.repeat` times, interleaved; median rows."""
    compile_package()
    plan = [
        (name, target)
        for name in args.scenarios
        for target in targets_for(
            name,
            args.backends,
            not args.no_raw,
            args.compare,
            args.s3,
            getattr(args, "readers", 0),
        )
    ]
    server = LoopbackS3() if args.s3 else None
    try:
        return _run_plan(args, plan, server.endpoint if server else None)
    finally:
        if server is not None:
            server.close()


def _run_plan(
    args: argparse.Namespace, plan: list[tuple[str, str]], s3_endpoint: str | None
) -> list[dict[str, Any]]:
    """Run `plan` `args.repeat` times: every repeat of the compared rows (the
    ceiling first), then every repeat of the raw baselines.

    The baselines run apart because a slow baseline (raw tensorstore's
    read-modify-write in (b)) slows the runs after it, which would tilt the
    pair that follows (benchmarks/results/history.md, "The raw baselines run
    apart"). A paced baseline uses the ceiling of its own repeat.
    """
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {key: [] for key in plan}
    compared = [row for row in plan if not row[1].startswith("raw:")]
    baselines = [row for row in plan if row[1].startswith("raw:")]
    ceiling_fps: list[dict[str, float]] = []  # the ceiling's frame rate, per repeat
    for repeat in range(args.repeat):
        ceiling_fps.append({})
        for name, target in run_order(compared, repeat):
            _run_row(args, name, target, repeat, ceiling_fps[repeat], runs, s3_endpoint)
    for repeat in range(args.repeat):
        for name, target in baselines:
            _run_row(args, name, target, repeat, ceiling_fps[repeat], runs, s3_endpoint)
    rows = []
    for (name, target), results in runs.items():
        row = median_of_repeats(results)
        row.update(scenario=name, target=target)
        rows.append(row)
    add_ratios(rows)
    return rows


#: rows never paced: the references of what the machine does
UNPACED = ("ceiling", "disk")


def ceiling_fps(ceiling: dict[str, Any]) -> float:
    """Frames per second a ceiling row allows: its disk ceiling, or the CPU
    ceiling where that is lower (a compressed scenario)."""
    gbps = min(ceiling["gbps_sync"], ceiling.get("cpu_gbps") or math.inf)
    return float(gbps / ceiling["gb"] * ceiling["frames"])


def _run_row(
    args: argparse.Namespace,
    name: str,
    target: str,
    repeat: int,
    ceiling: dict[str, float],
    runs: dict[tuple[str, str], list[dict[str, Any]]],
    s3_endpoint: str | None,
) -> None:
    """Run one row of one repeat; keep its result (and, in `ceiling`, the
    frame rate of the repeat's ceiling of the scenario)."""
    from ome_writers._registry import BY_NAME

    fps = args.fps
    if args.paced and target not in UNPACED and name in ceiling:
        fps = args.paced * ceiling[name]
    backend = target.partition(":")[2]
    record = BY_NAME.get(backend)
    job = {
        "scenario": name,
        "target": target,
        "quick": args.quick,
        "dir": args.dir,
        "fps": fps,
        "preload": list(record.requires) if record else [],
        "s3": s3_endpoint,
        "metadata_frames": getattr(args, "metadata_frames", None),
        "frames": getattr(args, "frames", None),
        "readers": getattr(args, "readers", 0),
        "reader_interval": getattr(args, "reader_interval", 0.1),
        "reader_nice": getattr(args, "reader_nice", 0),
    }
    result = _run_job(job, args.compare, args.timeout)
    runs[name, target].append(result)
    if target == "ceiling" and result.get("gbps_sync"):
        ceiling[name] = ceiling_fps(result)
    if not args.quiet:
        state = result.get("error") or f"{result.get('fps', 0):.1f} fps"
        if "readers" in result:
            state += (
                f", readers {result['reader_rps']:.0f} requests/s, "
                f"{result['reader_errors']} errors"
            )
        print(
            f"  [{repeat + 1}/{args.repeat}] {name} {target}: {state}",
            file=sys.stderr,
        )


#: rows paired with ``ours:<backend>``, which alternate with it (`run_order`)
PAIRED = ("other", "served")


def run_order(plan: list[tuple[str, str]], repeat: int) -> list[tuple[str, str]]:
    """`plan` as run in repeat `repeat`: in every other repeat the rows paired
    with ours (the compared version, the run with HTTP readers) run before
    ours instead of right after it.

    A run's throughput depends on the run just before it, so a fixed order
    favours one of a pair (benchmarks/results/history.md, "The order of the
    rows"). Alternating puts each first equally often; an even `--repeat`
    balances it.
    """
    if repeat % 2 == 0:
        return list(plan)
    order = list(plan)
    for name, target in plan:
        kind, _, backend = target.partition(":")
        if kind in PAIRED:
            j = order.index((name, f"ours:{backend}"))
            k = order.index((name, target))
            order.insert(j, order.pop(k))
    return order
