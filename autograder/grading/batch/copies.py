"""Copies the TA should see: the same file, byte for byte, handed in by different students.

The batch grades a file once for every student who handed it in (its key is the file's hash), so
nothing else in the grade sheet would say that two rows are one notebook.
"""

from __future__ import annotations

from typing import Any

from autograder.results import Status


def flag_copies(outcomes: list[Any]) -> None:
    """Flag graded rows whose files are byte for byte the same as another student's, naming each
    other (the TA's view; the student's feedback does not show it). A file graded once counts for
    every student who handed it in, so nothing else would say so. Files that earned nothing (an
    untouched handout) are not copies worth a look."""
    by_file: dict[str, list[Any]] = {}
    for o in outcomes:
        rec = o.record
        if o.submission.sha256 and rec is not None and rec.status == Status.GRADED and rec.total > 0:
            by_file.setdefault(o.submission.sha256, []).append(o)
    for same in by_file.values():
        ids = sorted({o.submission.student_id for o in same})
        for o in same if len(ids) > 1 else ():
            others = ", ".join(i for i in ids if i != o.submission.student_id)
            o.flags = (*o.flags, f"the same file, byte for byte, as {others} handed in: a copy? talk to both")

