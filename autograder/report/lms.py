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

- **Moodle worksheet** (``moodle-grades.csv``), for the assignment's "Upload grading worksheet"
  (``mod/assign/feedback/offline/importgradeslib.php``). Moodle finds its columns by the header
  text *in the uploader's interface language* (``get_string('recordid', 'assign')``,
  ``get_string('gradenoun')``, ``get_string('lastmodifiedgrade', 'assign')``; the feedback plugin's
  name) and cuts the participant number after ``get_string('hiddenuser', 'assign')``. So:
  with ``worksheet`` (the file the TA downloaded, "Download grading worksheet") the file is that
  worksheet, rows, order, headers, identifiers and maximum grade as Moodle wrote them, with only
  the Grade cell (and Feedback comments, where that column exists) of each graded student
  written; without it, the worksheet's columns in ``language`` (``MOODLE_STRINGS``).
- **Moodle gradebook** (``moodle-gradebook.csv``): the gradebook's "Import → CSV file"
  (``grade/import/csv``), which maps columns by hand, so it does not depend on the language: ID
  number (the roster's ``student_id``), e-mail, full name and the grade column.
- **Moodle feedback** (``moodle-feedback.zip``): "Upload multiple feedback files in a zip"
  (``assignfeedback_file``): one folder per participant, named as in the submissions download,
  ``<Full name>_<participant id>_assignfeedback_file_/``; Moodle reads the participant ID from the
  second ``_``-separated part, so ``_`` in a name is written as a space.
- **Canvas** (``canvas-grades.csv``): the gradebook's CSV (``Student``, ``ID``, ``SIS User ID``,
  ``SIS Login ID``, ``Section``, then one column per assignment, ``<name> (<assignment id>)``; a
  column without an id creates a new assignment on import), and the ``Points Possible`` row.
- **Plain** (``grades-plain.csv``): ``student_id``, ``name``, ``score``, ``max_score``,
  ``percent``, ``status``, ``late``: for manaba's grade import and any LMS that maps columns.
"""

from __future__ import annotations

import base64
import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from autograder.errors import ConfigError
from autograder.grading.identity import IDENTITY_DOUBT, Roster, late_in, same_name
from autograder.report.feedback import safe_name
from autograder.results import ClassRow, Status

TARGETS = ("moodle", "moodle-gradebook", "canvas", "csv")
POINTS_ROW = "points-per-question"

#: Moodle's strings for the worksheet's columns, as ``get_string`` returns them in each language
#: pack. English: Moodle's own ``lang/en`` (``mod/assign/lang/en/assign.php``, ``lang/en/moodle.php``,
#: ``assignfeedback_comments``). Japanese: the ``ja`` language pack (AMOS) as kept in
#: projectestac/odissea ``html/langpacks/ja/`` (``assign.php``, ``moodle.php``,
#: ``assignfeedback_comments.php``, Moodle 4.x): recordid 'ID', hiddenuser '参加者' (no space:
#: the worksheet says ``参加者123456``), gradenoun '評点', lastmodifiedgrade '最終更新日時 (評定)',
#: maxgrade '最大評点', status 'ステータス', fullname 'フルネーム', email 'メールアドレス',
#: lastmodifiedsubmission '最終更新日時 (提出)', pluginname 'フィードバックコメント',
#: submissionstatus_submitted '評定のために提出済み'. Not uploaded to a live Moodle: read from the packs.
MOODLE_STRINGS: dict[str, dict[str, str]] = {
    "en": {"recordid": "Identifier", "hiddenuser": "Participant ", "fullname": "Full name",
           "email": "Email address", "status": "Status", "grade": "Grade", "maxgrade": "Maximum grade",
           "lastmodifiedsubmission": "Last modified (submission)",
           "lastmodifiedgrade": "Last modified (grade)", "feedbackcomments": "Feedback comments",
           "submitted": "Submitted for grading"},
    "ja": {"recordid": "ID", "hiddenuser": "参加者", "fullname": "フルネーム", "email": "メールアドレス",
           "status": "ステータス", "grade": "評点", "maxgrade": "最大評点",
           "lastmodifiedsubmission": "最終更新日時 (提出)", "lastmodifiedgrade": "最終更新日時 (評定)",
           "feedbackcomments": "フィードバックコメント", "submitted": "評定のために提出済み"},
}
LANGUAGES = tuple(MOODLE_STRINGS)
MOODLE_KEYS = ["recordid", "fullname", "email", "status", "grade", "maxgrade", "lastmodifiedsubmission",
               "lastmodifiedgrade", "feedbackcomments"]
#: The English worksheet's header (what a Moodle in English writes and reads).
MOODLE_COLUMNS = [MOODLE_STRINGS["en"][k] for k in MOODLE_KEYS]
CANVAS_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
PLAIN_COLUMNS = ["student_id", "name", "score", "max_score", "percent", "status", "late"]
GRADEBOOK_COLUMNS = ["ID number", "Email address", "Full name"]
NOT_EXPORTED_COLUMNS = ["student_id", "name", "lms_id", "status", "late", "left_out_of", "reason"]


@dataclass
class Exported:
    files: list[Path]
    #: (student ID, target, why it carries no number there)
    left_out: list[tuple[str, str, str]] = field(default_factory=list)
    not_exported: Path | None = None


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
                             possible, reason=r.get("reason") or "", late=late, doubt=doubt))
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
    done = Exported([])
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


def score_text(row: ClassRow) -> str:
    return f"{round(row.points, 2):g}"


def comment(row: ClassRow, top: float) -> str:
    return (f"{score_text(row)} / {top:g} 点 / points "
            "(詳細はフィードバックファイル / details in the feedback file)")


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    """A CSV for people and importers: UTF-8 with a BOM (Excel), CRLF as Excel and Moodle write."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8-sig", newline="")
    return path


# ---- Moodle -------------------------------------------------------------------------------------


@dataclass
class Worksheet:
    """A grading worksheet as Moodle wrote it, and where its columns are."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    language: str
    col: dict[str, int]  # MOODLE_KEYS -> column index, for the columns present
    maximum: float | None  # the maximum grade Moodle wrote (None: no such column, e.g. a scale)

    def participant(self, row: list[str]) -> str:
        cell = row[self.col["recordid"]].strip() if len(row) > self.col["recordid"] else ""
        m = re.fullmatch(r"\D*?(\d+)", cell)
        return m.group(1) if m else ""


def read_worksheet(path: Path) -> Worksheet:
    """Read a worksheet from "Download grading worksheet", in any language of ``MOODLE_STRINGS``."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read the worksheet {path}: {exc.strerror}",
                          hint="give the CSV file Moodle's 'Download grading worksheet' saved") from None
    except UnicodeDecodeError:
        raise ConfigError(f"the worksheet {path} is not UTF-8 text (was it saved again by Excel?)",
                          hint="download it from Moodle again and give that file unchanged") from None
    table = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
    if not table:
        raise ConfigError(f"the worksheet {path} is empty", hint="download it from Moodle again")
    header = [h.strip() for h in table[0]]
    found = [(lang, {k: header.index(s[k]) for k in MOODLE_KEYS if s[k] in header})
             for lang, s in MOODLE_STRINGS.items()]
    found = [(lang, col) for lang, col in found if {"recordid", "grade", "lastmodifiedgrade"} <= col.keys()]
    if not found:
        wanted = "; ".join(f"{lang}: {s['recordid']!r}, {s['grade']!r}, {s['lastmodifiedgrade']!r}"
                           for lang, s in MOODLE_STRINGS.items())
        raise ConfigError(f"{path} is not a Moodle grading worksheet the kit can read: its header "
                          f"({', '.join(header)}) lacks the columns Moodle's upload needs ({wanted})",
                          hint="in the assignment: View all submissions → Grading action → Download "
                               "grading worksheet (feedback type 'Offline grading worksheet' on)")
    lang, col = found[0]
    sheet = Worksheet(path, table[0], table[1:], lang, col, None)
    if "maxgrade" in col:
        tops = set()
        for r in sheet.rows:
            cell = r[col["maxgrade"]].strip().replace(",", ".") if len(r) > col["maxgrade"] else ""
            if not cell:
                continue
            try:
                tops.add(float(cell))
            except ValueError:
                raise ConfigError(f"{path}: maximum grade {cell!r} is not a number",
                                  hint="a worksheet of a point-graded assignment (not a scale)") from None
        if len(tops) > 1:
            raise ConfigError(f"{path}: the worksheet has several maximum grades ({sorted(tops)})",
                              hint="download the worksheet of this one assignment again")
        sheet.maximum = tops.pop() if tops else None
    return sheet


def moodle(rows: list[ClassRow], feedback: Path, dest: Path, top: float, sheet: Worksheet | None,
           language: str) -> Exported:
    left: list[tuple[str, str, str]] = []
    graded: list[ClassRow] = []  # rows whose grade goes in
    for r in rows:
        if r.why_not:
            left.append((r.student_id, "moodle", r.why_not))
        elif not r.lms_id.isdigit():
            left.append((r.student_id, "moodle", "no Moodle participant ID (grade the Moodle download, or "
                                                  "give a roster with lms_id)"))
        else:
            graded.append(r)
    if sheet is not None:
        graded, more = fill_worksheet(sheet, graded, top)
        left += more
        table = [sheet.header, *sheet.rows]
    else:
        s = MOODLE_STRINGS[language]
        table = [[s[k] for k in MOODLE_KEYS]]
        for r in graded:
            table.append([f"{s['hiddenuser']}{r.lms_id}", r.name, r.email, s["submitted"], score_text(r),
                          f"{top:g}", "", "", comment(r, top)])
    sheet_path = write_csv(dest / "moodle-grades.csv", table)
    bundle = dest / "moodle-feedback.zip"
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as zf:
        sent = {r.student_id for r in graded}
        for r in rows:  # a page for everyone with a result (an error explained too), never a doubt
            page = feedback / f"{safe_name(r.student_id)}.html"
            unsent = r.status in (Status.MISSING, Status.PENDING) or not r.lms_id.isdigit()
            if r.doubt or unsent or not page.is_file():
                continue
            if sheet is not None and r.student_id not in sent and r.status == Status.GRADED:
                continue  # not matched in the worksheet: who this participant is was not confirmed
            folder = f"{moodle_name(r.name or r.student_id)}_{r.lms_id}_assignfeedback_file_"
            zf.writestr(f"{folder}/feedback.html", inline_figures(page))
    return Exported([sheet_path, bundle], left)


def fill_worksheet(sheet: Worksheet, graded: list[ClassRow],
                   top: float) -> tuple[list[ClassRow], list[tuple[str, str, str]]]:
    """Write the Grade (and Feedback comments) cell of each graded student's worksheet row, in place;
    a row whose worksheet name is another person's is left out (identity), as is a student the
    worksheet does not list. Returns the rows written and those left out."""
    by_pid: dict[str, int] = {}
    for i, row in enumerate(sheet.rows):
        pid = sheet.participant(row)
        if pid:
            by_pid[pid] = i
    written, left = [], []
    width = len(sheet.header)
    for r in graded:
        i = by_pid.get(r.lms_id)
        if i is None:
            left.append((r.student_id, "moodle", f"participant {r.lms_id} is not in the worksheet "
                                                 f"{sheet.path.name} (another assignment or group?)"))
            continue
        row = sheet.rows[i]
        row += [""] * (width - len(row))
        theirs = row[sheet.col["fullname"]] if "fullname" in sheet.col else ""
        if r.name and theirs and not same_name(r.name, theirs):
            left.append((r.student_id, "moodle", f"{IDENTITY_DOUBT}the worksheet's participant {r.lms_id} "
                                                 f"is {theirs!r}, the kit's row names {r.name!r}"))
            continue
        row[sheet.col["grade"]] = score_text(r)
        if "feedbackcomments" in sheet.col:
            row[sheet.col["feedbackcomments"]] = comment(r, top)
        written.append(r)
    return written, left


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


def gradebook(rows: list[ClassRow], dest: Path, assignment: str) -> Exported:
    """Moodle's gradebook import (CSV file): mapped by hand, by ID number or e-mail address."""
    left = [(r.student_id, "moodle-gradebook", r.why_not) for r in rows if r.why_not]
    table = [[*GRADEBOOK_COLUMNS, assignment or "Assignment"]]
    table += [[r.student_id, r.email, r.name, score_text(r)] for r in rows if not r.why_not]
    return Exported([write_csv(dest / "moodle-gradebook.csv", table)], left)


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
                      "yes" if r.late else ""])
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
