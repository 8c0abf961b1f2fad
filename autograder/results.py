"""One student's result, in one shape from the grading to every page and file that shows it.

``Status`` names every state a row of the class can be in; ``Record`` is one finished grading
(what ``run_one.grade_one`` returns, the ledger keeps and the reports read); ``ClassEntry`` is the
class table's pointer from a student to the submission that counts; ``ClassRow`` is one student's
line as the grade sheet and the LMS exports write it. Nothing here runs anything.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Status(StrEnum):
    """A row's status; the value is what the grade sheet, the ledger and the exports write."""

    GRADED = "graded"
    ERROR = "error"
    TIMEOUT = "timeout"
    INVALID = "invalid"
    EMPTY = "empty"
    WRONG_VERSION = "wrong-version"
    #: Not a grade: the batch was stopped (Ctrl-C) while this submission ran; never recorded.
    INTERRUPTED = "interrupted"
    #: No result yet: the batch was interrupted before this submission finished.
    PENDING = "pending"
    #: On the roster, nothing handed in.
    MISSING = "missing"


#: The statuses a finished grading can be recorded with.
RECORDED = (Status.GRADED, Status.TIMEOUT, Status.ERROR, Status.INVALID, Status.WRONG_VERSION,
            Status.EMPTY)


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
class Record:
    """One grading of one submission against one target (never an interrupted one in the ledger).

    ``grade_one`` fills everything but the keys (``sub_sha``, ``ag_sha``) and ``time_limit``,
    which the caller knows; nothing of it is read back from disk by anyone else.
    """

    sub_sha: str = ""
    ag_sha: str = ""
    status: Status | str
    reason: str = ""
    seconds: float = 0.0
    questions: list[QuestionResult] = field(default_factory=list)
    #: otter's Gradescope-format result of the clean check (``results/<ID>.json``).
    results_json: str = ""
    test_accuracy: float | None = None
    figures: dict[str, bytes] = field(default_factory=dict)
    log_tail: str = ""
    peak_rss: int = 0
    finished_at: float = 0.0
    #: The clean check's summary of each checked learning curve (good epoch, rise, verdict, ...).
    curves: dict = field(default_factory=dict)
    #: Things a TA should look at although the score stands (the clean check overruled the
    #: kernel, a history did not match its network, a value could not be read back).
    flags: list[str] = field(default_factory=list)
    #: Things a TA may want to know that cast no doubt on the row (e.g. the notebook carried no
    #: recorded curves). Never shown as a flag.
    notes: list[str] = field(default_factory=list)
    time_limit: float = 0.0  # the time limit it was graded under (0: not recorded)
    kit: str = ""  # the kit version that graded it ("" : before kit versions were recorded)

    def __post_init__(self) -> None:
        self.status = Status(self.status)

    @property
    def total(self) -> float:
        return sum(q.score for q in self.questions)

    @property
    def possible(self) -> float:
        return sum(q.possible for q in self.questions)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["figures"] = sorted(self.figures)
        d["total"], d["possible"] = self.total, self.possible
        return d


@dataclass(frozen=True, kw_only=True)
class ClassEntry:
    """One student of the class kept in an output folder: the submission that counts for them."""

    student_id: str
    file: str  # where the submission came from ("bulk.zip/Taro Yamada_123456_.../a.ipynb")
    sub_sha: str
    ag_key: str  # the ledger key of the result (``Target.key``); "" when decided before grading
    status: Status | str  # the result's status, or the status decided before grading
    reason: str = ""
    version: str = ""
    name: str = ""
    lms_id: str = ""
    flags: tuple[str, ...] = ()  # about the submission and its target (not the grading's own)
    is_notebook: bool = True
    time_text: str = ""
    mtime: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))

    def newer_than(self, other: ClassEntry) -> bool:
        """The duplicate rule across runs: a notebook beats a non-notebook, then the latest."""
        return (self.is_notebook, self.time_text, self.mtime) >= (other.is_notebook, other.time_text,
                                                                  other.mtime)


@dataclass(frozen=True, kw_only=True)
class Adjustment:
    """A TA's change of one student's score (``fmnist-kit adjust``), kept in the ledger beside the
    grading, never inside it: every regrade keeps it. ``question`` names the question whose score
    becomes ``points``; ``""`` sets the total."""

    student_id: str
    question: str
    points: float
    reason: str
    at: float = 0.0

    def describe(self) -> str:
        return f"{self.question or 'total'} = {self.points:g} ({self.reason})"


def adjusted(scores: dict[str, float], adjustments: tuple[Adjustment, ...] | list[Adjustment]
             ) -> tuple[dict[str, float], float]:
    """The per-question scores and the total after the TA's adjustments (a total set by hand wins)."""
    out = dict(scores)
    for a in adjustments:
        if a.question:
            out[a.question] = a.points
    total = next((a.points for a in adjustments if not a.question), sum(out.values()))
    return out, total


@dataclass(frozen=True)
class ClassRow:
    """One student's line of the class, as the grade sheet and the LMS exports write it."""

    student_id: str
    name: str
    email: str
    lms_id: str
    section: str
    status: Status | str
    points: float
    possible: float
    reason: str = ""
    late: bool = False
    doubt: str = ""  # why who handed it in is in doubt (``IDENTITY_DOUBT``): never exported
    adjusted: str = ""  # the TA's adjustments and their reasons (``Adjustment.describe``)

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))

    @property
    def why_not(self) -> str:
        """Why no LMS gets a number for this row ("" when it carries one)."""
        if self.doubt:
            return self.doubt
        if self.status == Status.GRADED:
            return ""
        if self.status == Status.MISSING:
            return "missing: nothing handed in"
        if self.status == Status.PENDING:
            return "pending: not graded yet (the batch was interrupted; run the grade command again)"
        return f"{self.status}: {self.reason}" if self.reason else str(self.status)
