"""Who handed a file in: the LMS download layouts, and the class roster.

An LMS bulk download names each submission after the student in its own way:

- **Moodle** ("Download all submissions"): one folder per participant,
  ``Full Name_<participant id>_assignsubmission_file_/<file>``, or, with "Download submissions in
  folders" off, flat files ``Full Name_<participant id>_assignsubmission_file_<file>``; the
  participant ID is the number Moodle's grading worksheet (``Participant <id>``) and feedback-zip
  upload use. Any folder of the path may be the participant's (a TA's ``late/`` folder above it,
  or the participant folder itself given on the command line).
- **Canvas** ("Download Submissions", ``lib/content_zipper.rb``): flat files
  ``<name>[_LATE]_<user id>_<attachment id>_<file>``, where ``<name>`` is the sortable name with
  every non-word character removed and lower-cased (``yamada2taro``, ``o_neilmary``, ``山田太郎``);
  under anonymous grading there is no name and the ID is ``anon_<anonymous id>``
  (``[LATE_]anon_x8Kq2_<attachment id>_<file>``; older Canvas: the bare user ID). ``LATE`` (or
  ``late``) marks a submission Canvas counts as late: kept as ``late``.
- **otter exports** (``<notebook>_<YYYY_MM_DDTHH_MM_SS_ffffff>.zip``): the name carries no
  student, so the ID is the one recorded in the notebook (``metadata.student_id``), else an ID
  put in front of the name (``s007_<notebook>_<time>.zip``, by the ID pattern), else the kit's
  stamp of a per-student handout; without any, the whole file name (never one ID for all).

``--lms auto`` (the default) tries these layouts in that order and falls back to the ID pattern;
an otter export inside a Canvas download (``<lastfirst>_<user id>_<attempt id>_<export>.zip``)
is Canvas's (its user ID), not an export named by the TA.
A roster (``--roster``) then maps each submission to a student by ID, LMS ID or name, refusing an
ambiguous name, so two students are never merged; a match by LMS ID whose names disagree is no
match (``IDENTITY_DOUBT``: the row is flagged and no export carries its grade).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from itertools import permutations
from pathlib import Path

from autograder.errors import ConfigError

LMS_CHOICES = ("auto", "moodle", "canvas", "otter", "pattern")

#: One folder or file name of a Moodle download: ``<full name>_<participant id>_assignsubmission_
#: <plugin>_`` (a folder) or ``..._<plugin>_<file>`` (flat), as ``mod/assign`` names them.
MOODLE_PART = re.compile(r"^(?P<name>.+?)_(?P<pid>\d+)_assign(?:submission|feedback)_(?P<plugin>[a-z]+)"
                         r"(?:_(?P<file>.*))?$")
#: A Canvas download's file name (``content_zipper.rb``: ``get_filename`` joins the sanitized
#: sortable name, ``LATE`` and the user ID, or ``anon_<anonymous id>`` under anonymous grading;
#: the attachment ID and the file's own name follow).
CANVAS_FILE = re.compile(r"^(?:(?P<name>\w+?)_)??(?:(?P<late>LATE|late)_)?"
                         r"(?P<uid>\d+|anon_[0-9A-Za-z]+)_(?P<attempt>\d+)_(?P<rest>.+)$")
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
    late: bool = False  # the LMS marked the submission late (Canvas's ``LATE``)


#: The start of a note that keeps a row out of every export: who handed it in is in doubt.
IDENTITY_DOUBT = "identity doubt: "


def moodle_part(id_path: str) -> re.Match[str] | None:
    """The first folder or file name of ``id_path`` that is a Moodle participant's, if any."""
    for part in id_path.split("/"):
        m = MOODLE_PART.match(part)
        if m:
            return m
    return None


def canvas_part(name: str) -> re.Match[str] | None:
    """A Canvas download's file name parsed (``CANVAS_FILE``), if it is one."""
    return CANVAS_FILE.match(name)


def late_in(key: str) -> bool:
    """Did the LMS mark the submission at ``key`` (its path, for people) late?"""
    return any((m := canvas_part(part)) is not None and bool(m.group("late")) for part in key.split("/"))


def _canvas(m: re.Match[str], metadata_id: str | None) -> Identity:
    uid, late = m.group("uid"), bool(m.group("late"))
    if uid.startswith("anon_"):  # anonymous grading: Canvas hides the student until it posts grades
        return Identity(metadata_id or uid, lms="canvas", late=late)
    return Identity(metadata_id or uid, name=m.group("name") or "", lms_id=uid, lms="canvas", late=late)


def identify(id_path: str, pattern: re.Pattern[str], *, lms: str = "auto", metadata_id: str | None = None,
             stamp_id: str | None = None, export: bool = False) -> Identity:
    """The identity of one submission (``export``: an otter export zip named ``id_path``)."""
    if lms in ("auto", "moodle"):
        m = moodle_part(id_path)
        if m:
            name = m.group("name").strip()
            return Identity(metadata_id or m.group("pid"), name=name, lms_id=m.group("pid"), lms="moodle")
    if lms == "auto" and export:  # an otter export handed in on Canvas: Canvas's name for it
        m = canvas_part(id_path.rsplit("/", 1)[-1])
        if m and OTTER_EXPORT.match(m.group("rest")):
            return _canvas(m, metadata_id)
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
        m = canvas_part(id_path.rsplit("/", 1)[-1])
        if m:
            return _canvas(m, metadata_id)
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
    """Names compared the way people read them: case, width, spaces and punctuation ignored (as
    Canvas's download names drop every non-word character)."""
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", name)).casefold()


def same_name(a: str, b: str) -> bool:
    """Do two spellings name one person, in either order of the names (``Taro Yamada``, Moodle's
    Japanese ``Yamada Taro``, Canvas's ``yamadataro`` from ``Yamada, Taro``)?"""
    def forms(name: str) -> set[str]:
        parts = [normal_name(p) for p in re.split(r"[\s,、]+", unicodedata.normalize("NFKC", name))]
        parts = [p for p in parts if p]
        return {"".join(o) for o in permutations(parts)} if len(parts) <= 4 else {"".join(parts)}
    return bool(forms(a) & forms(b))


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
        """(the roster's student, how) for one identity; ``None`` with the reason when none fits.

        A match by LMS ID must agree with the name where both are known: a roster whose
        ``lms_id`` holds another ID space (Moodle user IDs instead of participant IDs) would
        otherwise credit one student's work to another. Such a disagreement is no match, and the
        reason starts with ``IDENTITY_DOUBT``."""
        for lms_id in dict.fromkeys(i for i in (ident.lms_id, ident.student_id) if i):
            st = self.by_lms.get(lms_id)
            if st is None:
                continue
            if ident.name and st.name and not same_name(ident.name, st.name):
                return None, (f"{IDENTITY_DOUBT}the roster gives LMS ID {lms_id} to {st.student_id} "
                              f"({st.name}), but the download names {ident.name!r}: check that the "
                              "roster's lms_id column holds this course's participant IDs")
            return st, "LMS ID"
        if ident.student_id in self.by_id:
            return self.by_id[ident.student_id], "student ID"
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
    students: list[Student] = []
    lines: list[int] = []
    for line, row in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        if not any(row.values()):
            continue
        s = Student(**{k: row.get(k, "") for k in ROSTER_COLUMNS})
        if not s.student_id:
            raise ConfigError(f"{path}, line {line}: empty student_id", hint="every row needs an ID")
        students.append(s)
        lines.append(line)
    for column in ("student_id", "lms_id"):
        rows: dict[str, list[int]] = {}
        for i, s in enumerate(students):
            if getattr(s, column):
                rows.setdefault(getattr(s, column), []).append(i)
        clash = {value: idx for value, idx in rows.items() if len(idx) > 1}
        if clash:
            value, idx = next(iter(clash.items()))
            named = ", ".join(f"line {lines[i]} ({students[i].student_id}"
                              + (f" {students[i].name}" if students[i].name else "") + ")" for i in idx)
            more = f" (and {len(clash) - 1} more {column} value(s) shared)" if len(clash) > 1 else ""
            raise ConfigError(f"the roster {path} gives the {column} {value} to more than one row: "
                              f"{named}{more}",
                              hint="one row per student; an lms_id is the LMS's participant / user ID "
                                   "of this course, one per student")
    return Roster(students)


def class_roster(out: Path, given: str | Path | None) -> Roster | None:
    """The roster given now (kept as ``OUT/roster.csv`` for later runs and exports), or the kept one."""
    kept = out / "roster.csv"
    if given:
        roster = read_roster(Path(given))
        out.mkdir(parents=True, exist_ok=True)
        if Path(given).resolve() != kept.resolve():
            kept.write_bytes(Path(given).read_bytes())
        return roster
    return read_roster(kept) if kept.is_file() else None
