"""Tests of ``autograder.curves`` on synthetic learning curves with known answers."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from autograder.curves import (
    EPS,
    Thresholds,
    Verdict,
    accepted_epochs,
    accepts_overfitting_answer,
    best_technique,
    curve_difference,
    final_gaps,
    final_rises,
    gap,
    good_epoch,
    history_frame,
    loss_at,
    loss_rise,
    most_overfit,
    overfitting_verdict,
    val_accuracy_at,
    validated,
)

# A network that clearly overfits: training keeps improving, validation loss is lowest at epoch 3
# and rises by 0.10 to the last epoch.
OVERFIT = {
    "accuracy": [0.80, 0.86, 0.90, 0.94, 0.97, 0.98],
    "val_accuracy": [0.82, 0.85, 0.88, 0.87, 0.86, 0.85],
    "loss": [0.6, 0.4, 0.3, 0.2, 0.1, 0.05],
    "val_loss": [0.5, 0.42, 0.35, 0.37, 0.40, 0.45],
}
# A network that does not overfit: its validation loss still falls at the last epoch (rise 0).
HEALTHY = {"accuracy": [0.70, 0.76, 0.80], "val_accuracy": [0.71, 0.76, 0.795],
           "val_loss": [0.8, 0.6, 0.55]}
# A borderline network: validation loss 0.03 above its lowest, inside the ambiguous band.
BORDERLINE = {"accuracy": [0.70, 0.80, 0.85], "val_accuracy": [0.70, 0.79, 0.82],
              "val_loss": [0.8, 0.6, 0.63]}

fractions = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
tolerances = st.floats(min_value=0.0, max_value=0.2, allow_nan=False)


@st.composite
def histories(draw: st.DrawFn, max_epochs: int = 20) -> dict[str, list[float]]:
    """Any valid history of 1..max_epochs epochs (accuracies and a validation loss)."""
    n = draw(st.integers(min_value=1, max_value=max_epochs))
    return {
        "accuracy": draw(st.lists(fractions, min_size=n, max_size=n)),
        "val_accuracy": draw(st.lists(fractions, min_size=n, max_size=n)),
        "val_loss": draw(st.lists(st.floats(min_value=0.0, max_value=3.0), min_size=n, max_size=n)),
    }


@st.composite
def thresholds(draw: st.DrawFn) -> Thresholds:
    """Any valid pair of thresholds."""
    a = draw(st.floats(min_value=-0.5, max_value=0.5, allow_nan=False))
    b = draw(st.floats(min_value=-0.5, max_value=0.5, allow_nan=False))
    assume(a != b)
    return Thresholds(yes_at=max(a, b), no_below=min(a, b))


# --- history_frame ------------------------------------------------------------------------


def test_dict_becomes_float_frame_indexed_by_epoch_from_one() -> None:
    """Does a dict of lists become a float frame indexed 1..N named 'epoch'?"""
    frame = history_frame({"accuracy": [0, 1], "val_accuracy": [0.5, 0.5]})
    assert list(frame.index) == [1, 2]
    assert frame.index.name == "epoch"
    assert all(dtype == np.float64 for dtype in frame.dtypes)
    assert list(frame.columns) == ["accuracy", "val_accuracy"]


def test_zero_based_dataframe_is_shifted_to_one_based() -> None:
    """Is a DataFrame indexed 0..N-1 (pandas' default) re-indexed 1..N?"""
    frame = history_frame(pd.DataFrame(HEALTHY))
    assert list(frame.index) == [1, 2, 3]
    assert frame.loc[3, "val_accuracy"] == pytest.approx(0.795)


def test_one_based_dataframe_is_kept() -> None:
    """Is a DataFrame already indexed 1..N left with the same epochs?"""
    df = pd.DataFrame(HEALTHY, index=[1, 2, 3])
    frame = history_frame(df)
    assert list(frame.index) == [1, 2, 3]
    assert frame.loc[1, "accuracy"] == pytest.approx(0.70)


def test_keras_history_like_object_is_accepted_and_extra_metrics_dropped() -> None:
    """Is an object with a ``.history`` dict read, keeping losses and dropping other metrics?"""
    keras_like = SimpleNamespace(history={**OVERFIT, "learning_rate": [1e-3] * 6})
    frame = history_frame(keras_like)
    assert list(frame.columns) == ["accuracy", "val_accuracy", "loss", "val_loss"]
    assert len(frame) == 6


def test_history_frame_does_not_modify_its_input() -> None:
    """Is the caller's DataFrame left untouched (index and values)?"""
    df = pd.DataFrame(HEALTHY)
    before = df.copy()
    history_frame(df)
    pd.testing.assert_frame_equal(df, before)


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ({"accuracy": [0.5]}, "val_accuracy"),
        ({"val_accuracy": [0.5]}, "accuracy"),
        ({"accuracy": [0.5, 0.6], "val_accuracy": [0.5]}, "different lengths"),
        ({"accuracy": [], "val_accuracy": []}, "no epochs"),
        ({"accuracy": [0.5, float("nan")], "val_accuracy": [0.5, 0.5]}, "NaN"),
        ({"accuracy": [0.5, float("inf")], "val_accuracy": [0.5, 0.5]}, "infinite"),
        ({"accuracy": ["a"], "val_accuracy": [0.5]}, "not numeric"),
        ({"accuracy": [[0.5]], "val_accuracy": [[0.5]]}, "1-D"),
        ({"accuracy": [87.0], "val_accuracy": [0.5]}, "0..1"),
        ({"accuracy": [0.5], "val_accuracy": [0.5], "loss": [0.1, 0.2]}, "different lengths"),
        (pd.DataFrame(HEALTHY, index=[5, 6, 7]), "indexed"),
    ],
)
def test_bad_histories_raise_value_error_naming_the_problem(bad: object, words: str) -> None:
    """Does each malformed history raise ValueError with a message naming what is wrong?"""
    with pytest.raises(ValueError, match=words):
        history_frame(bad)  # type: ignore[arg-type]


def test_unsupported_type_raises_type_error() -> None:
    """Is a list (not a history at all) refused with a TypeError naming the accepted types?"""
    with pytest.raises(TypeError, match="keras History"):
        history_frame([0.5, 0.6])  # type: ignore[arg-type]


# --- epochs and values --------------------------------------------------------------------


def test_good_epoch_is_the_lowest_validation_loss() -> None:
    """Is the good epoch the one with the lowest validation loss (1-based)?"""
    assert good_epoch(OVERFIT) == 3
    assert loss_at(OVERFIT, 3) == pytest.approx(0.35)


def test_tie_for_good_epoch_takes_the_first_and_accepts_all() -> None:
    """With two equal lowest losses, is the first the good epoch and are both accepted?"""
    tie = {"accuracy": [0.8, 0.9, 0.95], "val_accuracy": [0.8, 0.9, 0.9], "val_loss": [0.5, 0.4, 0.4]}
    assert good_epoch(tie) == 2
    assert accepted_epochs(tie) == [2, 3]


def test_accepted_epochs_include_those_within_tolerance_only() -> None:
    """Are epochs 0.02 above the lowest loss accepted at tol=0.02 but not those 0.05 above?"""
    assert accepted_epochs(OVERFIT, tol=0.02) == [3, 4]  # 0.37 is 0.02 above: on the edge
    assert accepted_epochs(OVERFIT, tol=0.0) == [3]
    assert accepted_epochs(OVERFIT, tol=0.05) == [3, 4, 5]
    assert accepted_epochs(OVERFIT, tol=0.1) == [2, 3, 4, 5, 6]  # 0.45 is 0.10 above: on the edge
    assert accepted_epochs(OVERFIT, tol=0.15) == [1, 2, 3, 4, 5, 6]


def test_negative_tolerance_is_refused() -> None:
    """Is a negative tolerance a ValueError rather than an empty answer set?"""
    with pytest.raises(ValueError, match="tol"):
        accepted_epochs(OVERFIT, tol=-0.1)


def test_loss_readings_need_a_validation_loss() -> None:
    """Is a history without val_loss refused by the loss readings, naming the column?"""
    no_loss = {"accuracy": [0.5, 0.6], "val_accuracy": [0.5, 0.55]}
    for read in (good_epoch, loss_rise, lambda h: accepted_epochs(h, 0.01), overfitting_verdict):
        with pytest.raises(ValueError, match="val_loss"):
            read(no_loss)


def test_loss_rise_is_last_minus_lowest() -> None:
    """Is the rise the last validation loss minus the lowest, and 0 while it still falls?"""
    assert loss_rise(OVERFIT) == pytest.approx(0.10)
    assert loss_rise(HEALTHY) == 0.0


def test_val_accuracy_at_reads_the_given_epoch() -> None:
    """Does epoch 1 mean the first point of the curve?"""
    assert val_accuracy_at(OVERFIT, 1) == pytest.approx(0.82)
    assert val_accuracy_at(OVERFIT, np.int64(6)) == pytest.approx(0.85)  # type: ignore[arg-type]


@pytest.mark.parametrize("epoch", [0, 7, -1])
def test_val_accuracy_at_out_of_range_is_value_error(epoch: int) -> None:
    """Is an epoch outside 1..N a ValueError naming the range?"""
    with pytest.raises(ValueError, match=r"1\.\.6"):
        val_accuracy_at(OVERFIT, epoch)


@pytest.mark.parametrize("epoch", [True, 2.0, "2"])
def test_val_accuracy_at_non_integer_epoch_is_type_error(epoch: object) -> None:
    """Is a bool, float or string epoch refused instead of silently used?"""
    with pytest.raises(TypeError, match="int"):
        val_accuracy_at(OVERFIT, epoch)  # type: ignore[arg-type]


def test_gap_defaults_to_last_epoch_and_reads_any_epoch() -> None:
    """Is the gap training minus validation, at the last epoch unless told otherwise?"""
    assert gap(OVERFIT) == pytest.approx(0.13)
    assert gap(OVERFIT, 1) == pytest.approx(-0.02)
    with pytest.raises(ValueError):
        gap(OVERFIT, 9)


# --- overfitting verdict ------------------------------------------------------------------


def test_clear_overfitting_is_yes() -> None:
    """Is a validation-loss rise of 0.10 a 'yes' with margin 0.05 above the 0.05 threshold?"""
    verdict = overfitting_verdict(OVERFIT)
    assert verdict.label == "yes"
    assert verdict.rise == pytest.approx(0.10)
    assert verdict.margin == pytest.approx(0.05)
    assert accepts_overfitting_answer(OVERFIT, True)
    assert not accepts_overfitting_answer(OVERFIT, False)


def test_clear_no_overfitting_is_no() -> None:
    """Is a validation loss still falling (rise 0) a 'no' with margin 0.01 below 0.01?"""
    verdict = overfitting_verdict(HEALTHY)
    assert verdict == Verdict("no", pytest.approx(0.0), pytest.approx(0.01))  # type: ignore[arg-type]
    assert accepts_overfitting_answer(HEALTHY, False)
    assert not accepts_overfitting_answer(HEALTHY, True)


def test_rise_in_band_is_ambiguous_and_accepts_both_answers() -> None:
    """Is a rise of 0.03 ambiguous, margin 0.02 to the nearer edge, and both answers OK?"""
    verdict = overfitting_verdict(BORDERLINE)
    assert verdict.label == "ambiguous"
    assert verdict.margin == pytest.approx(0.02)
    assert accepts_overfitting_answer(BORDERLINE, True)
    assert accepts_overfitting_answer(BORDERLINE, False)


def test_rise_exactly_on_thresholds() -> None:
    """Is a rise exactly at yes_at a 'yes' and exactly at no_below 'ambiguous' (not 'no')?"""
    on_yes = {"accuracy": [0.9, 0.9], "val_accuracy": [0.85, 0.85], "val_loss": [0.30, 0.35]}
    on_no = {"accuracy": [0.9, 0.9], "val_accuracy": [0.88, 0.88], "val_loss": [0.30, 0.31]}
    assert overfitting_verdict(on_yes).label == "yes"
    assert overfitting_verdict(on_no).label == "ambiguous"


def test_custom_thresholds_change_the_verdict() -> None:
    """Do looser thresholds turn the borderline network into a clear 'no'?"""
    assert overfitting_verdict(BORDERLINE, Thresholds(yes_at=0.10, no_below=0.04)).label == "no"


@pytest.mark.parametrize(("yes_at", "no_below"), [(0.02, 0.05), (0.03, 0.03), (float("nan"), 0.0)])
def test_invalid_thresholds_are_refused(yes_at: float, no_below: float) -> None:
    """Is a band with no_below >= yes_at (or a NaN threshold) a ValueError?"""
    with pytest.raises(ValueError):
        Thresholds(yes_at=yes_at, no_below=no_below)


def test_thresholds_and_verdict_are_frozen() -> None:
    """Can a grader not change a threshold or verdict by accident?"""
    with pytest.raises(dataclasses.FrozenInstanceError):
        Thresholds().yes_at = 0.5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        overfitting_verdict(OVERFIT).label = "no"  # type: ignore[misc]


# --- comparing networks -------------------------------------------------------------------


NETWORKS = {  # final gap 0.01, 0.07, 0.085; validation-loss rise 0, 0.07, 0.085
    "small": {"accuracy": [0.80, 0.85], "val_accuracy": [0.80, 0.84], "val_loss": [0.6, 0.5]},
    "medium": {"accuracy": [0.85, 0.93], "val_accuracy": [0.84, 0.86], "val_loss": [0.4, 0.47]},
    "large": {"accuracy": [0.90, 0.99], "val_accuracy": [0.87, 0.905], "val_loss": [0.4, 0.485]},
}


def test_most_overfit_accepts_all_within_tolerance_of_the_largest_rise() -> None:
    """Are 'large' (rise 0.085) and 'medium' (0.07, within 0.02) both acceptable, 'small' not?"""
    assert most_overfit(NETWORKS) == ["medium", "large"]
    assert most_overfit(NETWORKS, tol=0.0) == ["large"]


def test_best_technique_accepts_all_within_tolerance_of_the_smallest_gap() -> None:
    """Is only 'small' (0.01) the technique that eases overfitting most at tol 0.02?"""
    assert best_technique(NETWORKS) == ["small"]
    assert best_technique(NETWORKS, tol=0.1) == ["small", "medium", "large"]


def test_final_gaps_keeps_order_and_refuses_empty() -> None:
    """Are gaps listed in the given order, and is an empty comparison a ValueError?"""
    assert list(final_gaps(NETWORKS)) == ["small", "medium", "large"]
    assert final_gaps(NETWORKS)["large"] == pytest.approx(0.085)
    assert final_rises(NETWORKS)["small"] == 0.0
    with pytest.raises(ValueError, match="no histories"):
        most_overfit({})


def test_curve_difference_is_the_largest_difference_of_any_shared_column() -> None:
    """Is the difference 0 for the same run, the largest column difference otherwise, inf for
    runs of different lengths?"""
    assert curve_difference(OVERFIT, dict(OVERFIT)) == 0.0
    other = {**OVERFIT, "val_loss": [0.5, 0.42, 0.35, 0.37, 0.40, 0.46]}
    assert curve_difference(OVERFIT, other) == pytest.approx(0.01)
    assert curve_difference(OVERFIT, HEALTHY) == float("inf")


# --- properties ---------------------------------------------------------------------------

_RANK = {"no": 0, "ambiguous": 1, "yes": 2}


@settings(max_examples=60, deadline=None)
@given(
    h=histories(),
    rises=st.lists(st.floats(min_value=0.0, max_value=0.2), min_size=1, max_size=10),
)
def test_more_epochs_of_rising_validation_loss_never_weaken_the_verdict(
    h: dict[str, list[float]], rises: list[float]
) -> None:
    """Can epochs where the validation loss keeps rising ever turn 'yes' into less?"""
    loss = list(h["val_loss"])
    before = overfitting_verdict(h)
    for up in rises:
        loss.append(loss[-1] + up)
    n = len(loss)
    after = overfitting_verdict({"accuracy": [0.5] * n, "val_accuracy": [0.5] * n, "val_loss": loss})
    assert after.rise >= before.rise - EPS
    assert _RANK[after.label] >= _RANK[before.label]
    if before.label == "yes":
        assert after.label == "yes"


@settings(max_examples=60, deadline=None)
@given(h=histories(), tol=tolerances)
def test_good_epoch_is_always_accepted(h: dict[str, list[float]], tol: float) -> None:
    """Is the good epoch always among the accepted ones, whatever the tolerance?"""
    assert good_epoch(h) in accepted_epochs(h, tol)


@settings(max_examples=60, deadline=None)
@given(h=histories(), a=tolerances, b=tolerances)
def test_accepted_epochs_grow_with_tolerance(h: dict[str, list[float]], a: float, b: float) -> None:
    """Does a larger tolerance only ever add epochs, never remove them?"""
    small, large = sorted((a, b))
    assert set(accepted_epochs(h, small)) <= set(accepted_epochs(h, large))


@settings(max_examples=80, deadline=None)
@given(h=histories(), t=thresholds())
def test_verdict_label_matches_rise_and_thresholds(h: dict[str, list[float]], t: Thresholds) -> None:
    """Is the label exactly what the written rule says for the loss rise, with margin >= 0?"""
    verdict = overfitting_verdict(h, t)
    g = h["val_loss"][-1] - min(h["val_loss"])
    assert verdict.rise == pytest.approx(g)
    assert verdict.margin >= 0
    if verdict.label == "yes":
        assert g >= t.yes_at - EPS
        assert verdict.margin == pytest.approx(max(0.0, g - t.yes_at))
    elif verdict.label == "no":
        assert g < t.no_below
        assert verdict.margin == pytest.approx(t.no_below - g)
    else:
        assert t.no_below - EPS <= g < t.yes_at
        assert verdict.margin <= (t.yes_at - t.no_below) / 2 + EPS
    # Some answer is always accepted, and both exactly when the verdict is ambiguous.
    accepted = [a for a in (True, False) if accepts_overfitting_answer(h, a, t)]
    assert len(accepted) == (2 if verdict.label == "ambiguous" else 1)


@settings(max_examples=60, deadline=None)
@given(
    hs=st.lists(histories(max_epochs=5), min_size=1, max_size=5),
    tol=tolerances,
)
def test_most_overfit_and_best_technique_contain_the_extremes(
    hs: list[dict[str, list[float]]], tol: float
) -> None:
    """Do the answer sets always contain the argmax rise / argmin gap and only near-extreme names?"""
    named = {f"net{i}": h for i, h in enumerate(hs)}
    gaps, rises = final_gaps(named), final_rises(named)
    top = max(rises, key=rises.__getitem__)
    bottom = min(gaps, key=gaps.__getitem__)
    assert top in most_overfit(named, tol)
    assert bottom in best_technique(named, tol)
    assert all(rises[n] >= rises[top] - tol - EPS for n in most_overfit(named, tol))
    assert all(gaps[n] <= gaps[bottom] + tol + EPS for n in best_technique(named, tol))


@settings(max_examples=40, deadline=None)
@given(h=histories())
def test_history_frame_is_idempotent(h: dict[str, list[float]]) -> None:
    """Does normalising an already normalised frame change nothing?"""
    once = history_frame(h)
    pd.testing.assert_frame_equal(history_frame(once), once)


def test_validated_curves_are_read_only_copies_and_pass_through() -> None:
    """The analysis's own form of a history: a copy the caller's list cannot change later, that
    no reader can change, and that validating again returns as it is."""
    raw = {"accuracy": [0.5, 0.6], "val_accuracy": [0.4, 0.5], "val_loss": [0.9, 0.8]}
    c = validated(raw)
    raw["val_loss"][1] = 5.0
    assert len(c) == 2 and c.columns == ("accuracy", "val_accuracy", "val_loss")
    assert list(c["val_loss"]) == [0.9, 0.8] and validated(c) is c
    with pytest.raises(ValueError):
        c["val_loss"][0] = 0.0
    assert history_frame(c).equals(history_frame({**raw, "val_loss": [0.9, 0.8]}))


def test_a_versions_default_tolerances_are_the_curves_own():
    """Does a version file that sets no tolerance judge the readings as the curves' defaults do
    (one home for every default tolerance and threshold)?"""
    from autograder import curves
    from autograder.release import versions

    pairs = {"epoch_tol": curves.EPOCH_TOL, "val_acc_tol": curves.VAL_ACC_TOL,
             "choice_tol": curves.CHOICE_TOL, "gap_tol": curves.GAP_TOL,
             "overfit_yes_at": curves.DEFAULT_THRESHOLDS.yes_at,
             "overfit_no_below": curves.DEFAULT_THRESHOLDS.no_below}
    assert {k: versions.BY_KEY[k].default for k in pairs} == pairs
