"""What a submission is graded against: an autograder zip, its version, maybe a seed of its own.

Plain data shared by grading, the publishing gate and the reports; nothing here runs anything.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class AutograderInfo:
    """What the autograder zip says about its assignment (read once per batch)."""

    path: Path
    sha256: str
    assignment_name: str
    questions: tuple[str, ...]
    points: tuple[float, ...] = ()  # per question, as the test files declare
    version: str = ""  # from the release's kit_params.json ("" for an unversioned autograder)
    variants: bool = False  # per-student seeds (the course secret is needed to grade)

    def possible(self) -> dict[str, float]:
        return dict(zip(self.questions, self.points, strict=False))


@dataclass(frozen=True, kw_only=True)
class Target:
    """What one submission is graded against: an autograder, and maybe a seed of its own."""

    autograder: AutograderInfo
    version: str = ""
    #: Overrides the autograder's seed (otter sets ``SEED = <seed>`` before every cell):
    #: per-student variants and the publishing gate.
    seed: int | None = None
    #: Shown with the row, not part of the grade (e.g. "no version stamp: graded as 2026").
    flags: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The ledger's autograder key: the zip's hash, and the seed when it is overridden."""
        if self.seed is None:
            return self.autograder.sha256
        return hashlib.sha256(f"{self.autograder.sha256}:seed={self.seed}".encode()).hexdigest()
