"""The benchmark runs end to end (tiny frames); its figures are not asserted."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ome_writers.tools.bench import _worker_entry
from ome_writers.tools.bench._measure import latency_sample
from ome_writers.tools.bench._plan import run_order, targets_for
from ome_writers.tools.bench._scenarios import scenario
from ome_writers.tools.bench._summary import add_ratios, median_of_repeats
from ome_writers.tools.bench._tables import render_markdown, scenario_title
from ome_writers.tools.benchmark import main
from ome_writers.tools.cli import main as cli_main

pytest.importorskip("tensorstore")


def test_scenarios_describe_the_issue_workloads() -> None:
    a = scenario("a")
    assert a["frames"] == 200 and a["frame_shape"] == (2048, 2048)
    b = scenario("b")
    assert b["frames"] == 4 * 2 * 16
    assert [d.get("chunk_size") for d in b["dims"]] == [None, None, 16, 256, 256]
    c = scenario("c")
    assert c["dims"][-1]["chunk_size"] == 512 and c["dims"][-1]["shard_size_chunks"]
    assert scenario("d")["compression"] == "blosc-zstd"
    assert scenario("e")["frames"] == 10 * 8 * 2
    f = scenario("f")
    assert f["dims"][0]["count"] is None and f["frames"] == 500


def test_quick_run_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "--quick", "-s", "a", "f", "--json"]
    argv += ["--backends", "tensorstore", "tifffile", "--compare", sys.executable]
    assert cli_main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    targets = {(r["scenario"], r["target"]) for r in rows}
    for name in "af":
        assert (name, "ceiling") in targets and (name, "disk") in targets
        assert (name, "raw:tensorstore") in targets
        assert (name, "raw:tifffile") in targets
        assert (name, "ours:tensorstore") in targets
        assert (name, "other:tensorstore") in targets
    for row in rows:
        assert "error" not in row, row
        assert row["fps"] > 0 and row["gbps_sync"] > 0
        if row["target"] == "ceiling":
            assert row["ceiling_prealloc_gbps"] > 0 and row["ceiling_per_file_gbps"] > 0
            continue
        assert row["p50_ms"] <= row["p99_ms"] <= row["max_ms"]
        assert row["vs_ceiling"] > 0
        if row["target"].startswith("ours:"):
            assert "vs_other_sync" in row and "vs_disk" in row and "vs_raw" in row


def test_frames_set_the_length_of_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "--quick", "-s", "a", "f", "b", "--frames", "7", "--json"]
    assert cli_main([*argv, "--backends", "tensorstore"]) == 0
    rows = json.loads(capsys.readouterr().out)
    frames = {(r["scenario"], r["target"]): r.get("frames") for r in rows}
    for name in "af":  # the ceiling's and the raw library's rows as well
        for target in ("ceiling", "raw:tensorstore", "ours:tensorstore"):
            assert frames[name, target] == 7, (name, target)
    assert frames["b", "ours:tensorstore"] == 4 * 2 * 16  # no single time axis
    assert ", 7 frames written" in scenario_title(rows, "a")


def test_frames_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli_main(["bench", "--frames", "0"])
    assert "--frames must be at least 1" in capsys.readouterr().err


def test_markdown_from_saved_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--quick", "-s", "f", "--backends", "tensorstore", "--json", "-q"]
    assert main([*argv, "--compare", sys.executable]) == 0
    saved = tmp_path / "rows.json"
    saved.write_text(capsys.readouterr().out)
    assert main(["--load", str(saved), "-s", "a", "--markdown"]) == 0
    assert "| f |" not in capsys.readouterr().out  # only the scenarios asked for
    assert main(["--load", str(saved), "--markdown"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| scenario | backend | ours GB/s")
    assert lines[2].startswith("| f | plain write | ")
    row = next(line for line in lines if line.startswith("| f | tensorstore |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert all(cells), row  # ours, the compared version, ratio, raw, latency, RSS
    ratio_sync, ratio_with_create = (float(x) for x in cells[4].split(" / "))
    assert ratio_sync > 0 and ratio_with_create > 0
    first, again = (float(x) for x in cells[6].split(" / "))  # create ms
    assert first > 0 and again > 0


def test_ratios_pair_the_rows_of_each_repeat() -> None:
    """Beside the ratio of medians, each repeat's ours over the compared
    version (they ran back to back); a failed repeat pairs with nothing."""

    def run(gbps: float, p99: float = 4.0) -> dict[str, Any]:
        speeds = {"gbps_close": gbps, "gbps_sync": gbps, "gbps_total": gbps}
        return {**speeds, "fps": 1.0, "peak_rss_mb": 100.0, "p99_ms": p99}

    ours = median_of_repeats([run(1.0, 2.0), run(2.0), run(3.0, 6.0)])
    theirs = median_of_repeats([run(2.0), {"error": "timed out"}, run(2.0)])
    assert theirs["each_repeat"]["gbps_total"] == [2.0, None, 2.0]
    rows = [
        {**ours, "scenario": "a", "target": "ours:tensorstore"},
        {**theirs, "scenario": "a", "target": "other:tensorstore", "version": "0.3.2"},
    ]
    add_ratios(rows)
    assert rows[0]["vs_other_total"] == 1.0  # medians: 2.0 over 2.0
    assert rows[0]["vs_other_total_each"] == [0.5, 1.5]
    # the paired ratios' geometric mean: sqrt(0.5 * 1.5)
    assert rows[0]["vs_other_total_paired"] == pytest.approx(0.75**0.5)
    # the same pairing for the appends' p99 (with --compare self: its noise)
    assert rows[0]["p99_vs_other_each"] == [0.5, 1.5]
    assert rows[0]["p99_vs_other_paired"] == pytest.approx(0.75**0.5)
    table = render_markdown(rows).splitlines()
    assert table[0].endswith(
        "| ours ÷ 0.3.2 +create, each repeat (geometric mean) "
        "| ours ÷ 0.3.2 p99, each repeat (geometric mean) |"
    )
    assert table[2].endswith("| 0.50 / 1.50 (0.87) | 0.50 / 1.50 (0.87) |")


def test_repeats_alternate_which_version_runs_first() -> None:
    """The compared version runs right after ours in even repeats and right
    before it in odd ones; the ceiling stays first (paced runs need its
    rate) and every row runs once per repeat."""
    plan = [
        (name, target)
        for name in ("a", "e")
        for target in targets_for(name, ["tensorstore", "tifffile"], True, "py")
    ]
    assert run_order(plan, 0) == plan == run_order(plan, 2)
    odd = run_order(plan, 1)
    assert sorted(odd) == sorted(plan)
    for name in ("a", "e"):
        rows = [target for n, target in odd if n == name]
        assert rows[:2] == ["ceiling", "disk"]
        for backend in ("tensorstore", "tifffile"):
            i = rows.index(f"ours:{backend}")
            assert rows[i - 1] == f"other:{backend}"
    assert odd.index(("a", "disk")) < odd.index(("e", "disk"))


def test_raw_baselines_run_apart_from_the_compared_pairs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every repeat of the compared rows runs before any raw baseline (raw
    tensorstore's read-modify-write slows the runs after it); a paced
    baseline uses the ceiling of its own repeat."""
    from ome_writers.tools.bench import _cli, _plan

    order: list[tuple[str, float | None]] = []
    plain = iter(range(10, 100))

    def fake_job(
        job: dict[str, Any], compare: str | None, timeout: float
    ) -> dict[str, Any]:
        order.append((job["target"], job["fps"]))
        rate = float(next(plain)) if job["target"] == "ceiling" else 1.0
        gbps = {"gbps_sync": rate, "gbps_close": rate, "gbps_total": rate}
        return {**gbps, "gb": 1.0, "frames": 1, "fps": rate}

    monkeypatch.setattr(_plan, "_run_job", fake_job)
    plan = [("b", t) for t in targets_for("b", ["tensorstore"], True, "py")]
    args = _cli.build_parser().parse_args(
        ["-s", "b", "--repeat", "2", "--paced", "0.5", "-q"]
    )
    _plan._run_plan(args, plan, None)
    targets = [target for target, _ in order]
    pair = ["ours:tensorstore", "other:tensorstore"]
    head = ["ceiling", "disk"]
    assert targets[:8] == [*head, *pair, *head, *pair[::-1]]
    assert [fps for target, fps in order[:8] if target in head] == [None] * 4
    raw = order[8:]
    assert [t for t, _ in raw] == [
        f"raw:{lib}" for lib in ("tensorstore", "acquire-zarr", "tifffile")
    ] * 2
    # ceilings of 10 and 11 frames/s in repeats 1 and 2, paced at half
    assert [fps for _, fps in raw] == [5.0] * 3 + [5.5] * 3


def test_paced_at_a_fraction_of_the_ceiling(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["--quick", "-s", "f", "--backends", "tensorstore", "--no-raw"]
    assert main([*argv, "--paced", "0.5", "--json", "-q"]) == 0
    rows = {r["target"]: r for r in json.loads(capsys.readouterr().out)}
    ceiling = rows["ceiling"]
    ceiling_fps = ceiling["gbps_sync"] / ceiling["gb"] * ceiling["frames"]
    # the references run unpaced
    assert "offered_fps" not in ceiling and "offered_fps" not in rows["disk"]
    offered = rows["ours:tensorstore"]["offered_fps"]
    assert offered == pytest.approx(0.5 * ceiling_fps)
    assert "late_frames" in rows["ours:tensorstore"]
    late_at = rows["ours:tensorstore"]["each_repeat"]["late_at"][0]
    assert len(late_at) == min(rows["ours:tensorstore"]["late_frames"], 11)


def test_late_appends_are_located() -> None:
    from ome_writers.tools.bench._measure import _late_at

    latencies = np.full(100, 0.001)
    latencies[[0, 50, 99]] = [0.02, 0.05, 0.011]
    assert _late_at(latencies, 0.01) == [[0, 20.0], [50, 50.0], [99, 11.0]]
    many = np.full(100, 0.02)
    many[70] = 0.5  # the slowest is kept beyond the first ten
    assert [i for i, _ in _late_at(many, 0.01)] == [*range(10), 70]
    assert _late_at(np.full(5, 0.001), 0.01) == []


def test_paced_rows_keep_the_worst_repeat_beside_the_median() -> None:
    """One repeat with late frames must show, though the median hides it."""

    def run(late: int, p99: float) -> dict[str, Any]:
        speeds = {"gbps_close": 1.0, "gbps_sync": 1.0, "gbps_total": 1.0}
        return {**speeds, "p99_ms": p99, "late_frames": late, "offered_fps": 30.0}

    merged = median_of_repeats(
        [run(0, 1.0), run(3, 9.0), run(0, 1.5), {"error": "timed out"}]
    )
    assert (merged["late_frames"], merged["late_worst"]) == (0, 3)
    assert (merged["p99_ms"], merged["p99_worst_ms"]) == (1.5, 9.0)
    assert merged["each_repeat"]["late_frames"] == [0, 3, 0, None]
    assert "late_at" not in merged  # where lateness fell is a per-repeat figure
    unpaced = median_of_repeats([{"gbps_sync": 1.0, "gbps_total": 1.0, "p99_ms": 2.0}])
    assert "late_worst" not in unpaced


def test_each_scenario_titled_with_its_own_offered_rate() -> None:
    rows = [
        {"scenario": "a", "target": "disk"},
        {"scenario": "a", "target": "ours:tensorstore", "offered_fps": 34.0},
        {"scenario": "f", "target": "ours:tensorstore", "offered_fps": 988.0},
        {"scenario": "b", "target": "ours:tensorstore"},
    ]
    assert scenario_title(rows, "a").endswith("frames offered at 34 fps")
    assert scenario_title(rows, "f").endswith("frames offered at 988 fps")
    assert "offered" not in scenario_title(rows, "b")


def test_plate_scenario_creates_every_position(tmp_path: Path) -> None:
    from ome_writers.tools.bench._run_ours import run_public_api

    spec = scenario("h", quick=True)
    assert len(spec["positions"]) == 384 and spec["frames"] == 768
    result = run_public_api(spec, "tensorstore", tmp_path)
    assert result["frames"] == 768
    assert result["create_ms"] > 0 and result["gbps_total"] <= result["gbps_sync"]


def test_camera_scenario_table(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("pymmcore_plus")
    assert main(["--quick", "-s", "g"]) == 0
    out = capsys.readouterr().out
    assert "mda.run -> OME-Zarr" in out and "zero-copy=True" in out


def test_frames_offered_at_a_camera_rate(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--quick", "-s", "f", "--backends", "tensorstore", "--no-raw"]
    assert main([*argv, "--fps", "400", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    ours = next(r for r in rows if r["target"] == "ours:tensorstore")
    assert ours["offered_fps"] == 400 and 0 <= ours["late_frames"] <= ours["frames"]
    # frames offered 2.5 ms apart cannot be appended faster than the rate
    assert ours["gbps_append"] <= 1.05 * 400 * ours["gb"] / ours["frames"]
    assert main([*argv, "--fps", "400"]) == 0
    table = capsys.readouterr().out
    assert "frames offered at 400 fps" in table
    if importlib.util.find_spec("rich"):  # installed with pymmcore-plus
        assert "┃" in table and "tensorstore" in table
    assert main([*argv, "--fps", "400", "--plain"]) == 0
    plain = capsys.readouterr().out
    assert "frames offered at 400 fps" in plain and "┃" not in plain


PNG = b"\x89PNG\r\n\x1a\n"


def test_latency_sample_keeps_the_tail() -> None:
    few = [0.5, 2.0, 0.25]
    assert latency_sample(few) == few  # in append order
    many = np.random.default_rng(0).lognormal(0, 1, 10_000)
    sample = latency_sample(many)
    assert len(sample) == 2000
    assert sample[0] == pytest.approx(many.min(), rel=1e-3)
    assert sample[-1] == pytest.approx(many.max(), rel=1e-3)
    p99 = np.percentile(sample, 99)
    assert p99 == pytest.approx(np.percentile(many, 99), rel=1e-2)


def test_plot_from_synthetic_rows(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from ome_writers.tools.plots import plot_benchmark

    rng = np.random.default_rng(1)

    def sampled(target: str, gbps: float, **extra: object) -> dict[str, object]:
        lat = rng.lognormal(1, 0.8, 300)
        return {
            "scenario": "a",
            "target": target,
            "gbps_sync": gbps,
            "p50_ms": float(np.median(lat)),
            "p99_ms": float(np.percentile(lat, 99)),
            "max_ms": float(lat.max()),
            "latencies_ms": latency_sample(lat),
            **extra,
        }

    rows = [
        {"scenario": "a", "target": "ceiling", "gbps_sync": 0.9, "direct_io": True},
        sampled("disk", 0.4),
        sampled("ours:tensorstore", 0.5, version="0.4.0"),
        sampled("ours:tifffile", 0.35, version="0.4.0"),
        sampled("served:tensorstore", 0.45, version="0.4.0", readers=8),
        # a compared version's and an old file's rows: no latency sample
        *(
            {"scenario": "a", "target": t, "version": "0.3.2", "gbps_sync": g}
            | {"p50_ms": 0.02, "p99_ms": 0.1, "max_ms": 30.0}
            for t, g in (("other:tensorstore", 0.38), ("other:tifffile", 0.37))
        ),
        {"scenario": "a", "target": "raw:tensorstore", "gbps_sync": 0.41}
        | {"p50_ms": 2.0, "p99_ms": 20.0, "max_ms": 50.0},
        {"scenario": "a", "target": "raw:tifffile", "error": "failed to write"},
        sampled("ours:tensorstore", 0.3, version="0.4.0") | {"scenario": "p"},
        {"scenario": "g", "target": "camera", "fps": 100.0},  # nothing to draw
    ]
    out = plot_benchmark(rows, tmp_path / "rows.png", titles={"a": "scenario a"})
    assert out == tmp_path / "rows.png"
    data = out.read_bytes()
    assert len(data) > 10_000 and data.startswith(PNG)
    with pytest.raises(ValueError, match="no rows"):
        plot_benchmark(rows[-1:], tmp_path / "camera.png")


def test_plot_after_a_run_and_from_saved_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    argv = ["--quick", "-s", "f", "--backends", "tensorstore", "--no-raw", "-q"]
    after_run = tmp_path / "run.png"
    assert main([*argv, "--json", "--plot", str(after_run)]) == 0
    saved = tmp_path / "rows.json"
    saved.write_text(capsys.readouterr().out)
    assert after_run.read_bytes().startswith(PNG)
    rows = json.loads(saved.read_text())
    # every append of the run, in order (fewer than 2000); the ceiling
    # appends nothing
    for row in (r for r in rows if r["target"] != "ceiling"):
        assert len(row["latencies_ms"]) == row["frames"]
        assert max(row["latencies_ms"]) == pytest.approx(row["max_ms"], rel=1e-3)
    loaded = tmp_path / "loaded.png"
    assert main(["--load", str(saved), "--plain", "--plot", str(loaded)]) == 0
    assert loaded.read_bytes().startswith(PNG)
    assert "latenc" not in capsys.readouterr().out  # the tables leave it out
    assert main(["--load", str(saved), "--markdown"]) == 0
    assert "latenc" not in capsys.readouterr().out


def test_plot_without_matplotlib_says_what_to_install(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # not importable
    with pytest.raises(SystemExit):  # before anything runs
        main(["-s", "f", "--plot", str(tmp_path / "x.png")])
    assert 'pip install "ome-writers[plot]"' in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_compare_runs_the_other_interpreters_own_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A checkout run with PYTHONPATH=src must not leak into --compare rows,
    and a compared interpreter that imports this package is no comparison."""
    import subprocess

    from ome_writers.tools.bench import _plan, _run_ours

    monkeypatch.setenv("PYTHONPATH", "/somewhere/src")
    calls: list[dict[str, Any]] = []
    package = {"value": "/elsewhere/site-packages/ome_writers"}

    def fake_run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append({"cmd": cmd, "env": kwargs.get("env")})
        row = {"fps": 1.0, "package": package["value"]}
        return subprocess.CompletedProcess(cmd, 0, json.dumps(row) + "\n", "")

    monkeypatch.setattr(_plan.subprocess, "run", fake_run)
    job = {"target": "other:tensorstore"}
    other = "/venv-0.3.2/bin/python"
    assert _plan._run_job(job, other, timeout=60)["fps"] == 1.0
    assert calls[-1]["cmd"][0] == other
    assert "PYTHONPATH" not in calls[-1]["env"]
    # our own rows keep the environment as it is
    _plan._run_job({"target": "ours:tensorstore"}, other, timeout=60)
    assert calls[-1]["env"] is None
    assert calls[-1]["cmd"][0] == sys.executable
    # the other interpreter found this package after all: an error row
    package["value"] = _run_ours.our_package()
    result = _plan._run_job(job, other, timeout=60)
    assert "imported this ome-writers" in result["error"]
    # "self": this interpreter and environment again, this package expected
    result = _plan._run_job(job, "self", timeout=60)
    assert result["fps"] == 1.0
    assert calls[-1]["cmd"][0] == sys.executable
    assert calls[-1]["env"] is None


@pytest.mark.parametrize(
    ("name", "target", "frames"), [("f", "disk", 125), ("d", "ceiling", 50)]
)
def test_worker_runs_without_this_package(
    tmp_path: Path, name: str, target: str, frames: int
) -> None:
    """With --compare the worker script runs under another ome-writers version,
    which has no `ome_writers.tools.bench`: loading the measuring side must
    import nothing of ome-writers (here not importable at all), nor may the
    ceiling, which needs no ome-writers."""
    import subprocess

    from ome_writers.tools.bench._plan import WORKER_SCRIPT

    job = {"scenario": name, "target": target, "quick": True, "dir": str(tmp_path)}
    code = (
        "import runpy, sys; sys.modules['ome_writers'] = None; "
        "runpy.run_path(sys.argv[1], run_name='__main__')"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, WORKER_SCRIPT, "--worker", json.dumps(job)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout.splitlines()[-1])
    assert row["frames"] == frames and row["gbps_sync"] > 0


def test_the_worker_loads_beside_another_ome_writers(tmp_path: Path) -> None:
    """A worker runs under a ``--compare`` interpreter whose ome-writers is
    another version (0.3.2 has no ``_io``): loading its modules imports
    nothing of ours, here with an empty ``ome_writers`` first on the path."""
    (tmp_path / "ome_writers").mkdir()
    (tmp_path / "ome_writers" / "__init__.py").write_text("")
    folder = Path(_worker_entry.__file__).parent
    script = f"""
import importlib, importlib.util, sys
sys.path.insert(0, {str(tmp_path)!r})
spec = importlib.util.spec_from_file_location(
    "bench",
    {str(folder / "__init__.py")!r},
    submodule_search_locations=[{str(folder)!r}],
)
sys.modules["bench"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sys.modules["bench"])
importlib.import_module("bench._worker")
import ome_writers
assert ome_writers.__file__.startswith({str(tmp_path)!r}), ome_writers.__file__
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_scenario_k_is_a_camera_frame_of_no_whole_huge_page() -> None:
    k = scenario("k")
    assert k["frames"] == 150 and k["frame_shape"] == (2304, 2304)
    assert (2304 * 2304 * 2) % (2 * 1024**2)  # not whole 2 MiB huge pages
    assert k["compression"] is None and k["dims"][-1]["chunk_size"] is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")
def test_a_worker_ends_with_the_bench_that_started_it() -> None:
    """A bench stopped (killed, or its terminal closed) while a worker runs
    must not leave the worker writing on: it would slow every run after."""
    entry = Path(_worker_entry.__file__)
    worker = f"""
import importlib.util, time
spec = importlib.util.spec_from_file_location("entry", {str(entry)!r})
entry = importlib.util.module_from_spec(spec)
spec.loader.exec_module(entry)
entry.end_with_parent()
print("ready", flush=True)
time.sleep(60)
"""
    bench = f"""
import subprocess, sys
command = [sys.executable, "-c", {worker!r}]
child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
assert child.stdout.readline().strip() == "ready"
print(child.pid, flush=True)
import os
os._exit(0)  # the bench ends without waiting for its worker
"""
    done = subprocess.run(
        [sys.executable, "-c", bench], capture_output=True, text=True, timeout=60
    )
    pid = int(done.stdout.split()[0])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            return  # gone
        if state in ("Z", "X"):  # ended, not yet reaped by its new parent
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    raise AssertionError("the worker outlived the bench that started it")
