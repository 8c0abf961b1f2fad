"""Who handed a file in: the LMS download layouts, and the class roster.

An LMS bulk download names each submission after the student in its own way:

- **Moodle** ("Download all submissions"): one folder per participant,
  ``Full Name_<participant id>_assignsubmission_file_/<file>``; the participant ID is the
  number Moodle's grading worksheet (``Participant <id>``) and feedback-zip upload use.
- **Canvas** ("Download Submissions"): flat files ``<lastfirst>[_LATE]_<user id>_<attempt id>_<file>``;
  the user ID is Canvas's numeric ``ID`` column of the gradebook.
- **otter exports** (``<notebook>_<YYYY_MM_DDTHH_MM_SS_ffffff>.zip``): the name carries no
  student, so the ID is the one recorded in the notebook (``metadata.student_id``), else an ID
  put in front of the name (``s007_<notebook>_<time>.zip``, by the ID pattern), else the kit's
  stamp of a per-student handout; without any, the whole file name (never one ID for all).

``--lms auto`` (the default) tries these layouts in that order and falls back to the ID pattern;
an otter export inside a Canvas download (``<lastfirst>_<user id>_<attempt id>_<export>.zip``)
is Canvas's (its user ID), not an export named by the TA.
A roster (``--roster``) then maps each submission to a student by ID, LMS ID or name, refusing an
ambiguous name, so two students are never merged.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from autograder.errors import ConfigError

LMS_CHOICES = ("auto", "moodle", "canvas", "otter", "pattern")

MOODLE_FOLDER = re.compile(r"^(?P<name>[^/]+?)_(?P<pid>\d+)_assign(?:submission|feedback)_[a-z]+_?(?:/|$)")
CANVAS_FILE = re.compile(r"^(?P<name>[^\W\d_]+)(?:_LATE|_late)?_(?P<uid>\d+)_(?P<attempt>\d+)_(?P<rest>.+)$")
OTTER_EXPORT = re.compile(r"^(?P<base>.*?)_?(?P<stamp>\d{4}_\d{2}_\d{2}T\d{2}_\d{2}_\d{2}(?:_\d+)?)$")

#: Roster columns (a header row is required; only ``student_id`` must be present).
ROSTER_COLUMNS = {
    "student_id": "the ID the grade sheet and the per-student seeds use (required, unique)",
    "name": "full name as the LMS shows it (Moodle's 'Full name', Canvas's 'Student')",
    "email": "e-mail address or LMS user name (Moodle's 'Email address', Canvas's 'SIS Login ID')",
    "lms_id": "the LMS participant number (Moodle participant ID, Canvas user ID), if known",
    "section": "course section (Canvas 'Section'), optional",
}


@dataclass(frozen=True)
class Identity:
    """What a submission's path (and notebook) say about who handed it in."""

    student_id: str
    name: str = ""
    lms_id: str = ""
    lms: str = ""  # the layout that matched: moodle, canvas, otter, pattern
    note: str = ""  # a doubt the TA should see (e.g. an otter export without an ID)


def identify(id_path: str, pattern: re.Pattern[str], *, lms: str = "auto", metadata_id: str | None = None,
             stamp_id: str | None = None, export: bool = False) -> Identity:
    """The identity of one submission (``export``: an otter export zip named ``id_path``)."""
    if lms in ("auto", "moodle"):
        m = MOODLE_FOLDER.match(id_path)
        if m:
            name = m.group("name").strip()
            return Identity(metadata_id or m.group("pid"), name=name, lms_id=m.group("pid"), lms="moodle")
    if lms == "auto" and export:  # an otter export handed in on Canvas: Canvas's name for it
        m = CANVAS_FILE.match(id_path.rsplit("/", 1)[-1])
        if m and OTTER_EXPORT.match(m.group("rest")):
            return Identity(metadata_id or m.group("uid"), name=m.group("name"), lms_id=m.group("uid"),
                            lms="canvas")
    if lms in ("auto", "otter"):
        m = OTTER_EXPORT.match(id_path.rsplit("/", 1)[-1]) if export or lms == "otter" else None
        if m:
            if metadata_id:
                return Identity(metadata_id, lms="otter")
            if "_" in m.group("base"):  # ``<id>_<notebook>_<time>``: the TA or LMS prefixed an ID
                return Identity(pattern_id(m.group("base"), pattern)[0], lms="otter")
            if stamp_id:
                return Identity(stamp_id, lms="otter", note="the otter export records no student ID: "
                                "taken from the handout's stamp (the student it was handed out to)")
            return Identity(id_path.replace("/", "_"), lms="otter",
                            note="no student ID recorded in this otter export: named by its file name "
                                 "(give a roster, or set metadata.student_id)")
    if lms in ("auto", "canvas"):
        m = CANVAS_FILE.match(id_path.rsplit("/", 1)[-1])
        if m:
            return Identity(metadata_id or m.group("uid"), name=m.group("name"), lms_id=m.group("uid"),
                            lms="canvas")
    sid, _ = pattern_id(id_path, pattern, metadata_id)
    return Identity(sid, lms="pattern")


def pattern_id(id_path: str, pattern: re.Pattern[str], metadata_id: str | None = None) -> tuple[str, str]:
    """(ID, time text) by the ID pattern: its ``id`` group (else the whole match), else the path."""
    m = pattern.search(id_path)
    time_text = ""
    if m and "time" in pattern.groupindex and m.group("time"):
        time_text = m.group("time")
    if metadata_id:
        return metadata_id, time_text
    if m:
        sid = m.group("id") if "id" in pattern.groupindex and m.group("id") else m.group(0)
        if sid.strip():
            return sid.strip(), time_text
    return id_path.replace("/", "_"), time_text


def normal_name(name: str) -> str:
    """Names compared the way people read them: case, width and spaces ignored."""
    return re.sub(r"[\s_,.]+", "", unicodedata.normalize("NFKC", name)).casefold()


@dataclass
class Student:
    student_id: str
    name: str = ""
    email: str = ""
    lms_id: str = ""
    section: str = ""


@dataclass
class Roster:
    students: list[Student] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_id = {s.student_id: s for s in self.students}
        self.by_lms = {s.lms_id: s for s in self.students if s.lms_id}
        self.by_email = {s.email.casefold(): s for s in self.students if s.email}
        names: dict[str, list[Student]] = {}
        for s in self.students:
            if s.name:
                names.setdefault(normal_name(s.name), []).append(s)
        self.by_name = names

    def match(self, ident: Identity) -> tuple[Student | None, str]:
        """(the roster's student, how) for one identity; ``None`` with the reason when none fits."""
        if ident.lms_id and ident.lms_id in self.by_lms:
            return self.by_lms[ident.lms_id], "LMS ID"
        if ident.student_id in self.by_id:
            return self.by_id[ident.student_id], "student ID"
        if ident.student_id in self.by_lms:
            return self.by_lms[ident.student_id], "LMS ID"
        if ident.student_id.casefold() in self.by_email:
            return self.by_email[ident.student_id.casefold()], "e-mail / user name"
        if ident.name:
            same = self.by_name.get(normal_name(ident.name), [])
            if len(same) == 1 and not (ident.lms_id and same[0].lms_id and same[0].lms_id != ident.lms_id):
                return same[0], "name"
            if len(same) > 1:
                return None, (f"the name {ident.name!r} is shared by {len(same)} students on the roster "
                              f"({', '.join(s.student_id for s in same)}) and nothing else matches")
        return None, f"no roster row has the ID {ident.student_id!r}" + (
            f", LMS ID {ident.lms_id}" if ident.lms_id else "") + (f" or the name {ident.name!r}"
                                                                 if ident.name else "")


def read_roster(path: Path) -> Roster:
    """A roster CSV (UTF-8, a header row; see ``ROSTER_COLUMNS``), validated: unique IDs."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read the roster {path}: {exc.strerror}", hint="give a CSV file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"the roster {path} is not UTF-8 text",
                          hint="save it as 'CSV UTF-8' (Excel) or convert it with iconv -f cp932") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    if "student_id" not in header:
        raise ConfigError(f"the roster {path} has no 'student_id' column (header: {', '.join(header)})",
                          hint="columns: " + ", ".join(ROSTER_COLUMNS))
    students, seen_id, seen_lms = [], set(), set()
    for line, row in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        if not any(row.values()):
            continue
        s = Student(**{k: row.get(k, "") for k in ROSTER_COLUMNS})
        if not s.student_id:
            raise ConfigError(f"{path}, line {line}: empty student_id", hint="every row needs an ID")
        if s.student_id in seen_id or (s.lms_id and s.lms_id in seen_lms):
            raise ConfigError(f"{path}, line {line}: student {s.student_id} (LMS ID {s.lms_id or '-'}) "
                              "appears twice", hint="one row per student")
        seen_id.add(s.student_id)
        if s.lms_id:
            seen_lms.add(s.lms_id)
        students.append(s)
    return Roster(students)
