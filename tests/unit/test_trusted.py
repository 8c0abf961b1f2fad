"""The clean check believes only the grader's own trainings (``trusted``): synthetic data, no Keras."""

from __future__ import annotations

import numpy as np
import pytest

from autograder.grading.verify import trusted
from autograder.grading.verify.numpy_net import NumpyModel
from autograder.grading.verify.trainings import Trained

REPLAYED = {"accuracy": [0.5, 0.7, 0.9], "loss": [1.0, 0.6, 0.3],
            "val_accuracy": [0.5, 0.62, 0.6], "val_loss": [1.0, 0.7, 0.75]}
CONFIG = {"class_name": "Sequential", "config": {"name": "replay", "layers": [
    {"class_name": "InputLayer", "config": {"batch_shape": [None, 2, 2], "dtype": "float64"}},
    {"class_name": "Flatten", "config": {"dtype": "float64"}},
    {"class_name": "Dense", "config": {"units": 3, "activation": "softmax", "use_bias": True,
                                       "dtype": "float64"}}]}}
WEIGHTS = [np.arange(12.0).reshape(4, 3) / 10, np.zeros(3)]


def trainings(**kw) -> dict[str, Trained]:
    out = {name: Trained({k: list(v) for k, v in REPLAYED.items()}, [], cached=True)
           for name in ("smaller", "bigger")}
    out["model"] = Trained({"loss": [0.5] * 5, "accuracy": [0.8] * 5}, WEIGHTS, config=CONFIG)
    return {**out, **kw}


class Exported:
    """A network as the clean check rebuilt it from the kernel's export."""

    def __init__(self, weights: list[np.ndarray]) -> None:
        self.weights = weights

    def get_weights(self) -> list[np.ndarray]:
        return self.weights


def test_a_record_within_the_band_is_graded_as_the_student_saw_it():
    """Honest run on another computer: the record (within the band) is graded, nothing flagged?"""
    record = {k: [x + 1e-9 for x in v] for k, v in REPLAYED.items()}
    env = {"hist_bigger": "kernel's own", "hist_smaller": "kernel's own"}
    flags, notes, diffs, matched = trusted.apply_histories(
        env, trainings(), {}, {"bigger": record, "smaller": record}, band=1e-6)
    assert flags == [] and notes == [] and matched == 2
    assert list(env["hist_bigger"]["val_loss"]) == record["val_loss"]
    assert diffs["bigger"] == pytest.approx(1e-9)


def test_fabricated_curves_are_replaced_by_the_grader_s_training_and_flagged():
    """A record made up around a real last epoch: graded on the replay, the flag names both?"""
    made_up = {k: list(v) for k, v in REPLAYED.items()}
    made_up["val_loss"] = [1.0, 0.9, 0.75]  # no minimum before the end: 'does not overfit'
    env = {"hist_bigger": "forged in the kernel"}
    flags, _, _, matched = trusted.apply_histories(env, trainings(), {}, {"bigger": made_up}, band=1e-6)
    assert matched == 0 and len(flags) == 1
    assert "differ from the grader's own training" in flags[0] and "good epoch 3" in flags[0]
    assert list(env["hist_bigger"]["val_loss"]) == REPLAYED["val_loss"]


def test_without_a_network_to_train_a_history_is_not_believed():
    """Typed-in histories with no network, or one the exercise does not allow: every use fails,
    saying why (a note for missing work, a flag for a refused network)?"""
    env = {"hist_bigger": "typed in", "hist_l2": "typed in"}
    flags, notes, _, _ = trusted.apply_histories(env, {}, {"l2": "layer Lambda is not one the exercise uses"},
                                                 {}, band=1e-6)
    assert len(flags) == 1 and "Lambda" in flags[0] and len(notes) == 1 and "no trained network" in notes[0]
    for var in ("hist_bigger", "hist_l2"):
        with pytest.raises(AssertionError, match="not graded"):
            env[var]["val_loss"]
        with pytest.raises(AssertionError):
            _ = env[var].history


def test_part1_weights_that_match_confirm_the_model_and_its_history():
    """Exported weights equal to the replay's (to 1e-12): the model stays, its history is the
    replay's (five epochs, whatever the kernel said)."""
    model = Exported([w + 1e-12 for w in WEIGHTS])
    env = {"model": model, "history": "kernel's claim"}
    flags, matched = trusted.apply_part1(env, trainings(), {}, 1e-6, (object,))
    assert flags == [] and matched and env["model"] is model
    assert len(env["history"].history["loss"]) == 5


@pytest.mark.parametrize("weights", [[w * 1.01 for w in WEIGHTS], WEIGHTS[:1], []])
def test_part1_other_weights_are_graded_on_the_grader_s_network(weights):
    """A model trained otherwise (fewer epochs, another seed, not at all): the accuracy questions
    see the replay's network (NumPy), the history is not believed, and the row is flagged?"""
    env = {"model": Exported(weights), "history": "kernel's claim"}
    flags, matched = trusted.apply_part1(env, trainings(), {}, 1e-6, (object,))
    assert not matched and len(flags) == 1 and "graded on the grader's network" in flags[0]
    assert isinstance(env["model"], NumpyModel)
    np.testing.assert_array_equal(env["model"].get_weights()[0], WEIGHTS[0])
    with pytest.raises(AssertionError, match="not believed"):
        _ = env["history"].history


def test_scaled_image_summaries_count_only_when_a_training_confirms_them():
    """The kernel's min/max of the scaled images: kept when a training matched, else not believed?"""
    env = {"train_images": "summary", "test_images": "summary"}
    assert trusted.apply_summaries(dict(env), True) == []
    notes = trusted.apply_summaries(env, False)
    assert len(notes) == 2
    with pytest.raises(AssertionError, match="scaled"):
        env["train_images"].max()


def test_a_grading_run_that_trained_otherwise_is_flagged_even_without_a_record():
    """A notebook without records whose own training in the grading run differs from the
    grader's (a SEED rewritten in a cell): graded on the replay and flagged; an honest one not?"""
    other_seed = {k: [x * 0.97 for x in v] for k, v in REPLAYED.items()}
    env = {"hist_bigger": trusted.as_frame(other_seed), "hist_smaller": trusted.as_frame(REPLAYED)}
    flags, notes, _, _ = trusted.apply_histories(env, trainings(), {}, {}, band=1e-6)
    assert len(flags) == 1 and flags[0].startswith("hist_bigger: the notebook's own training in the grading")
    assert len(notes) == 2  # no records at all: each graded against the grader's training
    assert list(env["hist_bigger"]["val_loss"]) == REPLAYED["val_loss"]


def test_a_grading_run_that_trained_as_the_grader_did_confirms_the_scaling():
    """No records (an unexecuted notebook), but the grading run's own curves are the replay's:
    that confirms the images were scaled as the given code trains them."""
    env = {"hist_bigger": trusted.as_frame(REPLAYED)}
    flags, _, _, matched = trusted.apply_histories(env, trainings(), {}, {}, band=1e-6)
    assert flags == [] and matched == 1
