"""The clean check's NumPy evaluation against Keras, on every network the published solution builds."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest
from kernel_export import export

from autograder import data, paths
from autograder.catalog import SLUG
from autograder.grading.verify import clean_check, numpy_net

keras = pytest.importorskip("keras")

VERSIONS = ("2026", "2027")
WANTED = ("model", "DROPOUT_RATE", "L2_FACTOR")


def solution_builders(version: str) -> dict:
    """The solution notebook's Part 1 model and ``build_*`` functions, as the student writes them."""
    nb = json.loads((paths.solution_dir(SLUG, version) / f"{SLUG}.ipynb").read_text(encoding="utf-8"))
    params = json.loads((paths.solution_dir(SLUG, version) / "manifest.json").read_text())["params"]
    ns: dict = {"keras": keras}
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if cell["cell_type"] != "code" or "def build_" not in src and "model = " not in src:
            continue
        tree = ast.parse(src)
        keep = [n for n in tree.body
                if (isinstance(n, ast.FunctionDef) and n.name.startswith("build_"))
                or (isinstance(n, ast.Assign)
                    and any(getattr(t, "id", "") in WANTED for t in n.targets))]
        if keep:
            exec(compile(ast.Module(keep, []), "solution", "exec"), ns)  # noqa: S102 - the kit's own solution
    units = params["units_bigger"]
    return {"model": ns["model"], "net_smaller": ns["build_network"](params["units_smaller"]),
            "net_baseline": ns["build_network"](params["units_baseline"]),
            "net_bigger": ns["build_network"](units),
            "net_dropout": ns["build_dropout_network"](units), "net_l2": ns["build_l2_network"](units),
            "net_augment": ns["build_augmented_network"](units)}


@pytest.fixture
def floatx(request: pytest.FixtureRequest):
    """Keras's float type for the test (the published notebooks train in float64), restored after.

    The global dtype policy too: Keras creates it from floatx once and keeps it.
    """
    before = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx(request.param)
    keras.config.set_dtype_policy(request.param)
    yield request.param
    keras.config.set_floatx(before[0])
    keras.config.set_dtype_policy(before[1])


@pytest.mark.parametrize("floatx", ["float64", "float32"], indirect=True)
@pytest.mark.parametrize("version", VERSIONS)
def test_numpy_agrees_with_keras_on_every_solution_network(tmp_path: Path, version: str, floatx: str):
    """Does NumPy score each exported network as Keras does (accuracy within the history
    tolerance, probabilities within the predictions check's 1e-3; in float64 within 1e-9), compute
    in the network's own float type, and see the same layers?"""
    ds = data.load()
    x_train, y_train = ds.train_images[:3000] / 255.0, ds.train_labels[:3000]
    x_val, y_val = ds.train_images[-5000:] / 255.0, ds.train_labels[-5000:]
    x_test, y_test = ds.test_images / 255.0, ds.test_labels
    keras.utils.set_random_seed(int(version))
    nets = solution_builders(version)
    for net in nets.values():  # trained a little: weights as a student's are, not initial ones
        net.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        net.fit(x_train, y_train, epochs=1, batch_size=64, verbose=0)
    folder = export(tmp_path, dict(nets), sorted(nets))
    env, problems, path, why = clean_check.load_environment_path(folder)
    assert (problems, path, why) == ([], clean_check.NUMPY, "")
    for name, net in nets.items():
        rebuilt = env[name]
        assert isinstance(rebuilt, numpy_net.NumpyModel), name
        assert [type(la).__name__ for la in rebuilt.layers] == [type(la).__name__ for la in net.layers]
        assert rebuilt.count_params() == net.count_params()
        assert rebuilt.output_shape == net.output_shape and rebuilt.input_shape == net.input_shape
        assert rebuilt.dtype == np.dtype(floatx), name
        for x, y in ((x_val, y_val), (x_test, y_test)):
            ours, theirs = rebuilt.predict(x, verbose=0), net.predict(x, verbose=0, batch_size=1000)
            assert ours.dtype == np.dtype(floatx), name
            assert np.abs(ours - theirs).max() < (1e-9 if floatx == "float64" else 1e-3), name
            acc_ours = np.mean(np.argmax(ours, axis=1) == y)
            acc_theirs = np.mean(np.argmax(theirs, axis=1) == y)
            assert abs(acc_ours - acc_theirs) <= 2e-3, name  # at most 10 of 5,000 images on a tie


def test_mixed_float_types_fall_back_to_keras(tmp_path: Path):
    """Is a network whose layers compute in different float types (or float16) rebuilt with
    Keras rather than evaluated in one NumPy type?"""
    mixed = keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(8, activation="relu", dtype="float64"),
                              keras.layers.Dense(10, activation="softmax", dtype="float32")])
    half = keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(),
                             keras.layers.Dense(10, activation="softmax", dtype="float16")])
    for name, net in (("net_mixed", mixed), ("net_half", half)):
        (tmp_path / name).mkdir()
        folder = export(tmp_path / name, {name: net}, [name])
        env, problems, path, why = clean_check.load_environment_path(folder)
        assert problems == [] and path == clean_check.KERAS and "float" in why, (name, why)


def test_unknown_layer_falls_back_to_keras(tmp_path: Path):
    """Is a network with a layer NumPy does not know rebuilt with Keras, and the path said?"""
    conv = keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Reshape((28, 28, 1)),
                             keras.layers.Conv2D(2, 3), keras.layers.Flatten(),
                             keras.layers.Dense(10, activation="softmax")])
    plain = keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    folder = export(tmp_path, {"net_conv": conv, "model": plain}, ["model", "net_conv"])
    env, problems, path, why = clean_check.load_environment_path(folder)
    assert problems == [] and path == clean_check.KERAS and "Conv2D" in why
    assert all(isinstance(env[n], keras.Model) for n in ("net_conv", "model"))  # one kind for the tests


def test_weights_that_do_not_fit_the_config_are_unreadable(tmp_path: Path):
    """Is a weights file whose arrays do not fit the config refused, not evaluated?"""
    small = keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    folder = export(tmp_path, {"model": small}, ["model"])
    records = json.loads((folder / "env.json").read_text())
    records["model"]["config"]["config"]["layers"][2]["config"]["units"] = 8
    (folder / "env.json").write_text(json.dumps(records))
    env, problems, path, _ = clean_check.load_environment_path(folder)
    assert isinstance(env["model"], clean_check.Unreadable) and path == clean_check.NUMPY
    assert any("shapes [(784, 4), (4,)], the config's [(784, 8), (8,)]" in p for p in problems)


def test_the_tests_see_numpy_models_as_keras_models():
    """Inside the clean check's view, do the tests' ``keras.Model`` / ``keras.layers`` checks
    accept a NumPy model, and is the real Keras back afterwards?"""
    real = keras.Model
    with numpy_net.keras_view():
        from tensorflow import keras as seen

        assert seen.Model is numpy_net.NumpyModel and seen.layers.Dropout is numpy_net.Dropout
    import keras as after

    assert after.Model is real
