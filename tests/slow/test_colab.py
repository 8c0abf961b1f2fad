"""The student notebook's first and last cells on emulated Google Colab and in a bare folder.

A kernel per test (no training): the first cell, a probe cell the harness adds, a form check and
the hand-in cell. What the emulation covers is said in ``tests/colab_emulation.py``; the whole
notebook on emulated Colab, graded, is in ``tests/e2e/test_plain_run.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from colab_emulation import BLOCK_OTTER, Colab
from kit_constants import SLUG, VERSION

from autograder import catalog, paths
from autograder.notebook import cell_stamp

pytestmark = pytest.mark.slow

PROBE = """import json
print("KIT-PROBE " + json.dumps({"interpreter": str(grader.interpreter), "on_colab": ON_COLAB,
                                  "notebook": grader._notebook}))
"""


def _code(source: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": f"probe-{abs(hash(source)) % 10**8}",
            "metadata": {}, "outputs": [], "source": source}


def _student(version: str = VERSION) -> dict:
    return json.loads((paths.student_dir(SLUG, version) / f"{SLUG}.ipynb").read_text(encoding="utf-8"))


def _cells(nb: dict, *starts: str) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"
            and any("".join(c["source"]).startswith(s) for s in starts)]


def _text(cell: dict) -> str:
    return "".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
                   + "".join(o.get("traceback", [])) for o in cell.get("outputs", []))


def _probe(executed: dict) -> dict:
    for cell in executed["cells"]:
        for line in _text(cell).splitlines():
            if line.startswith("KIT-PROBE "):
                return json.loads(line.removeprefix("KIT-PROBE "))
    raise AssertionError("the probe cell printed nothing")


@pytest.mark.parametrize("version", list(catalog.published(SLUG)))
def test_first_cell_on_colab_writes_the_checks_and_the_hand_in_downloads(tmp_path: Path, version: str):
    """On emulated Colab, with nothing but the notebook's cells: does otter run in its Colab mode,
    does the first cell write out exactly the published public tests and kit_checks.py, does a
    form check report its result, and does the hand-in cell download a notebook that still
    names its version (in the first cell) although Colab dropped the kit's metadata?"""
    nb = _student(version)
    first, check, hand_in = nb["cells"][0], _cells(nb, 'grader.check("q2a_epoch")')[0], \
        _cells(nb, "# 提出用のファイルを作る")[0]
    colab = Colab(tmp_path)
    executed = colab.run(dict(nb, cells=[first, _code(PROBE), check, hand_in]))
    probe = _probe(executed)
    assert probe == {"interpreter": "IPythonInterpreter.COLAB", "on_colab": True, "notebook": None}
    student = paths.student_dir(SLUG, version)
    written = sorted(p.relative_to(colab.content).as_posix() for p in colab.content.rglob("*.py"))
    published = sorted(["kit_checks.py"] + [f"tests/{p.name}" for p in (student / "tests").glob("*.py")])
    assert written == published
    for rel in written:
        assert (colab.content / rel).read_bytes() == (student / rel).read_bytes(), rel
    report = _text(executed["cells"][2])
    assert "q2a_epoch results" in report and "good_epoch_bigger" in report and "1 から" in report
    assert "ダウンロードしました" in _text(executed["cells"][3])
    (downloaded,) = colab.downloads.iterdir()
    assert downloaded.name == f"{SLUG}.ipynb"
    saved = json.loads(downloaded.read_text(encoding="utf-8"))
    assert "fmnist_kit" not in saved["metadata"]  # the emulated page keeps Colab's metadata only
    assert cell_stamp(saved) == {"assignment": SLUG, "version": version}


def test_first_cell_says_what_to_do_when_otter_cannot_be_installed(tmp_path: Path):
    """Where otter-grader is missing and installing it does not help, does the first cell stop
    with a Japanese and English message saying what to do (not a NameError later)?"""
    colab = Colab(tmp_path, extra_startup=BLOCK_OTTER)
    executed = colab.run(dict(_student(), cells=[_student()["cells"][0]]), allow_errors=True)
    (error,) = [o for o in executed["cells"][0]["outputs"] if o["output_type"] == "error"]
    assert error["ename"] == "ImportError"
    assert "インストールできませんでした" in error["evalue"] and "TA" in error["evalue"]
    assert "could not be installed" in error["evalue"] and "restart the runtime" in error["evalue"]
    assert not (colab.content / "tests").exists()


def test_first_cell_in_a_bare_jupyter_folder_and_while_graded(tmp_path: Path):
    """In local Jupyter, in a folder without the checks: does the first cell write them and open
    the notebook beside it? In otter's grading mode, does it leave the folder alone (a grader's
    ./tests holds the hidden tests, which the public ones must not replace)?"""
    colab = Colab(tmp_path / "unused")  # only its kernel environment helpers; no Colab shell
    nb = _student()
    work = tmp_path / "jupyter"
    work.mkdir()
    (work / f"{SLUG}.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    import nbformat
    from nbclient import NotebookClient

    def run(cells: list[dict], folder: Path) -> dict:
        node = nbformat.reads(json.dumps(dict(nb, cells=cells)), as_version=4)
        env = colab.env()
        env.pop("IPYTHONDIR")
        NotebookClient(node, kernel_name=paths.KERNEL_NAME, timeout=300,
                       resources={"metadata": {"path": str(folder)}}).execute(env=env)
        return json.loads(nbformat.writes(node))

    probe = _probe(run([nb["cells"][0], _code(PROBE)], work))
    assert probe == {"interpreter": "None", "on_colab": False, "notebook": f"{SLUG}.ipynb"}
    assert (work / "kit_checks.py").is_file() and len(list((work / "tests").glob("q*.py"))) == 12
    graded = tmp_path / "graded"
    (graded / "tests").mkdir(parents=True)
    (graded / "tests" / "q1_model.py").write_text("# the hidden tests\n", encoding="utf-8")
    grading = _code('from otter import Notebook\nNotebook.init_grading_mode("tests")\n')
    run([grading, nb["cells"][0]], graded)
    assert (graded / "tests" / "q1_model.py").read_text(encoding="utf-8") == "# the hidden tests\n"
    assert sorted(p.name for p in graded.rglob("*.py")) == ["q1_model.py"]
