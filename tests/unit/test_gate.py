"""The pre-publish gate's verdict from the graded records (pure): margins, refusals, the boundary."""
from __future__ import annotations

import dataclasses

import pytest
from kit_constants import SLUG

from autograder.grading.batch.ledger import Record
from autograder.release import gate, versions
from autograder.results import QuestionResult, Status


def _rec(total_lost: dict[str, float] | None = None, curves: dict | None = None,
         acc: float | None = 0.87) -> Record:
    qs = [QuestionResult(name=f"q{i}", score=2.0, possible=2.0) for i in range(12)]
    for name, lost in (total_lost or {}).items():
        qs.append(QuestionResult(name=name, score=3.0 - lost, possible=3.0))
    good = {"bigger": _curve(rise=0.09, gap=0.09, good=6), "baseline": _curve(rise=0.03, gap=0.05),
            "smaller": _curve(rise=0.004, gap=0.03), "dropout": _curve(rise=0.01, gap=0.02)}
    return Record(sub_sha="s", ag_sha="a", status=Status.GRADED, questions=qs, test_accuracy=acc,
                  curves=good if curves is None else curves)


def _curve(*, rise: float, gap: float, good: int = 15, val: float = 0.82) -> dict:
    """A curve summary as the clean check writes it (15 epochs)."""
    return {"epochs": 15, "good_epoch": good, "good_val_accuracy": 0.84, "val_loss_rise": rise,
            "final_gap": gap, "final_val_accuracy": val, "verdict": None, "recorded_difference": None}


def _blank(score: float = 0.0) -> Record:
    return Record(sub_sha="b", ag_sha="a", status=Status.GRADED,
                  questions=[QuestionResult(name="q1_model", score=score, possible=3.0)])


def test_gate_passes_a_clean_version_with_its_margins():
    v = versions.load(SLUG, "2026")
    res = {f"solution-seed-{s}": _rec() for s in v.gate_seeds} | {"blank": _blank()}
    out = gate.judge(v, res)
    assert out["passed"] and out["failures"] == [] and out["blank"] == "0/3"
    assert out["minimum_margins"]["bigger_overfits"] == pytest.approx(0.09 - v["overfit_yes_at"])
    assert out["minimum_margins"]["smaller_does_not"] == pytest.approx(v["overfit_no_below"] - 0.004)
    assert out["minimum_margins"]["bigger_good_epoch_early"] == pytest.approx(
        v["good_epoch_by"] * 15 - 6)
    assert out["minimum_margins"]["smaller_learns"] == pytest.approx(0.82 - v["smaller_min_val_acc"])


def test_gate_refusals_say_which_check_failed_by_how_much():
    v = versions.load(SLUG, "2026")
    s1, s2, s3 = v.gate_seeds
    ambiguous = {"bigger": _curve(rise=0.041, gap=0.09, good=13), "baseline": _curve(rise=0.03, gap=0.05),
                 "smaller": _curve(rise=0.0237, gap=0.03, val=0.70), "dropout": _curve(rise=0.0, gap=0.02)}
    res = {f"solution-seed-{s1}": _rec({"q1_accuracy": 3.0}, acc=0.8712),
           f"solution-seed-{s2}": _rec(curves=ambiguous),
           f"solution-seed-{s3}": _rec(), "blank": _blank(3.0)}
    out = gate.judge(dataclasses.replace(v, values=dict(v.values, accuracy_threshold=0.95)), res)
    text = "\n".join(out["failures"])
    assert not out["passed"]
    assert f"seed {s1}: the solution scored 24/27, not 100% (lost: q1_accuracy 0/3)" in text
    assert "test accuracy 0.8712 is below the threshold 0.95 by 0.0788" in text
    short = v["overfit_yes_at"] - 0.041
    assert (f"seed {s2}: Bigger's validation loss rose 0.0410 from its lowest: not a clear 'overfits', "
            f"{short:.4f} short") in text
    above = 0.0237 - v["overfit_no_below"]
    assert (f"seed {s2}: Smaller's validation loss rose 0.0237 from its lowest: not a clear 'does not "
            f"overfit', {above:.4f} above") in text
    assert (f"seed {s2}: Bigger's validation loss is lowest at epoch 13 of 15: not a minimum within "
            f"the first {v['good_epoch_by']:.0%}") in text
    assert f"seed {s2}: Smaller ends at validation accuracy 0.7000, below smaller_min_val_acc 0.75" in text
    assert "the blank notebook scored 3, not 0 (earned: q1_model 3)" in text
    assert f"seed {s3}:" not in text


def test_gate_accepts_the_good_epoch_on_the_last_allowed_epoch():
    """Is a loss minimum at the last epoch within ``good_epoch_by`` of 15 accepted (epoch 11 of 15
    for 75%), and the epoch after it not?"""
    v = versions.load(SLUG, "2026")
    last = int(v["good_epoch_by"] * 15)
    for good, passed in ((last, True), (last + 1, False)):
        curves = {"bigger": _curve(rise=0.09, gap=0.09, good=good), "baseline": _curve(rise=0.03, gap=0.05),
                  "smaller": _curve(rise=0.004, gap=0.03), "dropout": _curve(rise=0.01, gap=0.02)}
        res = {f"solution-seed-{s}": _rec(curves=curves) for s in v.gate_seeds} | {"blank": _blank()}
        assert gate.judge(v, res)["passed"] is passed, good
