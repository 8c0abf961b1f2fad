"""The replay stage trains exactly what the notebook's given code trained (real TensorFlow, small data).

A student process runs the given code's recipe (``train()``: the network's own seed, weights
initialised by ``clone_model``, compile, fit) on a few hundred images, in an order of its own and
after drawing random numbers of its own; the replay stage (``python -m ...replay``, the command a
grading runs) trains the same networks from nothing but the exported architectures and the
grader's seed. The curves and weights must be bit-identical on this machine, a second run must come
from the cache, and another seed must give other curves.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from autograder import data
from autograder.grading.verify import replay, trainings

PARAMS = {"n_train": 300, "n_val": 200, "epochs": 2, "batch_size": 32, "epochs_part1": 1}

STUDENT = r'''
SEED = 2026
import json, os, random, sys
os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
import numpy as np
from tensorflow import keras
import tensorflow as tf
keras.config.set_floatx("float64")
keras.utils.set_random_seed(SEED)
tf.config.experimental.enable_op_determinism()
(train_images, train_labels), _ = keras.datasets.fashion_mnist.load_data()
train_images = train_images / 255.0
random.random(); np.random.rand(3); keras.random.uniform((2,))  # the student's own draws
N_TRAIN, N_VAL, EPOCHS, BATCH_SIZE = 300, 200, 2, 32
x_train, y_train = train_images[:N_TRAIN], train_labels[:N_TRAIN]
x_val, y_val = train_images[-N_VAL:], train_labels[-N_VAL:]
NETWORK_SEEDS = {"smaller": SEED + 1, "baseline": SEED + 2, "bigger": SEED + 3,
                 "dropout": SEED + 4, "l2": SEED + 5, "augment": SEED + 6}

def train(model, name, epochs=EPOCHS):
    keras.utils.set_random_seed(NETWORK_SEEDS[name])
    model = keras.models.clone_model(model)
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'],
                  steps_per_execution=50)
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=BATCH_SIZE,
                        validation_data=(x_val, y_val), validation_batch_size=1000, verbose=0)
    return model, history.history

def dense(units, *extra):
    return keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(),
                             keras.layers.Dense(units, activation='relu'), *extra,
                             keras.layers.Dense(10, activation='softmax')])

augment = keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Reshape((28, 28, 1)),
                            keras.layers.RandomTranslation(0.1, 0.1), keras.layers.RandomZoom(0.1),
                            keras.layers.Flatten(), keras.layers.Dense(16, activation='relu'),
                            keras.layers.Dense(10, activation='softmax')])
nets = {"augment": augment, "dropout": dense(24, keras.layers.Dropout(0.4)),
        "l2": dense(8)}  # trained in another order than the replay's
env, out = {}, {}
for name, net in nets.items():
    trained, hist = train(net, name)
    env["net_" + name] = {"kind": "model", "config": json.loads(trained.to_json())}
    out[name] = {"history": hist, "weights": [w.tolist() for w in trained.get_weights()]}
os.makedirs(sys.argv[1], exist_ok=True)
json.dump(env, open(os.path.join(sys.argv[1], "env.json"), "w"))
json.dump(out, open(sys.argv[2], "w"))
'''


def run_replay(artifacts: Path, params: Path, seed: int, out: Path, cache: Path) -> None:
    subprocess.run([sys.executable, "-m", replay.__name__, str(artifacts), str(params), str(seed),
                    str(out), str(cache)], check=True, capture_output=True, timeout=600)


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("student")
    env = {"KERAS_HOME": str(data.provide_keras_cache()), "PATH": "/usr/bin:/bin",
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-c", STUDENT, str(tmp / "artifacts"), str(tmp / "student.json")],
                   check=True, env=env, timeout=600)
    (tmp / "params.json").write_text(json.dumps(PARAMS))
    return tmp, json.loads((tmp / "student.json").read_text())


def test_the_replay_is_bit_identical_to_the_student_s_training_and_cached(student):
    """Does the grader, from the exported architectures and its own seed, get the student's curves
    and weights exactly, in another order, with the student's random draws in between; and does a
    second grading take every training from the cache with the same result?"""
    tmp, mine = student
    cache = tmp / "cache"
    for attempt in ("first", "second"):
        out = tmp / attempt
        run_replay(tmp / "artifacts", tmp / "params.json", 2026, out, cache)
        summary = json.loads((out / "summary.json").read_text())
        assert set(summary) == {"augment", "dropout", "l2"}
        assert all(s["cached"] == (attempt == "second") for s in summary.values()), summary
        for name, theirs in mine.items():
            t = trainings.read_trained(out, name)
            assert t is not None and t.history == theirs["history"], name
            for a, b in zip(t.weights, theirs["weights"], strict=True):
                np.testing.assert_array_equal(a, np.asarray(b))
    assert len(list(cache.glob("*.npz"))) == 3


def test_another_seed_trains_other_curves(student):
    """Is the seed really what the replay trains with (the seed a copier would change)?"""
    tmp, mine = student
    run_replay(tmp / "artifacts", tmp / "params.json", 2027, tmp / "other", tmp / "cache")
    t = trainings.read_trained(tmp / "other", "l2")
    assert t is not None and t.history["val_loss"] != mine["l2"]["history"]["val_loss"]
