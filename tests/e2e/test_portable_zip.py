"""The published autograder zip on its own, as a new user runs it (issue 15).

A fresh virtual environment is built from nothing but the zip's ``requirements.txt`` and its
``kit/`` (no checkout of the kit on ``sys.path``; pip may use the package index and its cache).
In it, the solution, the blank template and the forged-score notebook of the adversarial corpus
are graded (1) in otter's Gradescope layout, emulated with bubblewrap binding a temporary root
onto ``/autograder`` and running the zip's ``run_otter.py`` as Gradescope's ``run_autograder``
does, and (2) with plain ``otter run -a autograder.zip``. Under plain ``otter run`` the solution
is handed in as a student downloads it from Google Colab (the kit's and otter's metadata gone,
the stamp only in the first cell), and a blank stamped with another version is refused by
version. Every score is read from ``results.json``. The same notebooks graded by the kit's own
``grade`` must score the same per question: both run the steps of ``grading.pipeline``. The
environment is cached under the kit's cache folder, keyed by the hash of the zip's
``requirements.txt``, so a second run does not install the libraries again; the zip's ``kit/`` is
installed into it afresh every time.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import corpus
import pytest
from colab_emulation import colab_saved
from kit_constants import SLUG, VERSION

from autograder import data, paths
from autograder.notebook import STAMP_KEY, set_cell_stamp, stamp_of
from autograder.tools import gradescope, samples

pytestmark = pytest.mark.e2e

CASES = ("solution", "blank", "forged")
#: graded under plain ``otter run`` only: the solution as downloaded from Colab stands in for the
#: solution there (one training per way), the other version's blank costs no training
OTTER_RUN_CASES = ("colab solution", "blank", "forged", "other version")
TIMEOUT = 1800


def _install_key(zip_path: Path) -> str:
    """The hash of the zip's ``requirements.txt``: the environment is rebuilt when it changes."""
    with zipfile.ZipFile(zip_path) as zf:
        return hashlib.sha256(zf.read("requirements.txt")).hexdigest()[:16]


@pytest.fixture(scope="module")
def zip_venv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(python of a fresh venv built from the zip alone, the unzipped zip)."""
    ag_zip = paths.autograder_zip(SLUG, VERSION)
    unzipped = tmp_path_factory.mktemp("zip") / "source"
    with zipfile.ZipFile(ag_zip) as zf:
        zf.extractall(unzipped)
    venv = data.kit_home() / "zip-venv" / _install_key(ag_zip)
    python = venv / "bin" / "python"
    if not (venv / ".complete").is_file():
        shutil.rmtree(venv, ignore_errors=True)
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", "requirements.txt"],
                       cwd=unzipped, check=True, timeout=TIMEOUT)
        (venv / ".complete").write_text("installed from the zip's requirements.txt\n")
    # the kit's code as this zip ships it, every time (seconds; the libraries above take minutes)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", "./kit"],
                   cwd=unzipped, check=True, timeout=TIMEOUT)
    where = subprocess.run([str(python), "-c", "import autograder, otter; print(autograder.__file__)"],
                           cwd=unzipped.parent, capture_output=True, text=True, check=True).stdout
    assert where.strip().startswith(str(venv)), f"the kit came from {where}, not from the zip's install"
    return python, unzipped


def _notebooks(dest: Path) -> dict[str, Path]:
    out = samples.write(SLUG, dest, ["solution", "blank"])
    out["forged"] = dest / "forged.ipynb"
    out["forged"].write_text(json.dumps(corpus.forged_score_notebook(SLUG), ensure_ascii=False), "utf-8")
    solution = json.loads(out["solution"].read_text(encoding="utf-8"))
    out["colab solution"] = dest / "colab.ipynb"
    out["colab solution"].write_text(json.dumps(colab_saved(solution), ensure_ascii=False), "utf-8")
    blank = json.loads(out["blank"].read_text(encoding="utf-8"))
    other = {**stamp_of(blank), "version": "1999"}
    blank["metadata"][STAMP_KEY] = other
    set_cell_stamp(blank["cells"], other)
    out["other version"] = dest / "other.ipynb"
    out["other version"].write_text(json.dumps(blank, ensure_ascii=False), "utf-8")
    return out


def _env(python: Path) -> dict[str, str]:
    """A new user's environment: the venv's PATH, the offline Keras cache, nothing of the kit."""
    return {"PATH": f"{python.parent}:/usr/bin:/bin", "HOME": str(Path.home()), "LANG": "C.UTF-8",
            "KERAS_HOME": str(data.provide_keras_cache()), "MPLBACKEND": "Agg"}


def _gradescope(python: Path, notebook: Path, root: Path) -> Path:
    """Grade ``notebook`` in otter's Gradescope layout under ``root``, bound onto /autograder."""
    cmd = [*gradescope.layout(paths.autograder_zip(SLUG, VERSION), notebook, root, f"{SLUG}.ipynb"),
           str(python), "/autograder/source/run_otter.py"]
    proc = subprocess.run(cmd, env=_env(python), capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return root / "results" / "results.json"


def _otter_run(python: Path, notebook: Path, dest: Path) -> Path:
    dest.mkdir(parents=True)
    ag_zip = paths.autograder_zip(SLUG, VERSION)
    otter = str(python.parent / "otter")
    proc = subprocess.run([otter, "run", "-a", str(ag_zip), "-o", str(dest), str(notebook)], cwd=dest,
                          env=_env(python), capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return dest / "results.json"


@pytest.fixture(scope="module")
def graded(zip_venv: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The cases graded in the Gradescope layout and under plain otter run: {(way, case): (score,
    possible, output)}."""
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is needed to emulate Gradescope's /autograder")
    python, _ = zip_venv
    tmp = tmp_path_factory.mktemp("portable")
    notebooks = _notebooks(tmp / "in")
    out = {}
    for case in CASES:
        out["gradescope", case] = gradescope.scores(_gradescope(python, notebooks[case], tmp / "gs" / case))
    for case in OTTER_RUN_CASES:
        folder = tmp / "run" / case.replace(" ", "-")
        results = _otter_run(python, notebooks[case], folder)
        out["otter run", case] = gradescope.scores(results)
        out["questions", case] = _questions(results)
    return out


def _questions(results: Path) -> dict[str, float]:
    """{question: score} of a Gradescope-format ``results.json`` (otter's, or the kit's own)."""
    tests = json.loads(results.read_text(encoding="utf-8")).get("tests", [])
    return {str(t["name"]).split(" - ")[0]: float(t["score"]) for t in tests if "max_score" in t}


@pytest.fixture(scope="module")
def kit_graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, float]]:
    """The otter-run cases graded by the kit's own ``grade`` (its pipeline, in this checkout, with
    the same published zip): {case: {question: score}} from each student's ``results/<ID>.json``."""
    from autograder import cli

    tmp = tmp_path_factory.mktemp("kit-grade")
    notebooks = _notebooks(tmp / "made")
    folder = tmp / "in"
    folder.mkdir()
    ids = {case: case.replace(" ", "-") for case in OTTER_RUN_CASES}
    for case, sid in ids.items():
        shutil.copy(notebooks[case], folder / f"{sid}.ipynb")
    out = tmp / "out"
    code = cli.main(["grade", str(folder), "--autograder", str(paths.autograder_zip(SLUG, VERSION)),
                     "--out", str(out), "--timeout", str(TIMEOUT)])
    assert code == 0
    return {case: _questions(out / "results" / f"{sid}.json") if (out / "results" / f"{sid}.json").is_file()
            else {} for case, sid in ids.items()}


@pytest.mark.parametrize("case", ["colab solution", "blank", "forged"])
def test_grade_and_otter_run_give_the_same_scores(graded: dict, kit_graded: dict, case: str):
    """Do the kit's ``grade`` and plain ``otter run`` of the published zip (its plugin), which run
    the same pipeline steps, give every question the same score?"""
    mine, theirs = kit_graded[case], graded["questions", case]
    assert len(theirs) == 12, theirs
    assert mine == theirs


@pytest.mark.parametrize(("way", "case"), [("gradescope", "solution"), ("otter run", "colab solution")])
def test_solution_scores_full_marks(graded: dict, way: str, case: str):
    """Does the published solution score 24/24 from the zip alone, networks evaluated by NumPy,
    also as downloaded from Colab (no otter metadata, which otter itself would refuse)?"""
    score, possible, output = graded[way, case]
    assert (score, possible) == (24, 24), output
    assert "networks evaluated by numpy" in output


@pytest.mark.parametrize("way", ["gradescope", "otter run"])
def test_blank_scores_zero(graded: dict, way: str):
    """Does the blank template score 0 of 24?"""
    assert graded[way, "blank"][:2] == (0, 24)


@pytest.mark.parametrize("way", ["gradescope", "otter run"])
def test_forged_score_scores_zero(graded: dict, way: str):
    """Does the notebook that patches otter's checker in its kernel score 0 (the clean check counts)?"""
    assert graded[way, "forged"][:2] == (0, 24), graded[way, "forged"][2]


def test_other_version_is_refused_by_its_stamp(graded: dict):
    """Does the zip's plugin refuse a notebook stamped with another version, saying so?"""
    score, possible, output = graded["otter run", "other version"]
    assert (score, possible) == (0, 24)
    assert "wrong version: this notebook is version 1999" in output
