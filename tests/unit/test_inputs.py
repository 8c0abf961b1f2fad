"""Gathering submissions: files, folders, otter and LMS zips, student IDs, the duplicate rule."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import pytest

from autograder.grading.intake import inputs


def nb_bytes(*sources: str, **metadata: object) -> bytes:
    cells = [{"cell_type": "code", "source": s, "metadata": {}, "outputs": [], "execution_count": None}
             for s in sources]
    return json.dumps({"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}).encode()


def make_zip(entries: dict[str, bytes], *, utf8_names: bool = True) -> bytes:
    """A zip; with ``utf8_names=False`` the names are cp932 bytes without the UTF-8 flag (Windows)."""
    buf = io.BytesIO()
    swaps = []
    with zipfile.ZipFile(buf, "w") as zf:
        for i, (name, data) in enumerate(entries.items()):
            stored = name
            if not utf8_names and not name.isascii():
                raw = name.encode("cp932")
                stored = (f"@{i:02d}@" + "#" * len(raw))[: len(raw)]
                swaps.append((stored.encode("ascii"), raw))
            zf.writestr(zipfile.ZipInfo(stored, date_time=(2024, 6, 1, 12, 0, 0)), data)
    out = buf.getvalue()
    for placeholder, raw in swaps:
        out = out.replace(placeholder, raw)
    return out


def test_folder_ids_from_file_names(tmp_path: Path):
    """Does the default rule take the ID up to the first underscore, or the whole stem?"""
    d = tmp_path / "in"
    d.mkdir()
    (d / "s001_3-2.ipynb").write_bytes(nb_bytes("x = 1"))
    (d / "solution.ipynb").write_bytes(nb_bytes("x = 2"))
    intake = inputs.collect([d], tmp_path / "stage")
    assert sorted(s.student_id for s in intake.chosen) == ["s001", "solution"]
    assert all(s.path.is_file() and s.path.parent == tmp_path / "stage" for s in intake.chosen)


def test_metadata_id_wins_over_the_file_name(tmp_path: Path):
    """Does ``metadata.student_id`` in the notebook beat the name pattern?"""
    f = tmp_path / "whatever_name.ipynb"
    f.write_bytes(nb_bytes("x = 1", student_id="B2012345"))
    intake = inputs.collect([f], tmp_path / "stage")
    assert [s.student_id for s in intake.chosen] == ["B2012345"]


def test_custom_pattern_with_id_group(tmp_path: Path):
    """Does a configured pattern's ``id`` group pick the student number out of a longer name?"""
    f = tmp_path / "report-s1234567-final.ipynb"
    f.write_bytes(nb_bytes("x = 1"))
    intake = inputs.collect([f], tmp_path / "stage", id_pattern=r"(?P<id>s\d{7})")
    assert intake.chosen[0].student_id == "s1234567"


def test_bad_pattern_is_a_user_error(tmp_path: Path):
    """Does an invalid regular expression give a message naming it, not a traceback?"""
    with pytest.raises(inputs.InputError, match="not a valid regular expression"):
        inputs.collect([tmp_path], tmp_path / "stage", id_pattern="(unclosed")


def test_missing_input_is_a_user_error(tmp_path: Path):
    """Does a path that does not exist stop with its name?"""
    with pytest.raises(inputs.InputError, match="nope"):
        inputs.collect([tmp_path / "nope"], tmp_path / "stage")


def test_latest_submission_wins_and_the_older_is_listed(tmp_path: Path):
    """With two files of one student, does the newer count and the older appear as superseded?"""
    d = tmp_path / "in"
    d.mkdir()
    old, new = d / "s001_v1.ipynb", d / "s001_v2.ipynb"
    old.write_bytes(nb_bytes("x = 'old'"))
    new.write_bytes(nb_bytes("x = 'new'"))
    os.utime(old, (1_700_000_000, 1_700_000_000))
    os.utime(new, (1_600_000_000, 1_600_000_000))  # the v2 name is older on disk: time decides
    intake = inputs.collect([d], tmp_path / "stage")
    assert [s.key for s in intake.chosen] == ["in/s001_v1.ipynb"]
    assert [(a.key, b.key) for a, b in intake.superseded] == [("in/s001_v2.ipynb", "in/s001_v1.ipynb")]


def test_time_group_orders_duplicates(tmp_path: Path):
    """Does a ``time`` group in the pattern decide which submission is the latest?"""
    d = tmp_path / "in"
    d.mkdir()
    for stamp in ("20240602T0900", "20240601T2300"):
        (d / f"s001_{stamp}.ipynb").write_bytes(nb_bytes(f"x = '{stamp}'"))
    intake = inputs.collect([d], tmp_path / "stage", id_pattern=r"(?P<id>[^/_]+)_(?P<time>\d{8}T\d{4})")
    assert intake.chosen[0].key.endswith("20240602T0900.ipynb")
    assert len(intake.superseded) == 1


def test_a_notebook_beats_a_newer_pdf(tmp_path: Path):
    """Does a student's notebook count even when a PDF was uploaded later?"""
    d = tmp_path / "in"
    d.mkdir()
    (d / "s001_a.ipynb").write_bytes(nb_bytes("x = 1"))
    (d / "s001_b.pdf").write_bytes(b"%PDF-1.4")
    os.utime(d / "s001_a.ipynb", (1_600_000_000, 1_600_000_000))
    intake = inputs.collect([d], tmp_path / "stage")
    assert intake.chosen[0].key.endswith(".ipynb")


def test_lms_zip_nested_folders_and_japanese_names(tmp_path: Path):
    """Do Moodle-style folders, a cp932 name without the UTF-8 flag and a nested otter zip all work?"""
    otter_zip = make_zip({"3-2-overfitting.ipynb": nb_bytes("x = 3"), ".OTTER_LOG": b"pickle!"})
    bulk = make_zip({
        "山田太郎_100001_assignsubmission_file_/3-2-overfitting.ipynb": nb_bytes("x = 1"),
        "Suzuki Hanako_100002_assignsubmission_file_/提出.ipynb": nb_bytes("x = 2"),
        "Sato_100003_assignsubmission_file_/submission.zip": otter_zip,
        "__MACOSX/._junk": b"junk",
    }, utf8_names=False)
    z = tmp_path / "bulk.zip"
    z.write_bytes(bulk)
    intake = inputs.collect([z], tmp_path / "stage")
    ids = sorted((s.student_id, s.name) for s in intake.chosen)  # Moodle's participant IDs, not names
    assert ids == [("100001", "山田太郎"), ("100002", "Suzuki Hanako"), ("100003", "Sato")]
    keys = {s.student_id: s.key for s in intake.chosen}
    assert keys["100002"] == "bulk.zip/Suzuki Hanako_100002_assignsubmission_file_/提出.ipynb"
    assert keys["100003"].endswith("submission.zip/3-2-overfitting.ipynb")
    assert any("__MACOSX" in k for k, _ in intake.ignored)
    assert all(s.status == "" for s in intake.chosen)


def test_otter_export_zip_takes_its_own_name_as_id(tmp_path: Path):
    """Is a zip holding one notebook at its root one student's submission, named by the zip?"""
    z = tmp_path / "s007_3-2-overfitting_2024_06_01T12_00_00.zip"
    z.write_bytes(make_zip({"3-2-overfitting.ipynb": nb_bytes("x = 1"), "3-2-overfitting.pdf": b"%PDF"}))
    intake = inputs.collect([z], tmp_path / "stage")
    assert [s.student_id for s in intake.chosen] == ["s007"]
    assert [k for k, _ in intake.ignored] == [f"{z.name}/3-2-overfitting.pdf"]


def test_zip_without_notebook_and_broken_zip_get_a_status(tmp_path: Path):
    """Do a zip with no notebook and a corrupt zip become 'invalid' rows with a reason, not a crash?"""
    d = tmp_path / "in"
    d.mkdir()
    (d / "s001_work.zip").write_bytes(make_zip({"report.docx": b"PK..."}))
    (d / "s002_work.zip").write_bytes(b"this is not a zip")
    intake = inputs.collect([d], tmp_path / "stage")
    got = {s.student_id: (s.status, s.reason) for s in intake.chosen}
    assert got["s001"][0] == "invalid" and "no notebook" in got["s001"][1] and "report.docx" in got["s001"][1]
    assert got["s002"][0] == "invalid" and "not a readable zip" in got["s002"][1]


def test_hidden_files_and_output_folder_are_skipped(tmp_path: Path):
    """Are .ipynb_checkpoints and the grader's own output folder left out of the inputs?"""
    d = tmp_path / "in"
    (d / ".ipynb_checkpoints").mkdir(parents=True)
    (d / ".ipynb_checkpoints" / "s001-checkpoint.ipynb").write_bytes(nb_bytes("x = 0"))
    (d / "s001.ipynb").write_bytes(nb_bytes("x = 1"))
    (d / "out" / "staging").mkdir(parents=True)
    (d / "out" / "staging" / "abc.ipynb").write_bytes(nb_bytes("x = 2"))
    intake = inputs.collect([d], d / "out" / "staging", exclude=d / "out")
    assert [s.key for s in intake.chosen] == ["in/s001.ipynb"]
    assert not intake.superseded


def test_identical_content_is_staged_once(tmp_path: Path):
    """Do two students handing in the same bytes share one staged file (one hash)?"""
    d = tmp_path / "in"
    d.mkdir()
    for sid in ("s001", "s002"):
        (d / f"{sid}_x.ipynb").write_bytes(nb_bytes("x = 1"))
    intake = inputs.collect([d], tmp_path / "stage")
    assert len(intake.chosen) == 2 and intake.chosen[0].sha256 == intake.chosen[1].sha256
    assert len(list((tmp_path / "stage").iterdir())) == 1


def test_metadata_naming_another_student_of_the_batch_is_flagged(tmp_path: Path):
    """A newer notebook in s002's folder whose metadata says s001 (who handed in too): flagged, and
    it cannot replace s001's own submission."""
    import zipfile

    bulk = tmp_path / "bulk.zip"
    with zipfile.ZipFile(bulk, "w") as zf:
        zf.writestr(zipfile.ZipInfo("s001_a/nb.ipynb", (2026, 6, 1, 0, 0, 0)), nb_bytes("x = 1"))
        zf.writestr(zipfile.ZipInfo("s002_b/nb.ipynb", (2026, 6, 2, 0, 0, 0)),
                    nb_bytes("x = 2", student_id="s001"))
        zf.writestr(zipfile.ZipInfo("s003_c/nb.ipynb", (2026, 6, 1, 0, 0, 0)),
                    nb_bytes("x = 3", student_id="B2012345"))
    intake = inputs.collect([bulk], tmp_path / "stage")
    chosen = {s.student_id: s for s in intake.chosen}
    assert chosen["s001"].key.endswith("s001_a/nb.ipynb")  # the newer impostor does not win
    [(old, new)] = intake.superseded
    assert old.key.endswith("s002_b/nb.ipynb") and "handed in as s002" in old.id_conflict
    assert chosen["B2012345"].id_conflict == ""  # its name is no other submission's


def test_moodle_students_with_the_same_name_stay_two_students(tmp_path: Path):
    """Two "Taro Yamada" in a Moodle download: two participant IDs, nobody superseded."""
    z = tmp_path / "moodle.zip"
    z.write_bytes(make_zip({
        "Taro Yamada_123456_assignsubmission_file_/3-2.ipynb": nb_bytes("x = 1"),
        "Taro Yamada_654321_assignsubmission_file_/3-2.ipynb": nb_bytes("x = 2"),
    }))
    intake = inputs.collect([z], tmp_path / "stage")
    assert sorted((s.student_id, s.name, s.lms_id) for s in intake.chosen) == [
        ("123456", "Taro Yamada", "123456"), ("654321", "Taro Yamada", "654321")]
    assert intake.superseded == []


def test_canvas_layout_takes_the_user_id(tmp_path: Path):
    """Canvas's ``name[_LATE]_userid_attemptid_file``: the user ID, late or not."""
    d = tmp_path / "in"
    d.mkdir()
    (d / "yamadataro_4711_90001_3-2.ipynb").write_bytes(nb_bytes("x = 1"))
    (d / "suzukihanako_LATE_4712_90002_3-2-1.ipynb").write_bytes(nb_bytes("x = 2"))
    intake = inputs.collect([d], tmp_path / "stage", lms="canvas")
    assert sorted((s.student_id, s.name) for s in intake.chosen) == [("4711", "yamadataro"),
                                                                      ("4712", "suzukihanako")]


def test_otter_export_in_a_canvas_download_keeps_the_canvas_user(tmp_path: Path):
    """An otter export zip handed in on Canvas (``name_userid_attempt_<export>.zip``): is it the
    Canvas user's (their ID as the LMS ID, for the gradebook), not an ID guessed from the name?"""
    d = tmp_path / "in"
    d.mkdir()
    (d / "yamadataro_4711_90001_3-2-overfitting_2026_06_01T12_00_00_000001.zip").write_bytes(
        make_zip({"3-2-overfitting.ipynb": nb_bytes("x = 1")}))
    (d / "suzukihanako_LATE_4712_90002_3-2-overfitting_2026_06_01T12_05_00_000002.zip").write_bytes(
        make_zip({"3-2-overfitting.ipynb": nb_bytes("x = 2", student_id="s200")}))
    intake = inputs.collect([d], tmp_path / "stage")
    got = sorted((s.student_id, s.name, s.lms_id, s.id_note) for s in intake.chosen)
    assert got == [("4711", "yamadataro", "4711", ""), ("s200", "suzukihanako", "4712", "")]


def test_flat_otter_exports_without_ids_are_never_one_student(tmp_path: Path):
    """Otter exports named only by the notebook and a time: the notebook's ID, else one row each."""
    d = tmp_path / "in"
    d.mkdir()
    (d / "3-2-overfitting_2026_06_01T12_00_00_000001.zip").write_bytes(
        make_zip({"3-2-overfitting.ipynb": nb_bytes("x = 1", student_id="s100")}))
    (d / "3-2-overfitting_2026_06_01T12_05_00_000002.zip").write_bytes(
        make_zip({"3-2-overfitting.ipynb": nb_bytes("x = 2", fmnist_kit={"student_id": "s200"})}))
    (d / "3-2-overfitting_2026_06_01T12_09_00_000003.zip").write_bytes(
        make_zip({"3-2-overfitting.ipynb": nb_bytes("x = 3")}))
    intake = inputs.collect([d], tmp_path / "stage")
    ids = sorted(s.student_id for s in intake.chosen)
    assert ids == ["3-2-overfitting_2026_06_01T12_09_00_000003", "s100", "s200"]
    notes = {s.student_id: s.id_note for s in intake.chosen}
    assert notes["s100"] == "" and "stamp" in notes["s200"] and "no student ID" in notes[ids[0]]


ROSTER = ("student_id,name,email,lms_id\n"
          "B001,Taro Yamada,b001@example.ac.jp,123456\n"
          "B002,Taro Yamada,b002@example.ac.jp,654321\n"
          "B003,Hanako Suzuki,b003@example.ac.jp,\n"
          "B004,Jiro Sato,b004@example.ac.jp,222222\n")


def test_roster_maps_participants_and_names_and_lists_the_unmatched(tmp_path: Path):
    """The roster matches by participant ID or an unambiguous name; a stranger is listed, not merged."""
    from autograder.grading.intake.identity import read_roster

    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    roster = read_roster(tmp_path / "roster.csv")
    z = tmp_path / "moodle.zip"
    z.write_bytes(make_zip({
        "Taro Yamada_123456_assignsubmission_file_/a.ipynb": nb_bytes("x = 1"),
        "Taro Yamada_654321_assignsubmission_file_/a.ipynb": nb_bytes("x = 2"),
        "HANAKO  SUZUKI_333333_assignsubmission_file_/a.ipynb": nb_bytes("x = 3"),
        "Nobody Known_999999_assignsubmission_file_/a.ipynb": nb_bytes("x = 4"),
    }))
    intake = inputs.collect([z], tmp_path / "stage", roster=roster)
    got = sorted((s.student_id, s.name, s.lms_id) for s in intake.chosen)
    assert got == [("999999", "Nobody Known", "999999"), ("B001", "Taro Yamada", "123456"),
                   ("B002", "Taro Yamada", "654321"), ("B003", "Hanako Suzuki", "333333")]
    assert [(s.student_id, "999999" in why) for s, why in intake.unmatched] == [("999999", True)]


def test_a_shared_name_without_an_lms_id_matches_nobody(tmp_path: Path):
    """A name two roster students share is never enough to pick one of them."""
    from autograder.grading.intake.identity import Identity, read_roster

    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    student, why = read_roster(tmp_path / "roster.csv").match(Identity("Taro Yamada", name="Taro Yamada"))
    assert student is None and "shared by 2 students" in why


def test_a_roster_with_a_student_twice_is_refused(tmp_path: Path):
    from autograder.errors import ConfigError
    from autograder.grading.intake.identity import read_roster

    (tmp_path / "roster.csv").write_text(ROSTER + "B001,Someone Else,,\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"student_id B001 to more than one row: "
                                          r"line 2 \(B001 Taro Yamada\), line 6 \(B001 Someone Else\)"):
        read_roster(tmp_path / "roster.csv")
