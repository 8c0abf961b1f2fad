"""Is it a notebook at all, and of this assignment? (``run_one.check_notebook``,
``autograder_zip.check_assignment``): decided before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kit_constants import SLUG
from tiny import notebook

from autograder import paths
from autograder.grading.execution import run_one
from autograder.grading.intake.autograder_zip import autograder_info, check_assignment
from autograder.results import Status


def test_a_cut_off_upload_says_so(tmp_path: Path):
    """Is a notebook cut off inside a multi-byte character reported as cut off, not as 'not UTF-8'?"""
    raw = json.dumps(json.loads(notebook("print('学習')")), ensure_ascii=False).encode()
    f = tmp_path / "cut.ipynb"
    f.write_bytes(raw[: raw.index("学".encode()) + 1])
    assert run_one.check_notebook(f)[1:] == (Status.INVALID, "not a notebook: the file ends in the middle of "
                                                             "a character (cut off)")
    f.write_bytes(b"\xff\xfe{" + raw)
    assert run_one.check_notebook(f)[2] == "not a notebook: the file is not UTF-8 text"


@pytest.mark.parametrize("cut", [0.3, 0.5, 0.97])
def test_a_notebook_cut_anywhere_is_reported_as_cut_off(tmp_path: Path, cut: float):
    """Wherever an upload stops (inside a string or between values), is it called cut off, with
    the line, not a vague 'broken JSON'? A file broken in the middle is still 'broken JSON'."""
    text = json.dumps(json.loads(notebook("print('x')")), indent=1)
    f = tmp_path / "cut.ipynb"
    f.write_text(text[: int(len(text) * cut)], encoding="utf-8")
    status, reason = run_one.check_notebook(f)[1:]
    assert status == Status.INVALID and "the file ends before the notebook does" in reason
    assert reason.endswith("(cut off)") and "at line" in reason
    f.write_text(text.replace('"cells"', '"cells" "oops"', 1), encoding="utf-8")
    assert "broken JSON at line" in run_one.check_notebook(f)[2]


def test_other_assignment_without_metadata_is_wrong_version(tiny_zip: Path):
    """Is a notebook with no otter metadata and none of the questions called wrong-version?"""
    info = autograder_info(tiny_zip)
    nb = json.loads(notebook("import numpy as np\nnp.zeros(3)", assignment=None))
    status, reason = check_assignment(nb, info)
    assert status == Status.WRONG_VERSION and "0 of its 2 questions" in reason
    nb_ok = json.loads(notebook("grader.check('q1_value')\ngrader.check('q2_text')", assignment=None))
    assert check_assignment(nb_ok, info) == (Status.GRADED, "")


def test_a_notebook_saved_by_colab_is_not_refused_by_otters_assignment_name(tmp_path: Path):
    """otter refuses a notebook without ``metadata.otter.assignment_name`` ("Received submission
    for assignment 'None'") when its config names one; Colab may drop it. Does the published zip's
    config name none (the kit decides by stamp or questions), and does the kit put the name back
    for an older zip whose config names one, leaving a notebook's own name and hostile metadata
    handled?"""
    import copy
    import zipfile

    from autograder.grading.execution import run_one
    with zipfile.ZipFile(paths.autograder_zip(SLUG, "2026")) as zf:
        assert "assignment_name" not in json.loads(zf.read("otter_config.json"))
    older = tmp_path / "otter_config.json"
    older.write_text(json.dumps({"assignment_name": SLUG}), encoding="utf-8")
    nb = json.loads((paths.solution_dir(SLUG, "2026") / f"{SLUG}.ipynb").read_text(encoding="utf-8"))
    colab = copy.deepcopy(nb)
    colab["metadata"] = {"colab": {"provenance": []}, "kernelspec": {"name": "python3"}}
    hostile = copy.deepcopy(colab)
    hostile["metadata"]["otter"] = "not a mapping"
    for sample in (colab, hostile, nb):
        run_one.name_assignment(sample, older)
        assert sample["metadata"]["otter"]["assignment_name"] == SLUG
    other = copy.deepcopy(nb)
    other["metadata"]["otter"]["assignment_name"] = "another"
    run_one.name_assignment(other, older)
    assert other["metadata"]["otter"]["assignment_name"] == "another"


def test_two_threads_never_prepare_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The embedded cluster grades in two threads of one process; ``prepare`` parses the tests with
    ``ast``, which CPython 3.11 cannot do in two threads at once (python/cpython#106905: a grading
    ended as "internal error ... SystemError: AST constructor recursion depth mismatch"). Do two
    threads' ``prepare`` calls parse one at a time?"""
    import ast
    import threading
    import time

    from tiny import tiny_autograder

    real_parse, lock = ast.parse, threading.Lock()
    inside, most = [0], [0]

    def slow_parse(*args, **kwargs):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.02)
        try:
            return real_parse(*args, **kwargs)
        finally:
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(ast, "parse", slow_parse)
    ag = tiny_autograder(tmp_path / "tiny.zip")
    nb = json.loads(notebook("x = 1"))
    args = [(tmp_path / "nb.ipynb", json.loads(json.dumps(nb)), ag, tmp_path / f"w{i}") for i in range(2)]
    threads = [threading.Thread(target=run_one.prepare, args=a) for a in args]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (tmp_path / "w0" / "submission" / "submission.ipynb").is_file()
    assert (tmp_path / "w1" / "submission" / "submission.ipynb").is_file()
    assert most[0] == 1
