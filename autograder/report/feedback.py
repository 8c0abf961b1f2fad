"""Feedback for one student: an HTML page with the score per question, the messages the tests
wrote for students (never the hidden test's source) and the figures of the grading run."""

from __future__ import annotations

import html
import re
from pathlib import Path

from autograder.grading.batch.engine import Outcome
from autograder.report.style import CSS, STATUS_TEXT
from autograder.results import Status, adjusted


def safe_name(student_id: str) -> str:
    """A file name for a student ID: letters (any script), digits, ``-_.``; nothing else."""
    name = re.sub(r"[^\w.\-]+", "_", student_id, flags=re.UNICODE).strip("._")
    return name[:80] or "unknown"


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
    status = rec.status if rec else Status.PENDING
    ja, en = STATUS_TEXT.get(status, (status, status))
    parts = [f"<!doctype html><html lang='ja'><head><meta charset='utf-8'><title>{e(o.submission.student_id)}"
             f" – 採点結果 / feedback</title><style>{CSS}</style></head><body>",
             "<h1>採点結果 / Grading feedback</h1>",
             f"<p>学籍番号 / Student ID: <b>{e(o.submission.student_id)}</b><br>"
             f"ファイル / File: <code>{e(o.submission.key)}</code><br>"
             f"状態 / Status: <b>{e(ja)} / {e(en)}</b></p>"]
    if rec and rec.reason:
        parts.append(f"<p>理由 / Reason: {e(rec.reason)}</p>")
    adjusted_scores, adjusted_total = adjusted({q.name: q.score for q in rec.questions} if rec else {},
                                               o.adjustments if status == Status.GRADED else ())
    if rec and rec.questions and status == Status.GRADED and o.adjustments:
        items = "".join(f"<li>{e(a.question or '合計 / total')}: {a.points:g} — {e(a.reason)}</li>"
                        for a in o.adjustments)
        parts.append(f"<h2>TA による調整 / Adjusted by the TA</h2><ul>{items}</ul>")
    if rec and rec.questions:
        pct = 100 * adjusted_total / rec.possible if rec.possible else 0.0
        parts.append(f"<h2>得点 / Score: {adjusted_total:g} / {rec.possible:g} ({pct:.0f}%)</h2>")
        parts.append("<table><tr><th>問題 / Question</th><th>得点 / Points</th>"
                     "<th>結果 / Result</th><th>メッセージ / Message</th></tr>")
        for q in rec.questions:
            mark = ("<span class='ok'>✔ 合格 / passed</span>" if q.passed
                    else "<span class='ng'>✘ 不合格 / not passed</span>")
            msg = "" if q.passed else f"<pre>{e(student_message(q.output))}</pre>"
            score = adjusted_scores.get(q.name, q.score)
            parts.append(f"<tr><td>{e(q.name)}</td><td>{score:g} / {q.possible:g}</td>"
                         f"<td>{mark}</td><td>{msg}</td></tr>")
        parts.append("</table>")
    elif status != Status.PENDING:
        parts.append("<p>得点 / Score: 0 — 上の理由を直して、もう一度提出してください / "
                     "fix the reason above and hand in again.</p>")
    if figures:
        parts.append("<h2>採点で描かれた学習曲線 / Learning curves drawn in the grading run</h2>")
        parts.extend(f"<p><img src='{e(f)}' alt='{e(f)}'></p>" for f in figures)
    elif rec and status == Status.GRADED:
        parts.append("<p class='muted'>学習曲線の図はありませんでした / the grading run drew no "
                     "learning-curve figure.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
