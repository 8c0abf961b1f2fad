"""A TA's term on the tiny autograder: the output folder is the class, selective regrading, the
roster, and the exports back into Moodle and Canvas (parsed back column by column)."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from test_engine import GOOD, HALF, batch, notebook, slow, write_class

from autograder import cli
from autograder.grading.batch import engine
from autograder.grading.intake.autograder_zip import autograder_info
from autograder.grading.intake.identity import read_roster
from autograder.report import lms, outputs

ROSTER = ("student_id,name,email,lms_id,section\n"
          "B001,Taro Yamada,b001@example.ac.jp,123456,A\n"
          "B002,Taro Yamada,b002@example.ac.jp,654321,B\n"
          "B003,Hanako Suzuki,b003@example.ac.jp,333333,A\n")


def write_class_outputs(res: engine.BatchResult, out: Path, ag: Path, roster=None) -> list[dict]:
    """What the CLI writes after a run: the whole class from the ledger; the sheet's rows."""
    outputs.write_all(engine.class_view(res, out), autograder_info(ag), out, roster)
    with (out / "grades.csv").open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))[1:]


def test_a_late_file_adds_one_row_and_loses_none(tmp_path: Path, tiny_zip: Path):
    """Grading one late file into the class folder: the sheet grows by one row and keeps the rest."""
    out = tmp_path / "out"
    first = batch(write_class(tmp_path / "in", {"good.ipynb": GOOD, "half.ipynb": HALF,
                                                "corrupt.ipynb": GOOD[:40]}), out, tiny_zip)
    before = write_class_outputs(first, out, tiny_zip)
    assert sorted(r["student_id"] for r in before) == ["corrupt", "good", "half"]
    late = batch(write_class(tmp_path / "late", {"late.ipynb": HALF}), out, tiny_zip)
    assert late.graded_now == 0  # the same bytes as half's: graded once, taken from the ledger
    after = write_class_outputs(late, out, tiny_zip)
    assert sorted(r["student_id"] for r in after) == ["corrupt", "good", "half", "late"]
    unchanged = {r["student_id"]: (r["status"], r["total_points_earned"]) for r in before}
    assert {r["student_id"]: (r["status"], r["total_points_earned"]) for r in after
            if r["student_id"] != "late"} == unchanged
    assert unchanged["good"] == ("graded", "3.0") and unchanged["corrupt"][0] == "invalid"
    assert (out / "feedback" / "good.html").is_file() and (out / "feedback" / "late.html").is_file()
    assert "late" in (out / "report.html").read_text() and "good" in (out / "report.html").read_text()


def test_an_older_file_never_replaces_the_newer_one(tmp_path: Path, tiny_zip: Path):
    """Re-grading last week's folder after a resubmission keeps the resubmission in the sheet."""
    import os

    out = tmp_path / "out"
    new = write_class(tmp_path / "new", {"s001_hw.ipynb": GOOD})
    old = write_class(tmp_path / "old", {"s001_hw.ipynb": HALF})
    os.utime(old / "s001_hw.ipynb", (1_600_000_000, 1_600_000_000))
    batch(new, out, tiny_zip)
    res = batch(old, out, tiny_zip)
    rows = write_class_outputs(res, out, tiny_zip)
    assert [(r["student_id"], r["total_points_earned"]) for r in rows] == [("s001", "3.0")]
    assert [o.key for o, _ in res.intake.superseded] == ["old/s001_hw.ipynb"]


def test_retry_timeout_with_a_larger_limit_regrades_only_the_timeouts(tmp_path: Path, tiny_zip: Path):
    """--retry timeout with a longer limit: the timeout is graded again, nothing else is."""
    out = tmp_path / "out"
    # (limits generous for a busy 2-core machine, where a tiny grading can take 10 s)
    folder = write_class(tmp_path / "in", {"good.ipynb": GOOD, "slowpoke.ipynb": slow(1, seconds=30)})
    first = batch(folder, out, tiny_zip, timeout=20)
    assert {o.submission.student_id: o.record.status for o in first.outcomes} == {
        "good": "graded", "slowpoke": "timeout"}
    same_limit = batch(folder, out, tiny_zip, timeout=20)
    assert same_limit.graded_now == 0  # a timeout under the same limit is not run again
    again = batch(folder, out, tiny_zip, timeout=120, retry=engine.RETRY["timeout"])
    assert again.graded_now == 1 and again.reused == 1
    got = {o.submission.student_id: (o.record.status, o.fresh) for o in again.outcomes}
    assert got == {"good": ("graded", False), "slowpoke": ("graded", True)}
    rows = write_class_outputs(again, out, tiny_zip)
    assert {r["student_id"]: r["status"] for r in rows} == {"good": "graded", "slowpoke": "graded"}


def test_only_regrades_one_student_and_keeps_the_class(tmp_path: Path, tiny_zip: Path):
    """--only half: one grading; the sheet still has everyone."""
    out = tmp_path / "out"
    folder = write_class(tmp_path / "in", {"good.ipynb": GOOD, "half.ipynb": HALF})
    batch(folder, out, tiny_zip)
    one = batch(folder, out, tiny_zip, only=frozenset({"half"}))
    assert one.graded_now == 1 and [o.submission.student_id for o in one.outcomes] == ["half"]
    rows = write_class_outputs(one, out, tiny_zip)
    assert sorted(r["student_id"] for r in rows) == ["good", "half"]


def test_a_result_of_another_kit_version_is_graded_again(tmp_path: Path, tiny_zip: Path,
                                                         monkeypatch: pytest.MonkeyPatch):
    """A kit upgrade does not silently reuse old results, unless the TA asks for it."""
    out = tmp_path / "out"
    folder = write_class(tmp_path / "in", {"good.ipynb": GOOD})
    batch(folder, out, tiny_zip)
    monkeypatch.setattr(engine, "KIT_VERSION", "99.0")
    assert batch(folder, out, tiny_zip, reuse_other_kit=True).graded_now == 0
    assert batch(folder, out, tiny_zip).graded_now == 1


@pytest.fixture(scope="module")
def moodle_class(tmp_path_factory: pytest.TempPathFactory, tiny_zip: Path):
    """A Moodle download: two students named Taro Yamada, one stranger; a roster of three."""
    tmp = tmp_path_factory.mktemp("moodle")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("Taro Yamada_123456_assignsubmission_file_/3-2.ipynb", GOOD)
        zf.writestr("Taro Yamada_654321_assignsubmission_file_/3-2.ipynb", HALF)
        zf.writestr("Someone Else_777777_assignsubmission_file_/3-2.ipynb", notebook("x = 1"))
    (tmp / "moodle.zip").write_bytes(buf.getvalue())
    (tmp / "roster.csv").write_text(ROSTER, encoding="utf-8")
    out = tmp / "out"
    code = cli.main(["grade", str(tmp / "moodle.zip"), "--autograder", str(tiny_zip), "--out", str(out),
                     "--roster", str(tmp / "roster.csv"), "--workers", "2", "--timeout", "60"])
    assert code == 0
    return tmp, out


def test_moodle_download_with_a_roster_gives_two_students(moodle_class):
    """Two Taro Yamadas stay two students with their participant IDs; B003 is missing; the
    stranger is graded under the participant ID and listed as not on the roster."""
    _, out = moodle_class
    with (out / "grades.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = {r["student_id"]: r for r in list(csv.DictReader(f))[1:]}
    got = {sid: (r["name"], r["lms_id"], r["status"], r["total_points_earned"]) for sid, r in rows.items()}
    assert got == {"B001": ("Taro Yamada", "123456", "graded", "3.0"),
                   "B002": ("Taro Yamada", "654321", "graded", "2.0"),
                   "B003": ("Hanako Suzuki", "333333", "missing", "0.0"),
                   "777777": ("Someone Else", "777777", "graded", "2.0")}
    assert "not on the roster" in rows["777777"]["flags"]
    assert rows["B001"]["flags"] == ""
    with (out / "unmatched.csv").open(encoding="utf-8-sig") as f:
        assert [r["lms_id"] for r in csv.DictReader(f)] == ["777777"]
    report = (out / "report.html").read_text()
    assert report.index("Flagged rows") < report.index("<h2>状態 / Status")
    assert "Handed nothing in" in report and "Hanako Suzuki" in report and "Not on the roster" in report


def test_moodle_export_parses_back_column_by_column(moodle_class):
    """The grading worksheet written without a downloaded one: the columns of Moodle's worksheet in
    the language named, 'Participant <id>', graded rows only, the kit's points (3 here)."""
    tmp, out = moodle_class
    assert cli.main(["export", str(out), "--to", "moodle", "--points", "3", "--language", "en"]) == 0
    with (out / "export" / "moodle-grades.csv").open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == lms.MOODLE_COLUMNS
        rows = {r["Identifier"]: r for r in reader}
    assert set(rows) == {"Participant 123456", "Participant 654321", "Participant 777777"}  # B003: missing
    b1, b2 = rows["Participant 123456"], rows["Participant 654321"]
    assert (b1["Full name"], b1["Email address"], b1["Grade"], b1["Maximum grade"]) == (
        "Taro Yamada", "b001@example.ac.jp", "3", "3")
    assert (b2["Grade"], b2["Status"]) == ("2", "Submitted for grading")
    assert "3 / 3" in b1["Feedback comments"]
    with (out / "export" / "not-exported.csv").open(encoding="utf-8-sig", newline="") as f:
        assert [(r["student_id"], r["status"]) for r in csv.DictReader(f)] == [("B003", "missing")]
    assert cli.main(["export", str(out), "--to", "moodle", "--points", "100", "--language", "en"]) == 5


def test_moodle_feedback_bundle_has_one_folder_per_participant(moodle_class):
    """Moodle's feedback zip: ``<Full name>_<participant id>_assignfeedback_file_/feedback.html``."""
    _, out = moodle_class
    assert cli.main(["export", str(out), "--to", "moodle", "--language", "ja", "--points", "3"]) == 0
    with zipfile.ZipFile(out / "export" / "moodle-feedback.zip") as zf:
        names = sorted(zf.namelist())
        page = zf.read("Taro Yamada_123456_assignfeedback_file_/feedback.html").decode()
    assert names == ["Someone Else_777777_assignfeedback_file_/feedback.html",
                     "Taro Yamada_123456_assignfeedback_file_/feedback.html",
                     "Taro Yamada_654321_assignfeedback_file_/feedback.html"]
    assert all(n.split("_")[1].isdigit() for n in names)  # what Moodle reads as the participant
    assert "data:image/png;base64," in page  # the figure travels inside the one file


def test_canvas_and_plain_exports_parse_back_column_by_column(moodle_class):
    """Canvas: Student, ID, SIS User ID, SIS Login ID, Section, 'Name (id)', the Points Possible
    row; plain: student_id, name, score, max_score, percent, status, late, adjusted (none here)."""
    _, out = moodle_class
    assert cli.main(["export", str(out), "--to", "canvas", "--to", "csv", "--assignment", "3-2 overfitting",
                     "--assignment-id", "4242", "--points", "3"]) == 0
    with (out / "export" / "canvas-grades.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "3-2 overfitting (4242)"]
    assert rows[1] == ["Points Possible", "", "", "", "", "3"]
    assert rows[2:] == [["Someone Else", "777777", "777777", "", "", "2"],
                        ["Taro Yamada", "123456", "B001", "b001@example.ac.jp", "A", "3"],
                        ["Taro Yamada", "654321", "B002", "b002@example.ac.jp", "B", "2"],
                        ["Hanako Suzuki", "333333", "B003", "b003@example.ac.jp", "A", ""]]
    with (out / "export" / "grades-plain.csv").open(encoding="utf-8-sig", newline="") as f:
        plain = list(csv.reader(f))
    assert plain[0] == lms.PLAIN_COLUMNS
    assert plain[1:] == [["777777", "Someone Else", "2", "3", "66.7", "graded", "", ""],
                         ["B001", "Taro Yamada", "3", "3", "100", "graded", "", ""],
                         ["B002", "Taro Yamada", "2", "3", "66.7", "graded", "", ""],
                         ["B003", "Hanako Suzuki", "", "3", "", "missing", "", ""]]
    assert read_roster(out / "roster.csv").by_id["B003"].section == "A"  # the class kept its roster
