"""Clean grading with real Keras networks: models exported and rebuilt, histories checked against them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kernel_export import export

from autograder.grading.verify import clean_check
from autograder.grading.verify import kernel_export as export_mod

keras = pytest.importorskip("keras")


def tiny_model(units: int = 4):
    return keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(),
                             keras.layers.Dense(units, activation="relu"),
                             keras.layers.Dense(10, activation="softmax")])


def test_model_comes_back_with_its_weights(tmp_path: Path):
    """Is an exported network rebuilt from its config with identical weights?"""
    model = tiny_model()
    folder = export(tmp_path, {"model": model}, ["model"])
    env, problems = clean_check.load_environment(folder)
    assert problems == []
    for a, b in zip(model.get_weights(), env["model"].get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_code_in_a_model_config_is_refused(tmp_path: Path):
    """Is a model whose config names a non-Keras module refused instead of imported?"""
    model = tiny_model()
    folder = export(tmp_path, {"model": model}, ["model"])
    records = json.loads((folder / export_mod.ENV_FILE).read_text())
    records["model"]["config"]["config"]["layers"][1]["module"] = "os"
    (folder / export_mod.ENV_FILE).write_text(json.dumps(records))
    env, problems = clean_check.load_environment(folder)
    assert isinstance(env["model"], clean_check.Unreadable)
    assert any("only Keras layers" in p for p in problems)


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
