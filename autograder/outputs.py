"""What a batch leaves for the TA: grade sheet, per-student feedback, otter results, class report.

Everything here is rebuilt from the engine's ``BatchResult`` (itself read from the ledger), so
writing outputs again after a re-run gives the same files.

- ``grades.csv``: one row per student; otter's ``final_grades.csv`` columns (``file``, one
  column per question, ``total_points_earned``, ``percent_correct``, ``grading_status``, and the
  first row ``points-per-question``), plus ``student_id``, ``status``, ``reason``, ``seconds``,
  ``sha256``, ``version`` (the release the row was graded against).
- ``curves.csv``: per student and network, what the clean check measured on the student's own
  learning curves (best epoch, its validation accuracy, final gap, verdict): what a reading
  was checked against, for questions and disputes.
- ``superseded.csv``: the submissions the duplicate rule set aside, and ``ignored.csv``.
- ``feedback/<ID>.html`` with the student's figures in ``feedback/<ID>/``.
- ``results/<ID>.json``: otter's Gradescope-format results of the graded submission.
- ``report.html``: the class report (``report.class_report_html``).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from autograder import grade
from autograder.engine import BatchResult, Outcome
from autograder.grade import AutograderInfo

POINTS_POSSIBLE_LABEL = "points-per-question"  # as otter.grade.utils names it
PENDING = "pending"  # no result yet: the batch was interrupted before this submission finished

STATUS_TEXT = {
    grade.GRADED: ("採点しました", "graded"),
    grade.TIMEOUT: ("制限時間内に終わりませんでした", "did not finish within the time limit"),
    grade.ERROR: ("採点中に止まりました", "grading stopped with an error"),
    grade.INVALID: ("ノートブックとして読めません", "not a readable notebook"),
    grade.WRONG_VERSION: ("この課題・この版のノートブックではありません",
                          "not a notebook of this assignment or version"),
    grade.EMPTY: ("中身がありません", "empty"),
    PENDING: ("まだ採点していません", "not graded yet"),
}


@dataclass
class Written:
    csv: Path
    feedback: Path
    results: Path
    report: Path
    superseded: Path
    ignored: Path


def safe_name(student_id: str) -> str:
    """A file name for a student ID: letters (any script), digits, ``-_.``; nothing else."""
    name = re.sub(r"[^\w.\-]+", "_", student_id, flags=re.UNICODE).strip("._")
    return name[:80] or "unknown"


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
        if flags and status == grade.GRADED:
            reason = (reason + " | " if reason else "flagged: ") + " | ".join(flags)
        rows.append({
            "student_id": o.submission.student_id, "file": o.submission.key,
            **{q: scores.get(q, 0.0) for q in questions},
            "total_points_earned": total,
            "percent_correct": round(total / total_possible, 4) if total_possible else 0.0,
            "grading_status": "Completed" if status == grade.GRADED else f"{status}: {reason}",
            "status": status, "reason": reason,
            "seconds": round(rec.seconds, 1) if rec else "",
            "sha256": o.submission.sha256,
            "version": o.target.version if o.target else "",
        })
    return pd.DataFrame(rows)


def write_all(batch: BatchResult, info: AutograderInfo, out: Path) -> Written:
    from autograder import report

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
    pd.DataFrame(curve_rows, columns=["student_id", "network", "epochs", "best_epoch",
                                      "best_val_accuracy", "final_gap", "verdict"]).to_csv(
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
    rep.write_text(report.class_report_html(batch, info), encoding="utf-8")
    return Written(csv, fb_dir, res_dir, rep, superseded, ignored)


def write_feedback(o: Outcome, fb_dir: Path, name: str) -> Path:
    figs = []
    if o.record and o.record.figures:
        (fb_dir / name).mkdir(exist_ok=True)
        for fname, png in sorted(o.record.figures.items()):
            (fb_dir / name / fname).write_bytes(png)
            figs.append(f"{name}/{fname}")
    path = fb_dir / f"{name}.html"
    path.write_text(feedback_html(o, figs), encoding="utf-8")
    return path


_CSS = """body{font-family:"Noto Sans CJK JP","Hiragino Sans","Yu Gothic",sans-serif;max-width:60em;
margin:2em auto;padding:0 1em;color:#222;line-height:1.5}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.3em .6em;vertical-align:top;text-align:left}
pre{white-space:pre-wrap;margin:0;font-size:.85em}.ok{color:#176f2c}.ng{color:#b3261e}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}.muted{color:#666}"""


_TEST_LINE = re.compile(r"^\s*Error at line \d+ in test ")
_ERROR_LINE = re.compile(r"^\s*[A-Za-z_.]*(Error|Exception)\b.*:")


def student_message(output: str) -> str:
    """The test's message without the hidden test's source line (it can give the answer away).

    ``Error at line 17 in test q1_model:`` is followed by the test's code (``check_architecture(
    model, hidden_units=[128])``); that is dropped up to the ``...Error:`` line, which is the
    message the test wrote for students. The TA keeps everything in ``results/<ID>.json``.
    """
    kept, skipping = [], False
    for line in output.replace("❌", "✘").replace("✅", "✔").splitlines():
        if _TEST_LINE.match(line):
            skipping = True
            continue
        if skipping and _ERROR_LINE.match(line):
            skipping = False
        if not skipping:
            kept.append(line)
    return "\n".join(kept).strip()


def feedback_html(o: Outcome, figures: list[str]) -> str:
    e = html.escape
    rec = o.record
    status = rec.status if rec else PENDING
    ja, en = STATUS_TEXT.get(status, (status, status))
    parts = [f"<!doctype html><html lang='ja'><head><meta charset='utf-8'><title>{e(o.submission.student_id)}"
             f" – 採点結果 / feedback</title><style>{_CSS}</style></head><body>",
             "<h1>採点結果 / Grading feedback</h1>",
             f"<p>学籍番号 / Student ID: <b>{e(o.submission.student_id)}</b><br>"
             f"ファイル / File: <code>{e(o.submission.key)}</code><br>"
             f"状態 / Status: <b>{e(ja)} / {e(en)}</b></p>"]
    if rec and rec.reason:
        parts.append(f"<p>理由 / Reason: {e(rec.reason)}</p>")
    if rec and rec.questions:
        pct = 100 * rec.total / rec.possible if rec.possible else 0.0
        parts.append(f"<h2>得点 / Score: {rec.total:g} / {rec.possible:g} ({pct:.0f}%)</h2>")
        parts.append("<table><tr><th>問題 / Question</th><th>得点 / Points</th>"
                     "<th>結果 / Result</th><th>メッセージ / Message</th></tr>")
        for q in rec.questions:
            mark = ("<span class='ok'>✔ 合格 / passed</span>" if q.passed
                    else "<span class='ng'>✘ 不合格 / not passed</span>")
            msg = "" if q.passed else f"<pre>{e(student_message(q.output))}</pre>"
            parts.append(f"<tr><td>{e(q.name)}</td><td>{q.score:g} / {q.possible:g}</td>"
                         f"<td>{mark}</td><td>{msg}</td></tr>")
        parts.append("</table>")
    elif status != PENDING:
        parts.append("<p>得点 / Score: 0 — 上の理由を直して、もう一度提出してください / "
                     "fix the reason above and hand in again.</p>")
    if figures:
        parts.append("<h2>採点で描かれた学習曲線 / Learning curves drawn in the grading run</h2>")
        parts.extend(f"<p><img src='{e(f)}' alt='{e(f)}'></p>" for f in figures)
    elif rec and status == grade.GRADED:
        parts.append("<p class='muted'>学習曲線の図はありませんでした / the grading run drew no "
                     "learning-curve figure.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
