"""Part 1 substance checks on small real Keras models (no training)."""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")

from autograder.checks import check_architecture, check_predictions  # noqa: E402


def tutorial(units: int = 128, out_activation: str = "softmax"):
    return keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(),
                             keras.layers.Dense(units, activation="relu"),
                             keras.layers.Dense(10, activation=out_activation)])


def test_tutorial_network_passes():
    """Does the tutorial's network (101,770 parameters) pass the architecture check?"""
    check_architecture(tutorial(), hidden_units=[128], params=101_770)


@pytest.mark.parametrize(
    ("model", "fragment"),
    [
        (lambda: tutorial(64), "[64, 10]"),
        (lambda: tutorial(out_activation="sigmoid"), "softmax"),
        (lambda: keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(),
                                   keras.layers.Dense(10, activation="softmax")]), "[10]"),
    ],
    ids=["64-units", "sigmoid-output", "no-hidden-layer"],
)
def test_wrong_networks_fail_with_a_reason(model, fragment: str):
    """Is each wrong architecture refused with a message saying what differs?"""
    with pytest.raises(AssertionError) as info:
        check_architecture(model(), hidden_units=[128], params=101_770)
    assert fragment in str(info.value)
    assert " / " in str(info.value)  # Japanese / English


def test_not_a_model_is_refused():
    """Is a left-over ... refused by the architecture check, not crashed on?"""
    with pytest.raises(AssertionError, match="Keras"):
        check_architecture(..., hidden_units=[128])


def test_dropout_rate_and_count_are_checked():
    """Does the dropout check need one Dropout per hidden layer at the given rate?"""
    def net(rates):
        layers = [keras.Input(shape=(28, 28)), keras.layers.Flatten()]
        for r in rates:
            layers += [keras.layers.Dense(8, activation="relu"), keras.layers.Dropout(r)]
        return keras.Sequential([*layers, keras.layers.Dense(10, activation="softmax")])

    check_architecture(net([0.5, 0.5]), hidden_units=[8, 8], dropout=0.5)
    with pytest.raises(AssertionError, match="0.2"):
        check_architecture(net([0.5, 0.2]), hidden_units=[8, 8], dropout=0.5)


def test_predictions_must_come_from_the_model():
    """Are made-up predictions (uniform rows) refused even though their rows sum to 1?"""
    import numpy as np

    model = tutorial()
    fake = np.full((10000, 10), 0.1)
    with pytest.raises(AssertionError, match="model.predict"):
        check_predictions(model, fake, 0)
