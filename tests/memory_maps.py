"""The kernel's view of this process's memory (Linux ``/proc/self/smaps``)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest


def mapping(address: int) -> tuple[str, dict[str, str]]:
    """The permissions and smaps fields of the mapping holding `address`."""
    lines = Path("/proc/self/smaps").read_text().splitlines()
    heads = [
        i for i, line in enumerate(lines) if re.match(r"[0-9a-f]+-[0-9a-f]+ ", line)
    ]
    for i, j in zip(heads, [*heads[1:], len(lines)], strict=True):
        span, permissions = lines[i].split()[:2]
        start, end = (int(x, 16) for x in span.split("-"))
        if start <= address < end:
            fields = dict(line.split(":", 1) for line in lines[i + 1 : j])
            return permissions, {k: v.strip() for k, v in fields.items()}
    raise LookupError(hex(address))


def advised_huge_pages(address: int) -> bool:
    """Whether the mapping holding `address` was advised to use transparent
    huge pages (``MADV_HUGEPAGE``); skips where the kernel has none."""
    if not sys.platform.startswith("linux"):
        pytest.skip("/proc/self/smaps: Linux")
    if not Path("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size").exists():
        pytest.skip("no transparent huge pages in this kernel")
    return "hg" in mapping(address)[1]["VmFlags"].split()
