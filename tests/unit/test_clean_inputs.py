"""The clean check reads what it must and writes only its result (issue 33, hardening 3).

Its sandbox shows the private folder's inputs (the hidden tests, the parameters, ``files/``, the
recorded curves) read-only and writes ``clean.json`` to a folder of its own; an exported weights
file is read only once its layout and sizes are the network's (``numpy_net._read_weights``).
Command lines only here, no sandbox runs (``tests/slow/test_clean_sandbox.py`` runs one).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from autograder.grading.execution import pipeline, sandbox
from autograder.grading.verify import clean_check, numpy_net
from autograder.grading.verify.recorded import STUDENT_CURVES
from autograder.params import PARAMS_FILE


def private_folder(tmp_path: Path) -> Path:
    private = tmp_path / "w.kit"
    (private / "tests").mkdir(parents=True)
    (private / "tests" / "q1.py").write_text(
        'from otter.test_files import test_case\n\nOK_FORMAT = False\nname = "q1"\npoints = 1\n\n'
        '@test_case(points=1, hidden=True)\ndef test_a():\n    assert True\n', encoding="utf-8")
    (private / "source" / "files").mkdir(parents=True)
    (private / PARAMS_FILE).write_text("{}", encoding="utf-8")
    (private / STUDENT_CURVES).write_text("{}", encoding="utf-8")
    (tmp_path / "artifacts").mkdir()
    return private


def test_the_clean_check_writes_to_its_own_folder_and_reads_the_tests_read_only(tmp_path: Path):
    """Is the clean check's sandbox writable only in ``clean_output`` (not the private folder that
    holds the hidden tests), with the tests, parameters, files and curves bound read-only?"""
    private = private_folder(tmp_path)
    argv, env, readonly = pipeline.clean_check_command(private, tmp_path / "artifacts", {})
    out = pipeline.clean_output(private)
    assert out.is_dir() and argv[-2:] == ["--out", str(out.resolve())]
    for name in ("tests", PARAMS_FILE, "source/files", STUDENT_CURVES):
        assert (private / name).resolve() in readonly
    assert private.resolve() not in readonly
    cmd = sandbox.command(argv, workdir=out, readonly=readonly, env=env)
    binds = [(cmd[i], cmd[i + 1]) for i in range(len(cmd) - 1) if cmd[i] in ("--bind", "--ro-bind")]
    assert [b for b in binds if b[0] == "--bind"] == [("--bind", str(out.resolve()))]
    assert ("--ro-bind", str((private / "tests").resolve())) in binds


def test_main_writes_its_result_to_the_output_folder(tmp_path: Path):
    """Does ``python -m ...clean_check PRIVATE ARTIFACTS --out DIR`` write ``DIR/clean.json`` (and
    nothing in the private folder), and ``read_clean`` read it from there? (A process of its own:
    the clean check registers otter's test runner alone in ``sys.modules``.)"""
    import subprocess

    private = private_folder(tmp_path)
    (private / PARAMS_FILE).unlink()  # no release parameters: the test file needs none
    out = pipeline.clean_output(private)
    out.mkdir()
    argv = [sys.executable, "-m", pipeline.CLEAN_CHECK_MODULE, str(private), str(tmp_path / "artifacts")]
    subprocess.run([*argv, "--out", str(out)], check=True, capture_output=True, cwd=tmp_path)
    assert (out / clean_check.CLEAN_RESULT).is_file() and not (private / clean_check.CLEAN_RESULT).exists()
    assert [t["name"] for t in pipeline.read_clean(private)["tests"]] == ["q1"]


# ------------------------------------------------------------------ the weights file's layout

CONFIG = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
    {"class_name": "InputLayer", "config": {"batch_shape": [None, 4, 2], "dtype": "float32"}},
    {"class_name": "Flatten", "config": {"name": "flatten", "dtype": "float32"}},
    {"class_name": "Dense", "config": {"name": "d1", "units": 3, "activation": "relu"}},
    {"class_name": "Dense", "config": {"name": "d2", "units": 2, "activation": "softmax"}},
]}}
SHAPES = {"dense": [(8, 3), (3,)], "dense_1": [(3, 2), (2,)]}


def weights_file(path: Path, shapes: dict | None = None, **extra) -> Path:
    """A weights file in Keras 3's layout (``layers/<group>/vars/<i>``, the optimizer beside)."""
    with h5py.File(path, "w") as f:
        for group in ("flatten", *(shapes or SHAPES)):
            f.create_group(f"layers/{group}/vars")
        for group, arrays in (shapes or SHAPES).items():
            for i, shape in enumerate(arrays):
                f[f"layers/{group}/vars/{i}"] = np.full(shape, 0.5, "float32")
        for name, make in extra.items():
            make(f, name)
    return path


def test_a_well_formed_file_is_read(tmp_path: Path):
    """Is a file of the network's layout, with optimizer slots beside it, read and evaluated?"""
    f = weights_file(tmp_path / "w.weights.h5", optimizer=lambda f, n: f.create_dataset(
        f"{n}/vars/0", data=np.zeros((8, 3), "float32")))
    model = numpy_net.build(CONFIG, f)
    assert model.predict(np.ones((5, 4, 2))).shape == (5, 2) and model.count_params() == 35


@pytest.mark.parametrize("change, why", [
    ({"dense": [(8, 3)], "dense_1": [(3, 2), (2,)]}, r"shapes \[\(8, 3\)\], the config.s \[\(8, 3\), "),
    ({"dense": [(9, 3), (3,)], "dense_1": [(3, 2), (2,)]}, "the config.s"),
    ({**SHAPES, "dense_2": [(2, 2)]}, "the weights file holds"),
    ({"dense": [(8, 3), (3,)]}, "the weights file holds"),
])
def test_a_file_of_another_layout_is_refused(tmp_path: Path, change: dict, why: str):
    """Is a file whose groups or datasets are not the network's refused with a ValueError?"""
    with pytest.raises(ValueError, match=why):
        numpy_net.build(CONFIG, weights_file(tmp_path / "w.weights.h5", change))


def test_integers_and_external_data_are_refused(tmp_path: Path):
    """Is a dataset of integers, or one whose data lives in another file, refused before reading?"""
    f = weights_file(tmp_path / "a.weights.h5")
    with h5py.File(f, "a") as h:
        del h["layers/dense/vars/1"]
        h["layers/dense/vars/1"] = np.zeros(3, "int64")
    with pytest.raises(ValueError, match="not plain float"):
        numpy_net.build(CONFIG, f)
    outside = tmp_path / "outside.bin"
    outside.write_bytes(np.zeros(3, "float32").tobytes())
    f = weights_file(tmp_path / "b.weights.h5")
    with h5py.File(f, "a") as h:
        del h["layers/dense/vars/1"]
        h.create_dataset("layers/dense/vars/1", (3,), "float32", external=[(str(outside), 0, 12)])
    with pytest.raises(ValueError, match="not plain float"):
        numpy_net.build(CONFIG, f)


def test_sizes_are_checked_before_the_file_is_read(tmp_path: Path, monkeypatch):
    """Is a file far larger than the network's weights, or a network over ``MAX_WEIGHTS``,
    refused before HDF5 opens it?"""
    big = weights_file(tmp_path / "big.weights.h5", junk=lambda f, n: f.create_dataset(
        n, data=np.zeros(2**19, "float64")))
    monkeypatch.setattr(h5py, "File", lambda *a, **k: pytest.fail("opened"))
    with pytest.raises(ValueError, match=r"bytes, more than \d+ for 35 weights"):
        numpy_net.build(CONFIG, big)
    huge = json.loads(json.dumps(CONFIG))
    huge["config"]["layers"][2]["config"]["units"] = 10**7
    with pytest.raises(ValueError, match="more than 50000000"):
        numpy_net.build(huge, big)
