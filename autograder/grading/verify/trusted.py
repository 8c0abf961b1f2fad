"""What the clean check grades against: the grader's own trainings (``replay``), never the kernel's.

The replay stage trained each graded network itself, from the exported architecture and the seed
the grader derives; its results are in a folder the student's code never saw. Here the clean
check puts them in place of what the kernel exported:

- each ``hist_<name>`` is graded against the curves recorded in the submitted notebook (what the
  student saw) when they lie within the release's ``curve_band`` of the replay (an honest run on
  any computer), otherwise against the replay, flagged with both (``recorded.reconcile``);
  without a replay (no network exported, or one the exercise does not allow) the history is not
  believed at all and the readings that use it fail, saying why;
- Part 1's ``model``: its exported final weights must be the replay's (within the band); otherwise
  the accuracy questions are graded on the replay's network and the row is flagged. Part 1's
  ``history`` (how many epochs) is the replay's when the weights match, else not believed;
- the scaled-image summaries (``train_images``, ``test_images``) are the kernel's word: believed
  only when a training confirms them (a replay, which trains on the scaled images, matched the
  student's network, recorded curves or the grading run's own curves).

Pure NumPy: no TensorFlow, no student code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from autograder.grading.verify import recorded as recorded_mod
from autograder.grading.verify.replay import PART1, REFUSED_FILE, SEED_OFFSETS
from autograder.grading.verify.trainings import Trained, read_trained

SUMMARIES = ("train_images", "test_images")


class NotBelieved:
    """A value the kernel exported that no training of the grader's confirms; any use of it fails
    with ``message`` (an AssertionError, which otter reports as the test's failure)."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        raise AssertionError(self.message)

    def __getitem__(self, key: Any) -> Any:
        raise AssertionError(self.message)

    def __repr__(self) -> str:
        return f"<not believed: {self.message[:80]}>"


class _History:
    """Part 1's history as ``model.fit`` returns it (``.history``), from the replay."""

    def __init__(self, history: dict[str, list[float]]) -> None:
        self.history = history


def load(folder: Path | None) -> tuple[dict[str, Trained], dict[str, str]]:
    """The replay's trainings by network name, and the networks it refused (name -> why)."""
    if folder is None or not folder.is_dir():
        return {}, {}
    trained = {}
    for name in SEED_OFFSETS:
        t = read_trained(folder, name)
        if t is not None:
            trained[name] = t
    refused: dict[str, str] = {}
    try:
        raw = json.loads((folder / REFUSED_FILE).read_text(encoding="utf-8"))
        refused = {str(k): str(v)[:300] for k, v in raw.items()} if isinstance(raw, dict) else {}
    except (OSError, ValueError):
        pass
    return trained, refused


def as_frame(history: dict[str, list[float]]) -> Any:
    """A replayed history as the notebook holds it (a table, one row per epoch from 1)."""
    from autograder.grading.verify.artifacts import _Frame

    n = len(next(iter(history.values()), []))
    return _Frame({k: list(v) for k, v in history.items()}, list(range(1, n + 1)))


def _no_replay(var: str, name: str, refused: Mapping[str, str]) -> str:
    why = refused.get(name)
    if why:
        return (f"{var}: the grader could not train net_{name} itself ({why}); the readings that use "
                "it are not graded")
    return (f"{var}: there is no trained network net_{name} for the grader to train again; the "
            "readings that use it are not graded")


def apply_histories(env: dict[str, Any], trained: Mapping[str, Trained], refused: Mapping[str, str],
                    records: Mapping[str, Mapping[str, list[float]]], band: float
                    ) -> tuple[list[str], list[str], dict[str, float | None], int]:
    """Put the graded curve in place of each ``hist_<name>`` of ``env``.

    Returns (flags, notes, the record's distance from the replay per name, how many recorded
    curves matched a replay).
    """
    flags, notes, differences, matched = [], [], {}, 0
    for var in sorted(v for v in env if v.startswith("hist_")):
        name = var[len("hist_"):]
        if name not in SEED_OFFSETS or name == PART1:
            continue
        t = trained.get(name)
        if t is None:
            message = _no_replay(var, name, refused)
            env[var] = NotBelieved(message)
            (flags if name in refused else notes).append(message)
            continue
        r = recorded_mod.reconcile(var, as_frame(t.history), records.get(name), band)
        kernel_flag, kernel_matched = _kernel_differs(var, env[var], t, band)
        env[var] = r.history
        differences[name] = r.difference
        matched += (r.difference is not None and not r.flag) or kernel_matched
        flags += [f for f in (r.flag, "" if r.flag else kernel_flag) if f]
        notes += [r.note] if r.note else []
    return flags, notes, differences, matched


def _kernel_differs(var: str, kernel: Any, t: Trained, band: float) -> tuple[str, bool]:
    """(a flag when the notebook's own training in the grading run is not the grader's: another
    seed, other epochs, or edited code; whether it is the grader's within the band)."""
    from autograder import curves

    try:
        difference = curves.curve_difference(kernel, t.history)
    except Exception:  # a history the curve analysis refuses (missing, typed in, malformed)
        return "", False
    if difference <= band + recorded_mod.BAND_SLACK:
        return "", True
    shown = "other epochs" if difference == float("inf") else f"by up to {difference:.4f}"
    return (f"{var}: the notebook's own training in the grading run differs from the grader's ({shown}): "
            "another seed, other epochs or edited code; graded against the grader's curves"), False


def _weights_difference(model: Any, weights: list[np.ndarray]) -> float:
    try:
        mine = [np.asarray(w, dtype=np.float64) for w in model.get_weights()]
    except Exception:
        return float("inf")
    if len(mine) != len(weights) or any(a.shape != b.shape for a, b in zip(mine, weights, strict=True)):
        return float("inf")
    return max((float(np.max(np.abs(a - b))) if a.size else 0.0 for a, b in zip(mine, weights, strict=True)),
               default=0.0)


def apply_part1(env: dict[str, Any], trained: Mapping[str, Trained], refused: Mapping[str, str],
                band: float, model_type: tuple[type, ...]) -> tuple[list[str], bool]:
    """Part 1's ``model`` and ``history`` against the replay; (flags, the weights matched)."""
    if PART1 not in env and "history" not in env:
        return [], False
    t = trained.get(PART1)
    if t is None:
        why = refused.get(PART1, "no trained model was exported")
        if "history" in env:
            env["history"] = NotBelieved(f"history: the grader could not train the model itself ({why}), "
                                         "so the number of epochs is not confirmed")
        return ([f"model: the grader could not train it itself ({why})"] if PART1 in refused else []), False
    difference = _weights_difference(env.get(PART1), t.weights)
    if difference <= band + recorded_mod.BAND_SLACK:
        env["history"] = _History(t.history)
        return [], True
    try:
        env[PART1] = replayed_model(env, t)
    except Exception as exc:  # the replay's record lacks its architecture: nothing to grade on
        env[PART1] = NotBelieved(f"model: the grader's own network could not be rebuilt "
                                 f"({type(exc).__name__})")
    env["history"] = NotBelieved(
        "history: the trained model is not the one the given code trains from the seed "
        f"({len(t.history.get('loss', []))} epochs), so its history is not believed")
    shown = "different weights" if difference == float("inf") else f"weights differ by up to {difference:.3g}"
    return [f"model: the exported network is not the one the grader trained from the seed ({shown}, "
            f"band {band:g}): the accuracy questions are graded on the grader's network"], False


def replayed_model(env: dict[str, Any], t: Trained) -> Any:
    """The replay's Part 1 network, evaluated with NumPy."""
    from autograder.grading.verify import numpy_net

    return numpy_net.build_from_arrays(t.config, t.weights)


def apply_summaries(env: dict[str, Any], confirmed: bool) -> list[str]:
    """The scaled-image summaries stay only when a training confirmed them."""
    if confirmed:
        return []
    notes = []
    for name in SUMMARIES:
        if name in env:
            env[name] = NotBelieved(
                f"{name}: no training of the grader's confirms how the images were scaled (the model "
                "and the recorded curves differ from the grader's own trainings, or are missing)")
            notes.append(f"{name}: not confirmed by any training")
    return notes
