"""Every python snippet in README.md and docs/ runs, and every example runs."""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SNIPPETS = [
    pytest.param(code, id=f"{path.name}-{i}")
    for path in DOCS
    for i, code in enumerate(re.findall(r"```python\n(.*?)```", path.read_text(), re.S))
]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("code", SNIPPETS)
def test_doc_snippet(
    code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "<snippet>", "exec"), {"__name__": "__snippet__"})


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", [str(path), str(tmp_path)])
    runpy.run_path(str(path), run_name="__main__")


def test_every_doc_has_snippets_or_is_prose() -> None:
    assert SNIPPETS, "no python snippets found in the docs"


def test_ci_runs_the_readme_test_command() -> None:
    """`.ci/run` runs quick-start command 2 verbatim, lint and types included."""
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^python3 -m venv \.venv && .*$", readme, re.MULTILINE)
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


@pytest.mark.parametrize("line", COMMANDS)
def test_doc_command_parses(line: str) -> None:
    """Every `ome-writers` command shown in a bash block is accepted by the
    command's own parser (subcommand, options and their values). The commands
    themselves read paths of the reader's or run for minutes (`bench`); the
    python blocks above are executed."""
    import shlex

    from ome_writers.tools import benchmark, cli

    words = shlex.split(line.split("  #")[0].replace("<0.3.2 python>", "python"))
    words = [w for w in words if w != ">"][1:]
    if ">" in line:  # a redirect: drop its target
        words = words[:-1]
    if words[0] == "bench":
        benchmark.build_parser().parse_args(words[1:])
    else:
        cli.build_parser().parse_args(words)
