"""A server's budget of bytes per second, shared by every reply it sends."""

from __future__ import annotations

import asyncio
import math
import time

#: MB/s a server started by `serve` or `start` sends at most, all clients
#: together: a bound on what viewers can take from an acquisition
DEFAULT_RATE_LIMIT = 100.0
#: seconds of sending that may go at full speed after a quiet spell
_BURST = 0.25


def check_rate_limit(rate_limit: float | None) -> None:
    """Raise ValueError unless `rate_limit` is None or a positive number."""
    if rate_limit is None:
        return
    if (
        isinstance(rate_limit, bool)
        or not isinstance(rate_limit, (int, float))
        or not math.isfinite(rate_limit)
        or rate_limit <= 0
    ):
        raise ValueError(
            f"rate_limit must be a positive number of MB/s or None, got {rate_limit!r}"
        )


class SendBudget:
    """Paces the replies of one server to `rate_limit` MB/s (None: no limit).

    Each piece sent first takes its bytes from the budget, waiting (without
    holding the event loop) until they are due; the clients share the rate.
    """

    def __init__(self, rate_limit: float | None) -> None:
        check_rate_limit(rate_limit)
        self.bytes_per_second = None if rate_limit is None else rate_limit * 1e6
        self._due = -math.inf  # when the bytes taken so far are paid for

    async def take(self, count: int) -> None:
        """Wait until `count` more bytes may be sent."""
        rate = self.bytes_per_second
        if rate is None or count <= 0:
            return
        now = time.monotonic()
        self._due = max(self._due, now - _BURST) + count / rate
        wait = self._due - now
        if wait > 0:
            await asyncio.sleep(wait)
