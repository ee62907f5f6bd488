"""Training progress as the operator reads it (progress.json: step, total, loss, ETA, percent),
written every `progress_every` steps and at the end. The ETA extrapolates the mean step time so
far; the first step (compilation, cache warm-up) is left out of the mean once there are more."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from modelsmith.contract.jobspec import Progress

Clock = Callable[[], float]
Writer = Callable[[Progress], None]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class ProgressTracker:
    def __init__(
        self,
        total: int,
        every: int,
        write: Writer,
        clock: Clock = time.monotonic,
        now: Callable[[], str] = utc_now,
    ) -> None:
        if total < 1 or every < 1:
            raise ValueError("total and every must be at least 1")
        self.total = total
        self.every = every
        self._write = write
        self._clock = clock
        self._now = now
        self._started = clock()
        self._after_first: float | None = None
        self._first_step = 1
        """The first step this attempt trains: later than 1 when it resumed a checkpoint."""
        self.last: Progress | None = None

    def start(self) -> None:
        """Step 0, so the operator shows a run that is loading rather than none at all."""
        self._emit(0, None)

    def step(self, step: int, loss: float | None) -> None:
        """Record that `step` (1-based) finished; writes when due."""
        if self._after_first is None:
            self._first_step, self._after_first = step, self._clock()
        if step % self.every == 0 or step == self.total:
            self._emit(step, loss)

    def eta_seconds(self, step: int) -> float | None:
        if step <= 0:
            return None
        now = self._clock()
        if self._after_first is not None and step > self._first_step:
            per_step = (now - self._after_first) / (step - self._first_step)
        else:
            per_step = (now - self._started) / max(1, step - self._first_step + 1)
        return round(max(0.0, per_step * (self.total - step)), 1)

    def _emit(self, step: int, loss: float | None) -> None:
        progress = Progress(
            step=step,
            total=self.total,
            loss=None if loss is None else round(loss, 6),
            eta_seconds=self.eta_seconds(step),
            percent=round(100.0 * step / self.total, 1),
            updated_at=self._now(),
        )
        self.last = progress
        self._write(progress)
