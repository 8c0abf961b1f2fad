"""What a batch leaves for the TA: grade sheet, per-student feedback, otter results, class report.

Everything here is rebuilt from the engine's ``BatchResult`` (itself read from the ledger), so
writing outputs again after a re-run gives the same files.

- ``grades.csv``: one row per student; otter's ``final_grades.csv`` columns (``file``, one
  column per question, ``total_points_earned``, ``percent_correct``, ``grading_status``, and the
  first row ``points-per-question``), plus ``student_id``, ``status``, ``reason``, ``seconds``,
  ``sha256``, ``version`` (the release the row was graded against).
- ``curves.csv``: per student and network, what the clean check measured on the curves the
  readings were graded against (good epoch and its validation accuracy, validation-loss rise,
  final gap and validation accuracy, verdict) and how far the curves recorded in the submitted
  notebook lay from the grader's run (``recorded_difference``; empty: nothing recorded): for
  questions and disputes.
- ``superseded.csv``: the submissions the duplicate rule set aside, and ``ignored.csv``.
- ``feedback/<ID>.html`` with the student's figures in ``feedback/<ID>/``.
- ``results/<ID>.json``: otter's Gradescope-format results of the graded submission.
- ``report.html``: the class report (``class_report.class_report_html``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from autograder import model
from autograder.grading.engine import BatchResult
from autograder.model import AutograderInfo
from autograder.report import class_report
from autograder.report.feedback import safe_name, write_feedback
from autograder.report.style import PENDING

#: curves.csv: one row per student and network, the clean check's ``curve_summary``.
CURVE_COLUMNS = ["student_id", "network", "epochs", "good_epoch", "good_val_accuracy", "val_loss_rise",
                 "final_gap", "final_val_accuracy", "verdict", "recorded_difference"]

POINTS_POSSIBLE_LABEL = "points-per-question"  # as otter.grade.utils names it


@dataclass
class Written:
    csv: Path
    feedback: Path
    results: Path
    report: Path
    superseded: Path
    ignored: Path


def grades_frame(batch: BatchResult, info: AutograderInfo) -> pd.DataFrame:
    questions = list(info.questions) or sorted({q.name for o in batch.outcomes if o.record
                                                for q in o.record.questions})
    possible = info.possible()
    for o in batch.outcomes:
        for q in o.record.questions if o.record else []:
            possible.setdefault(q.name, q.possible)
    total_possible = sum(possible.get(q, 0.0) for q in questions)
    rows: list[dict[str, object]] = [{
        "student_id": "", "file": POINTS_POSSIBLE_LABEL,
        **{q: possible.get(q, 0.0) for q in questions},
        "total_points_earned": total_possible, "percent_correct": 1.0, "grading_status": "--",
        "status": "--", "reason": "", "seconds": "", "sha256": "", "version": "",
    }]
    for o in sorted(batch.outcomes, key=lambda o: o.submission.student_id):
        rec = o.record
        status = rec.status if rec else PENDING
        scores = {q.name: q.score for q in rec.questions} if rec else {}
        total = sum(scores.values())
        reason = rec.reason if rec else "the batch was interrupted; run the same command again"
        flags = list(o.target.flags) if o.target else []
        if o.submission.id_conflict:
            flags.insert(0, o.submission.id_conflict)
        if flags and status == model.GRADED:
            reason = (reason + " | " if reason else "flagged: ") + " | ".join(flags)
        rows.append({
            "student_id": o.submission.student_id, "file": o.submission.key,
            **{q: scores.get(q, 0.0) for q in questions},
            "total_points_earned": total,
            "percent_correct": round(total / total_possible, 4) if total_possible else 0.0,
            "grading_status": "Completed" if status == model.GRADED else f"{status}: {reason}",
            "status": status, "reason": reason,
            "seconds": round(rec.seconds, 1) if rec else "",
            "sha256": o.submission.sha256,
            "version": o.target.version if o.target else "",
        })
    return pd.DataFrame(rows)


def write_all(batch: BatchResult, info: AutograderInfo, out: Path) -> Written:
    out.mkdir(parents=True, exist_ok=True)
    csv = out / "grades.csv"
    grades_frame(batch, info).to_csv(csv, index=False)
    superseded = out / "superseded.csv"
    pd.DataFrame(
        [{"student_id": old.student_id, "file": old.key, "sha256": old.sha256, "kept_instead": new.key,
          "note": old.id_conflict}
         for old, new in batch.intake.superseded],
        columns=["student_id", "file", "sha256", "kept_instead", "note"]).to_csv(superseded, index=False)
    curve_rows = [{"student_id": o.submission.student_id, "network": net, **summary}
                  for o in sorted(batch.outcomes, key=lambda o: o.submission.student_id)
                  if o.record for net, summary in sorted(o.record.curves.items())]
    pd.DataFrame(curve_rows, columns=CURVE_COLUMNS).to_csv(
        out / "curves.csv", index=False)
    ignored = out / "ignored.csv"
    pd.DataFrame(batch.intake.ignored, columns=["file", "why"]).to_csv(ignored, index=False)
    fb_dir, res_dir = out / "feedback", out / "results"
    fb_dir.mkdir(exist_ok=True)
    res_dir.mkdir(exist_ok=True)
    for o in batch.outcomes:
        name = safe_name(o.submission.student_id)
        write_feedback(o, fb_dir, name)
        if o.record and o.record.results_json:
            (res_dir / f"{name}.json").write_text(o.record.results_json, encoding="utf-8")
    rep = out / "report.html"
    rep.write_text(class_report.class_report_html(batch, info), encoding="utf-8")
    return Written(csv, fb_dir, res_dir, rep, superseded, ignored)
