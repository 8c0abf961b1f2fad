"""A TA's adjustment of one student's score: kept in the ledger, then the class written again.

The one way the kit changes a score by hand. An adjustment sets one question's score (or the
total) of a graded row, with a reason; it lives in the ledger beside the grading, so every regrade
keeps it, and the grade sheet (column ``adjusted``), the student's feedback, the class report and
every export show it with its reason. Removing it is one command too.
"""

from __future__ import annotations

import time
from pathlib import Path

from autograder.errors import ConfigError
from autograder.grading.batch import engine
from autograder.grading.batch.ledger import FILENAME, Ledger, folder_lock
from autograder.grading.intake.identity import class_roster
from autograder.grading.intake.inputs import Intake
from autograder.grading.intake.targets import load_published
from autograder.report import outputs
from autograder.results import Adjustment, Record, Status
from autograder.target import AutograderInfo


def adjust(out: Path, slug: str, student_id: str, question: str, points: float | None, reason: str,
           remove: bool = False) -> str:
    """Keep (or with ``remove`` drop) the adjustment and write the class again; what was done."""
    if not (out / FILENAME).is_file():
        raise ConfigError(f"no graded class in {out}",
                          hint=f"grade into it first: fmnist-kit grade ... --out {out}")
    with folder_lock(out), Ledger(out) as ledger:
        entry = ledger.entry(student_id)
        rec = ledger.get(entry.sub_sha, entry.ag_key) if entry and entry.sub_sha and entry.ag_key else None
        if entry is None:
            raise ConfigError(f"student {student_id} is not in the class in {out}",
                              hint="the student_id column of grades.csv names who is")
        if rec is None or rec.status != Status.GRADED:
            raise ConfigError(f"{student_id}'s row is {entry.status}, not graded: only a graded score can be "
                              "adjusted",
                              hint="grade it again first (fmnist-kit grade ... --retry failed), or give the "
                                   "grade in the LMS yourself")
        if remove:
            if not ledger.unadjust(student_id, question):
                raise ConfigError(f"{student_id} has no adjustment of {question or 'the total'}",
                                  hint="grades.csv's column adjusted lists them")
            done = f"removed the adjustment of {student_id}'s {question or 'total'}"
        else:
            adj = _checked(rec, student_id, question, points, reason)
            ledger.adjust(adj)
            done = f"{student_id}: {adj.describe()}"
        version = entry.version
    _write_class(out, slug, version, rec)
    return done


def _checked(rec: Record, student_id: str, question: str, points: float | None, reason: str) -> Adjustment:
    possible = {q.name: q.possible for q in rec.questions}
    if question and question not in possible:
        raise ConfigError(f"no question {question!r} in {student_id}'s grading",
                          hint=f"one of: {', '.join(possible)}; or none for the total")
    top = possible[question] if question else rec.possible
    if points is None or not 0 <= points <= top:
        raise ConfigError(f"--points must be between 0 and {top:g} for {question or 'the total'}",
                          hint="the score the question (or the total) gets; the kit never rescales")
    if not reason.strip():
        raise ConfigError("an adjustment needs its reason (--reason TEXT)",
                          hint="the student reads it in the feedback and the LMS shows it")
    return Adjustment(student_id=student_id, question=question, points=float(points),
                      reason=" ".join(reason.split())[:500], at=time.time())


def _write_class(out: Path, slug: str, version: str, rec: Record) -> None:
    """The class's grade sheet, feedback and report written again from the ledger."""
    info = load_published(slug).get(version) or AutograderInfo(
        path=Path(), sha256="", assignment_name=slug, questions=tuple(q.name for q in rec.questions),
        points=tuple(q.possible for q in rec.questions), version=version)
    batch = engine.class_view(engine.BatchResult(Intake(), []), out)
    outputs.write_all(batch, info, out, class_roster(out, None))
