"""End to end: one mixed class of real submissions graded as a batch, on the real data.

The class is an LMS-style bulk zip (per-student folders with Japanese names): the solution,
the blank template, the wrong-readings variant, a corrupt notebook, a PDF instead of a
notebook, a notebook that loops forever (sleeping, so the trainings keep the cores), and a
student who handed in twice (the older file is the solution, the newer the blank template:
the newer counts); and versions: two students' per-student variants of version 2027, a
2026 notebook whose version stamp was removed, one stamped with a version never published. It is
graded once per session with 3 workers (about 6 minutes: two trainings at a time beside one
time-out) and every test reads that result.
"""

from __future__ import annotations

import io
import json
import os
import re

import pandas as pd
import pytest
from kit_constants import SLUG

from autograder import catalog, cli
from autograder.grading.batch import engine
from autograder.grading.execution import supervise
from autograder.grading.intake import inputs, targets
from autograder.report import outputs
from autograder.tools import samples

pytestmark = pytest.mark.e2e
from e2e_samples import TIMEOUT, variant_solution  # noqa: E402
from kit_constants import COURSE_SECRET, VARIANT_VERSION, VERSION  # noqa: E402

FULL_MARKS = ("s002", "s008", "s009", "s010")

READINGS_LOST = {"q2a_epoch": 2, "q2b_val_accuracy": 2, "q2c_overfitting": 1}


def test_one_row_per_student_with_expected_statuses(sheet: pd.DataFrame):
    """Is there exactly one row per student, each with the status its submission deserves?"""
    rows = sheet.iloc[1:].set_index("student_id")
    assert list(rows.index) == [f"s{i:03d}" for i in range(1, 12)]
    assert rows["status"].to_dict() == {"s001": "timeout", "s002": "graded", "s003": "graded",
                                        "s004": "invalid", "s005": "invalid", "s006": "graded",
                                        "s007": "graded", "s008": "graded", "s009": "graded",
                                        "s010": "graded", "s011": "wrong-version"}
    assert f"{TIMEOUT} s" in rows.loc["s001", "reason"]
    assert "cut off" in rows.loc["s004", "reason"]
    assert "レポート.pdf is a .pdf file" in rows.loc["s005", "reason"]


def test_points_are_exactly_as_expected(sheet: pd.DataFrame):
    """Wrong readings lose exactly those points against the solution; blank and failures score zero?"""
    possible = sheet.iloc[0]
    assert possible["file"] == "points-per-question" and float(possible["total_points_earned"]) == 24
    questions = [c for c in sheet.columns if c.startswith("q")]
    assert len(questions) == 12
    rows = sheet.iloc[1:].set_index("student_id")
    for q in questions:
        lost = READINGS_LOST.get(q, 0)
        assert float(rows.loc["s003", q]) == max(0.0, float(rows.loc["s002", q]) - lost), q
        for sid in ("s001", "s004", "s005", "s006"):
            assert float(rows.loc[sid, q]) == 0, (sid, q)
    assert float(rows.loc["s001", "percent_correct"]) == 0.0


@pytest.mark.parametrize("sid", FULL_MARKS)
def test_solution_scores_full_marks_in_the_batch(sheet: pd.DataFrame, sid: str):
    """Does each version's solution, graded inside the batch by the autograder its stamp names
    (2027 with the student's own seed), score 24 / 24 (percent_correct 1.0)?"""
    rows = sheet.iloc[1:].set_index("student_id")
    failed = [q for q in sheet.columns if q.startswith("q")
              and float(rows.loc[sid, q]) != float(sheet.iloc[0][q])]
    assert failed == [], rows.loc[sid, "reason"]
    assert float(rows.loc[sid, "percent_correct"]) == 1.0


def test_each_row_names_its_version_and_the_odd_ones_say_why(sheet: pd.DataFrame):
    """Is each row graded against its stamp's version; is the stamp-less one graded against the
    command line's first version and flagged; is the unknown version refused naming the versions?"""
    rows = sheet.iloc[1:].set_index("student_id")
    assert rows.loc["s002", "version"] == rows.loc["s010", "version"] == VERSION
    assert rows.loc["s008", "version"] == rows.loc["s009", "version"] == VARIANT_VERSION
    assert rows.loc["s002", "reason"] == "" and rows.loc["s008", "reason"] == ""
    assert rows.loc["s010", "reason"].startswith("flagged: no version stamp")
    assert f"graded as version {VERSION}" in rows.loc["s010", "reason"]
    reason = rows.loc["s011", "reason"]
    assert "'2025'" in reason and "not published" in reason and "2026, 2027" in reason
    assert float(rows.loc["s011", "total_points_earned"]) == 0


def test_latest_submission_counts_and_the_other_is_listed(lms_batch, sheet: pd.DataFrame):
    """Does the newer blank count for s006 over the older solution, and is the older one listed?"""
    _, out, _ = lms_batch
    row = sheet.set_index("student_id").loc["s006"]
    assert row["file"].endswith("最終.ipynb") and float(row["total_points_earned"]) == 0
    sup = pd.read_csv(out / "superseded.csv")
    assert len(sup) == 1 and sup.iloc[0]["file"].endswith("最初.ipynb")


def test_feedback_has_the_students_curves(lms_batch):
    """Does the solution's feedback page show its two curve figures from the grading run?"""
    _, out, _ = lms_batch
    page = (out / "feedback" / "s002.html").read_text(encoding="utf-8")
    for name in engine.FIGURES:
        png = out / "feedback" / "s002" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"s002/{name}" in page
    wrong = (out / "feedback" / "s003.html").read_text(encoding="utf-8")
    assert "good_epoch_bigger" in wrong and "不合格 / not passed" in wrong


def test_results_json_and_report(lms_batch):
    """Are otter's results.json per graded student and a self-contained report with test accuracy written?"""
    _, out, _ = lms_batch
    assert {p.name for p in (out / "results").iterdir()} == {
        f"{s}.json" for s in ("s002", "s003", "s006", "s007", "s008", "s009", "s010")}
    tests = json.loads((out / "results" / "s003.json").read_text())["tests"]
    sheet = pd.read_csv(out / "grades.csv", keep_default_na=False, dtype={"student_id": str})
    s003 = sheet.set_index("student_id").loc["s003"]
    assert sum(t["score"] for t in tests if "max_score" in t) == float(s003["total_points_earned"])
    report = (out / "report.html").read_text(encoding="utf-8")
    assert report.count("data:image/png;base64,") == 4
    assert re.search(r"中央値 / median 0\.8\d{3}", report) and "s001" in report
    assert "版 / versions: 2026 × 6, 2027 × 2" in report


def test_second_run_grades_nothing(lms_batch):
    """Does running the same command again re-grade nothing and leave the CSV unchanged?"""
    tmp, out, _ = lms_batch
    before = (out / "grades.csv").read_bytes()
    stream = io.StringIO()
    intake = inputs.collect([tmp / "LMS一括ダウンロード.zip"], out / "staging", exclude=out)
    resolver = cli.resolver_for(SLUG, [VERSION, VARIANT_VERSION], str(tmp / "secret.txt"))
    info = resolver.infos[VERSION]
    res = engine.run_batch(intake, engine.BatchConfig(info, out, timeout=TIMEOUT, resolve=resolver),
                           stream=stream)
    assert res.graded_now == 0 and res.reused == 8
    outputs.write_all(res, info, out)
    assert (out / "grades.csv").read_bytes() == before


def test_nothing_is_left_running(lms_batch):
    """After the batch (with a timed-out infinite loop), is no grading process still alive?"""
    _, out, _ = lms_batch
    assert supervise.marked_processes(str((out / "work").resolve())) == []
    assert not (out / "work").exists() or os.listdir(out / "work") == []


def _bigger(out, sid: str) -> pd.Series:
    curves = pd.read_csv(out / "curves.csv", dtype={"student_id": str})
    return curves[(curves.student_id == sid) & (curves.network == "bigger")].iloc[0]


def test_variant_students_have_different_seeds_and_curves(lms_batch):
    """Do the two 2027 students get different seeds, and did their own curves differ?"""
    _, out, _ = lms_batch
    assert (targets.derive_seed(COURSE_SECRET, "s008", VARIANT_VERSION)
            != targets.derive_seed(COURSE_SECRET, "s009", VARIANT_VERSION))
    a, b = _bigger(out, "s008"), _bigger(out, "s009")
    epochs = catalog.published(SLUG)[VARIANT_VERSION]["params"]["epochs"]
    assert a["epochs"] == b["epochs"] == epochs  # the 2027 parameters were used
    assert (a["good_epoch"], a["good_val_accuracy"], a["final_gap"]) != (
        b["good_epoch"], b["good_val_accuracy"], b["final_gap"])


def _grade_alone(nb: dict, name: str, tmp_path, secret) -> pd.Series:
    """Grade one 2027 notebook on its own (with the course secret); its row of the grade sheet."""
    sub = tmp_path / "in" / name
    sub.parent.mkdir()
    sub.write_text(json.dumps(nb, ensure_ascii=False), encoding="utf-8")
    code = cli.main(["grade", str(sub.parent), "--out", str(tmp_path / "out"), "--version",
                     VARIANT_VERSION, "--secret-file", str(secret), "--timeout", str(TIMEOUT)])
    assert code == 0
    return pd.read_csv(tmp_path / "out" / "grades.csv", dtype={"student_id": str},
                       keep_default_na=False).iloc[1]


def test_readings_copied_from_another_student_fail(lms_batch, tmp_path):
    """s009 hands in their own notebook with s008's readings typed in: graded with s009's seed,
    the copied epoch and accuracy are checked against s009's curves and fail."""
    tmp, out, _ = lms_batch
    a, b = _bigger(out, "s008"), _bigger(out, "s009")

    tol = catalog.published(SLUG)[VARIANT_VERSION]["params"]["val_acc_tol"]
    # the premise: s008's readings are not also right for s009's curves
    assert a["good_epoch"] != b["good_epoch"] or abs(a["good_val_accuracy"] - b["good_val_accuracy"]) > tol
    nb = variant_solution("s009")
    nb = samples.replace_once(nb, samples.EPOCH_LINE, f"good_epoch_bigger = {int(a['good_epoch'])}")
    nb = samples.replace_once(nb, samples.VAL_ACC_LINE,
                              f"val_acc_bigger = {float(a['good_val_accuracy'])}")
    row = _grade_alone(nb, "s009_copy.ipynb", tmp_path, tmp / "secret.txt")
    assert row["student_id"] == "s009" and row["status"] == "graded"
    lost = 4 - float(row["q2a_epoch"]) - float(row["q2b_val_accuracy"])
    print(f"copied readings: epoch {a['good_epoch']} (own {b['good_epoch']}), accuracy "
          f"{a['good_val_accuracy']} (own {b['good_val_accuracy']}): {lost:g} of 4 points lost")
    assert lost >= 2, row.to_dict()  # at least one of the two copied readings fails
    assert float(row["total_points_earned"]) == 24 - lost  # everything else still passes


def test_another_students_seed_written_in_a_cell_is_caught(lms_batch, tmp_path):
    """s009 hands in their own per-student notebook (their stamp, their SEED line) but writes s008's
    seed at the top of the cells that seed Part 1 and the networks, so the notebook trains s008's
    curves (otter's injected SEED is overwritten in the same cell) and its readings are s008's.
    The grader trains with s009's seed itself: the row is flagged, and the readings that differ
    between the two seeds fail."""
    tmp, out, _ = lms_batch
    a, b = _bigger(out, "s008"), _bigger(out, "s009")
    tol = catalog.published(SLUG)[VARIANT_VERSION]["params"]["val_acc_tol"]
    assert a["good_epoch"] != b["good_epoch"] or abs(a["good_val_accuracy"] - b["good_val_accuracy"]) > tol
    other = targets.derive_seed(COURSE_SECRET, "s008", VARIANT_VERSION)
    nb = variant_solution("s009")
    marks = ("NETWORK_SEEDS = {", "model = keras.models.clone_model(model)")
    seeded = [c for c in nb["cells"]
              if c["cell_type"] == "code" and any(m in "".join(c["source"]) for m in marks)]
    assert len(seeded) == 2
    for cell in seeded:
        cell["source"] = f"SEED = {other}\n" + "".join(cell["source"])
    row = _grade_alone(nb, "s009_seed.ipynb", tmp_path, tmp / "secret.txt")
    assert row["student_id"] == "s009" and row["status"] == "graded"
    assert "the notebook's own training in the grading run differs from the grader's" in row["flags"]
    assert "model: the exported network is not the one the grader trained from the seed" in row["flags"]
    lost = 4 - float(row["q2a_epoch"]) - float(row["q2b_val_accuracy"])
    print(f"another student's seed in a cell: {row['total_points_earned']} of 24, Q7-Q8 lost {lost:g}")
    # Part 1 too: its history, its scaling and its predictions are not the grader's network's
    assert lost >= 2 and float(row["total_points_earned"]) <= 24 - lost - 4
