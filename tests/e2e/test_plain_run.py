"""A student's own run, graded: in plain Jupyter and on (emulated) Google Colab.

For every published version, the published solution notebook is executed the way a student runs
it: once in a plain Jupyter kernel (no otter harness, no kit harness) with other arithmetic than
the grader's — TensorFlow imported in a cell before the setup cell, with oneDNN on and TensorFlow's
default threads, so the setup cell's environment comes too late — and once on emulated Google
Colab (``tests/colab_emulation.py``: otter's Colab mode, a
working folder without the notebook or its checks, the cells sent one by one, the notebook
downloaded by the hand-in cell with Colab's metadata only) with TensorFlow told to use 4 threads,
more than this machine's cores. For 2027 the notebook is a per-student handout (its seed comes
from the course secret). The Jupyter runs' readings are then taken from the curves the run
produced (the records ``train()`` leaves in the notebook) and typed into the notebook as
literals; one Jupyter run is also handed in as the zip its hand-in cell made (``grader.export``
after a save); the Colab runs are handed in as the file their hand-in cell downloaded; the blank
handout of each version is run on Colab (first cell, checks, hand-in) and handed in too. All are
graded by the kit in one batch, with three copies of s101's run whose recorded curves were edited
(``EDITED``) and whose readings were typed from the edit.
"""

from __future__ import annotations

import copy
import json
import os
import re
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from colab_emulation import Colab
from kit_constants import COURSE_SECRET, SLUG, VARIANT_VERSION, VERSION
from nbclient import NotebookClient

from autograder import catalog, cli, curves, data, paths
from autograder.grading.intake import targets
from autograder.notebook import read_json_notebook, recorded_curves
from autograder.release import variants

pytestmark = pytest.mark.e2e

#: (student ID, version, TensorFlow threads of the student's kernel, where the student runs it);
#: "jupyter": TensorFlow imported before the setup cell, oneDNN on (the grader: 1 thread, oneDNN off)
RUNS = [("s101", VERSION, "default", "jupyter"), ("s102", VERSION, "4", "colab"),
        ("s201", VARIANT_VERSION, "default", "jupyter"), ("s202", VARIANT_VERSION, "4", "colab")]
#: Blank handouts run on Colab (first cell, the checks, the hand-in): (student ID, version).
BLANKS = [("s103", VERSION), ("s203", VARIANT_VERSION)]
#: s101's hand-in zip, handed in under another ID (the local Jupyter hand-in path).
EXPORTED = "s104"
#: s101's executed notebook with its recorded curves edited, the readings typed from the edit
#: (student ID -> what was done to the record); none may gain from it.
EDITED = {"s111": "Bigger's validation loss lowered at the last epoch (moves the good epoch)",
          "s112": "Bigger's record replaced by Baseline's (another network)",
          "s113": "every record replaced by s201's (another seed)"}
READINGS = ("good_epoch_bigger", "val_acc_bigger", "overfitting_bigger", "overfitting_smaller",
            "most_overfit", "more_units_overfit_more", "dropout_shrinks_gap", "best_technique")


def _handout(version: str, student: str, which: str = "solution") -> dict:
    """The solution (or blank) notebook as this student's handout would hold it."""
    root = paths.repo_root()
    folder = root / ("solutions" if which == "solution" else "student_template") / SLUG / version
    nb = read_json_notebook(folder / f"{SLUG}.ipynb")
    if catalog.published(SLUG)[version]["params"].get("variants"):
        nb = variants.personalise(nb, student, targets.derive_seed(COURSE_SECRET, student, version))
    return nb


#: The cell a student put first: TensorFlow starts before the setup cell sets anything.
EARLY_IMPORT = "import tensorflow as tf  # a student's own first cell\nprint(tf.__version__)"


def _execute_jupyter(nb: dict, folder: Path) -> dict:
    """Run every cell in a fresh plain kernel (TensorFlow's default threads, oneDNN on, TensorFlow
    imported by a cell before the setup cell) in ``folder``, where the notebook file lies; the
    notebook is saved to it before the hand-in cell, as the student is told to."""
    env = dict(os.environ, KERAS_HOME=str(data.provide_keras_cache()), TF_ENABLE_ONEDNN_OPTS="1")
    for key in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS",
                "CUDA_VISIBLE_DEVICES", "TF_CPP_MIN_LOG_LEVEL"):
        env.pop(key, None)
    nb = copy.deepcopy(nb)
    nb["cells"].insert(1, {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                           "source": EARLY_IMPORT})
    node = nbformat.reads(json.dumps(nb), as_version=4)  # sources as strings, as nbclient wants
    client = NotebookClient(node, kernel_name=paths.KERNEL_NAME, timeout=900,
                            resources={"metadata": {"path": str(folder)}})

    def save_before_hand_in(cell, cell_index):  # the student saves, then runs the hand-in cell
        if "grader.export(" in cell.source:
            (folder / f"{SLUG}.ipynb").write_text(nbformat.writes(client.nb), encoding="utf-8")

    client.on_cell_start = save_before_hand_in
    client.execute(env=env)  # the kernel's own environment (two runs go on at once)
    return json.loads(nbformat.writes(node))


def edit_records(nb: dict, records: dict[str, dict[str, list[float]]]) -> dict:
    """A copy of ``nb`` whose recorded curves (``train()``'s outputs) say ``records`` instead."""
    from autograder.notebook import CURVES_MIME

    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            value = out.get("data", {}).get(CURVES_MIME)
            if isinstance(value, dict) and value.get("name") in records:
                value["history"] = records[value["name"]]
    assert recorded_curves(nb) == {**recorded_curves(nb), **records}
    return nb


def edited(student: str, recorded: dict) -> dict[str, dict[str, list[float]]]:
    """The records ``student`` (one of ``EDITED``) hands in instead of s101's own."""
    own = copy.deepcopy(recorded["s101"])
    if student == "s111":
        val = own["bigger"]["val_loss"]
        val[-1] = min(val) - 0.01
        return {"bigger": own["bigger"]}
    if student == "s112":
        return {"bigger": own["baseline"]}
    return copy.deepcopy(recorded["s201"])


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


def rejected_on(typed: dict[str, object], recorded: dict[str, dict[str, list[float]]],
                params: dict) -> list[str]:
    """The typed readings the hidden tests' rules reject on these curves (the grader's own)."""
    from autograder import readings

    h = {name: pd.DataFrame(cols) for name, cols in recorded.items()}
    thresholds = curves.Thresholds(yes_at=params["overfit_yes_at"], no_below=params["overfit_no_below"])
    checks = {
        "good_epoch_bigger": lambda v: readings.check_epoch(v, h["bigger"], tol=params["epoch_tol"]),
        "val_acc_bigger": lambda v: readings.check_val_accuracy(
            v, h["bigger"], typed["good_epoch_bigger"], tol=params["val_acc_tol"]),
        "overfitting_bigger": lambda v: readings.check_overfitting(v, h["bigger"], thresholds),
        "overfitting_smaller": lambda v: readings.check_overfitting(v, h["smaller"], thresholds),
        "most_overfit": lambda v: readings.check_most_overfit(
            v, {n: h[n] for n in ("smaller", "baseline", "bigger")}, tol=params["choice_tol"]),
        "more_units_overfit_more": lambda v: readings.check_rise_shrinks(
            v, h["bigger"], h["smaller"], tol=params["gap_tol"]),
        "dropout_shrinks_gap": lambda v: readings.check_gap_shrinks(
            v, h["bigger"], h["dropout"], tol=params["gap_tol"]),
        "best_technique": lambda v: readings.check_best_technique(
            v, {"dropout": h["dropout"], "l2": h["l2"], "augmentation": h["augment"]},
            tol=params["choice_tol"]),
    }
    out = []
    for name, check in checks.items():
        try:
            check(typed[name])
        except AssertionError:
            out.append(name)
    return out


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
    """The runs (two at a time: the notebook computes with one thread), the files handed in, and
    one kit grading of them all."""
    tmp = tmp_path_factory.mktemp("student-runs")

    def run(spec: tuple[str, str, str, str]) -> tuple[str, dict, Path]:
        student, version, threads, where = spec
        if where == "colab":  # nothing in the working folder: the notebook's cells only
            colab = Colab(tmp / f"colab-{student}")
            executed = colab.run(_handout(version, student), threads=threads)
            (handed_in,) = colab.downloads.iterdir()
            return student, executed, handed_in
        work = tmp / f"jupyter-{student}"
        work.mkdir()
        nb = _handout(version, student)
        (work / f"{SLUG}.ipynb").write_text(json.dumps(nb), encoding="utf-8")
        executed = _execute_jupyter(nb, work)
        (handed_in,) = work.glob(f"{SLUG}_*.zip")  # what grader.export made
        return student, executed, handed_in

    def blank(spec: tuple[str, str]) -> tuple[str, dict, Path]:
        student, version = spec
        nb = _handout(version, student, "blank")
        colab = Colab(tmp / f"colab-{student}")
        only = [0] + [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and
                      re.search(r"grader\.(check|export)\(", "".join(c["source"]))]
        executed = colab.run(nb, only=only)
        (handed_in,) = colab.downloads.iterdir()
        return student, executed, handed_in

    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(run, RUNS)) + list(pool.map(blank, BLANKS))
    executed = {s: nb for s, nb, _ in done}
    handed_in = {s: path for s, _, path in done}
    recorded = {s: recorded_curves(executed[s]) for s, *_ in RUNS}
    noise = {s: stderr_cells(executed[s]) for s, *_ in RUNS}
    typed = {}
    bulk = tmp / "class.zip"
    with zipfile.ZipFile(bulk, "w") as zf:
        def hand_in(student: str, name: str, raw: bytes) -> None:
            zf.writestr(f"{student}_学生_assignsubmission_file_/{name}", raw)

        for student, version, _, where in RUNS:
            if where == "colab":
                hand_in(student, handed_in[student].name, handed_in[student].read_bytes())
                continue
            params = catalog.published(SLUG)[version]["params"]
            typed[student] = readings_from(recorded[student], params)
            nb = type_in(executed[student], typed[student])
            hand_in(student, f"{SLUG}.ipynb", json.dumps(nb).encode())
        for student in EDITED:  # s101's run, its records edited, the readings typed from the edit
            records = {**recorded["s101"], **edited(student, recorded)}
            typed[student] = readings_from(records, catalog.published(SLUG)[VERSION]["params"])
            nb = type_in(edit_records(executed["s101"], records), typed[student])
            hand_in(student, f"{SLUG}.ipynb", json.dumps(nb).encode())
        # otter's zip as a TA collects it: the student ID put in front of its name
        zf.writestr(f"{EXPORTED}_{handed_in['s101'].name}", handed_in["s101"].read_bytes())
        for student, _ in BLANKS:
            hand_in(student, handed_in[student].name, handed_in[student].read_bytes())
    secret = tmp / "secret.txt"
    secret.write_bytes(COURSE_SECRET)
    out = tmp / "out"
    code = cli.main(["grade", str(bulk), "--out", str(out), "--version", VERSION, "--version",
                     VARIANT_VERSION, "--secret-file", str(secret), "--timeout", "900",
                     "--workers", "2"])
    assert code == 0
    sheet = pd.read_csv(out / "grades.csv", dtype={"student_id": str}, keep_default_na=False)
    sheet = sheet.iloc[1:].set_index("student_id")
    return recorded, typed, sheet, noise, executed, handed_in


def stderr_cells(nb: dict) -> dict[int, str]:
    """Cell index -> what the cell printed on stderr (red in Jupyter), for every cell that did
    (the student's own early-import cell aside: its lines are the student's doing)."""
    out = {}
    for i, cell in enumerate(nb["cells"]):
        if "".join(cell.get("source", "")) == EARLY_IMPORT:
            continue
        text = "".join("".join(o.get("text", "")) for o in cell.get("outputs", [])
                       if o.get("output_type") == "stream" and o.get("name") == "stderr")
        if text.strip():
            out[i] = text
    return out


def test_curves_are_the_same_in_jupyter_and_on_colab_whatever_the_arithmetic(plain_runs):
    """Do the plain Jupyter run (oneDNN on, default threads, TensorFlow imported early) and the
    Colab run (4 threads) of one handout record the same curves, within the 1e-7 that
    ``bench --cross-machine`` holds everywhere and far inside the release's curve band?"""
    from autograder.tools.cross_machine import SAME

    recorded = plain_runs[0]
    for student, *_ in RUNS:
        assert set(recorded[student]) == {"smaller", "baseline", "bigger", "dropout", "l2", "augment"}
    # the two 2026 runs share a seed (the 2027 students have a seed each)
    band = catalog.published(SLUG)[VERSION]["params"]["curve_band"]
    assert SAME <= band
    for name in recorded["s101"]:
        assert curves.curve_difference(recorded["s101"][name], recorded["s102"][name]) <= SAME, name


def test_readings_typed_from_a_plain_run_get_full_marks(plain_runs):
    """Does every student who read their own run's curves get full marks, unflagged, graded as
    their version: typed in Jupyter, handed in as the export zip, or downloaded from Colab?"""
    _, typed, sheet, *_ = plain_runs
    for student, version, threads, where in RUNS + [(EXPORTED, VERSION, "default", "jupyter zip")]:
        row = sheet.loc[student]
        assert row["grading_status"] == "Completed", (student, row["reason"])
        assert float(row["percent_correct"]) == pytest.approx(1.0), (student, version, threads, where,
                                                                     typed.get(student), row.to_dict())
        assert row["version"] == version and row["reason"] == "", (student, where, row["reason"])
        assert row["flags"] == "", (student, where, row["flags"])  # no "curves differ", nothing


def test_edited_records_gain_nothing_and_are_flagged(plain_runs):
    """Does a record edited beyond the curve band (an epoch moved, another network's curves,
    another seed's), with readings typed from the edit, carry the "curves differ" flag and gain
    nothing: it loses exactly when a reading typed from the edit is wrong on the grader's own
    curves (another seed's readings can still lie within a version's tolerances), while the same
    run unedited (s101) gets full marks?"""
    recorded, typed, sheet, *_ = plain_runs
    assert float(sheet.loc["s101", "percent_correct"]) == pytest.approx(1.0)
    params = catalog.published(SLUG)[VERSION]["params"]
    assert EDITED
    lost_somewhere = False
    for student, what in EDITED.items():
        row = sheet.loc[student]
        assert row["grading_status"] == "Completed", (student, row["reason"])
        assert "differ from the grader's own training" in row["flags"], (student, what, row["flags"])
        assert typed[student] != typed["s101"], (student, what)
        wrong = rejected_on(typed[student], recorded["s101"], params)  # s101's run is the grader's
        full = float(row["percent_correct"]) == pytest.approx(1.0)
        print(f"{student} ({what}): readings wrong on the grader's curves: {wrong or 'none'}; "
              f"{row['total_points_earned']} of 24")
        assert full == (not wrong), (student, what, wrong, typed[student], row.to_dict())
        lost_somewhere |= bool(wrong)
    assert lost_somewhere  # the premise: at least one edit moves a reading the rules can see


def test_colab_checks_report_and_the_hand_in_downloads_the_notebook(plain_runs):
    """On Colab: did every form check of the solution say its answer's form is fine, did the
    hand-in cell download the notebook, and does the downloaded file (Colab's metadata only)
    name its version and, for a per-student handout, its student in the first cell?"""
    from autograder.notebook import stamp_of

    *_, executed, handed_in = plain_runs
    for student, version, _, where in RUNS:
        if where != "colab":
            continue
        checks = [c for c in executed[student]["cells"] if c["cell_type"] == "code"
                  and "".join(c["source"]).startswith("grader.check(")]
        assert len(checks) == 12
        for cell in checks:
            text = _cell_text(cell)
            assert "passed" in text and "❌" not in text, (student, cell["source"], text[:500])
        hand_in = [c for c in executed[student]["cells"] if "grader.export(" in "".join(c["source"])]
        assert "ダウンロードしました" in _cell_text(hand_in[0])
        saved = json.loads(handed_in[student].read_text(encoding="utf-8"))
        assert "fmnist_kit" not in saved["metadata"]
        owner = {"student_id": student} if version == VARIANT_VERSION else {}
        assert stamp_of(saved) == {"assignment": SLUG, "version": version, **owner}
        assert recorded_curves(saved).keys() == recorded_curves(executed[student]).keys()


def test_blank_handed_in_from_colab_scores_zero_as_its_student_and_version(plain_runs):
    """Does a blank notebook downloaded from Colab score 0, graded as its version and student,
    with its form checks having reported their failures rather than raised?"""
    sheet, executed = plain_runs[2], plain_runs[4]
    for student, version in BLANKS:
        row = sheet.loc[student]
        assert row["version"] == version, (student, row.to_dict())
        assert float(row["total_points_earned"]) == 0, (student, row.to_dict())
        reports = [_cell_text(c) for c in executed[student]["cells"]
                   if "".join(c["source"]).startswith("grader.check(")]
        assert len(reports) == 12 and all("results" in r and "❌" in r for r in reports)


def test_the_solution_prints_the_numbers_the_readings_compare(plain_runs):
    """Does each executed solution print, in the reading table below the figures, Bigger's row
    with the epoch of its lowest validation loss and the rise after it, formatted as printed
    (4 decimals) and equal to what the grader computes from the curves the run recorded?"""
    recorded, *_, executed, _ = plain_runs
    for student, *_ in RUNS:
        big = pd.DataFrame(recorded[student]["bigger"])
        rows = [line.split() for cell in executed[student]["cells"]
                for line in _cell_text(cell).splitlines() if line.split()[:1] == ["bigger"]]
        assert len(rows) == 2, (student, rows)  # below the Part 2 and the Part 3 figure
        for row in rows:
            assert row[2] == str(curves.good_epoch(big)), (student, row)
            assert row[3] == f"{curves.loss_rise(big):.4f}", (student, row)


def _cell_text(cell: dict) -> str:
    return "".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
                   for o in cell.get("outputs", []))


def test_no_alarming_log_lines_in_a_students_cells(plain_runs):
    """Does no cell show TensorFlow's C++ error lines (cuInit, NodeDef ...) in red? Only the setup
    cell may show the one informational line TensorFlow prints on import, before its log level
    applies."""
    noise = plain_runs[3]
    for student, cells in noise.items():
        for i, text in cells.items():
            assert not re.search(r"^E0000|cuInit|NodeDef mentions", text, re.M), (student, i, text)
        assert len(cells) <= 1, (student, {i: t[:200] for i, t in cells.items()})
