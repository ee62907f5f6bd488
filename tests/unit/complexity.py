"""How a function's running time grows with its input, for tests that guard against
super-linear (backtracking) behaviour.

A wall-clock limit fails on a loaded machine and passes a quadratic algorithm on a fast one;
the ratio between two sizes measured side by side does neither: linear work grows about as the
input (8x here), quadratic as its square (64x). Best-of-N damps scheduler noise, and the time
taken is the thread's CPU time: on a loaded machine the scheduler parks the thread for whole
time slices, which wall-clock time would count against whichever size it happened to hit."""

from __future__ import annotations

import time
from collections.abc import Callable

SCALE = 8
# Linear work measures ~8x; quadratic ~64x. The margin absorbs constant overheads and noise.
MAX_GROWTH = 24.0


def _best(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.thread_time()
        fn()
        best = min(best, time.thread_time() - started)
    return best


def growth(fn: Callable[[str], object], unit: str, copies: int, repeats: int = 5) -> float:
    """Time of fn on `unit * copies * SCALE` over its time on `unit * copies`."""
    small, large = unit * copies, unit * copies * SCALE
    fn(small)  # warm caches and lazily compiled patterns before timing
    return _best(lambda: fn(large), repeats) / max(_best(lambda: fn(small), repeats), 1e-6)
