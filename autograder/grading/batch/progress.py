"""The batch's progress display: counts and ETA while the engine grades."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import TextIO

from autograder.results import Record


class Progress:
    """Counts and ETA: one redrawn line on a terminal, one plain line per result otherwise."""

    def __init__(self, total: int, to_grade: int, workers: int, stream: TextIO) -> None:
        self.total, self.to_grade, self.workers, self.stream = total, to_grade, workers, stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.done = 0
        self.graded_now = 0
        self.durations: list[float] = []
        self.counts: Counter[str] = Counter()
        self.starts: dict[str, float] = {}  # task -> when it was first seen running
        self.start = time.monotonic()
        self.lock = threading.Lock()
        if not self.tty and to_grade:
            self._line(f"grading {to_grade} of {total} submission(s) with {workers} worker(s)")

    @property
    def running(self) -> int:
        return len(self.starts)

    def set_running(self, keys: set[str]) -> None:
        """The tasks running now (the scheduler's view): the ETA counts their elapsed time."""
        now = time.monotonic()
        with self.lock:
            self.starts = {k: self.starts.get(k, now) for k in keys}

    def seen(self, sid: str, rec: Record | None, *, fresh: bool) -> None:
        self.done += 1
        if rec is not None:
            self.counts[rec.status] += 1
        if fresh and rec is not None:
            self.graded_now += 1
            self.durations.append(rec.seconds)
            if not self.tty:
                pts = f"{rec.total:g}/{rec.possible:g}" if rec.questions else rec.reason[:60]
                self._line(f"[{self.graded_now}/{self.to_grade}] {sid}  {rec.status}  {pts}  "
                           f"({rec.seconds:.0f} s)  ETA {self.eta()}")
        self.tick()

    def eta(self) -> str:
        """Work left / workers; a grading running longer than the mean raises the estimate."""
        left = self.to_grade - self.graded_now
        if left <= 0:
            return "0s"
        now = time.monotonic()
        with self.lock:
            running = [now - t for t in self.starts.values()]
        if not self.durations and not running:
            return "--"
        mean = sum(self.durations) / len(self.durations) if self.durations else 0.0
        avg = max([mean, *running])
        queued = max(0, left - len(running))
        work = queued * avg + sum(max(avg - r, 0.0) for r in running)
        return _fmt_secs(work / max(1, self.workers))

    def tick(self) -> None:
        if not self.tty:
            return
        width = 24
        frac = self.done / self.total if self.total else 1.0
        bar = "#" * int(width * frac) + "." * (width - int(width * frac))
        counts = " ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        elapsed = _fmt_secs(time.monotonic() - self.start)
        self.stream.write(f"\r\033[K[{bar}] {self.done}/{self.total}  {counts}  | running {self.running}"
                          f"  | {elapsed} elapsed, ETA {self.eta()}")
        self.stream.flush()

    def note(self, text: str) -> None:
        if self.tty:
            self.stream.write("\n")
        self._line(text)

    def close(self) -> None:
        if self.tty:
            self.tick()
            self.stream.write("\n")
            self.stream.flush()

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


def _fmt_secs(secs: float) -> str:
    secs = int(round(secs))
    return f"{secs // 60}m{secs % 60:02d}s" if secs >= 60 else f"{secs}s"
