"""The steps of one grading exist once (``grading.pipeline``): the kit's ``grade`` and plain
``otter run`` of an autograder zip that names the kit's otter plugin ``CleanCheck`` (as every
published zip does) run them both ways and must give the same scores, question by question.

The zip is the tiny assignment (seconds per grading, no TensorFlow) with a hidden test added, so
the clean check's own scoring (all tests, hidden ones included) is what both report.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from tiny import notebook, tiny_autograder

from autograder import cli
from autograder.grading.execution.otter_plugin import CLEAN_PLUGIN

HIDDEN = '''from otter.test_files import test_case

OK_FORMAT = False

name = "q3_hidden"
points = 1

@test_case(points=1, hidden=True)
def test_hidden(x, word):
    assert x == 1 and len(word) == 11, "hidden"
'''
#: student -> notebook: all right; half right; the kernel's view patched (x compares equal to all)
CLASS = {
    "good": notebook("x = 1\nword = 'overfitting'"),
    "half": notebook("x = 2\nword = 'overfitting'"),
    "liar": notebook("class Always:\n    def __eq__(self, other):\n        return True\n"
                     "x = Always()\nword = 'overfitting'"),
}


@pytest.fixture(scope="module")
def plugin_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny autograder with a hidden test, naming ``CleanCheck`` as the published zips do."""
    base = tiny_autograder(tmp_path_factory.mktemp("ag") / "tiny.zip")
    path = base.with_name("tiny-clean-check.zip")
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "otter_config.json":
                config = json.loads(data)
                config["plugins"] = [CLEAN_PLUGIN]
                data = json.dumps(config).encode()
            dst.writestr(item, data)
        dst.writestr("tests/q3_hidden.py", HIDDEN)
    return path


def _questions(results: Path) -> dict[str, float]:
    tests = json.loads(results.read_text(encoding="utf-8")).get("tests", [])
    return {str(t["name"]).split(" - ")[0]: float(t["score"]) for t in tests if "max_score" in t}


@pytest.fixture(scope="module")
def both_ways(plugin_zip: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """{student: {"grade": {question: score}, "otter run": {question: score}}}."""
    tmp = tmp_path_factory.mktemp("both")
    folder = tmp / "in"
    folder.mkdir()
    for sid, nb in CLASS.items():
        (folder / f"{sid}.ipynb").write_text(nb, encoding="utf-8")
    out = tmp / "out"
    assert cli.main(["grade", str(folder), "--autograder", str(plugin_zip), "--out", str(out),
                     "--workers", "2", "--timeout", "120"]) == 0
    otter = shutil.which("otter", path=str(Path(sys.executable).parent))
    assert otter is not None
    seen = {}
    for sid in CLASS:
        dest = tmp / "otter-run" / sid
        dest.mkdir(parents=True)
        argv = [otter, "run", "-a", str(plugin_zip), "-o", str(dest), str(folder / f"{sid}.ipynb")]
        proc = subprocess.run(argv, cwd=dest, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        results = json.loads((dest / "results.json").read_text(encoding="utf-8"))
        seen[sid] = {"grade": _questions(out / "results" / f"{sid}.json"),
                     "otter run": _questions(dest / "results.json"), "output": results.get("output", "")}
    return seen


@pytest.mark.parametrize("sid", sorted(CLASS))
def test_grade_and_otter_run_score_every_question_alike(both_ways: dict, sid: str):
    """Do ``grade`` and ``otter run`` of the zip give each question, hidden ones included, the same
    score (the clean check's, in both)?"""
    got = both_ways[sid]
    assert sorted(got["grade"]) == ["q1_value", "q2_text", "q3_hidden"], got
    assert got["grade"] == got["otter run"]
    assert "fmnist-kit clean check" in got["output"]


def test_the_scores_are_the_clean_checks(both_ways: dict):
    """Is the patched-equality notebook scored on its exported value (0 for x), not by its kernel?"""
    assert both_ways["good"]["grade"] == {"q1_value": 2.0, "q2_text": 1.0, "q3_hidden": 1.0}
    assert both_ways["half"]["grade"] == {"q1_value": 0.0, "q2_text": 1.0, "q3_hidden": 0.0}
    assert both_ways["liar"]["grade"]["q1_value"] == 0.0
