"""The kit's result types: plain data shared by grading, the ledger, reports and the gate.

Nothing here runs anything; every module that grades, stores or shows a result imports these,
so neither side has to import the other for a type.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: A submission's status in the grade sheet.
GRADED, ERROR, TIMEOUT, INVALID, EMPTY = "graded", "error", "timeout", "invalid", "empty"
WRONG_VERSION = "wrong-version"
#: Not a grade: the batch was stopped (Ctrl-C) while this submission ran; it is never recorded.
INTERRUPTED = "interrupted"
STATUSES = (GRADED, TIMEOUT, ERROR, INVALID, WRONG_VERSION, EMPTY)


class Scored:
    """Total and possible points of something that holds ``questions``."""

    questions: list

    @property
    def total(self) -> float:
        return sum(q.score for q in self.questions)

    @property
    def possible(self) -> float:
        return sum(q.possible for q in self.questions)


@dataclass(kw_only=True)
class QuestionResult:
    name: str
    score: float
    possible: float
    output: str = ""

    @property
    def passed(self) -> bool:
        return self.score >= self.possible


@dataclass(kw_only=True)
class GradeResult(Scored):
    submission: str
    status: str
    reason: str = ""
    questions: list[QuestionResult] = field(default_factory=list)
    seconds: float = 0.0
    workdir: str = ""
    peak_rss: int = 0
    #: Things a TA should look at although the score stands (the clean check overruled the
    #: kernel, a history did not match its network, a value could not be read back).
    flags: list[str] = field(default_factory=list)
    #: Things a TA may want to know that cast no doubt on the row (e.g. the notebook carried no
    #: recorded curves). Never shown as a flag.
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["total"], d["possible"] = self.total, self.possible
        return d


@dataclass(kw_only=True)
class Record(Scored):
    """One finished grading (never an interrupted one), as the ledger keeps it."""

    sub_sha: str
    ag_sha: str
    status: str
    reason: str = ""
    seconds: float = 0.0
    questions: list[QuestionResult] = field(default_factory=list)
    results_json: str = ""
    test_accuracy: float | None = None
    figures: dict[str, bytes] = field(default_factory=dict)
    log_tail: str = ""
    peak_rss: int = 0
    finished_at: float = 0.0
    #: The clean check's summary of each checked learning curve (good epoch, rise, verdict, ...).
    curves: dict = field(default_factory=dict)
    #: What the TA should look at although the score stands (``GradeResult.flags``).
    flags: list[str] = field(default_factory=list)
    time_limit: float = 0.0  # the time limit it was graded under (0: not recorded)
    kit: str = ""  # the kit version that graded it ("" : before kit versions were recorded)


@dataclass(frozen=True, kw_only=True)
class ClassEntry:
    """One student of the class kept in an output folder: the submission that counts for them."""

    student_id: str
    file: str  # where the submission came from ("bulk.zip/Taro Yamada_123456_.../a.ipynb")
    sub_sha: str
    ag_key: str  # the ledger key of the result (``Target.key``); "" when decided before grading
    status: str  # the result's status, or the status decided before grading
    reason: str = ""
    version: str = ""
    name: str = ""
    lms_id: str = ""
    flags: tuple[str, ...] = ()  # about the submission and its target (not the grading's own)
    is_notebook: bool = True
    time_text: str = ""
    mtime: float = 0.0

    def newer_than(self, other: ClassEntry) -> bool:
        """The duplicate rule across runs: a notebook beats a non-notebook, then the latest."""
        return (self.is_notebook, self.time_text, self.mtime) >= (other.is_notebook, other.time_text,
                                                                  other.mtime)


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
