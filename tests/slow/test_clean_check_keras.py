"""Clean grading with real Keras networks: models exported and rebuilt, histories checked against them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
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
