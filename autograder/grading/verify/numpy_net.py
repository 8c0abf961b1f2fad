"""The exercise's networks evaluated from their exported config and weights with NumPy alone.

The clean check must score the six exported networks without importing TensorFlow (3-6 s of
CPU on every grading). The networks this exercise builds are Sequential stacks of ``Flatten``,
``Dense``, ``Dropout``, ``Reshape`` and augmentation layers that are the identity at inference
(``RandomTranslation``, ``RandomZoom``, ...). ``build`` rebuilds such a network as a
``NumpyModel``: the attributes the kit's checks read (``layers``, ``units``, ``activation``,
``rate``, ``input_shape``, ``output_shape``, ``count_params``, ``predict``) behave as Keras's
do, and ``predict`` computes what Keras's does, in the float type of the network's layers
(float32, or float64 as the published notebooks train). Any other layer, option, float type or
model kind raises ``Unsupported``: the caller then rebuilds with Keras in safe mode instead.

``keras_view`` is the namespace the tests see as ``keras`` (and ``tensorflow.keras``) while
NumPy models are graded: ``keras.Model`` is ``NumpyModel``, ``keras.layers.Dense`` this module's
``Dense`` and so on. It exists only inside the clean process, which runs no student code.
"""

from __future__ import annotations

import math
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

MAX_WEIGHTS = 50_000_000  # elements: far above the exercise's largest network (~470,000)
#: A weights file may hold each weight this many times (Keras saves the optimizer's slots beside
#: the weights: Adam two), in float64, plus this many bytes of HDF5's own; larger is not opened.
WEIGHT_COPIES, HDF5_OVERHEAD = 4, 2**20


class Unsupported(Exception):
    """The network uses something this evaluator does not know: rebuild it with Keras."""


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _linear(x: np.ndarray) -> np.ndarray:
    return x


for _f, _n in ((_relu, "relu"), (_softmax, "softmax"), (_sigmoid, "sigmoid"), (_linear, "linear")):
    _f.__name__ = _n
ACTIVATIONS = {"relu": _relu, "softmax": _softmax, "sigmoid": _sigmoid, "linear": _linear,
               "tanh": np.tanh, None: _linear}


class Layer:
    """A layer as the checks see it: its name, its weights, what it does to a batch."""

    weights_count = 0  # how many arrays Keras saves for it

    def __init__(self, config: dict[str, Any]) -> None:
        self.name = str(config.get("name", type(self).__name__.lower()))
        self.weights: list[np.ndarray] = []
        self.dtype = np.dtype(layer_dtype(config))

    def output_shape_for(self, shape: tuple) -> tuple:
        return shape

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x

    def count_params(self) -> int:
        return int(sum(w.size for w in self.weights))

    def get_weights(self) -> list[np.ndarray]:
        return [w.copy() for w in self.weights]

    def weight_shapes(self) -> list[tuple[int, ...]]:
        """The shapes of the arrays Keras saves for it, once the network is built."""
        return []


class Flatten(Layer):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        if config.get("data_format") not in (None, "channels_last"):
            raise Unsupported("Flatten with data_format channels_first")

    def output_shape_for(self, shape: tuple) -> tuple:
        return (shape[0], math.prod(shape[1:]))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(len(x), -1)


class Reshape(Layer):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        target = config.get("target_shape")
        if not isinstance(target, list | tuple) or not all(isinstance(d, int) and d > 0 for d in target):
            raise Unsupported(f"Reshape to {target!r}")
        self.target_shape = tuple(target)

    def output_shape_for(self, shape: tuple) -> tuple:
        if math.prod(shape[1:]) != math.prod(self.target_shape):
            raise ValueError(f"cannot reshape {shape[1:]} to {self.target_shape}")
        return (shape[0], *self.target_shape)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(len(x), *self.target_shape)


class Dropout(Layer):
    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.rate = float(config.get("rate", 0.0))
        if config.get("noise_shape") is not None:
            raise Unsupported("Dropout with noise_shape")


class Dense(Layer):
    weights_count = 2

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.units = int(config["units"])
        act = config.get("activation")
        if not (act is None or isinstance(act, str)) or act not in ACTIVATIONS:
            raise Unsupported(f"Dense activation {act!r}")
        self.activation = ACTIVATIONS[act]
        self.use_bias = bool(config.get("use_bias", True))
        self.weights_count = 2 if self.use_bias else 1
        if config.get("lora_rank"):
            raise Unsupported("Dense with LoRA")

    def output_shape_for(self, shape: tuple) -> tuple:
        if len(shape) != 2:
            raise Unsupported(f"Dense on a {len(shape) - 1}-dimensional input")
        self.input_dim = shape[1]
        return (shape[0], self.units)

    def weight_shapes(self) -> list[tuple[int, ...]]:
        return [(self.input_dim, self.units), (self.units,)][:self.weights_count]

    def set_weights(self, arrays: list[np.ndarray]) -> None:
        kernel = arrays[0]
        if kernel.shape != (self.input_dim, self.units):
            raise ValueError(f"{self.name}: kernel of shape {kernel.shape}, expected "
                             f"{(self.input_dim, self.units)}")
        if self.use_bias and arrays[1].shape != (self.units,):
            raise ValueError(f"{self.name}: bias of shape {arrays[1].shape}, expected {(self.units,)}")
        self.weights = [a.astype(self.dtype) for a in arrays]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        y = x @ self.weights[0]
        if self.use_bias:
            y = y + self.weights[1]
        return self.activation(y)


class _IdentityAtInference(Layer):
    """A layer whose inference output is its input (noise and augmentation only in training)."""


def _identity(name: str) -> type:
    return type(name, (_IdentityAtInference,), {})


# Keras's augmentation and noise layers return their input unchanged when not training
# (``predict``); the ones that resize or crop (RandomCrop, Resizing) are not here.
IDENTITY_LAYERS = ("RandomTranslation", "RandomZoom", "RandomRotation", "RandomFlip",
                   "RandomContrast", "RandomBrightness", "GaussianNoise", "GaussianDropout",
                   "AlphaDropout", "ActivityRegularization")
LAYERS: dict[str, type] = {"Flatten": Flatten, "Reshape": Reshape, "Dropout": Dropout, "Dense": Dense,
                           **{n: _identity(n) for n in IDENTITY_LAYERS}}


class NumpyModel:
    """A Sequential network rebuilt from its exported config and weights (see the module)."""

    def __init__(self, name: str, input_shape: tuple, layers: list[Layer]) -> None:
        self.name = name
        self.input_shape = input_shape
        self.layers = layers
        kinds = {layer.dtype for layer in layers}
        if len(kinds) > 1:
            raise Unsupported(f"layers of mixed float types {sorted(map(str, kinds))}")
        self.dtype = kinds.pop() if kinds else np.dtype(np.float32)
        shape = input_shape
        for layer in layers:
            shape = layer.output_shape_for(shape)
        self.output_shape = shape

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    def get_weights(self) -> list[np.ndarray]:
        return [w for layer in self.layers for w in layer.get_weights()]

    def predict(self, x: Any, batch_size: int | None = 32, verbose: Any = None, **_: Any) -> np.ndarray:
        x = np.asarray(x, dtype=self.dtype)
        if x.shape[1:] != self.input_shape[1:]:
            raise ValueError(f"input of shape {x.shape[1:]}, the network expects {self.input_shape[1:]}")
        step = max(int(batch_size or 32), 1000)  # the batch size does not change the result
        out = []
        for i in range(0, len(x), step):
            y = x[i:i + step]
            for layer in self.layers:
                y = layer(y)
            out.append(y)
        return np.concatenate(out) if out else np.zeros((0, *self.output_shape[1:]), self.dtype)

    def __repr__(self) -> str:
        return f"<NumpyModel {self.name}: {', '.join(type(la).__name__ for la in self.layers)}>"


def _layers_of(config: Any) -> tuple[str, tuple, list[dict]]:
    if not isinstance(config, dict) or config.get("class_name") != "Sequential":
        kind = config.get("class_name") if isinstance(config, dict) else config
        raise Unsupported(f"model kind {str(kind)[:60]}")
    inner = config.get("config") or {}
    specs = inner.get("layers")
    if not isinstance(specs, list) or not specs:
        raise Unsupported("a Sequential model without layers")
    input_shape = None
    layers = []
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
            raise Unsupported("a malformed layer")
        cls, cfg = spec.get("class_name"), spec["config"]
        layer_dtype(cfg)  # Unsupported for a float type other than float32 / float64
        if cls == "InputLayer" and i == 0:
            shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
            input_shape = tuple(shape) if isinstance(shape, list) else None
            continue
        layers.append(spec)
    if input_shape is None:
        build = config.get("build_config") or {}
        shape = build.get("input_shape") if isinstance(build, dict) else None
        input_shape = tuple(shape) if isinstance(shape, list) else None
    if input_shape is None or input_shape[0] is not None or not all(
            isinstance(d, int) and d > 0 for d in input_shape[1:]):
        raise Unsupported(f"input shape {input_shape!r}")
    return str(inner.get("name", "sequential")), input_shape, layers


FLOAT_TYPES = ("float32", "float64")


def layer_dtype(config: dict[str, Any]) -> str:
    """The float type a layer computes in: ``float32`` or ``float64``, else ``Unsupported``.

    Keras 3 writes the dtype policy as {"class_name": "DTypePolicy", "config": {"name": ...}}; a
    mixed policy (``mixed_float16``) or another type is not evaluated here.
    """
    dtype = config.get("dtype")
    if dtype is None:
        return "float32"
    name = dtype
    if isinstance(dtype, dict) and dtype.get("class_name") == "DTypePolicy" and isinstance(
            dtype.get("config"), dict):
        name = dtype["config"].get("name")
    if name not in FLOAT_TYPES:
        raise Unsupported(f"layer {str(config.get('name'))[:40]} with dtype {str(name)[:60]}")
    return name


def _read_weights(path: Path, expected: dict[str, list[tuple[int, ...]]]) -> dict[str, list[np.ndarray]]:
    """The arrays of each layer group of a Keras 3 weights file, read only once the file's layout
    is the one ``expected`` (group -> shapes) implies: its size, the groups under ``layers``, each
    group's datasets (plain float, stored in the file itself, of the expected shape)."""
    import h5py

    total = sum(math.prod(s) for shapes in expected.values() for s in shapes)
    if total > MAX_WEIGHTS:
        raise ValueError(f"the network has {total} weights, more than {MAX_WEIGHTS}")
    size, limit = path.stat().st_size, WEIGHT_COPIES * 8 * total + HDF5_OVERHEAD
    if size > limit:
        raise ValueError(f"the weights file is {size} bytes, more than {limit} for {total} weights")
    with h5py.File(path, "r") as f:
        root = f.get("layers")
        if not isinstance(root, h5py.Group) or len(root) > 4 * len(expected) + 64:
            raise ValueError("the weights file has no layers, or far more than the network")
        found = {}
        for name in root:
            group = root[name]
            vars_ = group.get("vars") if isinstance(group, h5py.Group) else None
            if isinstance(vars_, h5py.Group) and len(vars_):
                found[name] = vars_
        if set(found) != set(expected):
            raise ValueError(f"the weights file holds {sorted(found)[:10]}, the config's layers with "
                             f"weights are {sorted(expected)[:10]}")
        for name, vars_ in found.items():
            datasets = [vars_.get(str(i)) for i in range(len(vars_))]
            shapes = [getattr(d, "shape", None) for d in datasets]
            if shapes != expected[name]:
                raise ValueError(f"weights of {name}: shapes {shapes}, the config's {expected[name]}")
            if not all(isinstance(d, h5py.Dataset) and d.dtype.kind == "f" and d.dtype.itemsize <= 8
                       and not d.is_virtual and not d.external and d.compression in (None, "gzip")
                       for d in datasets):
                raise ValueError(f"weights of {name}: not plain float arrays stored in the file")
        return {name: [np.asarray(d[()]) for d in (vars_[str(i)] for i in range(len(vars_)))]
                for name, vars_ in found.items()}


def _snake(name: str) -> str:
    """Keras's ``naming.to_snake_case`` for a plain class name (RandomZoom -> random_zoom)."""
    import re

    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _unweighted(config: Any) -> NumpyModel:
    """The network of ``config`` with its layers built and no weights set yet."""
    name, input_shape, specs = _layers_of(config)
    layers = []
    for spec in specs:
        cls = spec.get("class_name")
        if cls not in LAYERS:
            raise Unsupported(f"layer {str(cls)[:60]}")
        layers.append(LAYERS[cls](spec["config"]))
    return NumpyModel(name, input_shape, layers)


def build(config: Any, weights: Path) -> NumpyModel:
    """Rebuild a Sequential network of known layers; ``Unsupported`` for anything else,
    ``ValueError`` for weights that do not fit the config."""
    model = _unweighted(config)
    layers = model.layers
    # Keras 3 names a layer's group in the weights file after its class, numbered in order
    # (dense, dense_1, ...), not after the layer's own name.
    used: dict[str, int] = {}
    expected = {}
    for layer in layers:
        base = _snake(type(layer).__name__)
        used[base] = used.get(base, -1) + 1
        if layer.weights_count:
            expected[base if used[base] == 0 else f"{base}_{used[base]}"] = layer
    by_name = _read_weights(weights, {g: layer.weight_shapes() for g, layer in expected.items()})
    for group, layer in expected.items():
        layer.set_weights(by_name[group])
    return model


# --------------------------------------------------------------------------- the tests' view


def _view() -> tuple[types.ModuleType, types.ModuleType]:
    keras = types.ModuleType("keras", "NumPy stand-in for Keras inside the clean check (numpy_net)")
    layers = types.ModuleType("keras.layers")
    for name, cls in LAYERS.items():
        setattr(layers, name, cls)
    layers.Layer = Layer
    keras.layers, keras.Model, keras.Sequential = layers, NumpyModel, NumpyModel
    tf = types.ModuleType("tensorflow", "NumPy stand-in for TensorFlow inside the clean check")
    tf.keras = keras
    return keras, tf


@contextmanager
def keras_view() -> Iterator[None]:
    """While active, ``import keras`` / ``from tensorflow import keras`` give the NumPy view.

    Only the clean check uses it, around the tests of a submission whose networks were all
    rebuilt here; ``sys.modules`` is restored on exit.
    """
    import sys

    keras, tf = _view()
    names = {"keras": keras, "keras.layers": keras.layers, "tensorflow": tf, "tensorflow.keras": keras}
    saved = {n: sys.modules.get(n) for n in names}
    sys.modules.update(names)
    try:
        yield
    finally:
        for n, m in saved.items():
            if m is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = m


def build_from_arrays(config: Any, arrays: list[np.ndarray]) -> NumpyModel:
    """``build`` from weights already in memory (the grader's own training), in layer order."""
    model = _unweighted(config)
    layers = model.layers
    rest = list(arrays)
    for layer in layers:
        if layer.weights_count:
            layer.set_weights(rest[:layer.weights_count])
            rest = rest[layer.weights_count:]
    if rest:
        raise ValueError(f"{len(rest)} arrays left over for the network's layers")
    return model
