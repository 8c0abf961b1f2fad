"""Clean grading: values exported from the kernel as data, rebuilt and tested in a fresh process."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autograder import paths
from autograder.grading import clean_check

keras = pytest.importorskip("keras")


def tiny_model(units: int = 4):
    return keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(),
                             keras.layers.Dense(units, activation="relu"),
                             keras.layers.Dense(10, activation="softmax")])


def export(tmp_path: Path, namespace: dict, names: list[str]) -> Path:
    """Run the kit's export cell as the kernel would, in ``namespace``, inside ``tmp_path``."""
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(clean_check.export_cell(names), namespace)  # noqa: S102 - the cell is the kit's own code
    finally:
        os.chdir(cwd)
    return tmp_path / clean_check.ARTIFACTS


@pytest.fixture(scope="module")
def zip_tests(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("ag")
    with zipfile.ZipFile(paths.autograder_zip("3-2-overfitting", "2026")) as zf:
        zf.extractall(dest)
    return dest / "tests"


def test_public_tests_drop_every_hidden_case(zip_tests: Path, tmp_path: Path):
    """Does the kernel's copy of the tests keep the public cases and none of the hidden ones?"""
    clean_check.public_tests(zip_tests, tmp_path)
    full = "".join(p.read_text() for p in zip_tests.glob("*.py"))
    public = "".join(p.read_text() for p in tmp_path.glob("*.py"))
    assert full.count("hidden=True") >= 12 and "hidden=True" not in public
    assert public.count("hidden=False") == full.count("hidden=False") == 12


def test_required_names_cover_the_readings(zip_tests: Path):
    """Are the answers, histories and networks all among the exported names?"""
    names = clean_check.required_names(zip_tests)
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
    pd.testing.assert_frame_equal(env["h"], frame, check_index_type=False)
    assert env["i"].history == {"accuracy": [0.1, 0.2]}
    np.testing.assert_array_equal(env["j"], ns["j"])
    assert env["k"] == clean_check.ArraySummary((2100, 1000), np.dtype("float64"), 0.0, 0.0)


def test_model_comes_back_with_its_weights(tmp_path: Path):
    """Is an exported network rebuilt from its config with identical weights?"""
    model = tiny_model()
    folder = export(tmp_path, {"model": model}, ["model"])
    env, problems = clean_check.load_environment(folder)
    assert problems == []
    for a, b in zip(model.get_weights(), env["model"].get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


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


def test_code_in_a_model_config_is_refused(tmp_path: Path):
    """Is a model whose config names a non-Keras module refused instead of imported?"""
    model = tiny_model()
    folder = export(tmp_path, {"model": model}, ["model"])
    records = json.loads((folder / clean_check.ENV_FILE).read_text())
    records["model"]["config"]["config"]["layers"][1]["module"] = "os"
    (folder / clean_check.ENV_FILE).write_text(json.dumps(records))
    env, problems = clean_check.load_environment(folder)
    assert isinstance(env["model"], clean_check.Unreadable)
    assert any("only Keras layers" in p for p in problems)


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
    (tmp_path / clean_check.ENV_FILE).write_text("{not json")
    env, problems = clean_check.load_environment(tmp_path)
    assert env == {} and "not valid JSON" in problems[0]


def test_forged_history_is_caught():
    """Is a history whose last validation accuracy its network does not score replaced?"""
    net = tiny_model()
    env = {"net_bigger": net,
           "hist_bigger": pd.DataFrame({"accuracy": [1.0], "val_accuracy": [0.99]})}
    notes = clean_check.check_histories(env, {"n_val": 5000})
    assert notes and isinstance(env["hist_bigger"], clean_check.InconsistentHistory)
    with pytest.raises(AssertionError, match="does not match the trained network"):
        env["hist_bigger"]["val_accuracy"]


def test_honest_history_is_kept():
    """Is a history that matches its network left as it is?"""
    from autograder import data

    net = tiny_model()
    ds = data.load()
    x = ds.train_images[-5000:] / 255.0
    acc = float(np.mean(np.argmax(net.predict(x, verbose=0), axis=1) == ds.train_labels[-5000:]))
    frame = pd.DataFrame({"accuracy": [0.3], "val_accuracy": [acc]})
    env = {"net_smaller": net, "hist_smaller": frame}
    assert clean_check.check_histories(env, {"n_val": 5000}) == []
    assert env["hist_smaller"] is frame
