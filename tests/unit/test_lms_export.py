"""The exports back into the LMS (issue 26): a class folder written by the kit's own
``outputs.write_all`` from results of every status, exported with the CLI and parsed back.

Worksheets are built as Moodle's "Download grading worksheet" writes them (``gradingtable.php``
columns, header strings of the English and Japanese language packs, ``Participant 123`` /
``参加者123``), rows in Moodle's order, a BOM, CRLF."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from autograder import cli
from autograder.grading.batch.engine import BatchResult, Outcome
from autograder.grading.intake.identity import IDENTITY_DOUBT, Roster, Student
from autograder.grading.intake.inputs import Intake, Submission
from autograder.report import lms, outputs
from autograder.results import QuestionResult, Record
from autograder.target import AutograderInfo

BOM = b"\xef\xbb\xbf"
M, F = "moodle.zip/", "_assignsubmission_file_/a.ipynb"
# student -> (status, points of 24, participant ID, name, submission key); None: no result yet
CLASS = {
    "B001": ("graded", 16.0, "100001", "Taro Yamada", "canvas.zip/yamadataro_LATE_100001_9001_3-2.ipynb"),
    "B002": ("error", 0.0, "100002", "Hanako Suzuki", f"{M}Hanako Suzuki_100002{F}"),
    "B003": ("timeout", 0.0, "100003", "Jiro Sato", f"{M}Jiro Sato_100003{F}"),
    "B004": ("invalid", 0.0, "100004", "Saburo Ito", f"{M}Saburo Ito_100004{F}".replace(".ipynb", ".pdf")),
    "B005": ("empty", 0.0, "100005", "Shiro Kato", f"{M}Shiro Kato_100005{F}"),
    "B006": ("wrong-version", 0.0, "100006", "Goro Abe", f"{M}Goro Abe_100006{F}"),
    "B007": ("pending", 0.0, "100007", "Rokuro Mori", f"{M}Rokuro Mori_100007{F}"),
    "B009": ("graded", 20.0, "100009", "Ken Ono", f"{M}Jun Oda_100009{F}"),
    "B010": ("graded", 24.0, "100010", "Hanako Tanaka", f"{M}Hanako Tanaka_100010{F}"),
}
MISSING = ("B008", "Naoko Ueda", "100008")  # on the roster, handed nothing in
NOT_GRADED = {"B002": "error", "B003": "timeout", "B004": "invalid", "B005": "empty", "B006": "wrong-version",
              "B007": "pending", "B008": "missing", "B009": "graded"}  # B009: graded, identity in doubt


@pytest.fixture(scope="module")
def class_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The class folder as ``grade`` leaves it: grades.csv, feedback pages, roster.csv."""
    out = tmp_path_factory.mktemp("lms") / "out"
    info = AutograderInfo(path=Path("ag.zip"), sha256="a" * 64, assignment_name="3-2-overfitting",
                          questions=("q1", "q2"), points=(12.0, 12.0), version="2026")
    outcomes = []
    for sid, (status, pts, pid, name, key) in CLASS.items():
        sub = Submission(key, "", sid, Path(), sid * 8, 0.0, True, name=name, lms_id=pid)
        rec = None if status == "pending" else Record(
            sub_sha=sub.sha256, ag_sha="a" * 64, status=status, reason=f"why {status}",
            questions=[QuestionResult(name="q1", score=min(pts, 12.0), possible=12.0),
                       QuestionResult(name="q2", score=max(pts - 12, 0), possible=12.0)])
        flags = (f"{IDENTITY_DOUBT}the roster gives LMS ID 100009 to B009 (Ken Ono), but the download names "
                 "'Jun Oda'",) if sid == "B009" else ()
        outcomes.append(Outcome(sub, rec, flags=flags))
    roster = Roster([Student(sid, c[3], f"{sid.lower()}@example.ac.jp", c[2], "A")
                     for sid, c in CLASS.items()]
                    + [Student(MISSING[0], MISSING[1], "b008@example.ac.jp", MISSING[2], "A")])
    outputs.write_all(BatchResult(Intake(), outcomes), info, out, roster)
    (out / "roster.csv").write_text("student_id,name,email,lms_id,section\n" + "".join(
        f"{s.student_id},{s.name},{s.email},{s.lms_id},{s.section}\n" for s in roster.students),
        encoding="utf-8")
    return out


def read(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(BOM), f"{path.name} has no BOM (Excel shows Japanese garbled)"
    return list(csv.reader(io.StringIO(raw[len(BOM):].decode("utf-8"), newline="")))


def export(out: Path, dest: Path, *args: str) -> int:
    return cli.main(["export", str(out), "--dest", str(dest), *args])


def worksheet(path: Path, lang: str, maximum: str = "24.00", *, feedback: bool = True,
              names: dict[str, str] | None = None) -> list[list[str]]:
    """A grading worksheet as Moodle writes it in ``lang``; rows in Moodle's order (by name)."""
    s = lms.MOODLE_STRINGS[lang]
    other = {"ja": "いいえ", "en": "No"}[lang]
    head = [s["recordid"], s["fullname"], s["email"], s["status"], s["grade"], s["maxgrade"],
            {"ja": "評点変更可", "en": "Grade can be changed"}[lang], s["lastmodifiedsubmission"],
            s["lastmodifiedgrade"]] + ([s["feedbackcomments"]] if feedback else [])
    people = {c[2]: c[3] for c in CLASS.values()} | {MISSING[2]: MISSING[1], "100099": "Someone Else"}
    people |= names or {}
    rows = [head]
    for pid, name in sorted(people.items(), key=lambda kv: kv[1]):
        rows.append([f"{s['hiddenuser']}{pid}", name, f"{pid}@example.ac.jp", s["submitted"], "", maximum,
                     other, "2026年6月1日 12:00", "", "手で書いた / by hand" if pid == "100099" else ""][
                         :len(head)])
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path.write_bytes(BOM + buf.getvalue().encode("utf-8"))
    return rows


def test_status_matrix_only_graded_rows_carry_a_number(class_folder: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]):
    """Each status -> each export's cell: a number for a graded row only; blank (or no row) for
    error, timeout, invalid, empty, wrong-version, pending, missing, and a graded row whose identity
    is in doubt. Every such student is printed and listed in not-exported.csv with status and reason."""
    dest = tmp_path / "x"
    assert export(class_folder, dest, "--to", "moodle", "--to", "moodle-gradebook", "--to", "canvas",
                  "--to", "csv", "--points", "24", "--language", "ja") == 0
    printed = capsys.readouterr().out
    moodle = {r[0]: r for r in read(dest / "moodle-grades.csv")[1:]}
    gradebook = {r[0]: r[3] for r in read(dest / "moodle-gradebook.csv")[1:]}
    canvas = {r[2]: r[5] for r in read(dest / "canvas-grades.csv")[2:]}
    plain = {r[0]: r for r in read(dest / "grades-plain.csv")[1:]}
    assert {k: v[4] for k, v in moodle.items()} == {"参加者100001": "16", "参加者100010": "24"}
    assert gradebook == {"B001": "16", "B010": "24"}
    assert canvas == {"B001": "16", "B010": "24", **{sid: "" for sid in NOT_GRADED}}
    assert {sid: r[2] for sid, r in plain.items()} == {"B001": "16", "B010": "24",
                                                      **{sid: "" for sid in NOT_GRADED}}
    assert {sid: r[5] for sid, r in plain.items() if sid in NOT_GRADED} == NOT_GRADED
    left = {r[0]: r for r in read(dest / "not-exported.csv")[1:]}
    assert {sid: r[3] for sid, r in left.items()} == NOT_GRADED
    assert left["B002"][6] == "error: why error" and left["B008"][6] == "missing: nothing handed in"
    assert left["B007"][6].startswith("pending: not graded yet")
    assert left["B009"][6].startswith(IDENTITY_DOUBT)
    assert left["B009"][5] == "moodle moodle-gradebook canvas csv"
    assert "not exported" in printed and all(sid in printed for sid in NOT_GRADED)


def test_feedback_zip_never_carries_a_doubted_row(class_folder: Path, tmp_path: Path):
    """The feedback bundle: results explained (an error too), but never a row whose owner is in doubt."""
    import zipfile

    dest = tmp_path / "x"
    assert export(class_folder, dest, "--to", "moodle", "--points", "24", "--language", "en") == 0
    with zipfile.ZipFile(dest / "moodle-feedback.zip") as zf:
        pids = {n.split("_")[1] for n in zf.namelist()}
    assert "100001" in pids and "100002" in pids and "100009" not in pids and "100008" not in pids


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_a_worksheet_comes_back_with_only_grade_and_feedback_changed(class_folder: Path, tmp_path: Path,
                                                                      lang: str):
    """A worksheet downloaded from a Japanese (or English) Moodle goes in and comes out with its own
    headers, identifiers, row order and maximum grade; only the Grade and Feedback comments cells
    of graded students change. Moodle's Japanese full name order ("Yamada Taro") is the same
    person; a participant whose worksheet name is someone else's is left out."""
    ws = tmp_path / "ws.csv"
    names = {"100001": "Yamada Taro", "100010": "Jiro Sato"}  # 100010 is not Hanako Tanaka
    before = worksheet(ws, lang, names=names)
    dest = tmp_path / "x"
    assert export(class_folder, dest, "--to", "moodle", "--worksheet", str(ws)) == 0
    after = read(dest / "moodle-grades.csv")
    assert len(after) == len(before) and after[0] == before[0]
    s = lms.MOODLE_STRINGS[lang]
    grade, fb = before[0].index(s["grade"]), before[0].index(s["feedbackcomments"])
    changed = {(i, j) for i, (a, b) in enumerate(zip(before, after, strict=True))
               for j, (x, y) in enumerate(zip(a, b, strict=True)) if x != y}
    row = next(i for i, r in enumerate(before) if r[0] == f"{s['hiddenuser']}100001")
    assert changed == {(row, grade), (row, fb)}
    assert after[row][grade] == "16" and "16 / 24" in after[row][fb]
    left = {r[0]: r[6] for r in read(dest / "not-exported.csv")[1:]}
    assert left["B010"].startswith(IDENTITY_DOUBT) and "Jiro Sato" in left["B010"]


def test_a_worksheet_without_feedback_comments_gets_only_grades(class_folder: Path, tmp_path: Path):
    """Feedback comments off in Moodle: no such column, none added."""
    ws = tmp_path / "ws.csv"
    before = worksheet(ws, "ja", feedback=False)
    dest = tmp_path / "x"
    assert export(class_folder, dest, "--to", "moodle", "--worksheet", str(ws)) == 0
    after = read(dest / "moodle-grades.csv")
    assert after[0] == before[0] and len(after[0]) == 9


def test_a_scale_mismatch_is_refused_with_the_numbers(class_folder: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]):
    """Moodle's default maximum grade 100 against the kit's 24: refused, both numbers named, no
    file written, never rescaled; the same for --points 100."""
    ws = tmp_path / "ws.csv"
    worksheet(ws, "ja", maximum="100.00")
    dest = tmp_path / "x"
    assert export(class_folder, dest, "--to", "moodle", "--worksheet", str(ws)) == 5
    err = capsys.readouterr().err
    assert "24 points" in err and "maximum grade as 100" in err and "Traceback" not in err
    assert not dest.exists()
    assert export(class_folder, dest, "--to", "canvas", "--to", "csv", "--points", "100") == 5
    assert "maximum grade as 100" in capsys.readouterr().err and not dest.exists()


def test_moodle_needs_the_worksheet_or_the_language_and_the_maximum(class_folder: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]):
    """Without a worksheet the kit cannot know Moodle's language or maximum: it asks for them."""
    dest = tmp_path / "x"
    assert export(class_folder, dest, "--to", "moodle", "--points", "24") == 5
    assert "--language" in capsys.readouterr().err
    assert export(class_folder, dest, "--to", "moodle", "--language", "ja") == 5
    assert "--worksheet" in capsys.readouterr().err and not dest.exists()


def test_a_file_that_is_no_worksheet_is_a_message(class_folder: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]):
    ws = tmp_path / "roster.csv"
    ws.write_text("student_id,name\nB001,Taro\n", encoding="utf-8")
    assert export(class_folder, tmp_path / "x", "--to", "moodle", "--worksheet", str(ws)) == 5
    err = capsys.readouterr().err
    assert "not a Moodle grading worksheet" in err and "Download grading worksheet" in err


def test_grade_sheet_and_plain_export_keep_the_late_flag_with_a_bom(class_folder: Path, tmp_path: Path):
    """Canvas's LATE reaches grades.csv, the report and the plain export; the sheets carry a BOM."""
    sheet = read(class_folder / "grades.csv")
    late = {r[sheet[0].index("student_id")]: r[sheet[0].index("late")] for r in sheet[2:]}
    assert late["B001"] == "yes" and late["B010"] == ""
    assert "Late (as the LMS marked them" in (class_folder / "report.html").read_text(encoding="utf-8")
    dest = tmp_path / "x"
    assert export(class_folder, dest, "--to", "csv") == 0
    plain = read(dest / "grades-plain.csv")
    assert plain[0] == lms.PLAIN_COLUMNS
    assert {r[0]: r[6] for r in plain[1:]}["B001"] == "yes"


def test_plain_and_canvas_exports_post_no_false_zeros(class_folder: Path, tmp_path: Path):
    """The false zeros themselves, with nothing but the defaults: is no ungraded student (an error,
    a timeout, an interrupted run, a wrong version, a non-submitter) given 0 in the plain sheet or
    in Canvas's gradebook, where the LMS would notify them of it?"""
    dest = tmp_path / "x"
    assert export(class_folder, dest, "--to", "csv", "--to", "canvas") == 0

    def rows(name: str) -> list[list[str]]:
        with (dest / name).open(encoding="utf-8-sig", newline="") as f:
            return list(csv.reader(f))

    plain = {r[0]: r[2] for r in rows("grades-plain.csv")[1:]}
    canvas = {r[2]: r[5] for r in rows("canvas-grades.csv")[2:]}
    for sid in ("B002", "B003", "B004", "B005", "B006", "B007", "B008"):
        assert plain[sid] == "" and canvas[sid] == "", sid
    assert plain["B001"] == canvas["B001"] == "16"


def test_the_demo_export_prints_what_it_leaves_out(class_folder: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]):
    """`make demo` ends with the export the demo makes (its targets, its language, the kit's points):
    does it print each row it leaves out, with the status and where the list is?"""
    from autograder.cli_export import export_class
    from autograder.tools import demo

    dest = tmp_path / "export"
    export_class(class_folder, list(demo.EXPORT_TARGETS), dest, None, points=24.0,
                 language=demo.EXPORT_LANGUAGE)
    printed = capsys.readouterr().out
    assert f"listed in {dest / 'not-exported.csv'}" in printed
    assert "B003 [moodle, canvas, csv]: timeout: why timeout" in printed
    assert "B004 [moodle, canvas, csv]: invalid: why invalid" in printed
    assert read(dest / "moodle-grades.csv")[0][0] == "ID"  # the Japanese worksheet's header


# ---- a second upload: the worksheet's grade dates in a form Moodle's PHP reads (issue 36) ---------

GRADED_AT = 1796666382  # 2026-12-07 17:59:42 UTC: when Moodle took the grades it holds
_DAYS = {"en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
         "ja": ("月曜日", "火曜日", "水曜日", "木曜日", "金曜日", "土曜日", "日曜日")}


def moodle_date(epoch: int, lang: str) -> str:
    """A time as Moodle 4.5's ``userdate`` writes it in the worksheet (strftimedatetime, to the minute)."""
    import datetime as dt

    t = dt.datetime.fromtimestamp(epoch, dt.UTC)
    if lang == "ja":  # '%Y年 %m月 %d日(%A) %H:%M', leading zeros dropped
        return f"{t.year}年 {t.month}月 {t.day}日({_DAYS['ja'][t.weekday()]}) {t:%H:%M}"
    hour = t.hour % 12 or 12  # '%A, %d %B %Y, %I:%M %p'
    return f"{_DAYS['en'][t.weekday()]}, {t.day} {t:%B} {t.year}, {hour}:{t:%M} {t:%p}"


def php_strtotime(cells: list[str]) -> list[int | None]:
    """PHP's own ``strtotime`` of each cell (what Moodle's import computes), in UTC; None for false."""
    import json
    import shutil
    import subprocess

    if shutil.which("php") is None:
        pytest.fail("php is not installed: `make test` installs php-cli (apt) to check the worksheet dates")
    code = ('foreach (json_decode(file_get_contents("php://stdin")) as $c) '
            '{ echo json_encode(strtotime($c)), "\\n"; }')
    out = subprocess.run(["php", "-d", "date.timezone=UTC", "-r", code], input=json.dumps(cells),
                         capture_output=True, text=True, check=True).stdout.split()
    return [None if v == "false" else int(v) for v in out]


def moodle_takes(cell: str, held_since: int | None) -> bool:
    """Moodle 4.5's rule (mod/assign/feedback/offline/locallib.php): a row is skipped when the grade it
    holds was modified more than 60 s after the worksheet's date (a date PHP cannot read is 0)."""
    (modified,) = php_strtotime([cell])
    return held_since is None or held_since <= (modified or 0) + 60


@pytest.mark.parametrize("lang", ["en", "ja"])
@pytest.mark.parametrize("moment", ["regrade", "after-feedback-zip"])
def test_a_second_upload_carries_dates_moodle_accepts(class_folder: Path, tmp_path: Path, lang: str,
                                                      moment: str):
    """The worksheet downloaded after a first upload (grades held since GRADED_AT: B001 at 7 before
    its regrade to 16) or after the feedback zip was uploaded (empty grades held since then): every
    row the kit fills in carries a date PHP's strtotime reads as the same minute, so Moodle takes it.
    Moodle's own Japanese date would not be taken (PHP reads it as no date): the check can fail."""
    ws = tmp_path / "ws.csv"
    rows = worksheet(ws, lang)
    s = lms.MOODLE_STRINGS[lang]
    date, grade = rows[0].index(s["lastmodifiedgrade"]), rows[0].index(s["grade"])
    for r in rows[1:]:
        r[date] = moodle_date(GRADED_AT, lang)
        if moment == "regrade" and r[0].endswith("100001"):
            r[grade] = "7.00"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    ws.write_bytes(BOM + buf.getvalue().encode("utf-8"))
    dest = tmp_path / "x"
    assert export(class_folder, dest, "--to", "moodle", "--worksheet", str(ws)) == 0
    after = read(dest / "moodle-grades.csv")
    filled = [r for r in after[1:] if r[grade] and r[grade] != "7.00"]
    assert {r[0][len(s["hiddenuser"]):] for r in filled} == {"100001", "100010"}
    for r in filled:
        assert moodle_takes(r[date], GRADED_AT), (r[date], lang)
        assert php_strtotime([r[date]]) == [GRADED_AT - GRADED_AT % 60]  # the same minute
    assert moodle_takes(moodle_date(GRADED_AT, "en"), GRADED_AT)  # Moodle's English date: taken
    assert not moodle_takes(moodle_date(GRADED_AT, "ja"), GRADED_AT)  # its Japanese one: skipped


def test_the_export_names_the_upload_order_and_warns_before_a_dateless_reupload(
        class_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture):
    """Does the export say to upload the worksheet before the feedback zip, and, when the class was
    exported before and no worksheet is given, that Moodle will keep the grades it holds?"""
    dest = tmp_path / "x"
    assert export(class_folder, dest, "--to", "moodle", "--language", "ja", "--points", "24") == 0
    first = capsys.readouterr().out
    assert "moodle-grades.csv first" in first and "then moodle-feedback.zip" in first
    assert "Ignore modified" not in first
    assert export(class_folder, dest, "--to", "moodle", "--language", "ja", "--points", "24") == 0
    second = capsys.readouterr().out
    assert "will NOT change a grade it already holds" in second and "上書きを無視" in second
    assert second.index("NOTE") < second.index("export: ")
