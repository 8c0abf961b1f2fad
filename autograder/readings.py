"""Grading of the answers a student read off their learning curves.

Two kinds of callers use this module:

* **public tests** (run by students while they work) call the ``check_form_*`` helpers. They
  only check the *form* of an answer (a whole number, a fraction, ``True``/``False``, one of
  the listed names) and never compare it with the curves, so they cannot leak the answer.
* **hidden tests** (run at grading time) call the ``check_*`` helpers, which compare the answer
  with the student's own curves using the rules and tolerances of :mod:`autograder.curves`
  (the good epoch and overfitting are read from the validation loss, the effect of a technique
  from the accuracy gap).

Every failure is a :class:`ReadingError`, an ``AssertionError`` so otter-grader shows its
message as feedback. Messages are bilingual, Japanese first, then English, and say what to
change (or how far off a reading was), never just "wrong". Nothing here crashes on odd input:
a string, ``None`` or a left-over ``...`` becomes a message.
"""

from __future__ import annotations

from collections.abc import Mapping

from autograder.curves import (
    CHOICE_TOL,
    DEFAULT_THRESHOLDS,
    EPOCH_TOL,
    EPS,
    GAP_TOL,
    VAL_ACC_TOL,
    HistoryLike,
    Thresholds,
    accepted_epochs,
    best_technique,
    final_gaps,
    final_rises,
    good_epoch,
    loss_at,
    loss_rise,
    most_overfit,
    overfitting_verdict,
    val_accuracy_at,
    validated,
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
    "check_rise_shrinks",
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


def check_epoch(answer: object, h: HistoryLike, tol: float = EPOCH_TOL, *, name: str = "epoch") -> None:
    """Accept any epoch a careful reader cannot tell apart from the lowest validation loss."""
    frame = validated(h)
    epoch = as_epoch(answer, name, len(frame))
    if epoch in accepted_epochs(frame, tol):
        return
    at, low = loss_at(frame, epoch), loss_at(frame, good_epoch(frame))
    _fail(name,
          f"エポック数 {epoch} の検証の損失 {at:.3f} は最小の {low:.3f} より {at - low:.3f} 大きい"
          f"。許容は {tol:.3f} まで",
          f"At epoch {epoch} the validation loss {at:.3f} is {at - low:.3f} above the lowest "
          f"{low:.3f} on your curves (tolerance {tol:.3f}).")


def check_val_accuracy(answer: object, h: HistoryLike, epoch_answer: object, tol: float = VAL_ACC_TOL, *,
                       name: str = "val_accuracy") -> None:
    """Accept the validation accuracy at the student's own epoch, or at the good epoch.

    Reading the value at the epoch they chose is consistent even when that epoch was slightly
    off, so it is not penalised twice.
    """
    frame = validated(h)
    acc = as_accuracy(answer, name)
    try:
        epoch: int | None = as_epoch(epoch_answer, "epoch", len(frame))
    except ReadingError:
        epoch = None
    good = good_epoch(frame)
    at_good = val_accuracy_at(frame, good)
    if abs(acc - at_good) <= tol + EPS:
        return
    if epoch is not None:
        at = val_accuracy_at(frame, epoch)
        off = abs(acc - at)
        if off <= tol + EPS:
            return
        side_ja, side_en = ("高い", "above") if acc > at else ("低い", "below")
        _fail(name,
              f"答え {acc:.3f} はエポック {epoch} の検証の精度 {at:.3f} より {off:.3f} {side_ja}"
              f"。許容は {tol:.3f} まで",
              f"Your answer {acc:.3f} is {off:.3f} {side_en} the validation accuracy {at:.3f} "
              f"at your epoch {epoch} (tolerance {tol:.3f}).")
    off = abs(acc - at_good)
    side_ja, side_en = ("高い", "above") if acc > at_good else ("低い", "below")
    _fail(name,
          f"エポックの答えが使えないため、検証の損失が最小のエポック {good} の検証の精度 {at_good:.3f} と"
          f"比べました。答え {acc:.3f} はそれより {off:.3f} {side_ja}。許容は {tol:.3f} まで",
          f"Your epoch answer is not usable, so this was compared with the validation accuracy "
          f"{at_good:.3f} at epoch {good}, where the validation loss is lowest: your answer "
          f"{acc:.3f} is {off:.3f} {side_en} it (tolerance {tol:.3f}).")


def check_overfitting(answer: object, h: HistoryLike, thresholds: Thresholds = DEFAULT_THRESHOLDS, *,
                      name: str = "overfitting") -> None:
    """Accept the rule's verdict; in the ambiguous band accept either answer."""
    said = as_yes_no(answer, name)
    verdict = overfitting_verdict(h, thresholds)
    if verdict.label == "ambiguous" or (verdict.label == "yes") == said:
        return
    r, yes, no = verdict.rise, thresholds.yes_at, thresholds.no_below
    _fail(name,
          f"検証の損失は、最後のエポックで最小値より {r:.3f} 上がっています。{yes:.3f} 以上上がっていれば"
          f"過学習あり True、{no:.3f} 未満なら過学習なし False、その間はどちらも正解です",
          f"At the last epoch the validation loss is {r:.3f} above its lowest value. The rule: a "
          f"rise of {yes:.3f} or more means overfitting (True), below {no:.3f} means no "
          "overfitting (False), in between either answer is accepted.")


#: What a wrong choice is told (``_check_choice`` fills in the facts), Japanese and English.
_MOST_OVERFIT_WORDS = (
    "{choice!r} の検証の損失の上がり方は {value:.3f} で、最も大きいものより {off:.3f} 小さい。"
    "許容は {tol:.3f} まで",
    "The validation loss of {choice!r} rose by {value:.3f}, {off:.3f} less than the largest rise "
    "(tolerance {tol:.3f}).",
)
_BEST_TECHNIQUE_WORDS = (
    "{choice!r} の最後のエポックの差は {value:.3f} で、最小の差より {off:.3f} 大きい。"
    "許容は {tol:.3f} まで",
    "The final gap of {choice!r} is {value:.3f}, {off:.3f} larger than the smallest final gap "
    "(tolerance {tol:.3f}).",
)


def check_most_overfit(answer: object, histories: Mapping[str, HistoryLike], tol: float = CHOICE_TOL, *,
                       name: str = "most_overfit") -> None:
    """Accept any network whose validation-loss rise is within ``tol`` of the largest."""
    _check_choice(answer, histories, name, lambda: most_overfit(histories, tol), final_rises, max, tol,
                  *_MOST_OVERFIT_WORDS)


def check_best_technique(answer: object, histories: Mapping[str, HistoryLike], tol: float = CHOICE_TOL, *,
                         name: str = "best_technique") -> None:
    """Accept any technique whose final gap is within ``tol`` of the smallest."""
    _check_choice(answer, histories, name, lambda: best_technique(histories, tol), final_gaps, min, tol,
                  *_BEST_TECHNIQUE_WORDS)


def _check_choice(answer: object, histories: Mapping[str, HistoryLike], name: str, accepted, values,
                  best, tol: float, ja: str, en: str) -> None:
    """A reading naming one of ``histories`` as the extreme (``best``) of ``values``: the
    ``accepted()`` names pass; another fails saying how far it is from the extreme."""
    choice = as_choice(answer, name, list(histories))
    if choice in accepted():
        return
    of = values(histories)
    facts = {"choice": choice, "value": of[choice], "off": abs(best(of.values()) - of[choice]), "tol": tol}
    _fail(name, ja.format(**facts), en.format(**facts))


def _answer_stands(said: bool, truth: bool, difference: float, tol: float) -> bool:
    """A yes/no reading of a difference between two curves: right, or the difference is within
    ``tol`` (it cannot be seen on a plot, so either answer is accepted)."""
    return abs(difference) <= tol + EPS or said == truth


def check_gap_shrinks(answer: object, h_without: HistoryLike, h_with: HistoryLike, tol: float = GAP_TOL, *,
                      name: str = "gap_shrinks") -> None:
    """Accept "the technique shrinks the final gap" when it does by more than ``tol``.

    Differences within ``tol`` cannot be seen on a plot, so either answer is accepted there.
    """
    before, after = final_gap(h_without), final_gap(h_with)
    change = after - before
    shrinks = change < 0
    if _answer_stands(as_yes_no(answer, name), shrinks, change, tol):
        return
    verb_ja = f"{-change:.3f} 縮んで" if shrinks else f"{change:.3f} 広がって"
    verb_en = f"shrank by {-change:.3f}" if shrinks else f"grew by {change:.3f}"
    _fail(name,
          f"最後のエポックの差は、手法なしで {before:.3f}、手法ありで {after:.3f} です。"
          f"差は {verb_ja}います。許容は {tol:.3f} まで",
          f"The final gap is {before:.3f} without the technique and {after:.3f} with it: "
          f"it {verb_en} (tolerance {tol:.3f}).")


def check_rise_shrinks(answer: object, h_more: HistoryLike, h_fewer: HistoryLike, tol: float = GAP_TOL, *,
                       name: str = "more_units_overfit_more") -> None:
    """Accept "more units overfit more" when the network with more units' validation loss rose
    by more than ``tol`` more than the other's; within ``tol`` either answer is accepted."""
    more, fewer = loss_rise(h_more), loss_rise(h_fewer)
    if _answer_stands(as_yes_no(answer, name), more > fewer, more - fewer, tol):
        return
    _fail(name,
          f"検証の損失の上がり方は、ユニットが多いネットワークで {more:.3f}、少ないネットワークで "
          f"{fewer:.3f} です。許容は {tol:.3f} まで",
          f"The validation loss rose by {more:.3f} for the network with more units and by "
          f"{fewer:.3f} for the one with fewer (tolerance {tol:.3f}).")
