"""Back into the LMS: grade files each gradebook imports, and Moodle's feedback-files zip.

Everything is read from the class folder's ``grades.csv`` (the whole class, see ``outputs``) and
``feedback/``, plus the roster for names, e-mail addresses and LMS IDs. Three rules hold for every
file written here:

- **Only a graded row carries a number.** Every other status (error, timeout, invalid, empty,
  wrong-version, pending, missing) and every row whose identity is in doubt
  (``identity.IDENTITY_DOUBT``) is left blank or left out, and listed with its status and reason
  in ``not-exported.csv``, so the TA decides; an LMS never notifies a student of a false zero.
- **The scale is the LMS's, and it must be the kit's.** The LMS maximum comes from the Moodle
  worksheet (its maximum-grade column) or ``points`` (``--points``); when it differs from the
  kit's points the export is refused with both numbers, never rescaled.
- **A person opens these in Excel**: UTF-8 with a BOM (Moodle's ``csv_import_reader`` and Canvas's
  importer strip it).

Files:

- **Moodle**: the grading worksheet, the gradebook import and the feedback-files zip (``moodle``).
- **Canvas** (``canvas-grades.csv``): the gradebook's CSV (``Student``, ``ID``, ``SIS User ID``,
  ``SIS Login ID``, ``Section``, then one column per assignment, ``<name> (<assignment id>)``; a
  column without an id creates a new assignment on import), and the ``Points Possible`` row.
- **Plain** (``grades-plain.csv``): ``student_id``, ``name``, ``score``, ``max_score``,
  ``percent``, ``status``, ``late``: for manaba's grade import and any LMS that maps columns.
"""

from __future__ import annotations

import csv
from pathlib import Path

from autograder.errors import ConfigError
from autograder.grading.intake.identity import IDENTITY_DOUBT, Roster, late_in
from autograder.report.lms_csv import Exported, score_text, write_csv
from autograder.report.moodle import (
    LANGUAGES,
    MOODLE_COLUMNS,
    MOODLE_FILES,
    MOODLE_STRINGS,
    gradebook,
    moodle,
    moodle_name,
    read_worksheet,
)
from autograder.results import ClassRow

__all__ = ["LANGUAGES", "MOODLE_COLUMNS", "MOODLE_STRINGS", "PLAIN_COLUMNS", "TARGETS", "Exported", "export",
           "lms_maximum", "moodle_name"]

TARGETS = ("moodle", "moodle-gradebook", "canvas", "csv")
POINTS_ROW = "points-per-question"

CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
PLAIN_COLUMNS = ["student_id", "name", "score", "max_score", "percent", "status", "late", "adjusted"]
NOT_EXPORTED_COLUMNS = ["student_id", "name", "lms_id", "status", "late", "left_out_of", "reason"]


def class_rows(out: Path, roster: Roster | None = None) -> list[ClassRow]:
    """The rows of ``out/grades.csv``, completed from the roster (name, e-mail, LMS ID, section)."""
    sheet = out / "grades.csv"
    try:
        with sheet.open(encoding="utf-8-sig", newline="") as f:
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
        doubt = next((f.strip() for f in (r.get("flags") or "").split(" | ")
                      if f.strip().startswith(IDENTITY_DOUBT)), "")
        late = (r.get("late") or "").strip().lower() in ("yes", "true", "1") or late_in(r.get("file") or "")
        rows.append(ClassRow(r["student_id"], r.get("name") or (st.name if st else ""),
                             st.email if st else "", r.get("lms_id") or (st.lms_id if st else ""),
                             st.section if st else "", r["status"], float(r["total_points_earned"] or 0),
                             possible, reason=r.get("reason") or "", late=late, doubt=doubt,
                             adjusted=r.get("adjusted") or ""))
    return rows


def lms_maximum(kit: float, *, points: float | None, sheet_max: float | None, where: str,
                known_if_missing: bool = False) -> float:
    """The LMS's maximum grade, which must be the kit's points: refused otherwise, never rescaled.

    ``sheet_max``: the maximum the LMS wrote in its own file (the Moodle worksheet); ``points``:
    what the TA says (``--points``); ``known_if_missing``: the file itself sets the maximum (a new
    Canvas column takes its ``Points Possible`` row), so none need be given."""
    if points is not None and sheet_max is not None and abs(points - sheet_max) > 1e-9:
        raise ConfigError(f"{where}: --points {points:g}, but the worksheet's maximum grade is {sheet_max:g}",
                          hint="drop --points: the worksheet says what the LMS's maximum grade is")
    top = sheet_max if sheet_max is not None else points
    if top is None:
        if known_if_missing:
            return kit
        moodle = where.startswith("moodle")
        raise ConfigError(f"{where}: the LMS's maximum grade for this assignment is not known (the kit "
                          f"grades out of {kit:g} points"
                          + ("; Moodle's default maximum is 100)" if moodle else ")"),
                          hint=("give the grading worksheet downloaded from Moodle (--worksheet FILE), or "
                                if where == "moodle" else "")
                          + f"set the assignment's maximum grade to {kit:g} in the LMS and pass "
                          f"--points {kit:g}")
    if abs(top - kit) > 1e-6:
        source = "the worksheet" if sheet_max is not None else "--points"
        raise ConfigError(f"{where}: the kit grades out of {kit:g} points, but {source} gives the LMS's "
                          f"maximum grade as {top:g}: a score of {kit * 2 / 3:g} would land as "
                          f"{kit * 2 / 3:g} / {top:g}",
                          hint=f"set the assignment's maximum grade to {kit:g} in the LMS (Moodle: "
                               "Settings → Grade → Maximum grade), download the worksheet again and "
                               "export with it; the kit does not rescale grades")
    return top


def export(out: Path, targets: list[str], dest: Path, *, roster: Roster | None = None,
           points: float | None = None, worksheet: Path | None = None, language: str | None = None,
           assignment: str = "", assignment_id: str = "") -> Exported:
    """Write each target's files into ``dest`` (see the module docstring) and ``not-exported.csv``.

    Every target is checked (scale, worksheet, language) before any file is written."""
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        raise ConfigError(f"unknown export target {unknown[0]!r}", hint=f"one of: {', '.join(TARGETS)}")
    if language is not None and language not in LANGUAGES:
        raise ConfigError(f"unknown Moodle language {language!r}", hint=f"one of: {', '.join(LANGUAGES)}")
    rows = class_rows(out, roster)
    kit = rows[0].possible if rows else 0.0
    plans = []
    for to in dict.fromkeys(targets):
        if to == "moodle":
            sheet = read_worksheet(worksheet) if worksheet else None
            if sheet is None and language is None:
                raise ConfigError("moodle: Moodle reads the worksheet's headers in the uploader's interface "
                                  "language, and that language is not known",
                                  hint="give the grading worksheet downloaded from Moodle (--worksheet "
                                       "FILE), or name the language of your Moodle "
                                       f"(--language {'|'.join(LANGUAGES)})")
            top = lms_maximum(kit, points=points, sheet_max=sheet.maximum if sheet else None, where="moodle")
            plans.append((to, sheet, top))
        elif to == "moodle-gradebook":
            plans.append((to, None, lms_maximum(kit, points=points, sheet_max=None, where=to)))
        elif to == "canvas":
            top = lms_maximum(kit, points=points, sheet_max=None, where="canvas",
                              known_if_missing=not assignment_id)
            plans.append((to, None, top))
        else:
            if points is not None:
                lms_maximum(kit, points=points, sheet_max=None, where="csv")
            plans.append((to, None, kit))
    dest.mkdir(parents=True, exist_ok=True)
    done = Exported([], notes=moodle_notes(plans, dest, language))
    for to, sheet, top in plans:
        if to == "moodle":
            part = moodle(rows, out / "feedback", dest, top, sheet, language or "en")
        elif to == "moodle-gradebook":
            part = gradebook(rows, dest, assignment)
        elif to == "canvas":
            part = canvas(rows, dest, top, assignment, assignment_id)
        else:
            part = plain(rows, dest)
        done.files += part.files
        done.left_out += part.left_out
    done.not_exported = write_not_exported(rows, done.left_out, dest)
    return done


def moodle_notes(plans: list, dest: Path, language: str | None) -> list[str]:
    """What to know before uploading the Moodle files: their order, and a re-upload without the
    worksheet's dates (Moodle keeps the grades it holds: a blank date counts as older)."""
    sheets = [sheet for to, sheet, _ in plans if to == "moodle"]
    if not sheets:
        return []
    notes = [f"Moodle: upload {MOODLE_FILES[0]} first (View all submissions → Grading action → Upload "
             f"grading worksheet), then {MOODLE_FILES[1]} (Upload multiple feedback files in a zip): the zip "
             "first creates empty grades, and the worksheet after it changes nothing"]
    if sheets[0] is None and (dest / MOODLE_FILES[0]).is_file():
        notes.append(f"Moodle: this class was exported to {dest} before, and a --language {language} file "
                     "carries no grade dates: Moodle will NOT change a grade it already holds (it takes a "
                     "blank date as older than its grade). Download the grading worksheet again and "
                     "export with --worksheet FILE, or tick 'Ignore modified' (上書きを無視) on Moodle's "
                     "upload form")
    return notes


# ---- Canvas and plain ---------------------------------------------------------------------------


def canvas(rows: list[ClassRow], dest: Path, top: float, assignment: str, assignment_id: str) -> Exported:
    left = [(r.student_id, "canvas", r.why_not) for r in rows if r.why_not]
    no_id = [r for r in rows if not r.why_not and not r.lms_id.isdigit()
             and r.student_id.startswith("anon_")]
    left += [(r.student_id, "canvas", "anonymous grading: Canvas gives no user ID until it posts the "
                                      "grades; enter this grade in SpeedGrader") for r in no_id]
    column = f"{assignment or 'Assignment'}" + (f" ({assignment_id})" if assignment_id else "")
    table = [[*CANVAS_COLUMNS, column], ["Points Possible", "", "", "", "", f"{top:g}"]]
    for r in rows:
        if r in no_id:
            continue
        grade = "" if r.why_not else score_text(r)
        table.append([r.name or r.student_id, r.lms_id, r.student_id, r.email, r.section, grade])
    return Exported([write_csv(dest / "canvas-grades.csv", table)], left)


def plain(rows: list[ClassRow], dest: Path) -> Exported:
    table = [PLAIN_COLUMNS]
    for r in rows:
        ok = not r.why_not
        pct = f"{round(100 * r.points / r.possible, 1):g}" if ok and r.possible else ""
        table.append([r.student_id, r.name, score_text(r) if ok else "", f"{r.possible:g}", pct, r.status,
                      "yes" if r.late else "", r.adjusted if ok else ""])
    left = [(r.student_id, "csv", r.why_not) for r in rows if r.why_not]
    return Exported([write_csv(dest / "grades-plain.csv", table)], left)


def write_not_exported(rows: list[ClassRow], left: list[tuple[str, str, str]], dest: Path) -> Path:
    """``not-exported.csv``: each student some file carries no number for, the files, and why."""
    by_id = {r.student_id: r for r in rows}
    why: dict[str, dict[str, str]] = {}
    for sid, target, reason in left:
        why.setdefault(sid, {})[target] = reason
    table = [NOT_EXPORTED_COLUMNS]
    for sid in sorted(why):
        r, per = by_id[sid], why[sid]
        reasons = set(per.values())
        text = reasons.pop() if len(reasons) == 1 else "; ".join(f"{t}: {w}" for t, w in per.items())
        table.append([sid, r.name, r.lms_id, r.status, "yes" if r.late else "", " ".join(per), text])
    return write_csv(dest / "not-exported.csv", table)
