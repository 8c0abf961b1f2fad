"""Who handed a file in, from the layouts the LMSs document (issue 26): a Moodle participant's
folder given alone, flat Moodle downloads, Canvas names (digits, underscores, anonymous, LATE),
a roster whose LMS IDs are another ID space, a roster whose LMS IDs collide, and a batch of
per-student variants without the course secret (refused before anything is graded)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autograder import cli
from autograder.errors import ConfigError
from autograder.grading.intake import inputs
from autograder.grading.intake.identity import IDENTITY_DOUBT, read_roster


def nb_bytes(source: str = "x = 1", **metadata: object) -> bytes:
    cell = {"cell_type": "code", "source": source, "metadata": {}, "outputs": [], "execution_count": None}
    return json.dumps({"cells": [cell], "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}).encode()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_late_moodle_folder_given_alone_keeps_its_participant(tmp_path: Path):
    """The README's late-file command: ``grade "late/Taro Yamada_123456_assignsubmission_file_"``.
    Does each late folder keep its participant ID, so two late files do not collide?"""
    a = tmp_path / "late" / "Taro Yamada_123456_assignsubmission_file_"
    b = tmp_path / "late" / "Hanako Suzuki_654321_assignsubmission_file_"
    write(a / "3-2-overfitting.ipynb", nb_bytes("x = 1"))
    write(b / "3-2-overfitting.ipynb", nb_bytes("x = 2"))
    intake = inputs.collect([a, b], tmp_path / "stage")
    got = sorted((s.student_id, s.name, s.lms_id) for s in intake.chosen)
    assert got == [("123456", "Taro Yamada", "123456"), ("654321", "Hanako Suzuki", "654321")]
    assert intake.superseded == []


def test_a_file_inside_a_moodle_folder_given_alone_keeps_its_participant(tmp_path: Path):
    """The notebook itself named on the command line: its folder still says who it is."""
    f = write(tmp_path / "late" / "Taro Yamada_123456_assignsubmission_file_" / "3-2-overfitting.ipynb",
              nb_bytes())
    [sub] = inputs.collect([f], tmp_path / "stage").chosen
    assert (sub.student_id, sub.lms_id, sub.name) == ("123456", "123456", "Taro Yamada")


def test_a_flat_moodle_download_keeps_two_students_of_one_name(tmp_path: Path):
    """"Download submissions in folders" off: ``<name>_<id>_assignsubmission_file_<file>``. Two
    Taro Yamadas stay two participants (none superseded), each with the ID Moodle's export needs."""
    d = tmp_path / "moodle"
    write(d / "Taro Yamada_123456_assignsubmission_file_3-2-overfitting.ipynb", nb_bytes("x = 1"))
    write(d / "Taro Yamada_654321_assignsubmission_file_3-2-overfitting.ipynb", nb_bytes("x = 2"))
    write(d / "Mary_Ann Lee_777777_assignsubmission_file_3-2-overfitting.ipynb", nb_bytes("x = 3"))
    intake = inputs.collect([d], tmp_path / "stage")
    got = sorted((s.student_id, s.name, s.lms_id) for s in intake.chosen)
    assert got == [("123456", "Taro Yamada", "123456"), ("654321", "Taro Yamada", "654321"),
                   ("777777", "Mary_Ann Lee", "777777")]
    assert intake.superseded == []


@pytest.mark.parametrize(("file", "sid", "lms_id", "name", "late"), [
    ("yamadataro_4711_90001_3-2-overfitting.ipynb", "4711", "4711", "yamadataro", False),
    ("yamadataro_LATE_4711_90001_3-2-overfitting.ipynb", "4711", "4711", "yamadataro", True),
    ("yamada2taro_4712_90002_3-2-overfitting.ipynb", "4712", "4712", "yamada2taro", False),
    ("o_neilmary_4713_90003_3-2-overfitting.ipynb", "4713", "4713", "o_neilmary", False),
    ("山田太郎_4714_90004_3-2-overfitting.ipynb", "4714", "4714", "山田太郎", False),
    # anonymous grading (content_zipper.rb: "anon_#{submission.anonymous_id}", no name)
    ("anon_x8Kq2_90005_3-2-overfitting.ipynb", "anon_x8Kq2", "", "", False),
    ("LATE_anon_x8Kq3_90006_3-2-overfitting.ipynb", "anon_x8Kq3", "", "", True),
    # older Canvas under anonymous grading: no name, the bare user ID, lower-cased "late"
    ("late_4715_90007_3-2-overfitting.ipynb", "4715", "4715", "", True),
])
def test_canvas_download_names(tmp_path: Path, file: str, sid: str, lms_id: str, name: str, late: bool):
    """Canvas's ``content_zipper.rb`` names: the sanitized sortable name (digits and ``_`` kept),
    ``LATE``, the user ID or ``anon_<id>``, the attachment ID, the file: read in ``--lms auto``."""
    [sub] = inputs.collect([write(tmp_path / "in" / file, nb_bytes())], tmp_path / "stage").chosen
    assert (sub.student_id, sub.lms_id, sub.name, sub.late) == (sid, lms_id, name, late)


ROSTER = ("student_id,name,email,lms_id\n"
          "B001,Taro Yamada,b001@example.ac.jp,123456\n"
          "B002,Hanako Suzuki,b002@example.ac.jp,654321\n")


def test_a_roster_lms_id_naming_someone_else_is_no_match(tmp_path: Path):
    """A roster whose lms_id column holds Moodle *user* IDs: participant 654321's folder is Jiro
    Sato's, but the roster's 654321 is Hanako. Is the notebook kept off Hanako's row and flagged
    (the export leaves such a row out), instead of credited to her?"""
    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    d = tmp_path / "moodle"
    write(d / "Taro Yamada_123456_assignsubmission_file_" / "a.ipynb", nb_bytes("x = 1"))
    write(d / "Jiro Sato_654321_assignsubmission_file_" / "a.ipynb", nb_bytes("x = 2"))
    intake = inputs.collect([d], tmp_path / "stage", roster=read_roster(tmp_path / "roster.csv"))
    chosen = {s.student_id: s for s in intake.chosen}
    assert sorted(chosen) == ["654321", "B001"]  # B002 (Hanako) got nothing of Jiro's
    assert chosen["654321"].id_note.startswith(IDENTITY_DOUBT)
    assert "B002" in chosen["654321"].id_note and "Jiro Sato" in chosen["654321"].id_note
    assert chosen["B001"].id_note == ""  # the same name written either way is the same person


def test_a_roster_name_in_another_order_still_matches(tmp_path: Path):
    """Moodle in Japanese shows "Yamada Taro"; Canvas writes "yamadataro": the same person."""
    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    d = tmp_path / "in"
    write(d / "Yamada Taro_123456_assignsubmission_file_" / "a.ipynb", nb_bytes("x = 1"))
    write(d / "suzukihanako_654321_90001_a.ipynb", nb_bytes("x = 2"))
    intake = inputs.collect([d], tmp_path / "stage", roster=read_roster(tmp_path / "roster.csv"))
    assert sorted((s.student_id, s.id_note) for s in intake.chosen) == [("B001", ""), ("B002", "")]


def test_a_roster_whose_lms_ids_collide_is_refused_naming_the_rows(tmp_path: Path):
    """Two roster rows with one lms_id would send one grade to two students: refused, both rows named."""
    (tmp_path / "roster.csv").write_text(ROSTER + "B003,Jiro Sato,,123456\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        read_roster(tmp_path / "roster.csv")
    assert "lms_id 123456" in str(err.value)
    assert "line 2 (B001 Taro Yamada)" in str(err.value) and "line 4 (B003 Jiro Sato)" in str(err.value)


def test_grading_per_student_variants_without_the_secret_is_refused_before_grading(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """A class holding version-2027 notebooks (per-student seeds) and no --secret-file: does
    ``grade`` stop at once, say what to pass, and grade nothing (no ledger, no error rows)?"""
    stamp = {"assignment": "3-2-overfitting", "version": "2027", "student_id": "s001"}
    d = tmp_path / "class"
    write(d / "s001_3-2.ipynb", nb_bytes("x = 1", fmnist_kit=stamp))
    write(d / "s002_3-2.ipynb", nb_bytes("x = 2", fmnist_kit={**stamp, "student_id": "s002"}))
    out = tmp_path / "out"
    code = cli.main(["grade", str(d), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 7, err
    assert "--secret-file" in err and "version 2027: 2 notebook(s) (s001, s002)" in err
    assert "Traceback" not in err
    assert not (out / "ledger.sqlite").exists() and not (out / "grades.csv").exists()
