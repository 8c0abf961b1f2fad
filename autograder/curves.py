"""Learning-curve analysis: what a careful reader can and cannot read off a training plot.

A *history* is a DataFrame indexed by epoch ``1..N`` (index name ``"epoch"``) with the Keras
columns ``accuracy`` and ``val_accuracy`` and, optionally, ``loss`` and ``val_loss``. Every
function here accepts a history in any form :func:`history_frame` accepts (a Keras ``History``,
a dict of lists, a DataFrame) and never modifies its input.

Tolerances exist because students read values off a picture: epochs whose validation accuracy
lies within ``tol`` of the peak cannot be told apart from it, so all of them are right answers.

The overfitting rule (for a TA looking at the same picture as the student)
--------------------------------------------------------------------------
Look only at the **last epoch** of the accuracy plot. The *gap* is the training accuracy (solid
line) minus the validation accuracy (dashed line) at that epoch.

* gap >= 0.05 (five percentage points or more): the network **overfits** -> answer ``True``.
* gap <  0.02 (less than two percentage points): it does **not** overfit -> answer ``False``.
* anything in between is **ambiguous**: both ``True`` and ``False`` are accepted.

The two numbers are :class:`Thresholds` ``yes_at`` and ``no_below``. All comparisons allow
:data:`EPS` of floating-point slack so that a value exactly on a boundary counts as on it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import pandas as pd

__all__ = [
    "DEFAULT_THRESHOLDS",
    "EPS",
    "HistoryLike",
    "Thresholds",
    "Verdict",
    "accepted_epochs",
    "accepts_overfitting_answer",
    "best_epoch",
    "best_technique",
    "final_gaps",
    "gap",
    "history_frame",
    "most_overfit",
    "overfitting_verdict",
    "val_accuracy_at",
]

#: Slack for float rounding in every ``>=``/``<`` against a tolerance or threshold.
EPS = 1e-9

REQUIRED: tuple[str, ...] = ("accuracy", "val_accuracy")
OPTIONAL: tuple[str, ...] = ("loss", "val_loss")


class _HasHistory(Protocol):
    """Anything shaped like ``keras.callbacks.History``."""

    history: Mapping[str, Sequence[float]]


HistoryLike = pd.DataFrame | Mapping[str, Sequence[float]] | _HasHistory


def _columns(history: HistoryLike) -> tuple[dict[str, object], pd.Index | None]:
    """Split any accepted input into raw columns and (for a DataFrame) its index."""
    if isinstance(history, pd.DataFrame):
        return {str(c): history[c] for c in history.columns}, history.index
    if isinstance(history, Mapping):
        return {str(k): v for k, v in history.items()}, None
    inner = getattr(history, "history", None)
    if isinstance(inner, Mapping):
        return {str(k): v for k, v in inner.items()}, None
    raise TypeError(
        "history must be a keras History, a dict of lists or a pandas DataFrame, "
        f"not {type(history).__name__}"
    )


def history_frame(history: HistoryLike) -> pd.DataFrame:
    """Return ``history`` as a validated float DataFrame indexed by epoch ``1..N``.

    Validating once here lets every other function trust its input: a broken history fails
    with a message naming the problem instead of a wrong grade. Metrics other than accuracy
    and loss (e.g. ``learning_rate``) are dropped. A DataFrame indexed ``0..N-1`` is shifted
    to ``1..N`` because epochs on a plot are counted from 1.
    """
    raw, index = _columns(history)
    missing = [c for c in REQUIRED if c not in raw]
    if missing:
        raise ValueError(
            f"history lacks column(s) {missing}; it needs 'accuracy' and 'val_accuracy' "
            f"(found {sorted(raw)}); compile the model with metrics=['accuracy'] and pass "
            "validation data to fit()"
        )
    arrays: dict[str, np.ndarray] = {}
    for col in (*REQUIRED, *(c for c in OPTIONAL if c in raw)):
        try:
            arr = np.asarray(raw[col], dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"history column {col!r} is not numeric") from exc
        if arr.ndim != 1:
            raise ValueError(f"history column {col!r} must be a 1-D list of per-epoch values")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"history column {col!r} contains NaN or infinite values")
        arrays[col] = arr
    lengths = {col: len(arr) for col, arr in arrays.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"history columns have different lengths: {lengths}")
    n = lengths["accuracy"]
    if n < 1:
        raise ValueError("history has no epochs")
    for col in REQUIRED:
        if np.any(arrays[col] < 0.0) or np.any(arrays[col] > 1.0):
            raise ValueError(f"history column {col!r} must be a fraction in 0..1")
    if index is not None:
        values = np.asarray(index)
        zero_based = np.array_equal(values, np.arange(n))
        if not (zero_based or np.array_equal(values, np.arange(1, n + 1))):
            raise ValueError("a history DataFrame must be indexed by epoch 0..N-1 or 1..N")
    return pd.DataFrame(arrays, index=pd.RangeIndex(1, n + 1, name="epoch"))


def best_epoch(h: HistoryLike) -> int:
    """First epoch with the highest validation accuracy (the peak of the dashed line)."""
    return int(history_frame(h)["val_accuracy"].idxmax())


def accepted_epochs(h: HistoryLike, tol: float = 0.01) -> list[int]:
    """Epochs whose validation accuracy is within ``tol`` of the peak.

    On a plot these points are indistinguishable from the best one, so each is a right answer
    to "at which epoch is validation accuracy highest?".
    """
    if tol < 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    val = history_frame(h)["val_accuracy"]
    return [int(e) for e in val.index[val >= val.max() - tol - EPS]]


def val_accuracy_at(h: HistoryLike, epoch: int) -> float:
    """Validation accuracy at ``epoch`` (1-based, as on the plot's x axis)."""
    frame = history_frame(h)
    if isinstance(epoch, bool) or not isinstance(epoch, int | np.integer):
        raise TypeError(f"epoch must be an int, not {type(epoch).__name__}")
    if not 1 <= epoch <= len(frame):
        raise ValueError(f"epoch {epoch} is outside 1..{len(frame)}")
    return float(frame.at[int(epoch), "val_accuracy"])


def gap(h: HistoryLike, epoch: int | None = None) -> float:
    """Generalisation gap ``accuracy - val_accuracy`` at ``epoch`` (default: the last one)."""
    frame = history_frame(h)
    e = len(frame) if epoch is None else epoch
    val = val_accuracy_at(frame, e)  # also validates ``epoch``
    return float(frame.at[int(e), "accuracy"]) - val


@dataclass(frozen=True)
class Thresholds:
    """Gap thresholds of the overfitting rule (see the module docstring)."""

    yes_at: float = 0.05
    no_below: float = 0.02

    def __post_init__(self) -> None:
        if not (np.isfinite(self.yes_at) and np.isfinite(self.no_below)):
            raise ValueError("thresholds must be finite numbers")
        if not self.no_below < self.yes_at:
            raise ValueError(
                f"no_below ({self.no_below}) must be smaller than yes_at ({self.yes_at})"
            )


@dataclass(frozen=True)
class Verdict:
    """Outcome of the overfitting rule.

    ``margin`` is how far the final gap lies from the threshold that decided the label (for
    ``"ambiguous"``: from the nearer edge of the band), so a TA can see borderline cases.
    """

    label: Literal["yes", "no", "ambiguous"]
    gap: float
    margin: float


#: The rule's thresholds as stated in the module docstring.
DEFAULT_THRESHOLDS = Thresholds()


def overfitting_verdict(h: HistoryLike, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Verdict:
    """Apply the overfitting rule to the last epoch of ``h``."""
    g = gap(h)
    if g >= thresholds.yes_at - EPS:
        return Verdict("yes", g, max(0.0, g - thresholds.yes_at))
    if g < thresholds.no_below - EPS:
        return Verdict("no", g, thresholds.no_below - g)
    return Verdict("ambiguous", g, max(0.0, min(g - thresholds.no_below, thresholds.yes_at - g)))


def accepts_overfitting_answer(
    h: HistoryLike,
    answer: bool,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> bool:
    """Is ``answer`` to "does this network overfit?" acceptable under the rule?"""
    label = overfitting_verdict(h, thresholds).label
    return label == "ambiguous" or (label == "yes") == bool(answer)


def final_gaps(histories: Mapping[str, HistoryLike]) -> dict[str, float]:
    """Final-epoch gap of each named history, in the mapping's order."""
    if not histories:
        raise ValueError("no histories given")
    return {name: gap(h) for name, h in histories.items()}


def most_overfit(histories: Mapping[str, HistoryLike], tol: float = 0.02) -> list[str]:
    """Names whose final gap is within ``tol`` of the largest: every acceptable answer."""
    gaps = final_gaps(histories)
    top = max(gaps.values())
    return [name for name, g in gaps.items() if g >= top - tol - EPS]


def best_technique(histories: Mapping[str, HistoryLike], tol: float = 0.02) -> list[str]:
    """Names whose final gap is within ``tol`` of the smallest: the techniques that ease
    overfitting most."""
    gaps = final_gaps(histories)
    bottom = min(gaps.values())
    return [name for name, g in gaps.items() if g <= bottom + tol + EPS]
