"""The trusted replay's spec, seeds and cache of verified trainings (no TensorFlow here: the
trainings themselves are in ``tests/slow/test_replay_training.py``)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pytest
from kit_constants import SLUG

from autograder import paths
from autograder.grading.verify import replay, trainings
from autograder.notebook import cell_source

DENSE = {"module": "keras.layers", "class_name": "Dense",
         "config": {"name": "dense_7", "units": 32, "activation": "relu", "use_bias": True,
                    "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float64"}},
                    "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
                                           "config": {"seed": None}}}}
CONFIG = {"module": "keras", "class_name": "Sequential",
          "config": {"name": "sequential_3", "layers": [
              {"module": "keras.layers", "class_name": "InputLayer",
               "config": {"batch_shape": [None, 28, 28], "dtype": "float64", "name": "input_layer_3"}},
              {"module": "keras.layers", "class_name": "Flatten", "config": {"name": "flatten_3"}},
              DENSE,
              {**DENSE, "config": {**DENSE["config"], "name": "dense_8", "units": 10,
                                   "activation": "softmax"}}]}}
PARAMS = {"n_train": 4000, "n_val": 5000, "epochs": 15, "batch_size": 32, "epochs_part1": 5}
VERSIONS = {"tensorflow": "2.21.0", "keras": "3.15.1"}


def test_layer_names_change_nothing_but_units_and_seed_change_the_fingerprint():
    """Do two students' identical networks (other layer names) share a fingerprint, and does any
    change of what determines the training (units, seed, library version) give another?"""
    other = copy.deepcopy(CONFIG)
    for layer in other["config"]["layers"]:
        layer["config"]["name"] += "_x"
    other["config"]["name"] = "mine"
    a, _ = replay.specs_for({"bigger": CONFIG}, 2026, PARAMS)
    b, _ = replay.specs_for({"bigger": other}, 2026, PARAMS)
    assert a["bigger"].fingerprint(VERSIONS) == b["bigger"].fingerprint(VERSIONS)
    wider = copy.deepcopy(CONFIG)
    wider["config"]["layers"][2]["config"]["units"] = 33
    c, _ = replay.specs_for({"bigger": wider}, 2026, PARAMS)
    d, _ = replay.specs_for({"bigger": CONFIG}, 2027, PARAMS)
    prints = {x["bigger"].fingerprint(VERSIONS) for x in (a, c, d)}
    prints.add(a["bigger"].fingerprint({**VERSIONS, "tensorflow": "2.20.0"}))
    assert len(prints) == 4


def test_each_network_has_its_own_seed_and_part1_its_own_recipe():
    """Is each network seeded with the grader's seed plus its offset, and Part 1 trained on the
    whole training set for its own epochs?"""
    specs, refused = replay.specs_for({"model": CONFIG, "smaller": CONFIG, "augment": CONFIG,
                                       "unknown": CONFIG}, 100, PARAMS)
    assert refused == {} and set(specs) == {"model", "smaller", "augment"}
    assert (specs["model"].seed, specs["smaller"].seed, specs["augment"].seed) == (100, 101, 106)
    assert (specs["model"].n_train, specs["model"].epochs, specs["model"].batch_size) == (0, 5, 32)
    assert (specs["smaller"].n_train, specs["smaller"].n_val, specs["smaller"].epochs) == (4000, 5000, 15)


def test_the_notebook_seeds_each_network_as_the_replay_does():
    """Does the master notebook's given ``NETWORK_SEEDS`` table add to SEED exactly the offsets the
    grader replays with (and Part 1 train from SEED itself)?"""
    nb = json.loads(paths.master_notebook(SLUG).read_text(encoding="utf-8"))
    src = "\n".join(cell_source(c) for c in nb["cells"] if c.get("cell_type") == "code")
    table = dict(re.findall(r'"(\w+)": SEED \+ (\d+)', src))
    assert {k: int(v) for k, v in table.items()} == {k: v for k, v in replay.SEED_OFFSETS.items() if v}
    assert "keras.utils.set_random_seed(NETWORK_SEEDS[name])" in src
    assert "keras.utils.set_random_seed(SEED)  # 学習の乱数のシード" in src


@pytest.mark.parametrize(("edit", "why"), [
    (lambda c: c["config"]["layers"].append({"class_name": "Lambda", "config": {}}), "Lambda"),
    (lambda c: c["config"]["layers"][2].update(module="evil.layers"), "outside Keras"),
    (lambda c: c["config"]["layers"][2]["config"].update(units=10**7), "units"),
    (lambda c: c["config"]["layers"][2]["config"].update(units=True), "units"),
    (lambda c: c["config"]["layers"][2]["config"]["dtype"]["config"].update(name="float32"), "float32"),
    (lambda c: c.update(class_name="Functional"), "Sequential"),
])
def test_an_architecture_the_exercise_does_not_use_is_refused_with_its_reason(edit, why):
    """Is a network the exercise does not build refused (not trained), saying why?"""
    config = copy.deepcopy(CONFIG)
    edit(config)
    specs, refused = replay.specs_for({"bigger": config}, 1, PARAMS)
    assert specs == {} and why in refused["bigger"]


def trained(seed: float = 0.0) -> trainings.Trained:
    return trainings.Trained({"loss": [1.0, 0.5 + seed], "val_loss": [1.1, 0.9]},
                          [np.full((3, 2), seed), np.arange(2.0)], 1.5)


def test_a_verified_training_comes_back_whole(tmp_path: Path):
    """Does the cache give back the history and weights it was given, marked as cached?"""
    cache = trainings.TrainingCache(tmp_path)
    assert cache.get("ab" * 32) is None
    cache.put("ab" * 32, trained(0.25))
    got = cache.get("ab" * 32)
    assert got is not None and got.cached and got.history == trained(0.25).history
    # readable by the clean check's sandbox user (not mkstemp's 0600); the signing key by no one else
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes.pop(trainings.KEY_FILE) == 0o600 and set(modes.values()) == {0o644}, modes
    np.testing.assert_array_equal(got.weights[0], np.full((3, 2), 0.25))


@pytest.mark.parametrize("tamper", ["weights", "record", "fingerprint", "symlink", "truncated"])
def test_a_tampered_cache_entry_is_discarded_never_believed(tmp_path: Path, tamper: str):
    """Is an entry whose weights, record or name were changed (or that is a planted link)
    thrown away and reported missing, so that the network is trained again?"""
    fp, other = "cd" * 32, "ef" * 32
    cache = trainings.TrainingCache(tmp_path)
    cache.put(fp, trained(0.5))
    cache.put(other, trained(0.75))
    meta, npz = tmp_path / f"{fp}.json", tmp_path / f"{fp}.npz"
    if tamper == "weights":
        np.savez(npz, np.zeros((3, 2)), np.arange(2.0))
    elif tamper == "record":
        record = json.loads(meta.read_text())
        record["history"]["val_loss"] = [0.1, 0.2]
        record["weights_sha256"] = "0" * 64
        meta.write_text(json.dumps(record))
    elif tamper == "fingerprint":  # another entry copied under this name
        meta.write_bytes((tmp_path / f"{other}.json").read_bytes())
        npz.write_bytes((tmp_path / f"{other}.npz").read_bytes())
    elif tamper == "symlink":
        npz.unlink()
        npz.symlink_to(tmp_path / f"{other}.npz")
    else:
        npz.write_bytes(npz.read_bytes()[:40])
    assert cache.get(fp) is None
    assert not meta.exists() and not npz.exists()
    assert cache.get(other) is not None  # the rest of the cache is untouched


def test_an_unwritable_cache_never_fails_the_grading(tmp_path: Path):
    """A cache folder that cannot be written: the training is kept nowhere, and nothing raises."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache = trainings.TrainingCache(blocker / "cache")
    cache.put("ab" * 32, trained())
    assert cache.get("ab" * 32) is None


def test_exported_configs_are_read_as_data_with_a_size_limit(tmp_path: Path):
    """Does the replay take only the graded networks' model records, and nothing from an
    oversized or malformed env.json?"""
    env = {"net_bigger": {"kind": "model", "config": CONFIG}, "model": {"kind": "model", "config": CONFIG},
           "net_other": {"kind": "model", "config": CONFIG}, "net_l2": {"kind": "int", "value": 3}}
    (tmp_path / "env.json").write_text(json.dumps(env))
    assert set(replay.exported_configs(tmp_path)) == {"bigger", "model"}
    (tmp_path / "env.json").write_text("[" * 100_000)
    assert replay.exported_configs(tmp_path) == {}
    (tmp_path / "env.json").write_bytes(b" " * (replay.MAX_ENV_BYTES + 1))
    assert replay.exported_configs(tmp_path) == {}


def test_a_second_grading_waits_for_a_training_under_way_instead_of_doing_it_again(tmp_path: Path):
    """Two gradings need the same training at once: the second waits for the first's lock and
    then finds the entry (one training, not two)."""
    import threading
    import time

    cache, fp, order = trainings.TrainingCache(tmp_path), "12" * 32, []

    def first() -> None:
        with cache.lock(fp):
            order.append("first trains")
            time.sleep(0.3)
            cache.put(fp, trained(0.5))

    t = threading.Thread(target=first)
    t.start()
    while not order:
        time.sleep(0.01)
    t0 = time.monotonic()
    with cache.lock(fp):
        found = cache.get(fp)
    t.join()
    assert found is not None and found.cached and time.monotonic() - t0 >= 0.2


def test_an_autograder_without_the_kits_parameters_replays_nothing(tmp_path: Path):
    """The replay stage of a zip with no kit_params.json (another otter assignment): nothing to
    train, an empty result, exit 0 (the clean check then believes no history)."""
    (tmp_path / "art").mkdir()
    (tmp_path / "art" / "env.json").write_text(json.dumps({"model": {"kind": "model", "config": CONFIG}}))
    args = [str(tmp_path / "art"), str(tmp_path / "missing.json"), "1", str(tmp_path / "out")]
    assert replay.main(args) == 0
    assert json.loads((tmp_path / "out" / "summary.json").read_text()) == {}
