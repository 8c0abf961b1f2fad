"""Moodle's files: the grading worksheet, the gradebook import and the feedback-files zip.

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
from autograder.grading.intake.identity import IDENTITY_DOUBT, same_name
from autograder.report.feedback import safe_name
from autograder.report.lms_csv import Exported, comment, score_text, write_csv
from autograder.results import ClassRow, Status

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
GRADEBOOK_COLUMNS = ["ID number", "Email address", "Full name"]
#: The worksheet and the feedback zip, in the order they are uploaded.
MOODLE_FILES = ("moodle-grades.csv", "moodle-feedback.zip")


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
    sheet_path = write_csv(dest / MOODLE_FILES[0], table)
    bundle = dest / MOODLE_FILES[1]
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
        if "lastmodifiedgrade" in sheet.col:  # the same instant, in a form Moodle's strtotime reads
            cell = sheet.col["lastmodifiedgrade"]
            row[cell] = strtotime_form(row[cell])
        if "feedbackcomments" in sheet.col:
            row[sheet.col["feedbackcomments"]] = comment(r, top)
        written.append(r)
    return written, left


_EN_DATE = re.compile(r"(?:\w+,\s*)?(\d{1,2})\s+([A-Za-z]+)\s+(\d{4}),\s*(\d{1,2}):(\d{2})\s*([AaPp][Mm])?")
_JA_DATE = re.compile(r"(\d{4})年\s*(\d{1,2})月\s*(\d{1,2})日\s*(?:\([^)]*\))?\s*(\d{1,2}):(\d{2})")
_MONTHS = {m: i for i, m in enumerate(("january", "february", "march", "april", "may", "june", "july",
                                       "august", "september", "october", "november", "december"), 1)}


def strtotime_form(cell: str) -> str:
    """A worksheet's "Last modified (grade)" as ``YYYY-MM-DD HH:MM``, the same instant in a form PHP's
    ``strtotime`` reads (Moodle's upload compares it with the grade it holds and skips the row when
    it is older; the date Moodle writes in Japanese, ``2026年 12月 7日(月曜日) 17:59``, reads as no date
    at all, that is very old). A cell without a date (``-``: no grade yet) or in another form is kept."""
    text = cell.strip()
    m = _JA_DATE.fullmatch(text)
    if m:
        year, month, day, hour, minute = (int(g) for g in m.groups())
    else:
        m = _EN_DATE.fullmatch(text)
        if not m or m.group(2).lower() not in _MONTHS:
            return cell
        day, year, hour, minute = int(m.group(1)), int(m.group(3)), int(m.group(4)), int(m.group(5))
        month = _MONTHS[m.group(2).lower()]
        if m.group(6):  # 12:05 AM is 00:05, 12:05 PM is 12:05
            hour = hour % 12 + (12 if m.group(6).lower() == "pm" else 0)
    return f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}"


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
