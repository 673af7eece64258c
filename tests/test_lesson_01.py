"""Lesson 01: the training threshold is calibrated (reference passes on 5 seeds, known-wrong models fail)."""

import numpy as np
import pytest
import torch

from aelib import data, models, train
from autograder.submissions import reference_answers
from tests.calibration import calibrated


def _held_out_error(model, split) -> float:
    """What lesson 01's training test measures: mean squared error per pixel on the test split."""
    model = model.cpu().eval()
    with torch.no_grad():
        x = torch.from_numpy(split.x_test)
        return float(((model.decoder(model.encoder(x)) - x) ** 2).mean())


@pytest.fixture(scope="module")
def lesson_01():
    namespace = {"models": models, "train": train, "np": np, "torch": torch,
                 "device": torch.device("cpu")}  # the notebook's `device`: calibrated on the CPU
    exec(reference_answers("01-copy-through")["ex-train-bottleneck"], namespace)
    return namespace["train_bottleneck_autoencoder"], data.load()


THRESHOLD_01 = calibrated("01-copy-through", "test-train-bottleneck")


def test_reference_passes_on_five_seeds(lesson_01):
    train_fn, split = lesson_01
    errors = [_held_out_error(train_fn(split.x_train, seed=seed), split) for seed in range(5)]
    assert max(errors) < THRESHOLD_01 / 1.5, f"too little margin: {errors}"


def _untrained(x, seed):
    return models.mlp_autoencoder([64, 128, 16], activation="relu", output_activation="sigmoid", seed=seed)


def _one_epoch(x, seed):
    model = _untrained(x, seed)
    train.fit(model, x, num_epochs=1, lr=3e-3, seed=seed, progress=False)
    return model


def _linear_four(x, seed):
    model = models.mlp_autoencoder([64, 4], activation=None, seed=seed)
    train.fit(model, x, num_epochs=40, lr=1e-2, seed=seed, progress=False)
    return model


@pytest.mark.parametrize("wrong", [_untrained, _one_epoch, _linear_four])
def test_known_wrong_models_fail(lesson_01, wrong):
    _, split = lesson_01
    assert _held_out_error(wrong(split.x_train, 0), split) > THRESHOLD_01
