"""Scores the student cannot forge: artifacts exported from the kernel, tests run in a clean process.

otter runs its tests inside the student's kernel and reads back what that kernel wrote, so a
submission that monkeypatches a checker, returns an object whose ``__eq__`` is always true or
writes a forged results file can score points it did not earn. The kit grades differently:

1. the student's kernel runs with the *public* tests only (``export.public_tests``); the hidden
   tests are not in its sandbox;
2. a cell appended by the kit (``export.export_cell``) writes the values the tests need as plain data
   into ``kit_artifacts/``: JSON for numbers, strings and histories, ``.npy`` without pickles
   for arrays, Keras JSON config plus ``.weights.h5`` for models;
3. a fresh process that runs no student code (``grade_clean``) rebuilds an environment from
   those files (``load_environment``), checks it for consistency (each history's last
   validation accuracy must be what the exported network really scores), and runs all of
   otter's test files, hidden ones included, against it. A regenerated history that matches
   the curves recorded in the submitted notebook within the release's band is graded as the
   student recorded it (``recorded``).

Anything the kernel forged is data that fails these checks; nothing it wrote is unpickled.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autograder.grading import recorded as recorded_mod
from autograder.grading.curve_summary import curve_summary
from autograder.grading.export import ENV_FILE
from autograder.params import PARAMS_FILE

MAX_ENV_BYTES = 20 * 2**20
HISTORY_TOLERANCE = 2e-3

# --------------------------------------------------------------------------- environment


@dataclass(frozen=True)
class ArraySummary:
    """A large array the kernel described instead of exporting (e.g. 60,000 scaled images).

    ``min()`` and ``max()`` answer as the array's would, so ``np.min(x)`` and ``x.max()`` in a
    public test read the same in the kernel and here (a test that reads them must not fail here
    only because the array was summarised).
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    lowest: float | None
    highest: float | None

    def min(self, axis=None, out=None, **_: Any) -> float:
        return self._whole("min", self.lowest, axis, out)

    def max(self, axis=None, out=None, **_: Any) -> float:
        return self._whole("max", self.highest, axis, out)

    @staticmethod
    def _whole(what: str, value: float | None, axis: Any, out: Any) -> float:
        if axis is not None or out is not None or value is None:
            raise TypeError(f"the array was summarised: only its whole {what} is known")
        return value


class Unreadable:
    """A value that could not be exported or did not pass the checks; tests fail on it."""

    def __init__(self, type_name: str, why: str) -> None:
        self.type_name, self.why = type_name, why

    def __repr__(self) -> str:
        return f"<{self.type_name}: {self.why}>"


class ExportedFunction:
    """A function defined in the notebook: code, which the clean process does not run."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("関数は採点時に再実行しません / functions are not re-run when grading")


class _History:
    def __init__(self, history: dict[str, list[float]]) -> None:
        self.history = history


class _Frame:
    """A history the notebook kept as a pandas DataFrame, read back without importing pandas
    (about 0.3 s of the clean check's CPU): its columns in order and its index, which is what
    ``curves`` reads of a DataFrame (and validates the same way), and the copy and column
    assignment ``recorded.as_history_like`` uses."""

    def __init__(self, columns: dict[str, list[float]], index: list[int]) -> None:
        self._cols, self.index = columns, index

    @property
    def columns(self) -> list[str]:
        return list(self._cols)

    def __getitem__(self, col: str) -> list[float]:
        return self._cols[col]

    def __setitem__(self, col: str, values: list[float]) -> None:
        self._cols[col] = list(values)

    def __len__(self) -> int:
        return len(self.index)

    def copy(self) -> _Frame:
        return _Frame({k: list(v) for k, v in self._cols.items()}, list(self.index))


class InconsistentHistory:
    """A history whose last epoch is not what its network scores: forged or edited."""

    def __init__(self, name: str, claimed: float | None, measured: float | None) -> None:
        if claimed is None or measured is None:
            self.message = (
                f"{name} を作った学習済みネットワークがありません / {name} has no trained network "
                "behind it (keep the net_... variables the notebook defines)"
            )
            return
        self.message = (
            f"{name} の記録が学習したネットワークと一致しません（最後の検証精度 {claimed:.4f}、実際は "
            f"{measured:.4f}） / {name} does not match the trained network (last validation accuracy "
            f"{claimed:.4f}, the network scores {measured:.4f})"
        )

    @property
    def history(self) -> dict:
        raise AssertionError(self.message)

    def __getitem__(self, key: str) -> Any:
        raise AssertionError(self.message)


def _number(v: Any) -> float:
    if isinstance(v, str):
        return float(v)  # 'nan' / 'inf' as written by the export cell
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"not a number: {type(v).__name__}")
    return float(v)


def _safe_file(folder: Path, name: str) -> Path:
    path = folder / name
    if path.is_symlink() or not path.is_file() or path.resolve().parent != folder.resolve():
        raise ValueError(f"{name} is missing or not a plain file")
    return path


def _only_keras_modules(config: Any) -> None:
    """Refuse configs naming classes outside Keras (custom code would have to be imported)."""
    if isinstance(config, dict):
        module = config.get("module")
        if module is not None and not (isinstance(module, str) and module.split(".")[0] == "keras"):
            raise ValueError(f"model uses a class from {str(module)[:60]!r}; only Keras layers are allowed")
        for v in config.values():
            _only_keras_modules(v)
    elif isinstance(config, list):
        for v in config:
            _only_keras_modules(v)


def _load_model(config: Any, weights: Path) -> Any:
    import keras
    from keras.src.saving.serialization_lib import SafeModeScope, deserialize_keras_object

    _only_keras_modules(config)
    # safe mode refuses Lambda layers carrying code; only built-in layers can be rebuilt.
    with SafeModeScope(True):
        model = deserialize_keras_object(config)
    if not isinstance(model, keras.Model):
        raise ValueError("not a Keras model")
    model.load_weights(weights)
    return model


def _decode(name: str, rec: Any, folder: Path) -> Any:
    if not isinstance(rec, dict) or not isinstance(rec.get("kind"), str):
        raise ValueError("malformed record")
    kind, tname = rec["kind"], str(rec.get("type", "?"))[:100]
    if kind == "missing":
        return _MISSING
    if kind == "none":
        return None
    if kind == "ellipsis":
        return Ellipsis
    if kind == "bool":
        value = rec["value"]
        if not isinstance(value, bool):
            raise ValueError("bool expected")
        return np.bool_(value) if tname.startswith("numpy.") else value
    if kind == "int":
        value = rec["value"]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("int expected")
        return np.int64(value) if tname.startswith("numpy.") else value
    if kind == "float":
        value = _number(rec["value"])
        return np.float64(value) if tname.startswith("numpy.") else value
    if kind == "str":
        if not isinstance(rec["value"], str):
            raise ValueError("str expected")
        return rec["value"]
    if kind == "history":
        return _History({str(k): [_number(x) for x in v] for k, v in dict(rec["value"]).items()})
    if kind == "frame":
        index = [int(i) for i in rec["index"]]
        columns = {str(k): [_number(x) for x in v] for k, v in dict(rec["value"]).items()}
        if any(len(v) != len(index) for v in columns.values()):
            raise ValueError("a frame's columns and index differ in length")
        return _Frame(columns, index)
    if kind == "array":
        return np.load(_safe_file(folder, f"{name}.npy"), allow_pickle=False)
    if kind == "array_summary":
        lo, hi = rec.get("min"), rec.get("max")
        return ArraySummary(tuple(int(s) for s in rec["shape"]), np.dtype(str(rec["dtype"])),
                            None if lo is None else _number(lo), None if hi is None else _number(hi))
    if kind == "function":
        return ExportedFunction(tname)
    if kind == "model":
        config = rec["config"]
        _only_keras_modules(config)
        return _PendingModel(config, _safe_file(folder, f"{name}.weights.h5"))
    return Unreadable(tname, f"value of kind {kind!r}: {str(rec.get('error', ''))[:200]}")


class _Missing:
    pass


@dataclass(frozen=True)
class _PendingModel:
    """An exported network not yet rebuilt: with NumPy, or with Keras if one needs it."""

    config: Any
    weights: Path


#: How the clean check evaluated the exported networks (``networks`` in its result).
NUMPY, KERAS, NO_NETWORKS = "numpy", "keras", "none"


def _rebuild_models(env: dict[str, Any], problems: list[str], use_numpy: bool) -> tuple[str, str]:
    """Rebuild every pending network in ``env``; return (path taken, why Keras was needed).

    All with NumPy (``numpy_net``) when every network is made of layers it knows, otherwise all
    with Keras in safe mode: the tests then see one kind of model.
    """
    pending = {n: v for n, v in env.items() if isinstance(v, _PendingModel)}
    if not pending:
        return NO_NETWORKS, ""
    built: dict[str, Any] = {}
    why = "" if use_numpy else "NumPy evaluation switched off"
    if use_numpy:
        from autograder.grading import numpy_net

        for name, p in pending.items():
            try:
                built[name] = numpy_net.build(p.config, p.weights)
            except numpy_net.Unsupported as exc:
                why = f"{name}: {exc}"
                break
            except Exception as exc:  # weights that do not fit the config: the value is unusable
                problems.append(f"{name}: {type(exc).__name__}: {str(exc)[:200]}")
                built[name] = Unreadable("model", "could not be read back")
    path = NUMPY
    if why:
        path, built = KERAS, {}
        for name, p in pending.items():
            try:
                built[name] = _load_model(p.config, p.weights)
            except Exception as exc:
                problems.append(f"{name}: {type(exc).__name__}: {str(exc)[:200]}")
                built[name] = Unreadable("model", "could not be read back")
    env.update(built)
    return path, why


_MISSING = _Missing()


def load_environment(folder: Path, *, use_numpy: bool = True) -> tuple[dict[str, Any], list[str]]:
    """Rebuild the tested variables from ``folder``; return (environment, problems)."""
    env, problems, _, _ = load_environment_path(folder, use_numpy=use_numpy)
    return env, problems


def load_environment_path(folder: Path, *, use_numpy: bool = True
                          ) -> tuple[dict[str, Any], list[str], str, str]:
    """``load_environment`` and how the networks were rebuilt: (env, problems, path, why Keras)."""
    env, problems = _decode_all(folder)
    path, why = _rebuild_models(env, problems, use_numpy)
    return env, problems, path, why


def _decode_all(folder: Path) -> tuple[dict[str, Any], list[str]]:
    env_path = folder / ENV_FILE
    problems: list[str] = []
    if not env_path.is_file() or env_path.is_symlink():
        return {}, ["the notebook did not reach the end: no exported values"]
    if env_path.stat().st_size > MAX_ENV_BYTES:
        return {}, ["the exported values are too large"]
    try:
        records = json.loads(env_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}, ["the exported values are not valid JSON"]
    if not isinstance(records, dict):
        return {}, ["the exported values are malformed"]
    env: dict[str, Any] = {}
    for name, rec in records.items():
        if not isinstance(name, str) or not name.isidentifier():
            continue
        try:
            value = _decode(name, rec, folder)
        except Exception as exc:  # malformed data from the kernel: record, never crash
            problems.append(f"{name}: {type(exc).__name__}: {str(exc)[:200]}")
            value = Unreadable(str(rec.get("type", "?")) if isinstance(rec, dict) else "?",
                               "could not be read back")
        if value is not _MISSING:
            env[name] = value
    return env, problems


def _keras_model_type() -> tuple[type, ...]:
    """The rebuilt networks' types: ``numpy_net.NumpyModel``, and ``keras.Model`` if Keras was
    loaded (only ``_load_model`` imports it): a submission whose networks NumPy evaluates is
    checked without loading TensorFlow."""
    from autograder.grading.numpy_net import NumpyModel

    keras = sys.modules.get("keras")
    return (NumpyModel,) if keras is None else (NumpyModel, keras.Model)


def check_histories(env: dict[str, Any], params: dict[str, Any]) -> list[str]:
    """Replace each ``hist_X`` whose last validation accuracy its ``net_X`` does not reproduce."""
    from autograder import data

    model_type = _keras_model_type()
    notes: list[str] = []
    pairs = []
    for hist_name in [h for h in env if h.startswith("hist_")]:
        net_name = "net_" + hist_name[len("hist_"):]
        if isinstance(env.get(net_name), model_type):
            pairs.append((hist_name, net_name))
        elif not isinstance(env[hist_name], Unreadable):
            env[hist_name] = InconsistentHistory(hist_name, None, None)
            notes.append(f"{hist_name}: no trained network {net_name} to check it against")
    if not pairs or "n_val" not in params:
        return notes
    n_val = int(params["n_val"])
    ds = data.load()
    x_val = ds.train_images[-n_val:].astype("float64") / 255.0
    y_val = ds.train_labels[-n_val:]
    for hist_name, net_name in pairs:
        h = env[hist_name]
        try:
            claimed = float(list(h["val_accuracy"])[-1]) if hasattr(h, "columns") else float(
                h.history["val_accuracy"][-1])
        except Exception:
            continue  # the readings tests report an unusable history themselves
        probs = np.asarray(env[net_name].predict(x_val, verbose=0, batch_size=1000))
        measured = float(np.mean(np.argmax(probs, axis=1) == y_val))
        if not math.isfinite(claimed) or abs(claimed - measured) > HISTORY_TOLERANCE:
            env[hist_name] = InconsistentHistory(hist_name, claimed, measured)
            notes.append(f"{hist_name}: last val_accuracy {claimed:.4f}, network scores {measured:.4f}")
    return notes


def measured_test_accuracy(env: dict[str, Any]) -> float | None:
    """The test accuracy of the exported Part 1 model on the real test set (for the report)."""
    model = env.get("model")
    if not isinstance(model, _keras_model_type()):
        return None
    try:
        from autograder.checks import real_test_set

        x, y = real_test_set()
        probs = np.asarray(model.predict(x, verbose=0, batch_size=1000))
        return float(np.mean(np.argmax(probs, axis=1) == y))
    except Exception:
        return None


def _takes_function(case: Any, env: dict[str, Any]) -> bool:
    """Does a test case take a notebook function (not comparable between kernel and clean run)?"""
    try:
        names = case._get_func_params()
    except Exception:
        return True
    return any(isinstance(env.get(n), ExportedFunction) for n in names)


def grade_clean(artifacts: Path, tests_dir: Path, params: dict[str, Any],
                recorded: dict[str, dict[str, list[float]]] | None = None, *,
                use_numpy: bool = True) -> dict[str, Any]:
    """Run every otter test file against the rebuilt environment; Gradescope-style result.

    ``recorded``: the curves recorded in the submitted notebook (``recorded.STUDENT_CURVES``);
    a regenerated history is replaced by its record when the two agree within ``curve_band``.
    The networks are evaluated with NumPy when all their layers are known (the tests then see
    ``numpy_net.keras_view`` as ``keras``), else with Keras; ``networks`` in the result says which.
    """
    from contextlib import nullcontext

    from autograder.grading.numpy_net import keras_view

    ExceptionTestFile = otter_test_files().ExceptionTestFile  # noqa: N806 - otter's class

    env, problems, path, why = load_environment_path(artifacts, use_numpy=use_numpy)
    # no networks at all (a blank notebook): nothing needs TensorFlow either (~11 s of import)
    with keras_view() if path in (NUMPY, NO_NETWORKS) else nullcontext():
        result = _grade_env(env, problems, tests_dir, params, recorded, ExceptionTestFile)
    result["networks"] = path
    if why:
        result["notes"].append(f"networks evaluated with Keras ({why})")
    return result


def _grade_env(env: dict[str, Any], problems: list[str], tests_dir: Path, params: dict[str, Any],
               recorded: dict[str, dict[str, list[float]]] | None, test_file: type) -> dict[str, Any]:
    problems += [f"forged history? {n}" for n in check_histories(env, params)]
    band = float(params.get("curve_band", 0.0))
    flags, notes, differences = recorded_mod.reconcile_all(env, recorded or {}, band, usable_histories(env))
    problems += flags
    tests, gradescope = [], []
    for path in sorted(tests_dir.glob("*.py")):
        tf = test_file.from_file(str(path))
        # A public check that calls a notebook function (build_network(4)) ran in the kernel
        # already and carries no points; here it could only fail, so it is left out.
        tf.test_cases = [tc for tc in tf.test_cases
                         if tc.hidden or not _takes_function(tc.body, env)]
        tf.run(dict(env))
        public = [r.passed for r in tf.test_case_results if not r.test_case.hidden]
        tests.append({"name": tf.name, "score": tf.score, "max_score": tf.possible,
                      "output": tf.summary(), "public_passed": all(public) if public else None})
        gradescope.append({"name": tf.name, "score": tf.score, "max_score": tf.possible,
                           "visibility": "visible", "output": tf.summary()})
    total = sum(t["score"] for t in tests)
    return {"tests": tests, "problems": problems, "notes": notes,
            "test_accuracy": measured_test_accuracy(env),
            "curves": curve_summary(env, params, usable_histories(env), differences),
            "gradescope": {"score": total, "tests": gradescope}}


def otter_test_files():
    """What runs otter's test files (``ExceptionTestFile``, ``test_case``), loading only that.

    Importing any part of otter runs its package ``__init__`` (otter's whole API: nbconvert, the
    exporters, ...), and ``otter.test_files`` imports every test format (IPython, nbformat's
    validator, ...): together about 0.9 s of CPU the clean check does not need. When otter is not
    imported yet, ``otter`` and ``otter.test_files`` are registered bare (their paths, no
    ``__init__``) and only the two modules of the exception format load (standard library only);
    the test files' own ``from otter.test_files import test_case`` then finds it. Where otter is
    already imported, it is used as it is.
    """
    import importlib.machinery
    import importlib.util

    if "otter" in sys.modules:
        import otter.test_files

        return otter.test_files
    spec = importlib.util.find_spec("otter")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("otter-grader is not installed")
    for name, path in (("otter", list(spec.submodule_search_locations)),
                       ("otter.test_files", [str(Path(spec.submodule_search_locations[0]) / "test_files")])):
        bare = importlib.util.module_from_spec(importlib.machinery.ModuleSpec(name, None, is_package=True))
        bare.__path__ = path
        sys.modules[name] = bare
    import otter.test_files.exception_test as exception_test

    bare = sys.modules["otter.test_files"]
    bare.ExceptionTestFile, bare.test_case = exception_test.ExceptionTestFile, exception_test.test_case
    sys.modules["otter"].test_files = bare
    return bare


def usable_histories(env: dict[str, Any]) -> list[str]:
    """The ``hist_*`` variables that passed ``check_histories`` and the curve analysis reads."""
    from autograder import curves

    out = []
    for name, h in sorted(env.items()):
        if not name.startswith("hist_") or isinstance(h, Unreadable | InconsistentHistory):
            continue
        try:
            curves.validated(h)
        except Exception:  # an unusable history: the readings tests report it
            continue
        out.append(name)
    return out


def read_recorded(private: Path) -> dict[str, dict[str, list[float]]]:
    """The student's recorded curves the grader wrote before the notebook ran (checked again)."""
    from autograder.notebook import valid_curves

    path = private / recorded_mod.STUDENT_CURVES
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    valid = {str(k): valid_curves(v) for k, v in raw.items() if isinstance(k, str) and k.isidentifier()}
    return {k: v for k, v in valid.items() if v is not None}


def main(argv: list[str] | None = None) -> int:
    """``python -m autograder.grading.clean_check PRIVATE ARTIFACTS``: clean grading of one submission.

    PRIVATE holds ``tests/`` (all of them) and ``kit_params.json``; the result is written to
    ``PRIVATE/clean.json``. ARTIFACTS is what the notebook's export cell wrote.
    """
    import os

    from autograder import params as params_mod

    args = sys.argv[1:] if argv is None else argv
    use_numpy = "--keras" not in args  # --keras: rebuild the networks with Keras (comparisons)
    args = [a for a in args if a != "--keras"]
    if len(args) != 2:
        print("usage: python -m autograder.grading.clean_check [--keras] PRIVATE ARTIFACTS",
              file=sys.stderr)
        return 2
    private, artifacts = Path(args[0]), Path(args[1])
    params_file = private / PARAMS_FILE
    os.environ[params_mod.ENV_VAR] = str(params_file)
    os.chdir(private)
    sys.path.insert(0, str(private / "source" / "files"))  # kit_checks.py, for the public tests
    params = params_mod.load(params_file) if params_file.is_file() else {}
    result = grade_clean(artifacts, private / "tests", params, read_recorded(private),
                         use_numpy=use_numpy)
    (private / "clean.json").write_text(json.dumps(result, ensure_ascii=False, indent=1),
                                        encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
