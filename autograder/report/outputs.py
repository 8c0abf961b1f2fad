"""What a batch leaves for the TA: grade sheet, per-student feedback, otter results, class report.

Everything here is rebuilt from the engine's ``BatchResult`` (itself read from the ledger), so
writing outputs again after a re-run gives the same files.

- ``grades.csv``: one row per student; otter's ``final_grades.csv`` columns (``file``, one
  column per question, ``total_points_earned``, ``percent_correct``, ``grading_status``, and the
  first row ``points-per-question``), plus ``student_id``, ``name``, ``lms_id``, ``late`` (``yes``:
  the LMS's download marked it late, Canvas's ``LATE``), ``status``,
  ``flags`` (what the TA should look at, `` | ``-separated; the row's score stands), ``reason``,
  ``seconds``, ``sha256``, ``version`` (the release the row was graded against), ``adjusted`` (the
  TA's adjustments, each with its reason: the scores already include them). The sheet is the
  whole class kept in the folder (``engine.class_view``), and with a roster every student who
  handed nothing in has a row with status ``missing``.
- Every CSV here is UTF-8 with a BOM: the TA opens them in Excel (Japanese names).
- ``curves.csv``: per student and network, what the clean check measured on the curves the
  readings were graded against (good epoch and its validation accuracy, validation-loss rise,
  final gap and validation accuracy, verdict) and how far the curves recorded in the submitted
  notebook lay from the grader's own training (``recorded_difference``; empty: nothing recorded): for
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

from autograder.grading.batch.engine import BatchResult
from autograder.grading.intake.identity import Roster, late_in
from autograder.report import class_report
from autograder.report.feedback import safe_name, write_feedback
from autograder.results import Status, adjusted
from autograder.target import AutograderInfo

#: curves.csv: one row per student and network, the clean check's ``curve_summary``.
CURVE_COLUMNS = ["student_id", "network", "epochs", "good_epoch", "good_val_accuracy", "val_loss_rise",
                 "final_gap", "final_val_accuracy", "verdict", "recorded_difference"]

POINTS_POSSIBLE_LABEL = "points-per-question"  # as otter.grade.utils names it
CSV_ENCODING = "utf-8-sig"  # with a BOM, for Excel


@dataclass
class Written:
    csv: Path
    feedback: Path
    results: Path
    report: Path
    superseded: Path
    ignored: Path


def grades_frame(batch: BatchResult, info: AutograderInfo, roster: Roster | None = None) -> pd.DataFrame:
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
        "name": "", "lms_id": "", "late": "", "status": "--", "flags": "", "reason": "", "seconds": "",
        "sha256": "", "version": "", "adjusted": "",
    }]
    names = {s.student_id: s for s in roster.students} if roster else {}
    for o in sorted(batch.outcomes, key=lambda o: o.submission.student_id):
        rec = o.record
        status = rec.status if rec else Status.PENDING
        scores = {q.name: q.score for q in rec.questions} if rec else {}
        adjustments = o.adjustments if status == Status.GRADED else ()  # (a result, then a change by hand)
        scores, total = adjusted(scores, adjustments)
        reason = rec.reason if rec else "the batch was interrupted; run the same command again"
        flags = o.all_flags
        if o.flags and status == Status.GRADED:  # (the grading's own flags are in its reason already)
            reason = (reason + " | " if reason else "flagged: ") + " | ".join(o.flags)
        sid = o.submission.student_id
        rows.append({
            "student_id": sid, "file": o.submission.key,
            **{q: scores.get(q, 0.0) for q in questions},
            "total_points_earned": total,
            "percent_correct": round(total / total_possible, 4) if total_possible else 0.0,
            "grading_status": "Completed" if status == Status.GRADED else f"{status}: {reason}",
            "name": o.submission.name or (names[sid].name if sid in names else ""),
            "lms_id": o.submission.lms_id or (names[sid].lms_id if sid in names else ""),
            "late": "yes" if o.submission.late or late_in(o.submission.key) else "",
            "status": status, "flags": " | ".join(dict.fromkeys(flags)), "reason": reason,
            "seconds": round(rec.seconds, 1) if rec else "",
            "sha256": o.submission.sha256,
            "version": o.version,
            "adjusted": "; ".join(a.describe() for a in adjustments),
        })
    handed_in = {o.submission.student_id for o in batch.outcomes}
    for st in roster.students if roster else []:
        if st.student_id not in handed_in:
            rows.append({"student_id": st.student_id, "file": "", **{q: 0.0 for q in questions},
                         "total_points_earned": 0.0, "percent_correct": 0.0,
                         "grading_status": f"{Status.MISSING}: nothing handed in", "name": st.name,
                         "lms_id": st.lms_id, "late": "", "status": Status.MISSING, "flags": "",
                         "reason": "nothing handed in", "seconds": "", "sha256": "", "version": "",
                         "adjusted": ""})
    return pd.DataFrame(rows)


def write_all(batch: BatchResult, info: AutograderInfo, out: Path, roster: Roster | None = None) -> Written:
    """Write everything from ``batch``: pass ``engine.class_view(...)`` for the whole class."""
    out.mkdir(parents=True, exist_ok=True)
    csv = out / "grades.csv"
    grades_frame(batch, info, roster).to_csv(csv, index=False, encoding=CSV_ENCODING)
    pd.DataFrame([{"file": s.key, "student_id": s.student_id, "name": s.name, "lms_id": s.lms_id,
                   "why": why} for s, why in batch.intake.unmatched],
                 columns=["file", "student_id", "name", "lms_id", "why"]).to_csv(
        out / "unmatched.csv", index=False, encoding=CSV_ENCODING)
    superseded = out / "superseded.csv"
    pd.DataFrame(
        [{"student_id": old.student_id, "file": old.key, "sha256": old.sha256, "kept_instead": new.key,
          "note": old.id_conflict}
         for old, new in batch.intake.superseded],
        columns=["student_id", "file", "sha256", "kept_instead", "note"]).to_csv(superseded, index=False,
                                                                                encoding=CSV_ENCODING)
    curve_rows = [{"student_id": o.submission.student_id, "network": net, **summary}
                  for o in sorted(batch.outcomes, key=lambda o: o.submission.student_id)
                  if o.record for net, summary in sorted(o.record.curves.items())]
    pd.DataFrame(curve_rows, columns=CURVE_COLUMNS).to_csv(
        out / "curves.csv", index=False, encoding=CSV_ENCODING)
    ignored = out / "ignored.csv"
    pd.DataFrame(batch.intake.ignored, columns=["file", "why"]).to_csv(ignored, index=False,
                                                                      encoding=CSV_ENCODING)
    fb_dir, res_dir = out / "feedback", out / "results"
    fb_dir.mkdir(exist_ok=True)
    res_dir.mkdir(exist_ok=True)
    for o in batch.outcomes:
        name = safe_name(o.submission.student_id)
        write_feedback(o, fb_dir, name)
        if o.record and o.record.results_json:
            (res_dir / f"{name}.json").write_text(o.record.results_json, encoding="utf-8")
    rep = out / "report.html"
    handed_in = {o.submission.student_id for o in batch.outcomes}
    missing = [(st.student_id, st.name) for st in (roster.students if roster else [])
               if st.student_id not in handed_in]
    rep.write_text(class_report.class_report_html(batch, info, missing), encoding="utf-8")
    return Written(csv, fb_dir, res_dir, rep, superseded, ignored)
