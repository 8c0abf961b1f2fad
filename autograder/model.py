"""The old home of the result types: ``autograder.results`` and ``autograder.target`` now.

Kept so that code written against ``autograder.model`` (and the status constants it defined)
keeps working; new code imports ``results.Status`` and the types from their own modules.
"""

from __future__ import annotations

from autograder.results import RECORDED as STATUSES
from autograder.results import ClassEntry, QuestionResult, Record, Status
from autograder.target import AutograderInfo, Target

GRADED, ERROR, TIMEOUT, INVALID, EMPTY = (Status.GRADED, Status.ERROR, Status.TIMEOUT, Status.INVALID,
                                          Status.EMPTY)
WRONG_VERSION, INTERRUPTED = Status.WRONG_VERSION, Status.INTERRUPTED

__all__ = ["EMPTY", "ERROR", "GRADED", "INTERRUPTED", "INVALID", "STATUSES", "TIMEOUT", "WRONG_VERSION",
           "AutograderInfo", "ClassEntry", "QuestionResult", "Record", "Status", "Target"]
