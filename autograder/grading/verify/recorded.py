"""The student's recorded curves against the grader's own training of the same network.

The submitted notebook records each history it trained (``notebook.recorded_curves``); the
grader trains each network itself (``replay``). The readings are graded against the student's
own curves only when they match the grader's training within the release's ``curve_band``: then
the student reads exactly what the notebook showed them, and editing the record can gain nothing
beyond the band. Otherwise the grader's curves count and a TA is told, with the numbers of both.
Pure: no Keras, no files.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from autograder import curves

#: In ``private_dir(workdir)``: the curves recorded in the submitted notebook, written by the
#: grader before the notebook runs (the sandbox cannot see or change it).
STUDENT_CURVES = "student_curves.json"
#: Float slack on the band.
BAND_SLACK = 1e-9


@dataclass(frozen=True, kw_only=True)
class Reconciled:
    """What a ``hist_<name>`` is graded against, and what a TA should be told."""

    history: Any  # the student's record in the trained history's type, or the trained one
    difference: float | None  # largest difference from the grader's own training; None: nothing recorded
    flag: str = ""  # a doubt about the row (the record differs beyond the band)
    note: str = ""  # information only (nothing was recorded)


def reconcile(var: str, trained: Any, recorded: Mapping[str, list[float]] | None,
              band: float) -> Reconciled:
    """Grade ``var`` against ``recorded`` if it lies within ``band`` of ``trained``."""
    if recorded is None:
        return Reconciled(history=trained, difference=None,
                          note=f"{var}: the submitted notebook carried no recorded curves; graded "
                               "against the grader's own training")
    try:
        difference = curves.curve_difference(trained, recorded)
    except (TypeError, ValueError):  # a record the curve analysis refuses (e.g. accuracy > 1)
        difference = math.inf
    if difference <= band + BAND_SLACK:
        return Reconciled(history=as_history_like(trained, recorded), difference=difference)
    return Reconciled(history=trained, difference=difference,
                      flag=_differs(var, trained, recorded, difference, band))


def as_history_like(trained: Any, recorded: Mapping[str, list[float]]) -> Any:
    """A copy of ``trained`` (DataFrame or History) with the columns ``recorded`` holds."""
    shared = [c for c in recorded if c in _columns(trained)]
    if hasattr(trained, "columns"):
        frame = trained.copy()
        for col in shared:
            frame[col] = list(recorded[col])
        return frame
    history = copy.copy(trained)
    history.history = {**trained.history, **{c: list(recorded[c]) for c in shared}}
    return history


def _columns(h: Any) -> list[str]:
    return [str(c) for c in h.columns] if hasattr(h, "columns") else [str(c) for c in h.history]


def _differs(var: str, trained: Any, recorded: Mapping[str, list[float]], difference: float,
             band: float) -> str:
    head = f"{var}: the curves in the submitted notebook differ from the grader's own training"
    try:
        mine, theirs = len(curves.validated(recorded)), len(curves.validated(trained))
        if mine != theirs:
            head += f" ({mine} epochs in the notebook vs {theirs} trained by the grader)"
        else:
            head += f" by up to {difference:.4f}"
        e_rec, e_reg = curves.good_epoch(recorded), curves.good_epoch(trained)
        tail = (f"; good epoch {e_rec} (val. accuracy {curves.val_accuracy_at(recorded, e_rec):.4f}) "
                f"in the notebook vs {e_reg} ({curves.val_accuracy_at(trained, e_reg):.4f}) "
                "in the grader's training")
    except (TypeError, ValueError) as exc:
        tail = f"; the recorded curves are unusable ({str(exc)[:120]})"
    return f"{head} (band {band:g}): graded against the grader's curves{tail}"
