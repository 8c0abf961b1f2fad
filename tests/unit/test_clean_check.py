"""Clean grading: values exported from the kernel as data, rebuilt and tested in a fresh process.

No Keras here: the tests that build networks are in ``tests/slow/test_clean_check_keras.py``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kernel_export import export

from autograder import curves, paths
from autograder.grading.verify import clean_check, recorded
from autograder.grading.verify import kernel_export as export_mod
from autograder.grading.verify.curve_summary import curve_summary
from autograder.notebook import CURVES_MIME, recorded_curves


@pytest.fixture(scope="module")
def zip_tests(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("ag")
    with zipfile.ZipFile(paths.autograder_zip("3-2-overfitting", "2026")) as zf:
        zf.extractall(dest)
    return dest / "tests"


def test_public_tests_drop_every_hidden_case(zip_tests: Path, tmp_path: Path):
    """Does the kernel's copy of the tests keep the public cases and none of the hidden ones?"""
    export_mod.public_tests(zip_tests, tmp_path)
    full = "".join(p.read_text() for p in zip_tests.glob("*.py"))
    public = "".join(p.read_text() for p in tmp_path.glob("*.py"))
    assert full.count("hidden=True") >= 12 and "hidden=True" not in public
    assert public.count("hidden=False") == full.count("hidden=False") == 12


def test_required_names_cover_the_readings(zip_tests: Path):
    """Are the answers, histories and networks all among the exported names?"""
    names = export_mod.required_names(zip_tests)
    for name in ("model", "test_acc", "good_epoch_bigger", "hist_bigger", "net_bigger",
                 "best_technique", "train_images"):
        assert name in names


def test_round_trip_of_plain_values(tmp_path: Path):
    """Do numbers, strings, None, ..., histories and tables come back as what they were?"""
    frame = pd.DataFrame({"accuracy": [0.5, 0.7], "val_accuracy": [0.4, 0.6]},
                         index=pd.RangeIndex(1, 3, name="epoch"))

    class Hist:
        history = {"accuracy": [0.1, 0.2]}

    ns = {"a": 7, "b": np.int64(3), "c": 0.25, "d": True, "e": "bigger", "f": None, "g": ...,
          "h": frame, "i": Hist(), "j": np.arange(12.0).reshape(3, 4), "k": np.zeros((2100, 1000)),
          "fn": len}
    folder = export(tmp_path, ns, [*ns, "absent"])
    env, problems = clean_check.load_environment(folder)
    assert problems == []
    assert env["a"] == 7 and type(env["a"]) is int
    assert isinstance(env["b"], np.integer) and env["b"] == 3
    assert env["c"] == 0.25 and env["d"] is True and env["e"] == "bigger"
    assert env["f"] is None and env["g"] is Ellipsis and "absent" not in env
    # a table comes back without pandas, as what the readings see of a DataFrame
    assert env["h"].columns == ["accuracy", "val_accuracy"] and list(env["h"].index) == [1, 2]
    assert env["h"]["val_accuracy"] == [0.4, 0.6] and len(env["h"]) == 2
    assert curves.curve_difference(env["h"], frame) == 0.0
    assert env["i"].history == {"accuracy": [0.1, 0.2]}
    np.testing.assert_array_equal(env["j"], ns["j"])
    assert env["k"] == clean_check.ArraySummary((2100, 1000), np.dtype("float64"), 0.0, 0.0)


def test_an_always_equal_object_is_not_an_answer(tmp_path: Path):
    """Does an object whose __eq__ is always True reach the tests only as an unreadable value?"""

    class Liar:
        def __eq__(self, other):
            return True

        __hash__ = object.__hash__

    folder = export(tmp_path, {"most_overfit": Liar()}, ["most_overfit"])
    env, _ = clean_check.load_environment(folder)
    assert isinstance(env["most_overfit"], clean_check.Unreadable)
    assert env["most_overfit"] != "bigger"


def test_symlinked_artifact_is_refused(tmp_path: Path):
    """Is an exported file that is a symlink (e.g. to the instructor's files) refused?"""
    folder = export(tmp_path, {"p": np.ones(3)}, ["p"])
    secret = tmp_path / "secret.npy"
    np.save(secret, np.arange(3))
    (folder / "p.npy").unlink()
    (folder / "p.npy").symlink_to(secret)
    env, problems = clean_check.load_environment(folder)
    assert isinstance(env["p"], clean_check.Unreadable) and problems


def test_missing_or_broken_export(tmp_path: Path):
    """Do a notebook that never reached the end and a corrupt export give a reason, not a crash?"""
    env, problems = clean_check.load_environment(tmp_path)
    assert env == {} and "did not reach the end" in problems[0]
    (tmp_path / export_mod.ENV_FILE).write_text("{not json")
    env, problems = clean_check.load_environment(tmp_path)
    assert env == {} and "not valid JSON" in problems[0]


# --------------------------------------------------------------------- the student's recorded curves


def curves_output(name: object, history: object, *, as_text: bool = False) -> dict:
    value = {"name": name, "history": history}
    return {"output_type": "display_data", "metadata": {},
            "data": {CURVES_MIME: json.dumps(value) if as_text else value, "text/plain": [f"{name}"]}}


def nb_with(*outputs: dict) -> dict:
    return {"nbformat": 4, "cells": [
        {"cell_type": "markdown", "source": "x", "outputs": [curves_output("md", GOOD)]},
        {"cell_type": "code", "source": "train(...)", "outputs": list(outputs)}]}


GOOD = {"accuracy": [0.6, 0.7, 0.8], "loss": [1.0, 0.8, 0.6],
        "val_accuracy": [0.55, 0.62, 0.60], "val_loss": [1.1, 0.9, 0.95]}


def test_recorded_curves_keep_the_last_record_of_each_name():
    """Is each name's last record kept, JSON given as text read too, and markdown ignored?"""
    later = {k: [v + 0.01 for v in vals] for k, vals in GOOD.items()}
    nb = nb_with(curves_output("bigger", GOOD), curves_output("smaller", GOOD, as_text=True),
                 curves_output("bigger", later))
    assert recorded_curves(nb) == {"bigger": later, "smaller": GOOD}


@pytest.mark.parametrize("name, history", [
    ("not an identifier", GOOD),
    (7, GOOD),
    ("bigger", "not a dict"),
    ("bigger", {**GOOD, "loss": [1.0, float("nan"), 0.6]}),
    ("bigger", {**GOOD, "loss": [1.0, "0.8", 0.6]}),
    ("bigger", {**GOOD, "loss": [1.0, True, 0.6]}),
    ("bigger", {**GOOD, "loss": [1.0, 10**400, 0.6]}),
    ("bigger", {**GOOD, "loss": [1.0, 0.8]}),  # unequal lengths
    ("bigger", {"loss": [1.0], "val_loss": [1.0]}),  # no accuracy columns
    ("bigger", {k: [0.5] * 201 for k in GOOD}),  # more than 200 epochs
])
def test_recorded_curves_ignore_hostile_records(name, history):
    """Is a record with a bad name, non-finite or non-numeric values, ragged or huge columns ignored?"""
    assert recorded_curves(nb_with(curves_output(name, history))) == {}


def test_recorded_curves_survive_garbage_and_cap_the_names():
    """Do garbage outputs and broken JSON text pass silently, and more than 20 names stop at 20?"""
    garbage = [{"data": None}, "text", {"data": {CURVES_MIME: "{broken"}}, {"data": {CURVES_MIME: [1]}}]
    many = [curves_output(f"n{i}", GOOD) for i in range(25)]
    got = recorded_curves(nb_with(*garbage, *many))
    assert list(got) == [f"n{i}" for i in range(20)]
    assert recorded_curves({"cells": "nope"}) == {} and recorded_curves([]) == {}


REGENERATED = pd.DataFrame({"accuracy": [0.6, 0.7, 0.8], "loss": [1.0, 0.8, 0.6],
                            "val_accuracy": [0.55, 0.62, 0.60], "val_loss": [1.1, 0.9, 0.95]},
                           index=pd.RangeIndex(1, 4, name="epoch"))


def shifted(by: float, col: str = "val_loss") -> dict:
    return {**{k: list(v) for k, v in GOOD.items()}, col: [v + by for v in GOOD[col]]}


def test_within_the_band_the_students_record_is_graded():
    """Does a record within the band replace the regenerated history, in the same type?"""
    record = shifted(0.004)
    r = recorded.reconcile("hist_bigger", REGENERATED, record, band=0.005)
    assert isinstance(r.history, pd.DataFrame) and list(r.history["val_loss"]) == record["val_loss"]
    assert r.difference == pytest.approx(0.004) and r.flag == "" and r.note == ""
    assert list(REGENERATED["val_loss"]) == GOOD["val_loss"]  # the regenerated one is not changed


def test_a_history_object_gets_the_record_as_a_history_object():
    class Hist:
        def __init__(self, h):
            self.history = h

    regenerated = Hist({k: list(v) for k, v in GOOD.items()})
    r = recorded.reconcile("hist_l2", regenerated, GOOD, band=0.0)
    assert isinstance(r.history, Hist) and r.history is not regenerated and r.difference == 0.0


def test_outside_the_band_the_grader_s_curves_count_and_a_ta_is_told_both():
    """Beyond the band: regenerated curves graded, and the flag carries both runs' numbers?"""
    record = shifted(-0.3)  # the record's validation loss bottoms out at epoch 3, the grader's at 2
    record["val_loss"][2] = 0.2
    r = recorded.reconcile("hist_bigger", REGENERATED, record, band=0.0)
    assert r.history is REGENERATED and r.difference == pytest.approx(0.75)
    assert r.flag == ("hist_bigger: the curves in the submitted notebook differ from the grader's own "
                      "training by up to 0.7500 (band 0): graded against the grader's curves; good epoch 3 "
                      "(val. accuracy 0.6000) in the notebook vs 2 (0.6200) in the grader's training")


def test_a_record_of_another_length_or_out_of_range_is_never_used():
    """Can a record with other epochs, or accuracies above 1, be graded? Never: flagged instead."""
    short = {k: v[:2] for k, v in GOOD.items()}
    r = recorded.reconcile("hist_bigger", REGENERATED, short, band=1.0)
    assert r.history is REGENERATED and r.difference == float("inf")
    assert "2 epochs in the notebook vs 3 trained by the grader" in r.flag
    r = recorded.reconcile("hist_bigger", REGENERATED, shifted(5.0, "accuracy"), band=10.0)
    assert r.history is REGENERATED and "unusable" in r.flag


def test_without_a_record_only_a_note():
    """No record: the grader's training is graded, with a note and no flag."""
    r = recorded.reconcile("hist_bigger", REGENERATED, None, 0.0)
    assert r.flag == "" and r.difference is None and r.history is REGENERATED
    assert r.note == ("hist_bigger: the submitted notebook carried no recorded curves; graded against "
                      "the grader's own training")


def test_the_summary_names_good_epoch_and_the_record_distance():
    """Does the curve summary carry the good epoch, rise, verdict and the record's distance?"""
    env = {"hist_bigger": REGENERATED, "hist_x": clean_check.Unreadable("?", "no")}
    params = {"overfit_yes_at": 0.03, "overfit_no_below": 0.01}
    got = curve_summary(env, params, clean_check.usable_histories(env), {"bigger": 0.0})
    assert got == {"bigger": {"epochs": 3, "good_epoch": 2, "good_val_accuracy": 0.62,
                              "val_loss_rise": 0.05, "final_gap": 0.2, "final_val_accuracy": 0.6,
                              "verdict": "yes", "recorded_difference": 0.0}}


def test_public_scale_check_reads_a_summarised_array_as_the_kernel_does():
    """Does the published public check of Q1 pass on the summaries the clean check rebuilds from
    correctly scaled images (else every honest notebook would be flagged as disagreeing), and
    fail on unscaled ones?"""
    from otter.test_files import ExceptionTestFile

    from autograder import paths

    path = paths.repo_root() / "student_template" / "3-2-overfitting" / "2026" / "tests" / "q1_scale.py"

    def run(hi: float) -> bool:
        env = {name: clean_check.ArraySummary((n, 28, 28), np.dtype("float64"), 0.0, hi)
               for name, n in (("train_images", 60000), ("test_images", 10000))}
        tf = ExceptionTestFile.from_file(str(path))
        tf.run(env)
        return all(r.passed for r in tf.test_case_results)

    assert run(1.0)
    assert not run(255.0)


def test_the_clean_check_loads_only_otter_s_test_runner(tmp_path: Path):
    """Does the clean check run an otter test file without importing otter's API, its other
    test formats, IPython or nbformat (~0.9 s of CPU a grading), and still score it?"""
    import subprocess
    import sys

    test = tmp_path / "q1.py"
    test.write_text('from otter.test_files import test_case\n\nOK_FORMAT = False\nname = "q1"\n'
                    'points = 2\n\n@test_case(points=1)\ndef test_a(x):\n    assert x == 1\n\n'
                    '@test_case(points=1, hidden=True)\ndef test_b(x):\n    assert x == 2\n',
                    encoding="utf-8")
    code = ("import sys\nfrom autograder.grading.verify.clean_check import otter_test_files\n"
            f"tf = otter_test_files().ExceptionTestFile.from_file({str(test)!r})\n"
            "tf.run({'x': 1})\n"
            "print(tf.score, tf.possible, sorted(m for m in ('otter.api', 'otter.test_files.ok_test', "
            "'IPython', 'nbformat', 'nbconvert') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1 2 []"


def test_tables_are_read_back_and_checked_without_pandas(tmp_path: Path):
    """A history kept as a DataFrame is decoded, validated and read by the readings in a process
    that never imports pandas (about 0.3 s of CPU per grading), with the same answers as the
    DataFrame itself; an index that is not the epochs is refused as for a DataFrame."""
    import subprocess
    import sys

    frame = pd.DataFrame({"accuracy": [0.5, 0.7, 0.8], "val_accuracy": [0.4, 0.6, 0.55],
                          "val_loss": [0.9, 0.5, 0.7]}, index=pd.RangeIndex(1, 4, name="epoch"))
    folder = export(tmp_path, {"h": frame, "bad": frame.set_axis([5, 6, 7])}, ["h", "bad"])
    code = ("import sys\nfrom pathlib import Path\nfrom autograder import curves\n"
            "from autograder.grading.verify import clean_check\n"
            f"env, problems = clean_check.load_environment(Path({str(folder)!r}))\n"
            "h = env['h']\n"
            "try:\n    curves.validated(env['bad'])\n    bad = 'accepted'\n"
            "except ValueError as exc:\n    bad = 'refused'\n"
            "print(problems, curves.good_epoch(h), curves.loss_rise(h), curves.gap(h), bad, "
            "'pandas' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    want = f"[] {curves.good_epoch(frame)} {curves.loss_rise(frame)} {curves.gap(frame)} refused False"
    assert out.stdout.strip() == want

