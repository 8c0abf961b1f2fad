"""Tests of ``autograder.readings``: coercion messages and substance checks, on synthetic data."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.curves import Thresholds, accepted_epochs
from autograder.readings import (
    ReadingError,
    as_accuracy,
    as_choice,
    as_epoch,
    as_yes_no,
    check_best_technique,
    check_epoch,
    check_form_accuracy,
    check_form_choice,
    check_form_epoch,
    check_form_yes_no,
    check_gap_shrinks,
    check_most_overfit,
    check_overfitting,
    check_rise_shrinks,
    check_val_accuracy,
)

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")

# Validation loss is lowest at epoch 3 (0.35, validation accuracy 0.88 there); epoch 4 is 0.01
# above it, epoch 2 0.07 above; the last epoch 0.10 above (overfits). Final gap 0.13.
OVERFIT = {
    "accuracy": [0.80, 0.86, 0.90, 0.94, 0.97, 0.98],
    "val_accuracy": [0.82, 0.85, 0.88, 0.87, 0.86, 0.85],
    "val_loss": [0.50, 0.42, 0.35, 0.36, 0.40, 0.45],
}
HEALTHY = {"accuracy": [0.70, 0.76, 0.80], "val_accuracy": [0.71, 0.76, 0.795],
           "val_loss": [0.8, 0.6, 0.55]}  # validation loss still falling: rise 0
BORDERLINE = {"accuracy": [0.70, 0.80, 0.85], "val_accuracy": [0.70, 0.79, 0.82],
              "val_loss": [0.8, 0.6, 0.63]}  # rise 0.03
TECHNIQUES = {
    "Dropout": {"accuracy": [0.85, 0.90], "val_accuracy": [0.84, 0.89],
                "val_loss": [0.5, 0.4]},  # gap 0.01, rise 0
    "Batch normalization": {"accuracy": [0.85, 0.93], "val_accuracy": [0.84, 0.88],
                            "val_loss": [0.4, 0.45]},  # gap 0.05, rise 0.05
    "None": {"accuracy": [0.90, 0.99], "val_accuracy": [0.87, 0.89],
             "val_loss": [0.3, 0.4]},  # gap 0.10, rise 0.10
}


def message(call: Callable[[], object]) -> str:
    """Run ``call``, which must fail with a ReadingError, and return its bilingual message."""
    with pytest.raises(ReadingError) as info:
        call()
    text = str(info.value)
    ja, sep, en = text.partition(" / ")
    assert sep, f"no ' / ' between Japanese and English: {text!r}"
    assert JAPANESE.search(ja), f"no Japanese before ' / ': {text!r}"
    assert re.search(r"[A-Za-z]{3,} [A-Za-z]{2,}", en), f"no English after ' / ': {text!r}"
    return text


def test_reading_error_is_an_assertion_error() -> None:
    """Will otter-grader treat a ReadingError as a failed test whose message is feedback?"""
    assert issubclass(ReadingError, AssertionError)


# --- as_epoch -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(7, 7), (np.int64(7), 7), (np.int32(1), 1), (7.0, 7), (np.float32(7.0), 7), (10, 10)],
)
def test_epoch_accepts_integers_and_whole_floats(value: object, expected: int) -> None:
    """Are ints, numpy ints and whole floats like 7.0 accepted as a plain int?"""
    got = as_epoch(value, "best_epoch", 10)
    assert got == expected
    assert type(got) is int


def test_epoch_string_seven_is_rejected_with_a_message_not_a_crash() -> None:
    """Is a string '7' rejected with a message saying it must be a number, not a string?"""
    text = message(lambda: as_epoch("7", "best_epoch", 10))
    assert "best_epoch" in text
    assert "the string '7'" in text
    assert "not a string" in text
    assert "文字列" in text


def test_epoch_ellipsis_asks_to_replace_the_placeholder() -> None:
    """Is a left-in-place ``...`` answered with "replace ... with your answer"?"""
    text = message(lambda: as_epoch(..., "best_epoch", 10))
    assert "Replace ... with your answer" in text
    assert "書き換えて" in text


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (True, "True or False is not an epoch"),
        (np.bool_(False), "True or False is not an epoch"),
        (None, "None"),
        (7.5, "whole number (got 7.5)"),
        (float("nan"), "whole number"),
        (float("inf"), "whole number"),
        ([7], "type list"),
        (0, "between 1 and 10 (got 0)"),
        (11, "between 1 and 10 (got 11)"),
        (-3.0, "between 1 and 10 (got -3)"),
    ],
)
def test_epoch_rejections_explain_what_to_write(value: object, words: str) -> None:
    """Are bools, None, fractions, other types and out-of-range epochs explained, not crashes?"""
    assert words in message(lambda: as_epoch(value, "best_epoch", 10))


# --- as_accuracy --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.87, 0.87), (np.float32(0.5), 0.5), (np.float64(0.25), 0.25), (0, 0.0), (1, 1.0)],
)
def test_accuracy_accepts_fractions(value: object, expected: float) -> None:
    """Are fractions in 0..1, numpy floats and the ints 0 and 1 accepted as float?"""
    got = as_accuracy(value, "val_acc")
    assert got == pytest.approx(expected)
    assert type(got) is float


def test_accuracy_percentage_is_explained() -> None:
    """Is 87 recognised as a percentage with the advice to write 0.87, not 87?"""
    text = message(lambda: as_accuracy(87, "val_acc"))
    assert "percentage" in text
    assert "write 0.87, not 87" in text
    assert "百分率" in text


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("0.87", "not a string (got the string '0.87')"),
        (True, "True or False is not an accuracy"),
        (None, "None"),
        (..., "Replace ... with your answer"),
        (150, "between 0 and 1 (got 150)"),
        (-0.1, "between 0 and 1 (got -0.1)"),
        (float("nan"), "between 0 and 1"),
        ((0.8,), "type tuple"),
    ],
)
def test_accuracy_rejections_explain_what_to_write(value: object, words: str) -> None:
    """Are strings, bools, None, ``...``, out-of-range and odd types explained, not crashes?"""
    assert words in message(lambda: as_accuracy(value, "val_acc"))


# --- as_yes_no ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [True, False, np.bool_(True), np.bool_(False)])
def test_yes_no_accepts_bools(value: object) -> None:
    """Are Python and numpy bools accepted and returned as a plain bool?"""
    got = as_yes_no(value, "overfits")
    assert got == bool(value)
    assert type(got) is bool


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("True", "True or False without quotes (got the string 'True')"),
        ("yes", "True or False without quotes"),
        (1, "True or False (got 1)"),
        (0, "True or False (got 0)"),
        (None, "True or False"),
        (..., "Replace ... with your answer"),
    ],
)
def test_yes_no_rejections_ask_for_true_or_false(value: object, words: str) -> None:
    """Are strings, 0/1, None and ``...`` rejected with "use True or False"?"""
    assert words in message(lambda: as_yes_no(value, "overfits"))


# --- as_choice ----------------------------------------------------------------------------

CHOICES = ["Dropout", "Batch normalization"]


@pytest.mark.parametrize("value", ["Dropout", "dropout", "  DROPOUT ", "batch  Normalization"])
def test_choice_ignores_case_and_spaces_and_returns_listed_spelling(value: str) -> None:
    """Do case and extra spaces not matter, and is the listed spelling returned?"""
    assert as_choice(value, "technique", CHOICES) in CHOICES
    assert as_choice(value, "technique", CHOICES) == (
        "Dropout" if "drop" in value.lower() else "Batch normalization"
    )


@pytest.mark.parametrize("value", ["L2", 1, None, ...])
def test_choice_rejection_lists_the_choices(value: object) -> None:
    """Does a wrong choice get a message listing every allowed choice?"""
    text = message(lambda: as_choice(value, "technique", CHOICES))
    assert "'Dropout'" in text
    assert "'Batch normalization'" in text


def test_choice_without_choices_is_a_programming_error() -> None:
    """Is an empty choice list a ValueError for the test author, not student feedback?"""
    with pytest.raises(ValueError, match="choices"):
        as_choice("x", "technique", [])


@settings(max_examples=150, deadline=None)
@given(
    value=st.one_of(
        st.none(),
        st.just(...),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=10),
        st.lists(st.integers(), max_size=3),
    )
)
def test_coercions_never_crash(value: object) -> None:
    """Whatever a student writes, is the outcome a value or a ReadingError, never a crash?"""
    for coerce in (
        lambda: as_epoch(value, "e", 10),
        lambda: as_accuracy(value, "a"),
        lambda: as_yes_no(value, "y"),
        lambda: as_choice(value, "c", CHOICES),
    ):
        try:
            coerce()
        except ReadingError as exc:
            assert " / " in str(exc)


# --- public (form-only) helpers ------------------------------------------------------------


def test_form_checks_pass_good_forms_silently() -> None:
    """Do well-formed answers pass the public checks without returning anything revealing?"""
    assert check_form_epoch(3, "best_epoch", 10) is None
    assert check_form_accuracy(0.88, "val_acc") is None
    assert check_form_yes_no(True, "overfits") is None
    assert check_form_choice("dropout", "technique", CHOICES) is None


def test_form_checks_reject_bad_forms_with_the_coercion_message() -> None:
    """Do the public checks give the same bilingual messages as the coercions?"""
    assert "not a string" in message(lambda: check_form_epoch("7", "best_epoch", 10))
    assert "percentage" in message(lambda: check_form_accuracy(87, "val_acc"))
    assert "True or False" in message(lambda: check_form_yes_no("no", "overfits"))
    assert "'Dropout'" in message(lambda: check_form_choice("L2", "technique", CHOICES))


def test_form_checks_never_see_the_curves() -> None:
    """Can a public check not reveal the answer because it takes no history at all?"""
    for helper in (check_form_epoch, check_form_accuracy, check_form_yes_no, check_form_choice):
        params = set(inspect.signature(helper).parameters)
        assert params <= {"value", "name", "n_epochs", "choices"}, helper.__name__


# --- hidden checks: epoch -----------------------------------------------------------------


@pytest.mark.parametrize("answer", [3, 4, np.int64(3), 4.0])
def test_check_epoch_accepts_peak_and_indistinguishable_epochs(answer: object) -> None:
    """Are the lowest validation loss (3) and an epoch 0.01 above it (4) both accepted?"""
    check_epoch(answer, OVERFIT)


def test_check_epoch_rejects_with_the_shortfall() -> None:
    """Is epoch 2 rejected with its validation loss and how far above the lowest it is (0.070)?"""
    text = message(lambda: check_epoch(2, OVERFIT))
    assert "epoch 2" in text
    assert "0.420" in text
    assert "0.070 above the lowest 0.350" in text
    assert "tolerance 0.010" in text
    assert "エポック数 2" in text


def test_check_epoch_checks_form_first() -> None:
    """Does a string epoch in a hidden test still get the form message, not a crash?"""
    assert "not a string" in message(lambda: check_epoch("3", OVERFIT))


@settings(max_examples=50, deadline=None)
@given(
    vals=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=12),
    data=st.data(),
)
def test_check_epoch_agrees_with_accepted_epochs(vals: list[float], data: st.DataObject) -> None:
    """Is an epoch accepted by check_epoch exactly when accepted_epochs lists it?"""
    h = {"accuracy": vals, "val_accuracy": vals, "val_loss": vals}
    epoch = data.draw(st.integers(min_value=1, max_value=len(vals)))
    try:
        check_epoch(epoch, h)
        passed = True
    except ReadingError:
        passed = False
    assert passed == (epoch in accepted_epochs(h))


# --- hidden checks: validation accuracy ---------------------------------------------------


def test_check_val_accuracy_accepts_value_at_own_epoch() -> None:
    """Is the value read at the student's slightly-off epoch 2 accepted (not penalised twice)?"""
    check_val_accuracy(0.85, OVERFIT, 2)
    check_val_accuracy(0.865, OVERFIT, 2)  # within 0.02


def test_check_val_accuracy_accepts_the_good_epochs_value_whatever_the_epoch() -> None:
    """Is the validation accuracy at the lowest loss accepted even with a wrong or unusable epoch?"""
    check_val_accuracy(0.88, OVERFIT, 1)
    check_val_accuracy(0.87, OVERFIT, "three")


def test_check_val_accuracy_rejects_with_distance_from_own_epoch() -> None:
    """Is 0.80 at epoch 3 rejected, saying it is 0.080 below the 0.880 read at that epoch?"""
    text = message(lambda: check_val_accuracy(0.80, OVERFIT, 3))
    assert "0.080 below the validation accuracy 0.880 at your epoch 3" in text
    assert "tolerance 0.020" in text


def test_check_val_accuracy_falls_back_to_the_best_for_unusable_epoch() -> None:
    """With an unusable epoch, is the distance measured at the good epoch (0.180 below 0.880)?"""
    text = message(lambda: check_val_accuracy(0.70, OVERFIT, ...))
    assert "not usable" in text
    assert "accuracy 0.880 at epoch 3, where the validation loss is lowest" in text
    assert "0.180 below" in text


def test_check_val_accuracy_reports_answers_that_are_too_high() -> None:
    """Is an answer above the curve described as above, with the amount?"""
    text = message(lambda: check_val_accuracy(0.95, OVERFIT, 1))
    assert "0.130 above the validation accuracy 0.820 at your epoch 1" in text


def test_check_val_accuracy_checks_form_first() -> None:
    """Does a percentage still get the percentage message in a hidden test?"""
    assert "percentage" in message(lambda: check_val_accuracy(88, OVERFIT, 3))


# --- hidden checks: overfitting -----------------------------------------------------------


def test_check_overfitting_accepts_matching_verdicts() -> None:
    """Are True for a clear overfit, False for a clear no, and both for a borderline accepted?"""
    check_overfitting(True, OVERFIT)
    check_overfitting(False, HEALTHY)
    check_overfitting(True, BORDERLINE)
    check_overfitting(False, BORDERLINE)


def test_check_overfitting_rejection_states_rise_and_rule() -> None:
    """Does rejecting False for a rise of 0.100 quote the rise and both thresholds?"""
    text = message(lambda: check_overfitting(False, OVERFIT))
    assert "the validation loss is 0.100 above its lowest value" in text
    assert "rise of 0.050 or more means overfitting" in text
    assert "below 0.010" in text
    assert "either answer is accepted" in text
    assert "0.100" in text.partition(" / ")[0] and "0.050" in text.partition(" / ")[0]


def test_check_overfitting_rejects_true_for_healthy_network_with_rise() -> None:
    """Is True for a validation loss still falling rejected with its rise (0.000)?"""
    assert "is 0.000 above" in message(lambda: check_overfitting(True, HEALTHY))


def test_check_overfitting_uses_given_thresholds() -> None:
    """Do custom thresholds change what is accepted and appear in the message?"""
    loose = Thresholds(yes_at=0.2, no_below=0.15)
    check_overfitting(False, OVERFIT, loose)
    assert "0.200 or more" in message(lambda: check_overfitting(True, OVERFIT, loose))


# --- hidden checks: comparing networks ----------------------------------------------------


def test_check_most_overfit_accepts_largest_rise_case_insensitively() -> None:
    """Is 'none' (validation-loss rise 0.10, the largest) accepted whatever its case?"""
    check_most_overfit("none", TECHNIQUES)
    check_most_overfit(" None ", TECHNIQUES)


def test_check_most_overfit_rejects_with_shortfall() -> None:
    """Is 'Dropout' (rise 0.000) rejected, 0.100 less than the largest rise?"""
    text = message(lambda: check_most_overfit("Dropout", TECHNIQUES))
    assert "rose by 0.000, 0.100 less than the largest rise" in text
    assert "tolerance 0.020" in text


def test_check_most_overfit_lists_names_for_unknown_answer() -> None:
    """Is a name that is not a network answered with the list of networks?"""
    assert "'Batch normalization'" in message(lambda: check_most_overfit("L2", TECHNIQUES))


def test_check_best_technique_accepts_smallest_gap_and_ties_within_tolerance() -> None:
    """Is 'Dropout' accepted, and 'Batch normalization' too once the tolerance covers it?"""
    check_best_technique("dropout", TECHNIQUES)
    check_best_technique("Batch normalization", TECHNIQUES, tol=0.05)


def test_check_best_technique_rejects_with_excess() -> None:
    """Is 'Batch normalization' (gap 0.050) rejected, 0.040 larger than the smallest?"""
    text = message(lambda: check_best_technique("Batch normalization", TECHNIQUES))
    assert "0.050" in text
    assert "0.040 larger than the smallest" in text


# --- hidden checks: does the gap shrink? --------------------------------------------------


def test_check_gap_shrinks_accepts_true_when_gap_shrinks() -> None:
    """With the gap going from 0.100 to 0.010, is True accepted and False rejected with amounts?"""
    check_gap_shrinks(True, TECHNIQUES["None"], TECHNIQUES["Dropout"])
    text = message(lambda: check_gap_shrinks(False, TECHNIQUES["None"], TECHNIQUES["Dropout"]))
    assert "0.100 without the technique and 0.010 with it" in text
    assert "shrank by 0.090" in text
    assert "tolerance 0.005" in text


def test_check_gap_shrinks_accepts_false_when_gap_grows() -> None:
    """With the gap growing from 0.010 to 0.100, is False accepted and True rejected?"""
    check_gap_shrinks(False, TECHNIQUES["Dropout"], TECHNIQUES["None"])
    text = message(lambda: check_gap_shrinks(True, TECHNIQUES["Dropout"], TECHNIQUES["None"]))
    assert "grew by 0.090" in text


def test_check_gap_shrinks_accepts_either_answer_within_tolerance() -> None:
    """When the gaps differ by only 0.003, are both True and False accepted?"""
    without = {"accuracy": [0.90], "val_accuracy": [0.85]}
    with_ = {"accuracy": [0.90], "val_accuracy": [0.853]}
    check_gap_shrinks(True, without, with_)
    check_gap_shrinks(False, without, with_)


def test_check_gap_shrinks_checks_form_first() -> None:
    """Is a string 'True' answered with the True/False form message?"""
    assert "without quotes" in message(
        lambda: check_gap_shrinks("True", TECHNIQUES["None"], TECHNIQUES["Dropout"])
    )


# --- hidden checks: do more units overfit more? -------------------------------------------


def test_check_rise_shrinks_accepts_the_true_comparison_only() -> None:
    """With rises 0.100 (more units) and 0.000 (fewer), is True accepted and False rejected?"""
    check_rise_shrinks(True, TECHNIQUES["None"], TECHNIQUES["Dropout"])
    text = message(lambda: check_rise_shrinks(False, TECHNIQUES["None"], TECHNIQUES["Dropout"]))
    assert "rose by 0.100 for the network with more units and by 0.000" in text
    check_rise_shrinks(False, TECHNIQUES["Dropout"], TECHNIQUES["None"])


def test_check_rise_shrinks_accepts_either_answer_within_tolerance() -> None:
    """Are both answers accepted when the rises differ by no more than the tolerance?"""
    check_rise_shrinks(True, TECHNIQUES["None"], TECHNIQUES["Batch normalization"], tol=0.05)
    check_rise_shrinks(False, TECHNIQUES["None"], TECHNIQUES["Batch normalization"], tol=0.05)
