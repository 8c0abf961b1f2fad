"""A student's own run, graded: the curves a student reads are the curves the grader checks.

For every published version, the published solution notebook is executed the way a student runs
it: a plain Jupyter kernel (no otter, no kit harness), once with TensorFlow's default threads and
once with TensorFlow told to use 4 threads (more than this machine's cores). For 2027 the notebook
is a per-student handout (its seed comes from the course secret). The readings are then taken
from the curves that run produced (the records ``train()`` leaves in the notebook), typed into
the notebook as literals, and the notebooks are graded by the kit in one batch: full marks, with
no flag saying the student's curves differ from the grader's.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from kit_constants import COURSE_SECRET, SLUG, VARIANT_VERSION, VERSION
from nbclient import NotebookClient

from autograder import catalog, cli, curves, data, paths
from autograder.grading import targets
from autograder.notebook import read_json_notebook, recorded_curves
from autograder.release import variants

pytestmark = pytest.mark.e2e

#: (student ID, version, thread setting of the student's kernel)
RUNS = [("s101", VERSION, "default"), ("s102", VERSION, "4"),
        ("s201", VARIANT_VERSION, "default"), ("s202", VARIANT_VERSION, "4")]
READINGS = ("good_epoch_bigger", "val_acc_bigger", "overfitting_bigger", "overfitting_smaller",
            "most_overfit", "more_units_overfit_more", "dropout_shrinks_gap", "best_technique")


def _handout(version: str, student: str) -> tuple[dict, Path]:
    """The solution notebook as this student's handout would hold it, and the handout folder."""
    root = paths.repo_root()
    nb = read_json_notebook(root / "solutions" / SLUG / version / f"{SLUG}.ipynb")
    if catalog.published(SLUG)[version]["params"].get("variants"):
        nb = variants.personalise(nb, student, targets.derive_seed(COURSE_SECRET, student, version))
    return nb, root / "student_template" / SLUG / version


def _execute(nb: dict, folder: Path, threads: str) -> dict:
    """Run every cell in a fresh kernel with the given TensorFlow threads, in ``folder``."""
    env = dict(os.environ, KERAS_HOME=str(data.provide_keras_cache()))
    for key in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS",
                "TF_ENABLE_ONEDNN_OPTS", "CUDA_VISIBLE_DEVICES", "TF_CPP_MIN_LOG_LEVEL"):
        env.pop(key, None)
    if threads != "default":
        env.update(TF_NUM_INTRAOP_THREADS=threads, TF_NUM_INTEROP_THREADS=threads)
    # the hand-in cell (otter's export) runs the notebook once more to check it: not needed here
    nb = dict(nb, cells=[c for c in nb["cells"] if "grader.export(" not in "".join(c.get("source", ""))])
    node = nbformat.reads(json.dumps(nb), as_version=4)  # sources as strings, as nbclient wants
    client = NotebookClient(node, kernel_name=paths.KERNEL_NAME, timeout=900,
                            resources={"metadata": {"path": str(folder)}})
    client.execute(env=env)  # the kernel's own environment (two runs go on at once)
    return json.loads(nbformat.writes(node))


def readings_from(recorded: dict[str, dict[str, list[float]]], params: dict) -> dict[str, object]:
    """What a student reads off these curves, applying the rules the prompts state."""
    h = {name: pd.DataFrame(cols) for name, cols in recorded.items()}
    big, small = h["bigger"], h["smaller"]
    good = curves.good_epoch(big)
    rises = curves.final_rises({n: h[n] for n in ("smaller", "baseline", "bigger")})
    gaps = curves.final_gaps({"dropout": h["dropout"], "l2": h["l2"], "augmentation": h["augment"]})
    return {
        "good_epoch_bigger": good,
        "val_acc_bigger": round(curves.val_accuracy_at(big, good), 3),
        "overfitting_bigger": curves.loss_rise(big) >= params["overfit_yes_at"],
        "overfitting_smaller": curves.loss_rise(small) >= params["overfit_yes_at"],
        "most_overfit": max(rises, key=rises.__getitem__),
        "more_units_overfit_more": rises["bigger"] > rises["smaller"],
        "dropout_shrinks_gap": curves.gap(h["dropout"]) < curves.gap(big),
        "best_technique": min(gaps, key=gaps.__getitem__),
    }


def type_in(nb: dict, readings: dict[str, object]) -> dict:
    """The notebook with each reading typed as a literal, as a student writes it."""
    seen = set()
    for cell in nb["cells"]:
        if cell.get("cell_type") != "code":
            continue
        src = "".join(cell.get("source", ""))
        for name, value in readings.items():
            src, n = re.subn(rf"(?m)^{name} = .*$", f"{name} = {value!r}", src)
            if n:
                seen.add(name)
        cell["source"] = src
    assert seen == set(readings), f"readings not found in the notebook: {set(readings) - seen}"
    return nb


@pytest.fixture(scope="module")
def plain_runs(tmp_path_factory: pytest.TempPathFactory):
    """Four plain runs (two at a time: the notebook computes with one thread), typed readings,
    and one kit grading of the four notebooks."""
    tmp = tmp_path_factory.mktemp("plain-run")

    def run(spec: tuple[str, str, str]) -> tuple[str, dict]:
        student, version, threads = spec
        nb, folder = _handout(version, student)
        work = tmp / f"handout-{student}"
        work.mkdir()
        for item in folder.iterdir():
            if item.name == "tests" or item.suffix == ".py":
                (work / item.name).symlink_to(item)
        # the student's own notebook file beside the checks (otter.Notebook opens it)
        (work / f"{SLUG}.ipynb").write_text(json.dumps(nb), encoding="utf-8")
        return student, _execute(nb, work, threads)

    with ThreadPoolExecutor(max_workers=2) as pool:
        executed = dict(pool.map(run, RUNS))
    recorded = {s: recorded_curves(nb) for s, nb in executed.items()}
    noise = {s: stderr_cells(nb) for s, nb in executed.items()}
    typed = {}
    bulk = tmp / "class.zip"
    with zipfile.ZipFile(bulk, "w") as zf:
        for student, version, _ in RUNS:
            params = catalog.published(SLUG)[version]["params"]
            typed[student] = readings_from(recorded[student], params)
            nb = type_in(executed[student], typed[student])
            zf.writestr(f"{student}_学生_assignsubmission_file_/{SLUG}.ipynb", json.dumps(nb))
    secret = tmp / "secret.txt"
    secret.write_bytes(COURSE_SECRET)
    out = tmp / "out"
    code = cli.main(["grade", str(bulk), "--out", str(out), "--version", VERSION, "--version",
                     VARIANT_VERSION, "--secret-file", str(secret), "--timeout", "900",
                     "--workers", "2"])
    assert code == 0
    sheet = pd.read_csv(out / "grades.csv", dtype={"student_id": str}).iloc[1:].set_index("student_id")
    return recorded, typed, sheet, noise


def stderr_cells(nb: dict) -> dict[int, str]:
    """Cell index -> what the cell printed on stderr (red in Jupyter), for every cell that did."""
    out = {}
    for i, cell in enumerate(nb["cells"]):
        text = "".join("".join(o.get("text", "")) for o in cell.get("outputs", [])
                       if o.get("output_type") == "stream" and o.get("name") == "stderr")
        if text.strip():
            out[i] = text
    return out


def test_curves_are_the_same_whatever_the_students_thread_count(plain_runs):
    """Do the default-thread and 4-thread runs of one handout record identical curves?"""
    recorded, _, _, _ = plain_runs
    for student in ("s101", "s102", "s201", "s202"):
        assert set(recorded[student]) == {"smaller", "baseline", "bigger", "dropout", "l2", "augment"}
    # the two 2026 runs share a seed (the 2027 students have a seed each)
    for name in recorded["s101"]:
        assert curves.curve_difference(recorded["s101"][name], recorded["s102"][name]) == 0.0, name


def test_readings_typed_from_a_plain_run_get_full_marks(plain_runs):
    """Does every student who read their own plain run's curves get full marks, unflagged?"""
    _, typed, sheet, _ = plain_runs
    for student, version, threads in RUNS:
        row = sheet.loc[student]
        assert row["grading_status"] == "Completed", (student, row.get("reason"))
        assert float(row["percent_correct"]) == pytest.approx(1.0), (student, version, threads,
                                                                     typed[student], row.to_dict())
        assert "differ from the grader" not in str(row.get("reason", "")), (student, row["reason"])


def test_no_alarming_log_lines_in_a_students_cells(plain_runs):
    """Does no cell show TensorFlow's C++ error lines (cuInit, NodeDef ...) in red? Only the setup
    cell may show the one informational line TensorFlow prints on import, before its log level
    applies."""
    _, _, _, noise = plain_runs
    for student, cells in noise.items():
        for i, text in cells.items():
            assert not re.search(r"^E0000|cuInit|NodeDef mentions", text, re.M), (student, i, text)
        assert len(cells) <= 1, (student, {i: t[:200] for i, t in cells.items()})
