"""The documentation site builds with `mkdocs build --strict`, API reference too."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
API_NAMES = [
    "create_stream",
    "AcquisitionSettings",
    "OMEStream",
    "StreamView",
    "Dimension",
    "Pyramid",
    "Plate",
    "Position",
    "OmeZarrFormat",
    "OmeTiffFormat",
    "ScratchFormat",
    "useq_to_acquisition_settings",
    "OMEWriterHandler",
    "FrameShapeError",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site built from the repository's mkdocs.yml (strict: warnings fail)."""
    site_dir = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", site_dir],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return site_dir


def test_site_has_home_and_every_page(site: Path) -> None:
    assert (site / "index.html").is_file()
    for page in sorted((ROOT / "docs").glob("*.md")):
        assert (site / f"{page.stem}.html").is_file(), page.name


def test_api_page_documents_the_public_names(site: Path) -> None:
    api = (site / "api.html").read_text()
    for name in API_NAMES:
        assert re.search(rf'id="[\w.]*\b{name}"', api), name


def test_every_api_directive_renders(site: Path) -> None:
    """Each `::: path` of docs/api.md becomes an anchored entry with content."""
    api = (site / "api.html").read_text()
    paths = re.findall(r"^::: ([\w.]+)$", (ROOT / "docs" / "api.md").read_text(), re.M)
    assert len(paths) >= 20, paths
    for path in paths:
        match = re.search(rf'id="{re.escape(path)}"', api)
        assert match, path
    # the docstrings are there, not only the headings
    assert "Everything needed to create a stream." in api
    assert "Resolution levels written while frames arrive." in api
