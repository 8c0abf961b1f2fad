"""The grader's own training of each graded network: the trusted replay.

Every value the student's kernel exports, its histories included, was computed by the student's
code: a fabricated history, an edited epoch or curves from another seed are data like any other.
Since the notebook trains in float64, a training is a pure function of its inputs on any machine,
so the grader trains each graded network itself and believes only that.

A replay is described by a small declarative ``FitSpec``: the network's architecture (the exported
Keras config, checked against the layers this exercise allows and stripped of names), the seed
**the grader derives** (the version's seed or the HMAC of the course secret, offset per network
as the notebook's given ``train()`` does: never the notebook's ``SEED``), and the release's
recipe (data slice, epochs, batch size, the given code's compile and fit arguments). ``train``
runs it exactly as the notebook's given code does (seed, then ``clone_model`` initialises the
weights, compile, fit) and returns the history and the final weights.

``main`` is the replay stage of a grading: a process that runs no student code and parses no
student binary (only the exported ``env.json``, with size and depth limits), writes one result per
network into its output folder and keeps each training in a cache of verified trainings keyed by
the spec's fingerprint (``TrainingCache``), so the same training is never done twice for a class.
The clean check compares the student's curves and weights with these results.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autograder.grading.verify.trainings import FORMAT, Trained, TrainingCache, start_of, write_trained

#: Part 1's network (``model``) and the six networks of Parts 2-3, each with the offset the
#: notebook's given code adds to the seed for it (``NETWORK_SEEDS`` in the notebook).
SEED_OFFSETS: dict[str, int] = {"model": 0, "smaller": 1, "baseline": 2, "bigger": 3,
                                "dropout": 4, "l2": 5, "augment": 6}
PART1 = "model"
#: The given code's training recipe (the notebook's compile cell and ``train()``).
STEPS_PER_EXECUTION = 50
VALIDATION_BATCH_SIZE = 1000
PART1_BATCH_SIZE = 32  # ``model.fit``'s default, as the tutorial calls it
#: The layers this exercise builds, and the options each may set (others must keep the default).
ALLOWED_LAYERS = {"InputLayer", "Flatten", "Dense", "Dropout", "Reshape", "RandomTranslation",
                  "RandomZoom"}
#: A cache of verified trainings shared by several class folders (``grade --trainings``'s default,
#: and the zip's plugin's under ``otter run``).
CACHE_ENV = "FMNIST_KIT_TRAININGS"
#: Where a grading's replay stage writes its results (beside the work folder, outside the sandbox).
RESULT_SUFFIX = ".replay"
#: In the output folder: the networks the replay refused to train, and why.
REFUSED_FILE = "refused.json"
MAX_CONFIG_BYTES = 200_000
MAX_ENV_BYTES = 20 * 2**20
MAX_UNITS = 4096  # per Dense layer: far above the exercise's 256, far below a memory bomb


class NotReplayable(ValueError):
    """The exported architecture is not one the exercise allows: the grader cannot train it."""


@dataclass(frozen=True)
class FitSpec:
    """Everything that determines one training (its fingerprint is the cache key)."""

    name: str
    config: dict  # the canonical Sequential config (names stripped)
    seed: int  # the grader's seed plus the network's offset
    n_train: int  # 0: Part 1 (the whole training set, no validation)
    n_val: int
    epochs: int
    batch_size: int
    dtype: str = "float64"

    def fingerprint(self, versions: dict[str, str]) -> str:
        blob = json.dumps({"spec": asdict(self), "versions": versions, "format": FORMAT,
                           "recipe": [STEPS_PER_EXECUTION, VALIDATION_BATCH_SIZE]},
                          sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


def network_seed(seed: int, name: str) -> int:
    """The seed the notebook's given code trains network ``name`` with."""
    return int(seed) + SEED_OFFSETS[name]


# --------------------------------------------------------------------------- the spec


def canonical_config(config: Any) -> dict:
    """The exported Sequential config reduced to what determines a training, or ``NotReplayable``.

    Every layer must be one ``ALLOWED_LAYERS`` names, from Keras itself; layer names (``dense_7``)
    go, since they change nothing. The float type must be float64, as the notebook sets it.
    """
    if not isinstance(config, dict) or config.get("class_name") != "Sequential":
        raise NotReplayable("the network is not a keras.Sequential")
    if len(json.dumps(config)) > MAX_CONFIG_BYTES:
        raise NotReplayable("the network's description is too large")
    inner = config.get("config")
    layers = inner.get("layers") if isinstance(inner, dict) else None
    if not isinstance(layers, list) or not layers:
        raise NotReplayable("the network has no layers")
    out = []
    for layer in layers:
        if not isinstance(layer, dict) or layer.get("class_name") not in ALLOWED_LAYERS:
            cls = layer.get("class_name") if isinstance(layer, dict) else type(layer).__name__
            raise NotReplayable(f"layer {str(cls)[:60]} is not one the exercise uses")
        if str(layer.get("module", "keras")).split(".")[0] != "keras":
            raise NotReplayable("a layer comes from outside Keras")
        cfg = dict(layer.get("config") or {})
        cfg.pop("name", None)  # dense_7 or dense_2: a name changes nothing in a training
        _float64(cfg)
        units = cfg.get("units", 1)
        if not isinstance(units, int) or isinstance(units, bool) or not 1 <= units <= MAX_UNITS:
            raise NotReplayable(f"a Dense layer of {str(units)[:20]} units")
        out.append({"class_name": layer["class_name"], "config": cfg})
    return {"class_name": "Sequential", "config": {"name": "replay", "layers": out}}


def _float64(cfg: dict) -> None:
    dtype = cfg.get("dtype")
    name = dtype.get("config", {}).get("name") if isinstance(dtype, dict) else dtype
    if name not in (None, "float64"):
        raise NotReplayable(f"the network computes in {str(name)[:20]}, not float64")


def specs_for(configs: dict[str, Any], seed: int, params: dict[str, Any]
              ) -> tuple[dict[str, FitSpec], dict[str, str]]:
    """The specs of the graded networks whose configs were exported; (specs, why not replayable)."""
    specs, refused = {}, {}
    for name, config in configs.items():
        if name not in SEED_OFFSETS:
            continue
        try:
            canon = canonical_config(config)
        except NotReplayable as exc:
            refused[name] = str(exc)
            continue
        part1 = name == PART1
        specs[name] = FitSpec(
            name=name, config=canon, seed=network_seed(seed, name),
            n_train=0 if part1 else int(params["n_train"]), n_val=0 if part1 else int(params["n_val"]),
            epochs=int(params["epochs_part1"] if part1 else params["epochs"]),
            batch_size=PART1_BATCH_SIZE if part1 else int(params["batch_size"]))
    return specs, refused


# --------------------------------------------------------------------------- the training


def keras_setup() -> Any:
    """TensorFlow as the notebook's setup cell leaves it: CPU only, float64, deterministic ops."""
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    from tensorflow import keras

    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:
        pass
    keras.config.set_floatx("float64")
    tf.config.experimental.enable_op_determinism()
    return keras


def versions() -> dict[str, str]:
    """The library versions a training depends on (part of its fingerprint), from the installed
    packages' metadata: a replay whose trainings all come from the cache never imports TensorFlow."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for key, dists in (("tensorflow", ("tensorflow", "tensorflow-cpu", "tf-nightly")), ("keras", ("keras",))):
        for dist in dists:
            try:
                out[key] = version(dist)
                break
            except PackageNotFoundError:
                continue
        else:
            out[key] = "missing"
    return out


def train(spec: FitSpec, images: np.ndarray, labels: np.ndarray) -> Trained:
    """Train ``spec`` as the notebook's given code does; ``images`` are the raw uint8 images."""
    from keras.src.saving.serialization_lib import SafeModeScope

    keras = keras_setup()
    start = time.process_time()
    x = images.astype("float64") / 255.0
    with SafeModeScope(True):
        built = keras.Sequential.from_config(spec.config["config"])
    keras.utils.set_random_seed(spec.seed)
    model = keras.models.clone_model(built)  # the given code: the weights initialised from the seed
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=STEPS_PER_EXECUTION)
    if spec.n_train:
        data = {"x": x[:spec.n_train], "y": labels[:spec.n_train], "val_x": x[-spec.n_val:],
                "val_y": labels[-spec.n_val:]}
    else:
        data = {"x": x, "y": labels}
    began = start_of(spec.seed, model.get_weights(), model.get_compile_config(), data, spec.epochs,
                     spec.batch_size, VALIDATION_BATCH_SIZE if spec.n_train else None)
    if spec.n_train:
        history = model.fit(data["x"], data["y"], epochs=spec.epochs, batch_size=spec.batch_size,
                            validation_data=(data["val_x"], data["val_y"]),
                            validation_batch_size=VALIDATION_BATCH_SIZE, verbose=0)
    else:
        history = model.fit(x, labels, epochs=spec.epochs, batch_size=spec.batch_size, verbose=0)
    hist = {str(k): [float(v) for v in vals] for k, vals in history.history.items()}
    return Trained(hist, [np.asarray(w) for w in model.get_weights()], time.process_time() - start,
                   optimizer=[np.asarray(v) for v in model.optimizer.variables], start=began)


def _say(line: str) -> None:
    print(line, flush=True)  # the grading's log shows each network as it is done


def replay_all(specs: dict[str, FitSpec], out: Path, cache: TrainingCache,
               log=_say) -> dict[str, Any]:
    """Train (or take from the cache) every spec; write ``out/<name>.json|npz``; return a summary."""
    from autograder import data

    vers = versions()
    ds = None
    summary: dict[str, Any] = {}
    for name, spec in specs.items():
        fp = spec.fingerprint(vers)
        with cache.lock(fp):
            trained = cache.get(fp)
            if trained is None:
                if ds is None:
                    ds = data.load()
                trained = train(spec, ds.train_images, ds.train_labels)
                cache.put(fp, trained, {"spec": asdict(spec)})
        write_trained(out, name, trained, {"fingerprint": fp, "spec": asdict(spec), "cached": trained.cached})
        summary[name] = {"cached": trained.cached, "seconds": round(trained.seconds, 2)}
        log(f"replay {name}: {'from the cache of verified trainings' if trained.cached else 'trained'} "
            f"({trained.seconds:.1f} s CPU)")
    return summary


def exported_configs(artifacts: Path) -> dict[str, Any]:
    """The architectures the kernel exported for the graded networks (``env.json``'s model
    records), read as plain JSON with a size limit: the replay never opens a weights file."""
    from autograder.grading.verify.kernel_export import ENV_FILE

    path = artifacts / ENV_FILE
    try:
        if path.is_symlink() or path.stat().st_size > MAX_ENV_BYTES:
            return {}
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(records, dict):
        return {}
    names = {"net_" + n: n for n in SEED_OFFSETS if n != PART1} | {PART1: PART1}
    return {names[var]: rec.get("config") for var, rec in records.items()
            if var in names and isinstance(rec, dict) and rec.get("kind") == "model"}


def main(argv: list[str] | None = None) -> int:
    """``python -m autograder.grading.verify.replay ARTIFACTS PARAMS SEED OUT [CACHE]``: train the
    graded networks whose architectures the kernel exported into ARTIFACTS, with the release's
    PARAMS file and the grader's SEED, into OUT (one ``<name>.json|npz`` each, ``refused.json``),
    taking and keeping verified trainings in the folder CACHE."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (4, 5):
        print("usage: python -m autograder.grading.verify.replay ARTIFACTS PARAMS SEED OUT [CACHE]",
              file=sys.stderr)
        return 2
    artifacts, params_file, seed, out = Path(args[0]), Path(args[1]), int(args[2]), Path(args[3])
    try:
        params = json.loads(params_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # an autograder without the kit's parameters: nothing to replay
        params = {}
    recipe = ("n_train", "n_val", "epochs", "epochs_part1", "batch_size")
    ok = isinstance(params, dict) and all(isinstance(params.get(k), int) for k in recipe)
    specs, refused = specs_for(exported_configs(artifacts), seed, params) if ok else ({}, {})
    out.mkdir(parents=True, exist_ok=True)
    (out / REFUSED_FILE).write_text(json.dumps(refused), encoding="utf-8")
    cache = TrainingCache(Path(args[4]) if len(args) == 5 else None)
    summary = replay_all(specs, out, cache)
    (out / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
