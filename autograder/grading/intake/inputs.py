"""What was handed in: submissions gathered from files, folders and zips, one per student.

Inputs are ``.ipynb`` files, folders (searched recursively), otter export zips (one notebook at
the zip's root) and LMS bulk-download zips (folders per student, nested zips, file names in
UTF-8 or in the cp932 that Japanese Windows writes without saying so). Nothing is extracted to a
path taken from a zip: each candidate's bytes are copied to ``staging/<hash><suffix>``.

Student ID rule: ``metadata.student_id`` in the notebook if present; otherwise the LMS layout
of the submission's *ID path* (``identity.py``: Moodle's participant ID, Canvas's user ID, an otter
export's recorded ID), with ``lms="auto"`` or the one named; otherwise the ``id`` group (or the
whole match) of ``id_pattern`` searched in the ID path; otherwise the ID path itself. The ID path
is the path relative to the input folder or inside a bulk zip, without the last extension; for an
otter export zip (or any zip holding one notebook at its root) it is the zip's own name. A Moodle
participant's folder given on the command line (``late/Taro Yamada_123456_assignsubmission_file_``),
or a file inside one, keeps that folder's name in front, so the participant ID stays. The
default pattern takes the first folder or file name up to the first ``_`` (``s001_3-2.ipynb`` ->
``s001``). With a roster, each ID is then mapped to the roster's student (``Roster.match``).

Duplicate rule (several submissions with one ID): a notebook whose metadata names a student
other than the one it was handed in as (when either name is another submission's in the batch)
loses to the student's own submission and is flagged; a notebook beats a file that is not one;
then the *latest* wins: by the pattern's ``time`` group if it has one (compared as text, so use
sortable stamps such as ``20240601T1200``), else by modification time (the entry's time inside
a zip); equal times -> the later path in sorted order. The others are listed as superseded.
"""

from __future__ import annotations

import hashlib
import re
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from autograder import untrusted
from autograder.errors import KitError
from autograder.grading.intake.identity import (
    IDENTITY_DOUBT,
    Identity,
    Roster,
    identify,
    moodle_part,
    pattern_id,
)
from autograder.notebook import stamp_of

DEFAULT_ID_PATTERN = r"^(?P<id>[^/_]+)"
#: A member larger than this is not read (a notebook with outputs is a few MB at most).
MAX_MEMBER_BYTES = 100 * 2**20
MAX_ZIP_DEPTH = 3
_JUNK_NAMES = {"thumbs.db", "desktop.ini"}


@dataclass
class Submission:
    """One file handed in, staged under a name derived from its content."""

    key: str  # where it came from, for people: "bulk.zip/山田_123/3-2.ipynb"
    id_path: str  # what the ID is taken from (see the module docstring)
    student_id: str
    path: Path  # the staged copy (absent when ``status`` is already decided)
    sha256: str
    mtime: float
    is_notebook: bool
    time_text: str = ""  # the pattern's ``time`` group, if any
    status: str = ""  # decided before grading (a zip without a notebook, an unreadable member)
    reason: str = ""
    #: The ID the file/folder name gives (the pattern), when the notebook's metadata overrode it.
    path_id: str = ""
    #: Set by ``resolve`` when that overridden ID is another student's in the same batch.
    id_conflict: str = ""
    name: str = ""  # the student's name, from the LMS layout or the roster
    lms_id: str = ""  # Moodle participant ID / Canvas user ID, when the layout or roster gives one
    #: A doubt about who handed it in (not on the roster, an otter export without an ID, ...).
    id_note: str = ""
    late: bool = False  # the LMS marked it late (Canvas's ``LATE``)


@dataclass
class Intake:
    chosen: list[Submission] = field(default_factory=list)  # one per student, sorted by ID
    superseded: list[tuple[Submission, Submission]] = field(default_factory=list)  # (old, winner)
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (key, why)
    unmatched: list[tuple[Submission, str]] = field(default_factory=list)  # not on the roster, why


class InputError(KitError):
    """An input given on the command line does not exist or cannot be used at all."""

    exit_code = 8


def compile_pattern(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InputError(f"the student-ID pattern {pattern!r} is not a valid regular expression: {exc}",
                         hint="e.g. --id-pattern '(?P<id>[sS]\\d{7})'") from None


def collect(
    inputs: list[Path],
    staging: Path,
    *,
    id_pattern: str = DEFAULT_ID_PATTERN,
    exclude: Path | None = None,
    lms: str = "auto",
    roster: Roster | None = None,
) -> Intake:
    """Gather every submission under ``inputs``; resolve one per student (see module docstring)."""
    pattern = compile_pattern(id_pattern)
    for item in inputs:
        if not item.exists():
            raise InputError(f"input not found: {item}", hint="check the path (quote names with spaces)")
    staging.mkdir(parents=True, exist_ok=True)
    gather = _Gatherer(staging, pattern, exclude.resolve() if exclude else None, lms)
    for item in inputs:
        # a Moodle participant's folder (or a file in one) named on the command line keeps its name
        own = item.absolute()
        if item.is_dir():
            gather.folder(item, prefix=own.name if moodle_part(own.name) else "")
        else:
            parent = own.parent.name
            where = f"{parent}/" if parent and moodle_part(parent) and not moodle_part(item.name) else ""
            gather.file(item, item.name, where + _strip_ext(item.name))
    unmatched = apply_roster(gather.found, roster) if roster else []
    intake = resolve(gather.found, gather.ignored)
    intake.unmatched = unmatched
    return intake


def apply_roster(found: list[Submission], roster: Roster) -> list[tuple[Submission, str]]:
    """Give each submission its roster student's ID and name; return those no row matches."""
    unmatched = []
    for s in found:
        student, how = roster.match(Identity(s.student_id, name=s.name, lms_id=s.lms_id))
        if student is None:
            s.id_note = how if how.startswith(IDENTITY_DOUBT) else f"not on the roster: {how}"
            unmatched.append((s, how))
            continue
        if s.path_id and s.path_id != s.student_id:  # the name it was handed in under, mapped too
            other, _ = roster.match(Identity(s.path_id, lms_id=s.lms_id))
            s.path_id = other.student_id if other and other.student_id != student.student_id else ""
        s.student_id, s.name = student.student_id, student.name or s.name
        s.lms_id = s.lms_id or student.lms_id
    return unmatched


def resolve(found: list[Submission], ignored: list[tuple[str, str]] | None = None) -> Intake:
    """Apply the duplicate rule: one submission per student ID, the rest superseded."""
    by_id: dict[str, list[Submission]] = {}
    for s in found:
        by_id.setdefault(s.student_id, []).append(s)
    for sid, subs in list(by_id.items()):  # one ID, two LMS participants: two students, never merged
        if len({s.lms_id for s in subs if s.lms_id}) > 1:
            del by_id[sid]
            for s in subs:
                s.id_note = (f"the ID {sid!r} is shared by LMS participants "
                             f"{', '.join(sorted({o.lms_id for o in subs if o.lms_id}))}: kept apart")
                s.student_id = f"{sid} ({s.lms_id})" if s.lms_id else sid
                by_id.setdefault(s.student_id, []).append(s)
    # A notebook whose metadata names one student, handed in under another student's name: the
    # metadata rule keeps it under the metadata's ID, but the TA must see it when either name is
    # another submission's in this batch.
    names = {o.path_id or o.student_id for o in found}  # what each was handed in as
    for s in found:  # (s's own name is its path_id, never its student_id: no self-match)
        if s.path_id and (s.path_id in by_id or s.student_id in names):
            s.id_conflict = (f"the notebook's metadata says student {s.student_id}, but it was handed "
                             f"in as {s.path_id}")
    intake = Intake(ignored=list(ignored or []))
    for sid in sorted(by_id):
        # a notebook handed in under another name never beats the student's own submission
        subs = sorted(by_id[sid], key=lambda s: (not s.id_conflict, s.is_notebook, s.time_text,
                                                  s.mtime, s.key))
        winner = subs[-1]
        intake.chosen.append(winner)
        intake.superseded.extend((s, winner) for s in subs[:-1])
    return intake


def zip_member_name(info: zipfile.ZipInfo) -> str:
    """The member's real name: zips written without the UTF-8 flag are often cp932 (Windows)."""
    name = info.filename
    if info.flag_bits & 0x800:
        return name
    try:
        raw = name.encode("cp437")
    except UnicodeEncodeError:
        return name
    for enc in ("utf-8", "cp932"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return name


def _strip_ext(path: str) -> str:
    p = PurePosixPath(path)
    return str(p.with_suffix("")) if p.suffix else str(p)


def _is_junk(parts: tuple[str, ...]) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" or part.lower() in _JUNK_NAMES
               for part in parts)


def _metadata_ids(raw: bytes) -> tuple[str | None, str | None]:
    """(``metadata.student_id``, the student ID in the kit's stamp of a per-student handout: in
    the metadata, or in the first cell of a notebook saved by Colab)."""
    try:
        nb = untrusted.loads(raw, max_bytes=MAX_MEMBER_BYTES)
        meta = nb.get("metadata", {})
        meta = meta if isinstance(meta, dict) else {}
        values = meta.get("student_id"), stamp_of(nb).get("student_id")
    except (ValueError, AttributeError):
        return None, None
    return tuple(str(v).strip() if isinstance(v, str | int) and str(v).strip() else None  # type: ignore[return-value]
                 for v in values)


class _Gatherer:
    def __init__(self, staging: Path, pattern: re.Pattern[str], exclude: Path | None, lms: str) -> None:
        self.staging, self.pattern, self.exclude, self.lms = staging, pattern, exclude, lms
        self.found: list[Submission] = []
        self.ignored: list[tuple[str, str]] = []

    def folder(self, root: Path, prefix: str = "") -> None:
        for path in sorted(root.rglob("*")):
            if not path.is_file():
                continue
            rel = path.relative_to(root)
            if self.exclude and path.resolve().is_relative_to(self.exclude):
                continue
            key = f"{root.name}/{rel.as_posix()}" if root.name else rel.as_posix()
            if _is_junk(rel.parts):
                self.ignored.append((key, "hidden or system file"))
                continue
            self.file(path, key, (f"{prefix}/" if prefix else "") + _strip_ext(rel.as_posix()))

    def file(self, path: Path, key: str, id_path: str) -> None:
        try:
            size = path.stat().st_size
            mtime = path.stat().st_mtime
            raw = path.read_bytes() if size <= MAX_MEMBER_BYTES else None
        except OSError as exc:
            self.add_decided(key, id_path, time.time(), "invalid", f"cannot read the file: {exc.strerror}")
            return
        if raw is None:
            self.add_decided(key, id_path, mtime, "invalid", f"the file is too large ({size >> 20} MB)")
        elif path.suffix.lower() == ".zip":
            self.zip(raw, key, id_path, mtime, depth=1)
        else:
            self.add(raw, key, id_path, mtime, path.suffix)

    def zip(self, raw: bytes, key: str, id_path: str, mtime: float, depth: int) -> None:
        import io

        try:
            zf = zipfile.ZipFile(io.BytesIO(raw))
            infos = [i for i in zf.infolist() if not i.is_dir()]
        except (zipfile.BadZipFile, OSError) as exc:
            self.add_decided(key, id_path, mtime, "invalid", f"not a readable zip file ({exc})")
            return
        members = []
        for info in infos:
            name = zip_member_name(info)
            parts = PurePosixPath(name).parts
            if _is_junk(parts):
                self.ignored.append((f"{key}/{name}", "hidden or system file in a zip"))
            else:
                members.append((name, info))
        notebooks = [(n, i) for n, i in members if n.lower().endswith(".ipynb")]
        zips = [(n, i) for n, i in members if n.lower().endswith(".zip")]
        single = len(notebooks) == 1 and "/" not in notebooks[0][0] and not zips
        if not notebooks and not zips:
            names = ", ".join(n for n, _ in members[:3]) or "nothing"
            self.add_decided(key, id_path, mtime, "invalid",
                             f"the zip contains no notebook (.ipynb); it holds: {names}")
            return
        for name, info in members:
            member_key = f"{key}/{name}"
            member_id_path = id_path if single else _strip_ext(name)
            export = single
            if single and not name.lower().endswith(".ipynb"):
                self.ignored.append((member_key, "not the notebook of an otter export zip"))
                continue
            mtime_m = time.mktime((*info.date_time, 0, 0, -1))
            if info.file_size > MAX_MEMBER_BYTES:
                self.add_decided(member_key, member_id_path, mtime_m, "invalid",
                                 f"the file is too large ({info.file_size >> 20} MB)")
                continue
            try:
                data = _read_member(zf, info)
            except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, ValueError) as exc:
                self.add_decided(member_key, member_id_path, mtime_m, "invalid",
                                 f"cannot be read from the zip ({exc})")
                continue
            if name.lower().endswith(".zip"):
                if depth >= MAX_ZIP_DEPTH:
                    self.ignored.append((member_key, f"zip nested deeper than {MAX_ZIP_DEPTH} levels"))
                else:
                    self.zip(data, member_key, member_id_path, mtime_m, depth + 1)
            else:
                self.add(data, member_key, member_id_path, mtime_m, PurePosixPath(name).suffix, export=export)

    def add(self, raw: bytes, key: str, id_path: str, mtime: float, suffix: str, *,
            export: bool = False) -> None:
        sha = hashlib.sha256(raw).hexdigest()
        is_nb = suffix.lower() == ".ipynb"
        staged = self.staging / f"{sha[:20]}{suffix.lower() if suffix.isascii() else ''}"
        if not staged.exists():
            staged.write_bytes(raw)
        meta_id, stamp_id = _metadata_ids(raw) if is_nb else (None, None)
        ident = identify(id_path, self.pattern, lms=self.lms, metadata_id=meta_id, stamp_id=stamp_id,
                         export=export)
        ttext = pattern_id(id_path, self.pattern)[1]
        path_id = identify(id_path, self.pattern, lms=self.lms, export=export).student_id if meta_id else ""
        self.found.append(Submission(key, id_path, ident.student_id, staged, sha, mtime, is_nb, ttext,
                                     path_id=path_id if path_id != ident.student_id else "",
                                     name=ident.name, lms_id=ident.lms_id, id_note=ident.note,
                                     late=ident.late))

    def add_decided(self, key: str, id_path: str, mtime: float, status: str, reason: str) -> None:
        ident = identify(id_path, self.pattern, lms=self.lms)
        ttext = pattern_id(id_path, self.pattern)[1]
        self.found.append(Submission(key, id_path, ident.student_id, Path(), "", mtime, False, ttext,
                                     status=status, reason=reason, name=ident.name, lms_id=ident.lms_id,
                                     id_note=ident.note, late=ident.late))


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """Inflate one member in pieces, stopping at MAX_MEMBER_BYTES whatever its header claims."""
    buf = bytearray()
    with zf.open(info) as f:
        while chunk := f.read(1 << 20):
            buf += chunk
            if len(buf) > MAX_MEMBER_BYTES:
                raise ValueError(f"it inflates to more than {MAX_MEMBER_BYTES >> 20} MB")
    return bytes(buf)
