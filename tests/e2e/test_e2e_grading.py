"""End to end, per submission: real notebooks, real training on the real Fashion-MNIST, real otter.

The submissions are graded once per session in the shared mixed batch (``conftest.lms_batch``):
s002 the solution, s006 the blank template (handed in last), s003 the wrong readings, s007 the
wrong architecture. Each test reads that student's otter ``results.json`` and feedback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ARCHITECTURE = {"q1_model"}
READINGS_LOST = {"q2a_epoch": 2, "q2b_val_accuracy": 2, "q2c_overfitting": 1}


def _tests(out: Path, sid: str) -> dict[str, dict]:
    results = json.loads((out / "results" / f"{sid}.json").read_text(encoding="utf-8"))
    return {t["name"]: t for t in results["tests"] if "max_score" in t}


@pytest.fixture(scope="session")
def graded(lms_batch) -> dict[str, dict[str, dict]]:
    _, out, _ = lms_batch
    return {name: _tests(out, sid) for name, sid in
            (("solution", "s002"), ("blank", "s006"), ("wrong-readings", "s003"),
             ("wrong-architecture", "s007"))}


def test_solution_scores_full_marks(graded):
    """Does the reference solution score 100% on every question?"""
    tests = graded["solution"]
    assert len(tests) == 12
    failed = {n: t["output"][-400:] for n, t in tests.items() if t["score"] != t["max_score"]}
    assert not failed, failed
    assert sum(t["score"] for t in tests.values()) == 24


def test_blank_template_scores_zero(graded):
    """Does the unmodified student notebook score 0 on every auto-graded question?"""
    tests = graded["blank"]
    assert len(tests) == 12
    assert all(t["score"] == 0 for t in tests.values()), {n: t["score"] for n, t in tests.items()}


def test_wrong_architecture_loses_exactly_the_architecture_points(graded):
    """Does Dense(64) instead of Dense(128) lose the architecture points and nothing else?"""
    tests = graded["wrong-architecture"]
    assert len(tests) == 12 and ARCHITECTURE <= tests.keys(), sorted(tests)
    for name, t in tests.items():
        assert t["score"] == (0 if name in ARCHITECTURE else t["max_score"]), (name, t["output"][-300:])


def test_wrong_readings_lose_exactly_those_points(graded):
    """Do epoch 1, accuracy 0.5 and 'Bigger does not overfit' lose exactly their points?"""
    tests = graded["wrong-readings"]
    assert len(tests) == 12 and READINGS_LOST.keys() <= tests.keys(), sorted(tests)
    for name, t in tests.items():
        assert t["score"] == t["max_score"] - READINGS_LOST.get(name, 0), (name, t["output"][-300:])


def test_feedback_says_which_reading_was_off(graded):
    """Does the feedback name the wrong reading and by how much, in Japanese and English?"""
    out = {n: t["output"] for n, t in graded["wrong-readings"].items()}
    assert "good_epoch_bigger" in out["q2a_epoch"] and "above the lowest" in out["q2a_epoch"]
    assert "検証の損失" in out["q2a_epoch"] and "最小" in out["q2a_epoch"]
    assert "val_acc_bigger" in out["q2b_val_accuracy"]
    assert "overfitting_bigger" in out["q2c_overfitting"]


def test_solution_is_not_flagged(lms_batch, sheet):
    """Is the honest solution graded without a flag (kernel and clean check agree)?"""
    rows = sheet.iloc[1:].set_index("student_id")
    assert rows.loc["s002", "reason"] == ""
