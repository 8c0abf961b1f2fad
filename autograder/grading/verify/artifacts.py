"""The kernel's exported values read back as plain data, never as code (the clean check's input).

The kit's export cell (``export.export_cell``) wrote every value a test takes into
``kit_artifacts/``: ``env.json`` with a record per name, ``.npy`` files without pickles for arrays,
Keras JSON configs and ``.weights.h5`` for networks. ``load_environment`` rebuilds them: numbers,
strings, histories and frames as they were; a large array as its summary; a function as a stand-in
that refuses to run; a network with NumPy (``numpy_net``) when all its layers are known, else with
Keras in safe mode. Whatever is malformed becomes an ``Unreadable`` value and a problem, never an
exception: the data came from the student's kernel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autograder.grading.verify.kernel_export import ENV_FILE

MAX_ENV_BYTES = 20 * 2**20


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
        from autograder.grading.verify import numpy_net
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
    from autograder import untrusted  # the kernel wrote the file: read with caps

    if env_path.stat().st_size > MAX_ENV_BYTES:
        return {}, ["the exported values are too large"]
    try:
        records = untrusted.read(env_path, max_bytes=MAX_ENV_BYTES)
    except untrusted.JSONLimitError as exc:
        return {}, [f"the exported values were not read: {exc}"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
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
