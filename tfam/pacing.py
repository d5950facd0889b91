"""How many steps a compiled chunk runs: sized by time, not by a share of the steps.

Python sees signals (Ctrl-C), draws progress and calls callbacks only between chunks, so a chunk
should take about the same wall time whatever the step count or the model: short enough that
Ctrl-C stops within a second, long enough that the per-call overhead stays small.

    pace = Pace()
    while done < steps:
        count = pace.next(steps - done)
        started = time.perf_counter()
        run_chunk(count)
        pace.took(count, time.perf_counter() - started)
"""

import math

TARGET_SECONDS = 0.5  # wall time a chunk aims at
FIRST_CHUNK = 4  # steps of the first chunk (it also pays for tracing: it tells little)
MAX_CHUNK = 100_000


class Pace:
    """Chunk sizes that aim at ``target`` seconds each, from the measured time per step."""

    def __init__(self, target=TARGET_SECONDS, first=FIRST_CHUNK, limit=MAX_CHUNK):
        if target <= 0 or first < 1 or limit < 1:
            raise ValueError(
                f"target, first and limit must be positive, got {target}, {first}, {limit}"
            )
        self.target, self.limit = float(target), int(limit)
        self._next = int(first)

    def next(self, remaining):
        """The size of the next chunk (at most ``remaining``)."""
        return max(1, min(self._next, int(remaining)))

    def took(self, count, seconds):
        """Record that ``count`` steps took ``seconds``; the next chunk is sized from it, growing at
        most fourfold at a time (a first chunk that traced or warmed up is slow, not representative)."""
        per_step = max(float(seconds), 1e-6) / max(int(count), 1)
        wanted = int(math.floor(self.target / per_step))
        self._next = max(1, min(wanted, 4 * int(count), self.limit))
