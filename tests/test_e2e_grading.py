"""End to end: real notebooks, real training on the real Fashion-MNIST, real otter-grader.

Each sample is graded once per session (the solution takes about a minute and a half).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder import data, paths, samples
from autograder.grade import GRADED, GradeResult, grade_one

pytestmark = pytest.mark.e2e
SLUG = "3-2-overfitting"
ARCHITECTURE = {"q1_model"}
READINGS_LOST = {"q2a_epoch": 2, "q2b_val_accuracy": 2, "q2c_overfitting": 1}


@pytest.fixture(scope="session")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, GradeResult]:
    tmp = tmp_path_factory.mktemp("e2e")
    files = samples.write(SLUG, tmp / "in")
    home = data.provide_keras_cache(tmp / "keras")
    return {name: grade_one(path, paths.autograder_zip(SLUG), tmp / "work" / name,
                            timeout=900, keras_home=home)
            for name, path in files.items()}


def _scores(res: GradeResult) -> dict[str, float]:
    assert res.status == GRADED, res.reason
    return {q.name: q.score for q in res.questions}


def _possible(res: GradeResult) -> dict[str, float]:
    return {q.name: q.possible for q in res.questions}


def test_solution_scores_full_marks(graded: dict[str, GradeResult]):
    """Does the reference solution score 100% on every question?"""
    res = graded["solution"]
    failed = {q.name: q.output[-400:] for q in res.questions if not q.passed}
    assert not failed, failed
    assert res.total == res.possible == 24


def test_blank_template_scores_zero(graded: dict[str, GradeResult]):
    """Does the unmodified student notebook score 0 on every auto-graded question?"""
    scores = _scores(graded["blank"])
    assert len(scores) == 12
    assert all(v == 0 for v in scores.values()), scores


def test_wrong_architecture_loses_exactly_the_architecture_points(graded):
    """Does Dense(64) instead of Dense(128) lose the architecture points and nothing else?"""
    scores, possible = _scores(graded["wrong-architecture"]), _possible(graded["wrong-architecture"])
    for name, score in scores.items():
        assert score == (0 if name in ARCHITECTURE else possible[name]), name


def test_wrong_readings_lose_exactly_those_points(graded):
    """Do epoch 1, accuracy 0.5 and 'Bigger does not overfit' lose exactly their points?"""
    scores, possible = _scores(graded["wrong-readings"]), _possible(graded["wrong-readings"])
    for name, score in scores.items():
        assert score == possible[name] - READINGS_LOST.get(name, 0), name


def test_feedback_says_which_reading_was_off(graded):
    """Does the feedback name the wrong reading and by how much, in Japanese and English?"""
    out = {q.name: q.output for q in graded["wrong-readings"].questions}
    assert "good_epoch_bigger" in out["q2a_epoch"] and "below the best" in out["q2a_epoch"]
    assert "val_acc_bigger" in out["q2b_val_accuracy"]
    assert "overfitting_bigger" in out["q2c_overfitting"]


def test_curves_are_saved_next_to_the_notebook(graded):
    """Are the learning-curve PNGs of the grading run kept for the TA?"""
    work = Path(graded["solution"].workdir) / "submission"
    for name in ("curves_part2_networks.png", "curves_part3_prevention.png"):
        png = work / name
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
