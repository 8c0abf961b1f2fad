"""The signed cache of verified trainings and what of it a grading kernel is served (no TensorFlow:
the served fits themselves are graded in ``tests/e2e`` and the corpus)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from autograder.grading.verify import replay, served, trainings

CONFIG = {"class_name": "Sequential", "config": {"name": "replay", "layers": [
    {"class_name": "Flatten", "config": {}}, {"class_name": "Dense", "config": {"units": 10}}]}}


def entry(value: float, seed: int, name: str = "bigger") -> tuple[replay.FitSpec, trainings.Trained]:
    spec = replay.FitSpec(name=name, config=CONFIG, seed=seed, n_train=4000, n_val=5000, epochs=2,
                          batch_size=32)
    start = trainings.start_of(seed, [np.zeros(3)], {"optimizer": "adam"}, {"x": np.arange(4.0)}, 2, 32,
                               1000)
    trained = trainings.Trained({"loss": [1.0, value]}, [np.full((2, 2), value)], optimizer=[np.zeros(2)],
                                start=start)
    return spec, trained


def put(cache: trainings.TrainingCache, spec: replay.FitSpec, trained: trainings.Trained) -> str:
    fp = spec.fingerprint(replay.versions())
    cache.put(fp, trained, {"spec": spec.__dict__})
    return fp


def test_a_kernel_is_served_only_its_own_networks(tmp_path: Path):
    """Is a grading served the trainings of its own seed (one per network and offset), and never
    those of another student's seed, nor an entry without the optimizer state a fit leaves?"""
    cache = trainings.TrainingCache(tmp_path / "cache")
    mine = [put(cache, *entry(0.5, 100 + replay.SEED_OFFSETS[n], n)) for n in ("bigger", "smaller", "model")]
    put(cache, *entry(0.7, 200 + replay.SEED_OFFSETS["bigger"]))  # another student's Bigger
    put(cache, *entry(0.9, 100 + replay.SEED_OFFSETS["smaller"], "bigger"))  # the seed of another network
    spec, bare = entry(0.3, 100 + replay.SEED_OFFSETS["l2"], "l2")
    put(cache, spec, trainings.Trained(bare.history, bare.weights, start=bare.start))  # no optimizer state
    assert served.build(cache, 100, tmp_path / "served") == len(mine) == 3
    histories = sorted(json.loads(p.read_text())["history"]["loss"][-1]
                       for p in (tmp_path / "served").glob("*.json"))
    assert histories == [0.5, 0.5, 0.5]
    assert {p.stat().st_mode & 0o777 for p in (tmp_path / "served").iterdir()} == {0o644}
    assert served.build(cache, 200, tmp_path / "served") == 1  # built anew: the other student's only


def test_an_entry_written_without_the_caches_key_is_discarded_however_well_formed(tmp_path: Path):
    """A hostile entry planted in the cache folder: the right fingerprint, a record whose hash of
    the arrays is right, a made-up history. Without the cache's key it is never believed nor
    served, and is removed."""
    cache = trainings.TrainingCache(tmp_path / "cache")
    spec, honest = entry(0.5, 100)
    fp = put(cache, spec, honest)
    forged = trainings.Trained({"loss": [0.1, 0.01]}, [np.full((2, 2), 9.0)], optimizer=[np.zeros(2)],
                               start=honest.start)
    trainings.write_trained(tmp_path / "cache", fp, forged, {"fingerprint": fp, "spec": spec.__dict__},
                            key=b"not the cache's key")
    assert served.build(cache, 100, tmp_path / "served") == 0
    assert cache.get(fp) is None and not (tmp_path / "cache" / f"{fp}.json").exists()
    trainings.write_trained(tmp_path / "cache", fp, forged, {"fingerprint": fp, "spec": spec.__dict__})
    assert cache.get(fp) is None  # unsigned: the same


def test_the_key_is_the_owners_alone_and_a_new_key_disowns_old_entries(tmp_path: Path):
    """The signing key is mode 0600; a cache whose key was replaced believes none of its entries."""
    cache = trainings.TrainingCache(tmp_path)
    fp = put(cache, *entry(0.5, 1))
    assert (tmp_path / trainings.KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert trainings.TrainingCache(tmp_path).get(fp) is not None
    (tmp_path / trainings.KEY_FILE).write_text("ab" * 32)
    assert trainings.TrainingCache(tmp_path).get(fp) is None


@pytest.mark.parametrize("change", ["seed", "weights", "data", "epochs", "compile", "validation"])
def test_the_start_of_a_training_names_everything_that_changes_it(change: str):
    """Does any change of where a training starts (the seed set, the initial weights, the data, the
    fit or compile arguments) give another serve key, so that no other fit is ever served?"""
    args = {"seed": 1, "weights": [np.zeros(3)], "compile_config": {"steps_per_execution": 50},
            "data": {"x": np.arange(6.0).reshape(2, 3), "y": np.arange(2)}, "epochs": 15, "batch_size": 32,
            "validation_batch_size": 1000}
    base = trainings.serve_key(CONFIG, trainings.start_of(**args))
    edits = {"seed": {"seed": 2}, "weights": {"weights": [np.array([0.0, 0.0, 1e-12])]},
             "data": {"data": {"x": np.arange(6.0).reshape(3, 2), "y": np.arange(2)}},
             "epochs": {"epochs": 14}, "compile": {"compile_config": {"steps_per_execution": 1}},
             "validation": {"validation_batch_size": 32}}
    edited = {**args, **edits[change]}
    assert trainings.serve_key(CONFIG, trainings.start_of(**edited)) != base
    assert trainings.serve_key(CONFIG, trainings.start_of(**args)) == base


def test_the_optimizers_name_is_no_part_of_the_start():
    """Keras names a process's optimizers adam, adam_1, adam_6, ...: the same training started from a
    notebook's sixth compile must be served the entry the replay's first compile wrote."""
    def start(name: str) -> dict:
        optimizer = {"class_name": "Adam", "config": {"name": name, "learning_rate": 0.001}}
        compile_config = {"optimizer": optimizer, "loss": "sparse_categorical_crossentropy"}
        return trainings.start_of(1, [np.zeros(3)], compile_config, {"x": np.arange(3.0)}, 15, 32, 1000)

    assert trainings.serve_key(CONFIG, start("adam_1")) == trainings.serve_key(CONFIG, start("adam_6"))
    other = start("adam_1")
    other["compile"]["optimizer"]["config"]["learning_rate"] = 0.01
    assert trainings.serve_key(CONFIG, other) != trainings.serve_key(CONFIG, start("adam_1"))
