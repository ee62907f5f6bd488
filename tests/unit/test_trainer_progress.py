"""progress.json: when it is written and what it says."""

from __future__ import annotations

from modelsmith.contract.jobspec import Progress
from modelsmith_trainer.progress import ProgressTracker


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_writes_at_start_every_n_steps_and_at_the_end() -> None:
    clock, written = FakeClock(), list[Progress]()
    tracker = ProgressTracker(10, 4, written.append, clock=clock, now=lambda: "T")
    tracker.start()
    for step in range(1, 11):
        clock.now += 2.0
        tracker.step(step, 1.0 / step)
    assert [p.step for p in written] == [0, 4, 8, 10]
    last = written[-1]
    assert (last.total, last.percent, last.eta_seconds) == (10, 100.0, 0.0)
    assert written[0].eta_seconds is None and written[0].loss is None
    assert all(isinstance(p, Progress) and p.updated_at == "T" for p in written)


def test_eta_leaves_out_the_slow_first_step() -> None:
    clock, written = FakeClock(), list[Progress]()
    tracker = ProgressTracker(100, 10, written.append, clock=clock)
    clock.now += 30.0  # loading, compiling
    tracker.step(1, 5.0)
    for step in range(2, 11):
        clock.now += 1.0
        tracker.step(step, 1.0)
    assert written[-1].step == 10
    assert written[-1].eta_seconds == 90.0  # 1 s per step, 90 steps left
    assert written[-1].percent == 10.0
