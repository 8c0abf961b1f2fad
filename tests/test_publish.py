"""Publishing: generated notebooks are up to date, reproducible, and leak nothing."""

from __future__ import annotations

import filecmp
import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from autograder import paths, publish
from autograder.errors import NotebookError, PublishError

SLUG = "3-2-overfitting"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> publish.Release:
    return publish.build(SLUG, tmp_path_factory.mktemp("build"))


def _code(nb_path: Path) -> str:
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


def test_committed_files_are_up_to_date():
    """Are student_template/ and solutions/ what the master notebook generates now?"""
    assert publish.stale_files(SLUG) == []


def test_build_is_byte_identical(fresh: publish.Release, tmp_path: Path):
    """Does building twice give byte-identical files, the autograder zip included?"""
    again = publish.build(SLUG, tmp_path)
    for a, b in ((fresh.student, again.student), (fresh.solution, again.solution)):
        cmp = filecmp.dircmp(a, b)
        assert not cmp.diff_files and not cmp.left_only and not cmp.right_only
    assert fresh.autograder_zip.read_bytes() == again.autograder_zip.read_bytes()


def test_student_notebook_has_no_solutions(fresh: publish.Release):
    """Does the student notebook hold none of the solution code?"""
    student = _code(fresh.student / f"{SLUG}.ipynb")
    solution = _code(fresh.solution / f"{SLUG}.ipynb")
    for line in ("keras.layers.Dense(128, activation='relu')", "/ 255.0", "model.fit(train_images",
                 "model.evaluate(test_images", 'idxmax()', "keras.layers.Dropout(rate)",
                 "overfitting_bigger = True", 'most_overfit = "bigger"'):
        assert line in solution, line  # the check itself would be vacuous otherwise
        assert line not in student, line
    assert not re.search(r"BEGIN SOLUTION|END SOLUTION|# SOLUTION|BEGIN HIDDEN", student)


def test_student_folder_has_no_hidden_tests(fresh: publish.Release):
    """Are hidden tests only in the autograder zip, never in the student's folder?"""
    with zipfile.ZipFile(fresh.autograder_zip) as zf:
        zipped = "\n".join(zf.read(n).decode() for n in zf.namelist() if n.startswith("tests/"))
    hidden_names = re.findall(r"@test_case\(points=\d+, hidden=True\)\ndef (\w+)", zipped)
    assert len(hidden_names) >= 12
    student_text = "\n".join(p.read_text(encoding="utf-8") for p in fresh.student.rglob("*")
                             if p.is_file())
    assert "hidden=True" not in student_text
    for name in hidden_names:
        assert f"def {name}(" not in student_text, name


def test_public_checks_are_shipped(fresh: publish.Release):
    """Can the public tests import their form checks beside the student notebook (Colab)?"""
    shipped = fresh.student / publish.SUPPORT_MODULE
    assert shipped.read_text(encoding="utf-8") == (
        Path(publish.__file__).with_name("forms.py").read_text(encoding="utf-8"))
    assert "from autograder" not in shipped.read_text(encoding="utf-8")


def test_master_without_config_is_refused(tmp_path: Path):
    """Is a notebook that is not an Otter Assign master refused with a clear message?"""
    root = tmp_path / "kit"
    (root / "assignments" / "x").mkdir(parents=True)
    (root / "assignments" / "x" / "x.ipynb").write_text(json.dumps(
        {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    with pytest.raises(PublishError, match="ASSIGNMENT CONFIG"):
        publish.build("x", tmp_path / "out", root)


def test_corrupt_master_is_a_notebook_error(tmp_path: Path):
    """Is a master with broken JSON reported as such, naming the file?"""
    root = tmp_path / "kit"
    shutil.copytree(paths.repo_root() / "assignments" / SLUG, root / "assignments" / SLUG)
    master = root / "assignments" / SLUG / f"{SLUG}.ipynb"
    master.write_text(master.read_text(encoding="utf-8")[:5000], encoding="utf-8")
    with pytest.raises(NotebookError, match=re.escape(str(master))):
        publish.build(SLUG, tmp_path / "out", root)


def test_grader_parameters_match_the_master():
    """Do the parameters the clean check uses (kit_params.json) equal the master's constants?"""
    params = json.loads((paths.repo_root() / "assignments" / SLUG / "kit_params.json").read_text())
    code = _code(paths.master_notebook(SLUG))
    for key, const in (("n_train", "N_TRAIN"), ("n_val", "N_VAL"), ("epochs", "EPOCHS"),
                       ("batch_size", "BATCH_SIZE")):
        assert re.search(rf"^{const} = {params[key]}\b", code, re.M), const
