"""Every python snippet in README.md and docs/ runs, and every example runs."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

import ome_writers

ROOT = Path(__file__).parent.parent
# the snippets import the ome_writers these tests import
PACKAGE_ROOT = Path(ome_writers.__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SNIPPETS = [
    pytest.param(code, id=f"{path.name}-{i}")
    for path in DOCS
    for i, code in enumerate(re.findall(r"```python\n(.*?)```", path.read_text(), re.S))
]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("code", SNIPPETS)
def test_doc_snippet(code: str, tmp_path: Path) -> None:
    """A snippet runs as a user runs it: saved as a script of its own and run
    with ``python script.py`` in an empty directory, in a process of its own
    (so it relies on no earlier snippet, and its top level is the main
    module's); warnings are errors, as in the rest of the tests."""
    (tmp_path / "script.py").write_text(code)
    paths = [str(PACKAGE_ROOT), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    result = subprocess.run(
        [sys.executable, "-W", "error", "script.py"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", [str(path), str(tmp_path)])
    runpy.run_path(str(path), run_name="__main__")


def test_every_doc_has_snippets_or_is_prose() -> None:
    assert SNIPPETS, "no python snippets found in the docs"


def test_ci_runs_the_readme_test_command() -> None:
    """`.ci/run` runs quick-start command 2 verbatim, lint and types included."""
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(
        r"^(?:\(command -v chromium .*?\) && )?python3 -m venv \.venv && .*$",
        readme,
        re.MULTILINE,
    )
    assert len(commands) == 2, commands
    test_command = commands[1]
    for step in ("ruff check src tests", "ruff format --check src tests", "mypy"):
        assert step in test_command
    assert test_command.endswith("python -m pytest")
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci_lines


COMMANDS = [
    pytest.param(line, id=f"{path.name}-{i}")
    for path in DOCS
    for block in re.findall(r"```bash\n(.*?)```", path.read_text(), re.S)
    for i, line in enumerate(block.splitlines())
    if line.startswith("ome-writers ")
]


# commands that only read (or write) small files run; the other benchmark
# commands measure for minutes and are only parsed
RUN = ("info", "validate", "repair", "demo")


def _doc_command_words(line: str) -> tuple[list[str], str | None]:
    """The arguments of a documented command, and its stdout redirect target."""
    import shlex

    command = line.split("  #")[0].replace("<0.3.2 python>", "python")
    command, _, target = command.partition(">")
    return shlex.split(command)[1:], target.strip() or None


@pytest.mark.parametrize("line", COMMANDS)
def test_doc_command(
    line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """Every `ome-writers` command shown in a bash block is accepted by the
    command's own parser; those that read datasets, repair or run the demo,
    and the benchmark's re-rendering of saved rows, are run on files made
    here and must succeed."""
    import numpy as np

    from ome_writers import AcquisitionSettings, Dimension, create_stream
    from ome_writers.tools import benchmark, cli

    words, _ = _doc_command_words(line)
    if words[0] == "bench":
        args = benchmark.build_parser().parse_args(words[1:])
        if args.load is None:
            return  # a measurement: minutes long
        monkeypatch.chdir(tmp_path)
        assert benchmark.main([*QUICK_BENCH, "--json"]) == 0
        Path(args.load).write_text(capsys.readouterr().out)
        assert benchmark.main(words[1:]) == 0
        return
    cli.build_parser().parse_args(words)
    if words[0] not in RUN:
        return
    monkeypatch.chdir(tmp_path)
    dims = [
        Dimension(name="t", count=2, type="time"),
        Dimension(name="y", count=16, type="space"),
        Dimension(name="x", count=16, type="space"),
    ]
    for name in ("run.ome.zarr", "run.ome.tiff"):
        with create_stream(
            AcquisitionSettings(root_path=name, dimensions=dims, dtype="uint16")
        ) as stream:
            for i in range(2):
                stream.append(np.full((16, 16), i, "uint16"))
    assert cli.main(words) == 0, capsys.readouterr().out


QUICK_BENCH = ["--quick", "-s", "f", "--backends", "tensorstore", "--no-raw", "-q"]


# names of the metadata ome-writers writes (zarr.json attributes, OME-XML
# annotation namespaces), not Python names
METADATA_NAMES = {
    "ome_writers.frame_metadata",
    "ome_writers.display",
    "ome_writers.not_acquired",
    "ome_writers.progress",
    "ome_writers.series",
}


def _documented_names() -> set[str]:
    """Every ``ome_writers...`` name the docs show: dotted names, API
    directives and the names of ``from ome_writers... import`` lines."""
    names = set()
    for path in DOCS:
        text = path.read_text()
        names.update(re.findall(r"\bome_writers(?:\.\w+)+", text))
        for module, imported in re.findall(
            r"^\s*from (ome_writers[\w.]*) import \(?([\w, \n]+?)\)?$", text, re.M
        ):
            names.update(f"{module}.{name.strip()}" for name in imported.split(","))
    return names - METADATA_NAMES


def _resolve(dotted: str) -> object:
    """The object `dotted` names: the longest importable module, then attributes."""
    import importlib

    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def test_every_name_the_docs_show_is_public_and_importable() -> None:
    """Names the docs show import, through public modules only; those of the
    package itself are in `ome_writers.__all__`."""
    import ome_writers

    names = _documented_names()
    assert "ome_writers.StreamView" in names
    for dotted in sorted(names):
        obj = _resolve(dotted)
        parts = dotted.split(".")
        private = [p for p in parts if p.startswith("_") and not p.startswith("__")]
        assert not private, dotted
        if len(parts) == 2 and not isinstance(obj, types.ModuleType):
            assert parts[1] in ome_writers.__all__, dotted
