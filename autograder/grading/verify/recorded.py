"""The student's recorded curves against the grader's regenerated ones (issue 10).

The submitted notebook records each history it trained (``notebook.recorded_curves``); the
grader runs the notebook again and exports the regenerated ``hist_<name>``. The readings are
graded against the student's own curves only when they match the grader's run within the
release's ``curve_band``: then the student reads exactly what the notebook showed them, and
editing the record can gain nothing beyond the band. Otherwise the grader's curves count and a
TA is told, with the numbers of both. Pure: no Keras, no files.
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

    history: Any  # the student's record in the regenerated history's type, or the regenerated one
    difference: float | None  # largest difference from the grader's run; None: nothing recorded
    flag: str = ""  # a doubt about the row (the record differs beyond the band)
    note: str = ""  # information only (nothing was recorded)


def reconcile(var: str, regenerated: Any, recorded: Mapping[str, list[float]] | None,
              band: float) -> Reconciled:
    """Grade ``var`` against ``recorded`` if it lies within ``band`` of ``regenerated``."""
    if recorded is None:
        return Reconciled(history=regenerated, difference=None,
                          note=f"{var}: the submitted notebook carried no recorded curves; graded "
                               "against the grader's run")
    try:
        difference = curves.curve_difference(regenerated, recorded)
    except (TypeError, ValueError):  # a record the curve analysis refuses (e.g. accuracy > 1)
        difference = math.inf
    if difference <= band + BAND_SLACK:
        return Reconciled(history=as_history_like(regenerated, recorded), difference=difference)
    return Reconciled(history=regenerated, difference=difference,
                      flag=_differs(var, regenerated, recorded, difference, band))


def as_history_like(regenerated: Any, recorded: Mapping[str, list[float]]) -> Any:
    """A copy of ``regenerated`` (DataFrame or History) with the columns ``recorded`` holds."""
    shared = [c for c in recorded if c in _columns(regenerated)]
    if hasattr(regenerated, "columns"):
        frame = regenerated.copy()
        for col in shared:
            frame[col] = list(recorded[col])
        return frame
    history = copy.copy(regenerated)
    history.history = {**regenerated.history, **{c: list(recorded[c]) for c in shared}}
    return history


def _columns(h: Any) -> list[str]:
    return [str(c) for c in h.columns] if hasattr(h, "columns") else [str(c) for c in h.history]


def _differs(var: str, regenerated: Any, recorded: Mapping[str, list[float]], difference: float,
             band: float) -> str:
    head = f"{var}: the curves in the submitted notebook differ from the grader's run"
    try:
        mine, theirs = len(curves.validated(recorded)), len(curves.validated(regenerated))
        if mine != theirs:
            head += f" ({mine} epochs in the notebook vs {theirs} regenerated)"
        else:
            head += f" by up to {difference:.4f}"
        e_rec, e_reg = curves.good_epoch(recorded), curves.good_epoch(regenerated)
        tail = (f"; good epoch {e_rec} (val. accuracy {curves.val_accuracy_at(recorded, e_rec):.4f}) "
                f"in the notebook vs {e_reg} ({curves.val_accuracy_at(regenerated, e_reg):.4f}) "
                "regenerated")
    except (TypeError, ValueError) as exc:
        tail = f"; the recorded curves are unusable ({str(exc)[:120]})"
    return f"{head} (band {band:g}): graded against the grader's curves{tail}"


def reconcile_all(env: dict[str, Any], records: Mapping[str, Mapping[str, list[float]]], band: float,
                  usable: list[str]) -> tuple[list[str], list[str], dict[str, float | None]]:
    """Apply ``reconcile`` to each usable ``hist_<name>`` of ``env`` in place.

    Returns (flags, notes, difference per name) — the difference is None without a record.
    """
    flags, notes, differences = [], [], {}
    for var in usable:
        name = var[len("hist_"):]
        r = reconcile(var, env[var], records.get(name), band)
        env[var] = r.history
        differences[name] = r.difference
        if r.flag:
            flags.append(r.flag)
        if r.note:
            notes.append(r.note)
    return flags, notes, differences
