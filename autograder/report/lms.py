"""Back into the LMS: grade files each gradebook imports, and Moodle's feedback-files zip.

Everything is read from the class folder's ``grades.csv`` (the whole class, see ``outputs``) and
``feedback/``, plus the roster for names, e-mail addresses and LMS IDs. Scores are written as
points; ``points`` rescales them to the LMS's maximum grade (e.g. the kit's 24 points on a
Moodle assignment graded out of 100).

- **Moodle** (``moodle-grades.csv``): the columns of the assignment's "Download grading worksheet"
  (``mod/assign/gradingtable.php``), which "Upload grading worksheet" reads back
  (``assignfeedback_offline/importgradeslib.php``: ``Identifier`` = ``Participant <id>``,
  ``Grade`` and ``Last modified (grade)`` must be there; ``Feedback comments`` is taken when
  feedback comments are enabled; an empty modification time reads as none).
- **Moodle feedback** (``moodle-feedback.zip``): "Upload multiple feedback files in a zip"
  (``assignfeedback_file``): one folder per participant, named as in the submissions download,
  ``<Full name>_<participant id>_assignfeedback_file_/``; Moodle reads the participant ID from the
  second ``_``-separated part, so ``_`` in a name is written as a space.
- **Canvas** (``canvas-grades.csv``): the gradebook's CSV (``Student``, ``ID``, ``SIS User ID``,
  ``SIS Login ID``, ``Section``, then one column per assignment, ``<name> (<assignment id>)``; a
  column without an id creates a new assignment on import), and the ``Points Possible`` row.
- **Plain** (``grades-plain.csv``, UTF-8 with BOM for Excel): ``student_id``, ``name``, ``score``,
  ``max_score``, ``percent``, ``status``: for manaba's grade import and any LMS that maps columns.
"""

from __future__ import annotations

import base64
import csv
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from autograder.errors import ConfigError
from autograder.grading.identity import Roster
from autograder.report.feedback import safe_name

TARGETS = ("moodle", "canvas", "csv")
POINTS_ROW = "points-per-question"

MOODLE_COLUMNS = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum grade",
                  "Grade can be changed", "Last modified (submission)", "Last modified (grade)",
                  "Feedback comments"]
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
PLAIN_COLUMNS = ["student_id", "name", "score", "max_score", "percent", "status"]


@dataclass(frozen=True)
class Row:
    """One student of the class, as the exports need them."""

    student_id: str
    name: str
    email: str
    lms_id: str
    section: str
    status: str
    points: float
    possible: float


@dataclass
class Exported:
    files: list[Path]
    skipped: list[tuple[str, str]]  # (student ID, why it is not in a file)


def class_rows(out: Path, roster: Roster | None = None) -> list[Row]:
    """The rows of ``out/grades.csv``, completed from the roster (name, e-mail, LMS ID, section)."""
    sheet = out / "grades.csv"
    try:
        with sheet.open(encoding="utf-8", newline="") as f:
            records = list(csv.DictReader(f))
    except OSError:
        raise ConfigError(f"no grade sheet in {out} ({sheet.name} is missing)",
                          hint=f"grade into it first: python -m autograder grade ... --out {out}") from None
    head = next((r for r in records if r.get("file") == POINTS_ROW), None)
    if head is None:
        raise ConfigError(f"{sheet} has no '{POINTS_ROW}' row", hint="write it again with the grade command")
    possible = float(head["total_points_earned"])
    by_id = {s.student_id: s for s in roster.students} if roster else {}
    rows = []
    for r in records:
        if r is head:
            continue
        st = by_id.get(r["student_id"])
        rows.append(Row(r["student_id"], r.get("name") or (st.name if st else ""), st.email if st else "",
                        r.get("lms_id") or (st.lms_id if st else ""), st.section if st else "",
                        r["status"], float(r["total_points_earned"] or 0), possible))
    return rows


def scaled(row: Row, points: float | None) -> float:
    """The score on the LMS's scale (``points``: its maximum grade), rounded to 2 decimals."""
    if points is None or not row.possible:
        return round(row.points, 2)
    return round(row.points * points / row.possible, 2)


def comment(row: Row, points: float | None) -> str:
    top = points if points is not None else row.possible
    if row.status == "graded":
        return (f"{scaled(row, points):g} / {top:g} 点 / points "
                "(詳細はフィードバックファイル / details in the feedback file)")
    if row.status == "missing":
        return "未提出 / nothing handed in"
    return f"採点できませんでした / not graded: {row.status} (フィードバックファイル / see the feedback file)"


def export(out: Path, to: str, dest: Path, *, roster: Roster | None = None, points: float | None = None,
           assignment: str = "", assignment_id: str = "") -> Exported:
    """Write ``to``'s files into ``dest`` (see the module docstring); return them and who was skipped."""
    if to not in TARGETS:
        raise ConfigError(f"unknown export target {to!r}", hint=f"one of: {', '.join(TARGETS)}")
    rows = class_rows(out, roster)
    dest.mkdir(parents=True, exist_ok=True)
    if to == "moodle":
        return moodle(rows, out / "feedback", dest, points)
    if to == "canvas":
        return canvas(rows, dest, points, assignment, assignment_id)
    return plain(rows, dest, points)


def moodle(rows: list[Row], feedback: Path, dest: Path, points: float | None) -> Exported:
    skipped = [(r.student_id, "no Moodle participant ID (give a roster with lms_id)")
               for r in rows if not r.lms_id.isdigit()]
    ok = [r for r in rows if r.lms_id.isdigit()]
    sheet = dest / "moodle-grades.csv"
    with sheet.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(MOODLE_COLUMNS)
        for r in ok:
            status = "No submission" if r.status == "missing" else "Submitted for grading"
            grade = "" if r.status == "missing" else f"{scaled(r, points):.2f}"
            top = points if points is not None else r.possible
            w.writerow([f"Participant {r.lms_id}", r.name, r.email, status, grade, f"{top:.2f}", "Yes",
                        "", "", comment(r, points)])
    bundle = dest / "moodle-feedback.zip"
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as zf:
        for r in ok:
            page = feedback / f"{safe_name(r.student_id)}.html"
            if r.status == "missing" or not page.is_file():
                continue
            folder = f"{moodle_name(r.name or r.student_id)}_{r.lms_id}_assignfeedback_file_"
            zf.writestr(f"{folder}/feedback.html", inline_figures(page))
    return Exported([sheet, bundle], skipped)


def moodle_name(name: str) -> str:
    """A name as a Moodle folder name: ``_`` separates the parts Moodle reads, so it becomes a space."""
    return re.sub(r"[_/\\]+", " ", name).strip() or "student"


def inline_figures(page: Path) -> str:
    """The feedback page with its figures inlined (one file per participant in the bundle)."""
    text = page.read_text(encoding="utf-8")

    def data_uri(m: re.Match[str]) -> str:
        png = page.parent / m.group(1)
        if png.is_file() and png.resolve().is_relative_to(page.parent.resolve()):
            return "src='data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii") + "'"
        return m.group(0)

    return re.sub(r"src='([^':]+\.png)'", data_uri, text)


def canvas(rows: list[Row], dest: Path, points: float | None, assignment: str,
           assignment_id: str) -> Exported:
    skipped = [(r.student_id, "no Canvas user ID or SIS user ID") for r in rows
               if not (r.lms_id or r.student_id)]
    column = f"{assignment or 'Assignment'}" + (f" ({assignment_id})" if assignment_id else "")
    sheet = dest / "canvas-grades.csv"
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([*CANVAS_COLUMNS, column])
    top = points if points is not None else (rows[0].possible if rows else 0.0)
    w.writerow(["Points Possible", "", "", "", "", f"{top:g}"])
    for r in rows:
        grade = "" if r.status == "missing" else f"{scaled(r, points):g}"
        w.writerow([r.name or r.student_id, r.lms_id, r.student_id, r.email, r.section, grade])
    sheet.write_text(buf.getvalue(), encoding="utf-8")
    return Exported([sheet], skipped)


def plain(rows: list[Row], dest: Path, points: float | None) -> Exported:
    sheet = dest / "grades-plain.csv"
    with sheet.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(PLAIN_COLUMNS)
        for r in rows:
            top = points if points is not None else r.possible
            pct = round(100 * r.points / r.possible, 1) if r.possible else 0.0
            w.writerow([r.student_id, r.name, f"{scaled(r, points):g}", f"{top:g}", f"{pct:g}", r.status])
    return Exported([sheet], [])
