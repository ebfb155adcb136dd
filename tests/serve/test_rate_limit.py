"""The server's rate limit: a bound on the bytes viewers take per second."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from typing import TYPE_CHECKING

import pytest

from ome_writers.serve import start
from ome_writers.serve._budget import SendBudget

if TYPE_CHECKING:
    from pathlib import Path


class _Clock:
    """A monotonic clock that moves only when slept on."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    import ome_writers.serve._budget as budget_module

    fake = _Clock()
    monkeypatch.setattr(budget_module.time, "monotonic", fake.monotonic)
    monkeypatch.setattr(budget_module.asyncio, "sleep", fake.sleep)
    return fake


def test_the_budget_paces_pieces_to_the_rate(clock: _Clock) -> None:
    budget = SendBudget(4.0)  # 4 MB/s: a 1 MB piece every 0.25 s

    async def send(pieces: int) -> None:
        for _ in range(pieces):
            await budget.take(1_000_000)

    start = clock.now
    asyncio.run(send(9))
    # the first quarter second goes at once (the burst), then 4 MB/s
    assert clock.now - start == pytest.approx(9 / 4 - 0.25)
    assert all(s == pytest.approx(0.25) for s in clock.slept[1:])


def test_a_quiet_budget_does_not_save_up_more_than_the_burst(clock: _Clock) -> None:
    budget = SendBudget(4.0)
    asyncio.run(budget.take(1_000_000))
    clock.now += 60.0  # a minute without requests
    start = clock.now
    asyncio.run(budget.take(4_000_000))
    assert clock.now - start == pytest.approx(1.0 - 0.25)


def test_no_limit_never_waits(clock: _Clock) -> None:
    budget = SendBudget(None)
    asyncio.run(budget.take(10**12))
    assert clock.slept == []


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), True, "10"])
def test_a_bad_rate_limit_is_refused(tmp_path: Path, bad: object) -> None:
    with pytest.raises(ValueError, match="rate_limit must be a positive number"):
        start(tmp_path, rate_limit=bad)  # type: ignore[arg-type]


def test_a_served_file_arrives_whole_within_the_rate(tmp_path: Path) -> None:
    data = bytes(range(256)) * (3 * 4096)  # 3 MiB
    (tmp_path / "big.bin").write_bytes(data)
    with start(tmp_path, rate_limit=2.0) as served:
        began = time.monotonic()
        with urllib.request.urlopen(served.url + "big.bin") as reply:
            body = reply.read()
        took = time.monotonic() - began
    assert body == data
    # sleeps only lengthen a transfer: 3.1 MB at 2 MB/s, less the burst
    assert took >= len(data) / 2e6 - 0.25 - 0.05


def test_without_a_limit_the_file_arrives_whole(tmp_path: Path) -> None:
    data = bytes(range(256)) * (5 * 4096) + b"tail"
    (tmp_path / "big.bin").write_bytes(data)
    with start(tmp_path, rate_limit=None) as served:
        with urllib.request.urlopen(served.url + "big.bin") as reply:
            assert reply.read() == data
        request = urllib.request.Request(
            served.url + "big.bin", headers={"Range": "bytes=1048570-3145740"}
        )
        with urllib.request.urlopen(request) as reply:
            assert reply.read() == data[1048570:3145741]


def test_the_command_refuses_a_negative_rate_limit(tmp_path: Path) -> None:
    import subprocess
    import sys

    out = subprocess.run(
        [
            *(sys.executable, "-m", "ome_writers.tools.cli", "serve"),
            *(str(tmp_path), "--rate-limit", "-5", "--port", "0"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert "rate_limit must be a positive number of MB/s or None, got -5" in out.stderr
