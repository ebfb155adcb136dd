"""The `ome-writers` command."""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ome_writers import AcquisitionSettings, Dimension, create_stream
from ome_writers.tools import _output
from ome_writers.tools._output import ProgressLine
from ome_writers.tools.cli import build_parser, main


def test_info_scratch_dataset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "scratch"
    s = AcquisitionSettings(
        root_path=str(root),
        format="scratch",
        dimensions=[
            Dimension(name="t", count=None),
            Dimension(name="y", count=2),
            Dimension(name="x", count=3),
        ],
        dtype="uint8",
    )
    with create_stream(s) as stream:
        for _ in range(3):
            stream.append(np.ones((2, 3), "uint8"))
    assert main(["info", str(root)]) == 0
    out = capsys.readouterr().out
    assert "pos_0.dat: shape=(3, 2, 3) dtype=uint8 axes=t,y,x" in out
    assert "valid" in out


def test_info_rejects_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(tmp_path)]) == 1
    assert "INVALID" in capsys.readouterr().out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--version"])
    assert "0.4" in capsys.readouterr().out


# ------------------------------------------------------------ the docs' drift

ROOT = Path(__file__).parent.parent.parent
CLI_DOC = (ROOT / "docs" / "cli.md").read_text()


def _sections(text: str) -> dict[str, str]:
    """Each ``## `` heading of `text` -> the text up to the next one."""
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return {"": parts[0]} | {
        parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)
    }


def _first_cells(text: str, *headers: str) -> list[str]:
    """The first cell of every row of the tables whose first column is headed
    by one of `headers`."""
    cells = []
    lines = text.splitlines()
    for i, line in enumerate(lines[:-1]):
        if not (line.startswith("|") and lines[i + 1].startswith("| ---")):
            continue
        if line.split("|")[1].strip() not in headers:
            continue
        for row in lines[i + 2 :]:
            if not row.startswith("|"):
                break
            cells.append(row.split("|")[1].strip())
    return cells


def _code_words(cells: list[str]) -> set[str]:
    """The first word of each `code` span in `cells`."""
    return {
        code.split()[0] for cell in cells for code in re.findall(r"`([^`]+)`", cell)
    }


def _options(parser: argparse.ArgumentParser) -> set[str]:
    """Option strings and positional names of `parser`, but help."""
    out: set[str] = set()
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        out.update(action.option_strings or [action.metavar or action.dest])
    return out


def _usages(section: str) -> list[str]:
    """The usage lines of a section's ``text`` blocks, continuations joined."""
    blocks = re.findall(r"```text\n(.*?)```", section, re.S)
    joined = "\n".join(blocks).replace("\n ", " ")
    return [" ".join(line.split()) for line in joined.splitlines() if line.strip()]


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    """Every subcommand (aliases too) and its parser; bench's own."""
    from ome_writers.tools.bench._cli import build_parser as bench_parser

    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    choices = dict(sub.choices)
    choices["bench"] = bench_parser()
    return choices


def test_cli_doc_lists_every_subcommand_and_option() -> None:
    """docs/cli.md names every subcommand of the parser (aliases too), each in
    a section of its own whose tables list exactly the parser's options and
    whose usage lines are the parser's."""
    commands = _subcommands()
    sections = _sections(CLI_DOC)
    listed = _code_words(_first_cells(sections[""], "subcommand"))
    assert listed == set(commands)
    top = build_parser()
    assert _code_words(_first_cells(sections[""], "option")) - {"-h", "--help"} == (
        _options(top)
    )
    assert _usages(sections[""]) == [" ".join(top.format_usage().split()[1:])]
    for name, parser in commands.items():
        [heading] = [h for h in sections if name in h.split(" / ")]
        documented = _code_words(_first_cells(sections[heading], "option", "argument"))
        assert documented == _options(parser), name
        if name == "bench":  # its usage lists the backends installed here
            continue
        usage = " ".join(parser.format_usage().split()[1:])
        usage = usage.replace(parser.prog, f"ome-writers {name}", 1)
        assert usage in _usages(sections[heading]), name


def test_index_names_every_subcommand() -> None:
    index = (ROOT / "docs" / "index.md").read_text()
    [entry] = re.findall(r"^- \[CLI reference\].*?(?=^\S|\Z)", index, re.M | re.S)
    # an alias's parser is its command's, named after the command
    primary = {name for name, p in _subcommands().items() if p.prog.endswith(name)}
    assert set(re.findall(r"`(\w+)`", entry)) == primary


def test_cli_doc_explains_every_bench_scenario_and_column() -> None:
    """Every scenario the benchmark runs and every column its tables print is
    described in docs/cli.md; the scenarios in docs/performance.md too."""
    from ome_writers.tools.bench._scenarios import DESCRIPTIONS
    from ome_writers.tools.bench._tables import COLUMNS

    bench = _sections(CLI_DOC)["bench"]
    assert set(_first_cells(bench, "scenario")) == set(DESCRIPTIONS)
    columns = {cell.strip("`") for cell in _first_cells(bench, "column")}
    assert columns == {title for _, title, _ in COLUMNS}
    performance = (ROOT / "docs" / "performance.md").read_text()
    listed = {
        key.strip() for cell in _first_cells(performance, "") for key in cell.split(",")
    }
    assert listed == set(DESCRIPTIONS)


# ------------------------------------------------------------ format names


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("ome-zarr", "ome-zarr"),
        ("ome.zarr", "ome-zarr"),
        ("zarr", "ome-zarr"),
        ("ome-tiff", "ome-tiff"),
        ("ome.tiff", "ome-tiff"),
        ("OME.TIFF", "ome-tiff"),
        ("tiff", "ome-tiff"),
        ("both", "both"),
    ],
)
def test_demo_format_spellings(spelling: str, name: str) -> None:
    assert build_parser().parse_args(["demo", "--format", spelling]).format == name


def test_demo_help_shows_the_format_names() -> None:
    [demo] = [
        a.choices["demo"]
        for a in build_parser()._actions
        if isinstance(a, argparse._SubParsersAction)
    ]
    assert "--format {ome-zarr,ome-tiff,both}" in demo.format_usage()


@pytest.mark.parametrize(
    ("spelling", "suffix"),
    [
        ("ome-zarr", ".ome.zarr"),
        ("ome.zarr", ".ome.zarr"),
        ("ome-tiff", ".ome.tiff"),
        ("ome.tiff", ".ome.tiff"),
    ],
)
def test_convert_format_spellings(
    spelling: str, suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """convert takes the demo's spellings too; the output is read back with
    zarr-python or tifffile."""
    pytest.importorskip("tifffile" if "tiff" in suffix else "tensorstore")
    data = np.arange(2 * 8 * 8, dtype="uint16").reshape(2, 8, 8)
    np.save(tmp_path / "src.npy", data)
    dest = tmp_path / f"out{suffix}"
    argv = ["convert", str(tmp_path / "src.npy"), str(dest), "--format", spelling]
    code = main([*argv, "--processes", "1", "--quiet", "--axes", "tyx"])
    assert code == 0, capsys.readouterr().err
    if suffix == ".ome.zarr":
        import zarr

        assert np.array_equal(zarr.open_array(dest / "0", mode="r")[:], data)
    else:
        import tifffile

        assert np.array_equal(tifffile.imread(dest), data)


# ------------------------------------------------------------ missing paths


def test_missing_path_is_said_not_to_exist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nothing.ome.zarr"
    assert main(["info", str(missing)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{missing} (unreadable)",
        "  problem: does not exist",
        "  NOT READ",
    ]
    assert main(["repair", str(missing)]) == 1
    assert capsys.readouterr().err == f"error: {missing}: does not exist\n"


# ------------------------------------------------------ a reader that went away


def _dataset(root: Path) -> Path:
    settings = AcquisitionSettings(
        root_path=str(root),
        format="scratch",
        dimensions=[
            Dimension(name="t", count=2),
            Dimension(name="y", count=2),
            Dimension(name="x", count=3),
        ],
        dtype="uint8",
    )
    with create_stream(settings) as stream:
        for _ in range(2):
            stream.append(np.ones((2, 3), "uint8"))
    return root


def _bench_rows(path: Path) -> Path:
    row = {"scenario": "a", "target": "disk", "fps": 10.0, "gbps_sync": 1.0}
    path.write_text(json.dumps([row]))
    return path


COMMANDS = {
    "info": lambda d: ["info", str(_dataset(d / "s"))],
    # output larger than a pipe's buffer: written while the command runs
    "info-long": lambda d: ["info", *[str(_dataset(d / "s"))] * 400],
    "validate": lambda d: ["validate", str(_dataset(d / "s"))],
    "repair": lambda d: ["repair", str(d / "missing"), str(d / "missing")],
    "convert": lambda d: [
        "convert",
        str(np.save(d / "a.npy", np.ones((2, 4, 4), "uint16")) or d / "a.npy"),
        str(d / "out.ome.zarr"),
        "--processes",
        "1",
    ],
    "bench": lambda d: ["bench", "--load", str(_bench_rows(d / "rows.json"))],
    "demo": lambda d: [
        *("demo", "--output", str(d), "--format", "ome.zarr", "--t", "4"),
        *("--z", "1", "--c", "1", "--positions", "1", "--width", "32"),
        *("--height", "32"),
    ],
    "help": lambda d: ["--help"],
    "version": lambda d: ["--version"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_reader_that_goes_away_ends_the_command_quietly(
    command: str, tmp_path: Path
) -> None:
    """``ome-writers ... | head``: a stdout closed before the command writes
    ends it without a traceback."""
    if command == "demo":
        pytest.importorskip("pymmcore_plus")
    argv = COMMANDS[command](tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ome_writers.tools.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader went away before the first line
    with proc.stderr:
        err = proc.stderr.read()
    proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert proc.returncode in (0, 1), err
    if command in ("convert", "demo"):  # the data was written all the same
        import zarr

        if command == "convert":
            array = zarr.open_array(tmp_path / "out.ome.zarr" / "0", mode="r")
            assert array[:].shape == (2, 4, 4) and array[:].all()
        else:
            from ome_writers.adapters.demo_camera import decode_frame_counter

            array = zarr.open_array(tmp_path / "demo.ome.zarr" / "0", mode="r")
            frames = array[:].reshape(-1, 32, 32)
            counters = sorted(decode_frame_counter(f) for f in frames)
            assert counters == list(range(counters[0], counters[0] + 4))


# --------------------------------------------------------------- progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_is_redrawn_in_a_log_is_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = iter(range(0, 10_000, 2))  # two seconds between updates
    monkeypatch.setattr(_output.time, "monotonic", lambda: next(clock))
    log, terminal = io.StringIO(), _Terminal()
    for stream in (log, terminal):
        line = ProgressLine("run.ome.zarr", 10, "frames", stream=stream)
        for done in range(1, 11):
            line.update(done)
        line.close()
    # a line at most every LOG_INTERVAL seconds, and the last one
    assert log.getvalue() == "".join(
        f"  run.ome.zarr: {n}/10 frames\n" for n in (3, 6, 9, 10)
    )
    assert terminal.getvalue().count("\r") == 10
    assert terminal.getvalue().endswith("\r  run.ome.zarr: 10/10 frames\n")


def test_progress_into_a_closed_pipe_stops_without_error() -> None:
    class Closed(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    line = ProgressLine("x", 2, stream=Closed())
    line.update(2)
    line.update(2)
    line.close()


def test_demo_progress_in_a_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Into a file or pipe the demo's progress is ordinary lines, no ``\r``."""
    pytest.importorskip("pymmcore_plus")
    argv = ["demo", "--output", str(tmp_path), "--format", "ome.zarr", "--t", "5"]
    argv += ["--z", "1", "--c", "1", "--positions", "1", "--width", "32"]
    assert main([*argv, "--height", "32"]) == 0
    out = capsys.readouterr().out
    assert "\r" not in out
    assert "  demo.ome.zarr: 5/5 frames" in out.splitlines()


# ------------------------------------------------------------- bench --quick


def test_bench_quick_is_a_smoke_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """``bench --quick`` runs a handful of rows (seconds), not every scenario;
    scenarios named with -s still run."""
    from ome_writers.tools.bench import _cli
    from ome_writers.tools.bench._plan import targets_for
    from ome_writers.tools.bench._scenarios import DESCRIPTIONS

    planned: list[argparse.Namespace] = []
    monkeypatch.setattr(_cli, "run", lambda args: planned.append(args) or [])
    assert _cli.main(["--quick", "--json", "-q"]) == 0
    assert _cli.main(["--quick", "-s", "f", "m", "--json", "-q"]) == 0
    assert _cli.main(["--json", "-q"]) == 0
    quick, chosen, full = planned
    rows = [
        row
        for name in quick.scenarios
        for row in targets_for(name, quick.backends, not quick.no_raw, None)
    ]
    assert quick.scenarios == ["a"] and len(rows) <= 10
    assert chosen.scenarios == ["f", "m"]
    assert full.scenarios == list(DESCRIPTIONS)
