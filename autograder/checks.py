"""Substance checks of Part 1, called by the hidden otter tests.

They raise ``AssertionError`` with a bilingual message (Japanese / English) that says what is
wrong without printing the expected code. Accuracy is recomputed on the real test set loaded by
the kit, so a typed-in ``test_acc`` or altered ``test_images`` cannot earn the points.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from autograder import data


def _dense_layers(model: Any) -> list[Any]:
    from keras import layers

    return [layer for layer in model.layers if isinstance(layer, layers.Dense)]


def check_architecture(
    model: Any,
    *,
    hidden_units: Sequence[int],
    params: int | None = None,
    dropout: float | None = None,
) -> None:
    """The model is Flatten -> Dense(u, relu)... -> Dense(10, softmax), optionally with Dropout."""
    import keras
    from keras import layers

    assert isinstance(model, keras.Model), "model が Keras のモデルではありません / not a Keras model"
    assert tuple(model.input_shape) == (None, 28, 28), (
        f"入力は 28×28 の画像です。今は {model.input_shape} です / the input must be a 28×28 image "
        f"(got {model.input_shape})"
    )
    assert any(isinstance(layer, layers.Flatten) for layer in model.layers), (
        "Flatten 層がありません / the network needs a Flatten layer"
    )
    dense = _dense_layers(model)
    want = [*hidden_units, 10]
    got = [layer.units for layer in dense]
    assert got == want, (
        f"全結合層のユニット数が {got} です（{len(want)} 層が必要） / the dense layers have units "
        f"{got}; {len(hidden_units)} hidden layer(s) and an output layer of 10 are expected"
    )
    acts = [layer.activation.__name__ for layer in dense]
    want_acts = ["relu"] * len(hidden_units) + ["softmax"]
    assert acts == want_acts, (
        f"活性化関数が {acts} です / the activations are {acts}: hidden layers use relu and "
        "the output layer softmax"
    )
    if dropout is not None:
        rates = [layer.rate for layer in model.layers if isinstance(layer, layers.Dropout)]
        assert len(rates) == len(hidden_units), (
            f"Dropout 層が {len(rates)} 個です（隠れ層ごとに 1 つ） / found {len(rates)} Dropout "
            "layers; put one after each hidden layer"
        )
        assert all(abs(r - dropout) < 1e-9 for r in rates), (
            f"Dropout の率が {rates} です / the dropout rates are {rates}: use the given rate"
        )
    if params is not None:
        n = model.count_params()
        assert n == params, (
            f"パラメータ数が {n:,} です / the model has {n:,} parameters, not the expected number"
        )


def real_test_set() -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 test images scaled to 0..1 and their labels, from the verified files."""
    ds = data.load()
    return ds.test_images.astype("float32") / 255.0, ds.test_labels


def check_test_accuracy(model: Any, test_acc: Any, *, threshold: float) -> None:
    """Test accuracy >= threshold, measured by the kit on the real test set."""
    import keras

    assert isinstance(model, keras.Model), "model が Keras のモデルではありません / not a Keras model"
    x, y = real_test_set()
    probs = np.asarray(model.predict(x, verbose=0, batch_size=1000))
    measured = float(np.mean(np.argmax(probs, axis=1) == y))
    assert measured >= threshold, (
        f"テスト精度 {measured:.4f} が基準 {threshold:.2f} に届きません / test accuracy "
        f"{measured:.4f} is below the threshold {threshold:.2f}"
    )
    try:
        reported = float(test_acc)
    except (TypeError, ValueError):
        raise AssertionError(
            "test_acc は model.evaluate の精度です / test_acc must be the accuracy model.evaluate "
            "returns"
        ) from None
    assert abs(reported - measured) <= 0.002, (
        f"test_acc={reported:.4f} がモデルの精度 {measured:.4f} と違います / test_acc={reported:.4f} "
        f"does not match the model's accuracy {measured:.4f} on the test set"
    )


def check_predictions(model: Any, predictions: Any, predicted_label_0: Any) -> None:
    """predictions is (10000, 10), rows sum to 1, and agree with the model on test image 0."""
    p = np.asarray(predictions, dtype="float64")
    assert p.shape == (10000, 10), (
        f"predictions の形が {p.shape} です / predictions has shape {p.shape}, not (10000, 10)"
    )
    sums = p.sum(axis=1)
    assert np.all(np.abs(sums - 1.0) < 1e-3), (
        f"各行の確率の合計が 1 になりません。合計は {sums.min():.3f}〜{sums.max():.3f} です / each row "
        f"of predictions must sum to 1 (found sums from {sums.min():.3f} to {sums.max():.3f})"
    )
    x, _ = real_test_set()
    own = np.asarray(model.predict(x[:100], verbose=0))
    assert np.allclose(own, p[:100], atol=1e-3), (
        "predictions がモデルの予測と一致しません / predictions do not match model.predict on the "
        "test images"
    )
    assert int(predicted_label_0) == int(np.argmax(own[0])), (
        "predicted_label_0 が予測の最大確率のクラスではありません / predicted_label_0 is not the "
        "class with the largest predicted probability for test image 0"
    )


def check_scaled(train_images: Any, test_images: Any) -> None:
    """Both image arrays are floats in 0..1 of the right shape.

    Accepts an array or the summary the kit exports instead of a large array (``ArraySummary``:
    shape, dtype, min, max), so the check reads the same in the kernel and in the clean process.
    """
    for name, x, n in (("train_images", train_images, 60000), ("test_images", test_images, 10000)):
        shape = getattr(x, "shape", None)
        dtype = getattr(x, "dtype", None)
        assert shape is not None and tuple(shape) == (n, 28, 28) and dtype is not None, (
            f"{name} は形が ({n}, 28, 28) の配列にしてください / {name} must be an array of shape "
            f"({n}, 28, 28)"
        )
        assert np.issubdtype(dtype, np.floating), (
            f"{name} は小数の配列にしてください。今は {dtype} です / {name} should hold floats, not {dtype}"
        )
        try:  # an array, or the kit's summary of one (its min() and max() answer the same)
            lo, hi = float(x.min()), float(x.max())
        except (TypeError, ValueError):
            lo = hi = None
        assert lo is not None and hi is not None and 0.0 <= lo and hi <= 1.0 and hi > 0.9, (
            f"{name} の値は 0〜1 にしてください。今は {lo}〜{hi} です / {name} values must lie in 0..1 "
            f"(found {lo}..{hi})"
        )
