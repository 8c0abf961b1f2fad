"""Grading of the answers a student read off their learning curves.

Two kinds of callers use this module:

* **public tests** (run by students while they work) call the ``check_form_*`` helpers. They
  only check the *form* of an answer (a whole number, a fraction, ``True``/``False``, one of
  the listed names) and never compare it with the curves, so they cannot leak the answer.
* **hidden tests** (run at grading time) call the ``check_*`` helpers, which compare the answer
  with the student's own curves using the tolerances of :mod:`autograder.curves`.

Every failure is a :class:`ReadingError`, an ``AssertionError`` so otter-grader shows its
message as feedback. Messages are bilingual, Japanese first, then English, and say what to
change (or how far off a reading was), never just "wrong". Nothing here crashes on odd input:
a string, ``None`` or a left-over ``...`` becomes a message.
"""

from __future__ import annotations

from collections.abc import Mapping

from autograder.curves import (
    DEFAULT_THRESHOLDS,
    EPS,
    HistoryLike,
    Thresholds,
    accepted_epochs,
    best_technique,
    final_gaps,
    history_frame,
    most_overfit,
    overfitting_verdict,
    val_accuracy_at,
)
from autograder.curves import gap as final_gap

__all__ = [
    "ReadingError",
    "as_accuracy",
    "as_choice",
    "as_epoch",
    "as_yes_no",
    "check_best_technique",
    "check_epoch",
    "check_form_accuracy",
    "check_form_choice",
    "check_form_epoch",
    "check_form_yes_no",
    "check_gap_shrinks",
    "check_most_overfit",
    "check_overfitting",
    "check_val_accuracy",
]


from autograder.forms import (  # noqa: E402  (the public half lives in forms, shipped to students)
    ReadingError,
    _fail,
    as_accuracy,
    as_choice,
    as_epoch,
    as_yes_no,
    check_form_accuracy,
    check_form_choice,
    check_form_epoch,
    check_form_yes_no,
)

# --- hidden tests: substance --------------------------------------------------------------


def check_epoch(answer: object, h: HistoryLike, tol: float = 0.01, *, name: str = "epoch") -> None:
    """Accept any epoch a careful reader cannot tell apart from the validation peak."""
    frame = history_frame(h)
    epoch = as_epoch(answer, name, len(frame))
    if epoch in accepted_epochs(frame, tol):
        return
    val = val_accuracy_at(frame, epoch)
    short = float(frame["val_accuracy"].max()) - val
    _fail(
        name,
        f"エポック数 {epoch} の検証精度 {val:.3f} は最良より {short:.3f} 低い（許容 {tol:.3f}）",
        f"At epoch {epoch} the validation accuracy {val:.3f} is {short:.3f} below the best on "
        f"your curves (tolerance {tol:.3f}).",
    )


def check_val_accuracy(
    answer: object,
    h: HistoryLike,
    epoch_answer: object,
    tol: float = 0.02,
    *,
    name: str = "val_accuracy",
) -> None:
    """Accept the validation accuracy at the student's own epoch, or at the peak.

    Reading the value at the epoch they chose is consistent even when that epoch was slightly
    off, so it is not penalised twice.
    """
    frame = history_frame(h)
    acc = as_accuracy(answer, name)
    try:
        epoch: int | None = as_epoch(epoch_answer, "epoch", len(frame))
    except ReadingError:
        epoch = None
    best = float(frame["val_accuracy"].max())
    if abs(acc - best) <= tol + EPS:
        return
    if epoch is not None:
        at = val_accuracy_at(frame, epoch)
        off = abs(acc - at)
        if off <= tol + EPS:
            return
        side_ja, side_en = ("高い", "above") if acc > at else ("低い", "below")
        _fail(
            name,
            f"答え {acc:.3f} はエポック {epoch} の検証精度 {at:.3f} より {off:.3f} {side_ja}"
            f"（許容 {tol:.3f}）",
            f"Your answer {acc:.3f} is {off:.3f} {side_en} the validation accuracy {at:.3f} "
            f"at your epoch {epoch} (tolerance {tol:.3f}).",
        )
    off = abs(acc - best)
    side_ja, side_en = ("高い", "above") if acc > best else ("低い", "below")
    _fail(
        name,
        f"エポックの答えが使えないため最良の検証精度と比べました。答え {acc:.3f} は最良より "
        f"{off:.3f} {side_ja}（許容 {tol:.3f}）",
        f"Your epoch answer is not usable, so this was compared with the best validation "
        f"accuracy: your answer {acc:.3f} is {off:.3f} {side_en} it (tolerance {tol:.3f}).",
    )


def check_overfitting(
    answer: object,
    h: HistoryLike,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    *,
    name: str = "overfitting",
) -> None:
    """Accept the rule's verdict; in the ambiguous band accept either answer."""
    said = as_yes_no(answer, name)
    verdict = overfitting_verdict(h, thresholds)
    if verdict.label == "ambiguous" or (verdict.label == "yes") == said:
        return
    g, yes, no = verdict.gap, thresholds.yes_at, thresholds.no_below
    _fail(
        name,
        f"最後のエポックの差（学習の精度 − 検証の精度）は {g:.3f} です。差が {yes:.3f} 以上なら"
        f"過学習あり（True）、{no:.3f} 未満なら過学習なし（False）、その間はどちらも正解です",
        f"At the last epoch the gap (training accuracy - validation accuracy) is {g:.3f}. "
        f"The rule: a gap of {yes:.3f} or more means overfitting (True), below {no:.3f} means "
        "no overfitting (False), in between either answer is accepted.",
    )


def check_most_overfit(
    answer: object,
    histories: Mapping[str, HistoryLike],
    tol: float = 0.02,
    *,
    name: str = "most_overfit",
) -> None:
    """Accept any network whose final gap is within ``tol`` of the largest."""
    choice = as_choice(answer, name, list(histories))
    if choice in most_overfit(histories, tol):
        return
    gaps = final_gaps(histories)
    short = max(gaps.values()) - gaps[choice]
    _fail(
        name,
        f"{choice!r} の最後のエポックの差は {gaps[choice]:.3f} で、最大の差より {short:.3f} "
        f"小さい（許容 {tol:.3f}）",
        f"The final gap of {choice!r} is {gaps[choice]:.3f}, {short:.3f} smaller than the "
        f"largest final gap (tolerance {tol:.3f}).",
    )


def check_best_technique(
    answer: object,
    histories: Mapping[str, HistoryLike],
    tol: float = 0.02,
    *,
    name: str = "best_technique",
) -> None:
    """Accept any technique whose final gap is within ``tol`` of the smallest."""
    choice = as_choice(answer, name, list(histories))
    if choice in best_technique(histories, tol):
        return
    gaps = final_gaps(histories)
    excess = gaps[choice] - min(gaps.values())
    _fail(
        name,
        f"{choice!r} の最後のエポックの差は {gaps[choice]:.3f} で、最小の差より {excess:.3f} "
        f"大きい（許容 {tol:.3f}）",
        f"The final gap of {choice!r} is {gaps[choice]:.3f}, {excess:.3f} larger than the "
        f"smallest final gap (tolerance {tol:.3f}).",
    )


def check_gap_shrinks(
    answer: object,
    h_without: HistoryLike,
    h_with: HistoryLike,
    tol: float = 0.005,
    *,
    name: str = "gap_shrinks",
) -> None:
    """Accept "the technique shrinks the final gap" when it does by more than ``tol``.

    Differences within ``tol`` cannot be seen on a plot, so either answer is accepted there.
    """
    said = as_yes_no(answer, name)
    before, after = final_gap(h_without), final_gap(h_with)
    change = after - before
    if abs(change) <= tol + EPS:
        return
    shrinks = change < 0
    if said == shrinks:
        return
    verb_ja = f"{-change:.3f} 縮んで" if shrinks else f"{change:.3f} 広がって"
    verb_en = f"shrank by {-change:.3f}" if shrinks else f"grew by {change:.3f}"
    _fail(
        name,
        f"最後のエポックの差は、手法なしで {before:.3f}、手法ありで {after:.3f} です。"
        f"差は {verb_ja}います（許容 {tol:.3f}）",
        f"The final gap is {before:.3f} without the technique and {after:.3f} with it: "
        f"it {verb_en} (tolerance {tol:.3f}).",
    )
