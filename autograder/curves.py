"""Learning-curve analysis: what a careful reader can and cannot read off a training plot.

A *history* holds, per epoch ``1..N``, the Keras columns ``accuracy`` and ``val_accuracy`` and,
optionally, ``loss`` and ``val_loss``. Every function here accepts a history in any form
:func:`validated` accepts (a Keras ``History``, a dict of lists, a pandas DataFrame, a
:class:`Curves`) and never modifies its input. The analysis runs on NumPy arrays only: pandas is
imported only by :func:`history_frame` (a DataFrame for display), so the clean check, which
reads every curve, does not pay for importing it.

Tolerances exist because students read values off a picture: epochs whose validation loss lies
within ``tol`` of the lowest cannot be told apart from it, so all of them are right answers.

The readings (for a TA looking at the same picture as the student)
------------------------------------------------------------------
Measured on the exercise's networks (``MEASUREMENTS.md``), validation *accuracy* of an
overfitting network stays flat and noisy after its peak, while validation *loss* has a clear
minimum early and rises afterwards, as in the TensorFlow tutorial "Overfit and underfit". So:

* the **good number of epochs** is where the validation loss (dashed line of the loss plot) is
  lowest (:func:`good_epoch`); epochs within ``tol`` of that lowest loss are accepted too;
* **overfitting** is read from how far the validation loss has *risen* from its lowest point by
  the last epoch (:func:`loss_rise`): a rise of ``yes_at`` or more means the network
  **overfits** (``True``); a rise below ``no_below`` means it does **not** (``False``): its
  validation loss is still at (or near) its lowest; in between both answers are accepted;
* the **gap** (training accuracy minus validation accuracy at the last epoch, :func:`gap`)
  measures how much a technique of Part 3 eases overfitting.

The two numbers are :class:`Thresholds` ``yes_at`` and ``no_below``. All comparisons allow
:data:`EPS` of floating-point slack so that a value exactly on a boundary counts as on it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, Union

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CHOICE_TOL",
    "DEFAULT_THRESHOLDS",
    "EPOCH_TOL",
    "GAP_TOL",
    "VAL_ACC_TOL",
    "Curves",
    "EPS",
    "HistoryLike",
    "Thresholds",
    "Verdict",
    "accepted_epochs",
    "accepts_overfitting_answer",
    "best_technique",
    "curve_difference",
    "final_gaps",
    "final_rises",
    "gap",
    "good_epoch",
    "history_frame",
    "loss_at",
    "loss_rise",
    "most_overfit",
    "overfitting_verdict",
    "val_accuracy_at",
    "validated",
]

#: Slack for float rounding in every ``>=``/``<`` against a tolerance or threshold.
EPS = 1e-9

# The default tolerances of the readings, in one place; a release sets its own in its version
# file (``release.versions``), these are what a reading is judged by when it says nothing.
#: (a) an epoch is accepted when its validation loss is within this of the lowest.
EPOCH_TOL = 0.01
#: (b) accepted distance from the validation accuracy read.
VAL_ACC_TOL = 0.02
#: (d) rises (and final gaps) this close to the largest (smallest) are also accepted.
CHOICE_TOL = 0.02
#: "more units overfit more", "dropout shrinks the gap": differences this small accept either answer.
GAP_TOL = 0.005

REQUIRED: tuple[str, ...] = ("accuracy", "val_accuracy")
OPTIONAL: tuple[str, ...] = ("loss", "val_loss")


class _HasHistory(Protocol):
    """Anything shaped like ``keras.callbacks.History``."""

    history: Mapping[str, Sequence[float]]


class Curves:
    """A validated history: one read-only float64 array per column, epochs ``1..N``.

    ``len()`` is the number of epochs (as for a DataFrame of the history); ``curves[col]`` is a
    column's array, ``curves.columns`` the column names. Made only by :func:`validated`.
    """

    __slots__ = ("_cols", "_n")

    def __init__(self, cols: dict[str, np.ndarray], n: int) -> None:
        for arr in cols.values():
            arr.flags.writeable = False
        self._cols, self._n = cols, n

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self._cols)

    def __getitem__(self, col: str) -> np.ndarray:
        return self._cols[col]

    def __contains__(self, col: object) -> bool:
        return col in self._cols

    def __iter__(self) -> Iterator[str]:
        return iter(self._cols)

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return f"<Curves: {self._n} epoch(s), {', '.join(self._cols)}>"


HistoryLike = Union["pd.DataFrame", Curves, Mapping[str, Sequence[float]], _HasHistory]


def _columns(history: HistoryLike) -> tuple[dict[str, object], object | None]:
    """Split any accepted input into raw columns and (for a DataFrame) its index."""
    if isinstance(history, Curves):
        return {c: history[c] for c in history.columns}, None
    if hasattr(history, "columns") and hasattr(history, "index"):  # a DataFrame, or the clean
        # check's stand-in for one (``artifacts._Frame``): columns and their epoch index
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
    """Return ``history`` as a validated float DataFrame indexed by epoch ``1..N`` (index name
    ``"epoch"``), for display; the same validation as :func:`validated`."""
    import pandas as pd

    curves = validated(history)
    return pd.DataFrame({c: np.array(curves[c]) for c in curves.columns},
                        index=pd.RangeIndex(1, len(curves) + 1, name="epoch"))


def validated(history: HistoryLike) -> Curves:
    """Return ``history`` as validated :class:`Curves` (float columns, epochs ``1..N``).

    Validating once here lets every other function trust its input: a broken history fails
    with a message naming the problem instead of a wrong grade. Metrics other than accuracy
    and loss (e.g. ``learning_rate``) are dropped. A DataFrame indexed ``0..N-1`` is shifted
    to ``1..N`` because epochs on a plot are counted from 1.
    """
    if isinstance(history, Curves):
        return history
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
            arr = np.array(raw[col], dtype=float)  # a copy: the input is never shared
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
    return Curves(arrays, n)


def _val_loss(h: HistoryLike) -> np.ndarray:
    frame = validated(h)
    if "val_loss" not in frame.columns:
        raise ValueError("history lacks 'val_loss': pass validation data to fit() (the loss is "
                         "recorded by Keras whenever there is validation data)")
    return frame["val_loss"]


def good_epoch(h: HistoryLike) -> int:
    """First epoch with the lowest validation loss (the bottom of the dashed loss curve)."""
    return int(np.argmin(_val_loss(h))) + 1  # the first of equal lowest values


def accepted_epochs(h: HistoryLike, tol: float = EPOCH_TOL) -> list[int]:
    """Epochs whose validation loss is within ``tol`` of the lowest.

    On a plot these points are indistinguishable from the lowest one, so each is a right answer
    to "at which epoch is the validation loss lowest?".
    """
    if tol < 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    val = _val_loss(h)
    return [int(i) + 1 for i in np.flatnonzero(val <= val.min() + tol + EPS)]


def loss_at(h: HistoryLike, epoch: int) -> float:
    """Validation loss at ``epoch`` (1-based)."""
    val = _val_loss(h)
    _check_epoch(epoch, len(val))
    return float(val[int(epoch) - 1])


def loss_rise(h: HistoryLike) -> float:
    """How far the validation loss at the last epoch lies above its lowest value (>= 0)."""
    val = _val_loss(h)
    return float(val[-1] - val.min())


def _check_epoch(epoch: object, n: int) -> None:
    if isinstance(epoch, bool) or not isinstance(epoch, int | np.integer):
        raise TypeError(f"epoch must be an int, not {type(epoch).__name__}")
    if not 1 <= epoch <= n:
        raise ValueError(f"epoch {epoch} is outside 1..{n}")


def val_accuracy_at(h: HistoryLike, epoch: int) -> float:
    """Validation accuracy at ``epoch`` (1-based, as on the plot's x axis)."""
    frame = validated(h)
    _check_epoch(epoch, len(frame))
    return float(frame["val_accuracy"][int(epoch) - 1])


def gap(h: HistoryLike, epoch: int | None = None) -> float:
    """Generalisation gap ``accuracy - val_accuracy`` at ``epoch`` (default: the last one)."""
    frame = validated(h)
    e = len(frame) if epoch is None else epoch
    val = val_accuracy_at(frame, e)  # also validates ``epoch``
    return float(frame["accuracy"][int(e) - 1]) - val


@dataclass(frozen=True)
class Thresholds:
    """Validation-loss rise thresholds of the overfitting rule (see the module docstring)."""

    yes_at: float = 0.05
    no_below: float = 0.01

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

    ``rise`` is the validation loss's rise from its lowest value to the last epoch; ``margin`` is
    how far it lies from the threshold that decided the label (for ``"ambiguous"``: from the
    nearer edge of the band), so a TA can see borderline cases.
    """

    label: Literal["yes", "no", "ambiguous"]
    rise: float
    margin: float


#: The rule's thresholds as stated in the module docstring.
DEFAULT_THRESHOLDS = Thresholds()


def overfitting_verdict(h: HistoryLike, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Verdict:
    """Apply the overfitting rule to the validation loss of ``h``."""
    g = loss_rise(h)
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


def final_rises(histories: Mapping[str, HistoryLike]) -> dict[str, float]:
    """Validation-loss rise of each named history, in the mapping's order."""
    if not histories:
        raise ValueError("no histories given")
    return {name: loss_rise(h) for name, h in histories.items()}


def most_overfit(histories: Mapping[str, HistoryLike], tol: float = CHOICE_TOL) -> list[str]:
    """Names whose validation-loss rise is within ``tol`` of the largest: every acceptable answer."""
    rises = final_rises(histories)
    top = max(rises.values())
    return [name for name, r in rises.items() if r >= top - tol - EPS]


def best_technique(histories: Mapping[str, HistoryLike], tol: float = CHOICE_TOL) -> list[str]:
    """Names whose final gap is within ``tol`` of the smallest: the techniques that ease
    overfitting most."""
    gaps = final_gaps(histories)
    bottom = min(gaps.values())
    return [name for name, g in gaps.items() if g <= bottom + tol + EPS]


def curve_difference(a: HistoryLike, b: HistoryLike) -> float:
    """Largest absolute difference between two histories, over every column both record.

    Histories of different lengths differ by ``inf``: they are not the same run.
    """
    fa, fb = validated(a), validated(b)
    if len(fa) != len(fb):
        return float("inf")
    cols = [c for c in (*REQUIRED, *OPTIONAL) if c in fa.columns and c in fb.columns]
    return float(max(np.max(np.abs(fa[c] - fb[c])) for c in cols))
