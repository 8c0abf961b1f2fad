"""Verified trainings handed to a grading kernel, so that it need not train what is already known.

Since the notebook trains in float64, a training is a pure function of where it starts: the
architecture, the seed set before it, the initial weights, the compile and fit arguments and the
data. A training the grader has done (``replay``, kept in the ``TrainingCache``) is therefore the
very result a grading kernel would compute from the same start, and the kernel can be given it.

The grader's side (``build``): before the kernel runs, the cache's entries for *this* grading's
networks (the grader's seed plus each network's offset: never another student's) are copied into
a folder the kernel's sandbox sees read-only, each named by ``serve_key`` of its start.

The kernel's side (``install``, called by the cell the kit puts before the student's first): once
Keras is imported, ``Model.fit`` is wrapped. A fit whose start (as the kernel sees it) has a served
entry gets that entry's weights, optimizer state and history instead of training; any other fit
trains as always. The student's code still runs and its answers still come from its own code.
Nothing the kernel does here is believed: the replay and the clean check check every curve and
weight they grade against the grader's own training, as they do without a cache.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from autograder.grading.verify.replay import SEED_OFFSETS, canonical_config, network_seed
from autograder.grading.verify.trainings import TrainingCache, serve_key, start_of

#: Beside a grading's work folder: the trainings served to its kernel (read-only in the sandbox).
SERVED_SUFFIX = ".served"
#: What a fit is served with, printed in the notebook's output in place of the progress bars.
SERVED_LINE = "fmnist-kit: verified training served ({epochs} epochs, the grader checks it)"


def build(cache: TrainingCache, seed: int, dest: Path) -> int:
    """Copy the cache's entries for the networks trained from ``seed`` (plus each offset) into
    ``dest``, named by their serve key; the number copied. Only signed, whole entries are copied."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    dest.chmod(0o755)
    n = 0
    for fingerprint, record in list(cache.records()):
        spec = record.get("spec")
        if (not isinstance(spec, dict) or spec.get("name") not in SEED_OFFSETS
                or spec.get("seed") != network_seed(seed, str(spec["name"]))
                or not isinstance(record.get("start"), dict)):
            continue  # another grading's network (another student's seed): never shown to this one
        trained = cache.get(fingerprint)  # the arrays checked against the signed record
        if trained is None or not trained.optimizer or not isinstance(spec.get("config"), dict):
            continue
        stem = serve_key(spec["config"], record["start"])
        shutil.copyfile(cache.folder / f"{fingerprint}.npz", dest / f"{stem}.npz")  # type: ignore[operator]
        meta = {"history": trained.history, "n_weights": len(trained.weights),
                "n_optimizer": len(trained.optimizer), "epochs": record["start"].get("epochs")}
        (dest / f"{stem}.json").write_text(json.dumps(meta), encoding="utf-8")
        n += 1
    for p in dest.iterdir():
        p.chmod(0o644)
    return n


def cell_source(folder: Path) -> str:
    """The cell put before the student's first: it wraps ``fit`` once Keras is imported."""
    return ("# --- fmnist-kit: verified trainings for this grading (added at grading time) ---\n"
            "try:\n"
            "    from autograder.grading.verify import served as __fmnist_kit_served\n"
            f"    __fmnist_kit_served.install({str(folder)!r})\n"
            "    del __fmnist_kit_served\n"
            "except Exception:  # no kit here: every fit trains\n"
            "    pass\n")


# --------------------------------------------------------------------------- the kernel's side


def install(folder: str) -> None:
    """Wrap ``keras.Model.fit`` as soon as a cell has imported Keras (the notebook's own setup
    cell sets its options before TensorFlow loads: importing it here first would undo them)."""
    import sys

    from IPython import get_ipython

    ip = get_ipython()
    if ip is None or not Path(folder).is_dir():
        return

    def after_cell(*_: Any) -> None:
        keras = sys.modules.get("keras")
        model_cls = getattr(keras, "Model", None) if keras is not None else None
        if model_cls is None or getattr(model_cls.fit, "_fmnist_kit_served", False):
            return
        model_cls.fit = _wrap(model_cls.fit, Path(folder))
        ip.events.unregister("post_run_cell", after_cell)

    ip.events.register("post_run_cell", after_cell)


def _wrap(fit: Any, folder: Path) -> Any:
    import functools
    import inspect

    signature = inspect.signature(fit)

    @functools.wraps(fit)
    def served_fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            hit = lookup(self, bound.arguments, folder)
        except Exception:  # anything unexpected: train as always
            hit = None
        if hit is None:
            return fit(self, *args, **kwargs)
        return serve(self, hit, bound.arguments)

    served_fit._fmnist_kit_served = True  # type: ignore[attr-defined]
    return served_fit


def start_in_kernel(model: Any, a: dict[str, Any]) -> dict[str, Any] | None:
    """The start of the fit ``model.fit(**a)`` as ``trainings.start_of`` describes it, or None
    when the fit is not one the given code makes (callbacks, weights, a split, a trained optimizer)."""
    import numpy as np
    from keras.src.backend.common import global_state

    plain = (not a.get("callbacks") and a.get("validation_split") in (0, 0.0) and a.get("shuffle") is True
             and a.get("class_weight") is None and a.get("sample_weight") is None
             and a.get("initial_epoch") == 0 and a.get("steps_per_epoch") is None
             and a.get("validation_steps") is None and a.get("validation_freq") == 1)
    if not plain or not isinstance(a.get("x"), np.ndarray) or not isinstance(a.get("y"), np.ndarray):
        return None
    if getattr(model, "optimizer", None) is None or int(model.optimizer.iterations.numpy()) != 0:
        return None
    data = {"x": a["x"], "y": a["y"]}
    val = a.get("validation_data")
    if val is not None:
        if not (isinstance(val, tuple) and len(val) == 2 and all(isinstance(v, np.ndarray) for v in val)):
            return None
        data.update(val_x=val[0], val_y=val[1])
    batch = a.get("batch_size") or 32
    vbatch = (a.get("validation_batch_size") or batch) if val is not None else None
    seed = global_state.get_global_attribute("global_random_seed")
    return start_of(seed, model.get_weights(), model.get_compile_config(), data, a["epochs"], batch, vbatch)


def lookup(model: Any, a: dict[str, Any], folder: Path) -> Path | None:
    """The served entry for this fit, or None (then it trains)."""
    start = start_in_kernel(model, a)
    if start is None:
        return None
    stem = folder / serve_key(canonical_config(json.loads(model.to_json())), start)
    return stem if stem.with_suffix(".json").is_file() else None


def serve(model: Any, stem: Path, a: dict[str, Any]) -> Any:
    """Leave ``model`` as its fit would (weights, optimizer state, ``model.history``) and return
    the ``History`` the fit would have returned."""
    import numpy as np
    from keras.callbacks import History

    meta = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
    n_w, n_o = int(meta["n_weights"]), int(meta["n_optimizer"])
    with np.load(stem.with_suffix(".npz"), allow_pickle=False) as z:
        arrays = [z[f"arr_{i}"] for i in range(n_w + n_o)]
    model.set_weights(arrays[:n_w])
    model.optimizer.build(model.trainable_variables)
    for var, value in zip(model.optimizer.variables, arrays[n_w:], strict=True):
        var.assign(value)
    history = History()
    history.set_model(model)
    history.params = {"verbose": a.get("verbose"), "epochs": a["epochs"], "steps": None}
    history.epoch = list(range(int(a["epochs"])))
    history.history = {k: list(v) for k, v in meta["history"].items()}
    model.history = history
    print(SERVED_LINE.format(epochs=a["epochs"]))  # in the grading's executed notebook: what was served
    return history
