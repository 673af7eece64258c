"""Lesson 04: the denoising threshold is calibrated, and the lesson's claims about its reference hold."""

import numpy as np
import pytest
import torch
from torch import nn

from aelib import data, models, train
from autograder.submissions import reference_answers
from tests.calibration import calibrated

THRESHOLD_04 = calibrated("04-denoising", "test-train-denoising")


@pytest.fixture(scope="module")
def lesson_04():
    namespace = {"models": models, "train": train, "np": np, "torch": torch, "nn": nn,
                 "device": torch.device("cpu")}  # the notebook's `device`: calibrated on the CPU
    for answer in reference_answers("04-denoising").values():
        if answer.lstrip().startswith(("def ", "import ")):
            exec(answer, namespace)
    return namespace, data.load()


def _ratio(model, split, seed=2024) -> float:
    """What the training test measures: squared distance to the clean digits, reconstruction / corrupted input."""
    x = split.x_test.astype(np.float64)
    destroyed = np.random.default_rng(seed).random(x.shape).argsort(axis=1) < 16
    x_tilde = np.where(destroyed, 0.0, x)
    with torch.no_grad():
        x_hat = model.cpu().eval()(torch.from_numpy(x_tilde.astype(np.float32))).numpy().astype(np.float64)
    return float(((x_hat - x) ** 2).sum() / ((x_tilde - x) ** 2).sum())


def test_reference_passes_on_five_seeds(lesson_04):
    namespace, split = lesson_04
    ratios = [_ratio(namespace["train_denoising_autoencoder"](split.x_train, seed=seed), split) for seed in range(5)]
    assert max(ratios) < THRESHOLD_04 / 1.5, f"too little margin: {ratios}"


def _untrained(x, seed):
    return models.mlp_autoencoder([64, 256], activation=None, code_activation="relu", output_activation="sigmoid", seed=seed)


def _plain_overcomplete(x, seed):
    """The reference's network trained without corruption: it learns to copy."""
    model = _untrained(x, seed)
    train.fit(model, x, num_epochs=40, lr=5e-3, seed=seed, progress=False)
    return model


def _plain_bottleneck(x, seed):
    """An ordinary undercomplete autoencoder: it denoises a little, by projecting onto what it learned."""
    model = models.mlp_autoencoder([64, 128, 32], activation="relu", code_activation="relu", output_activation="sigmoid", seed=seed)
    train.fit(model, x, num_epochs=30, lr=3e-3, seed=seed, progress=False)
    return model


def _copy_through(x, seed):
    model = models.mlp_autoencoder([64, 64], activation=None, seed=seed)
    with torch.no_grad():
        for layer in (model.encoder[0], model.decoder[0]):
            layer.weight.copy_(torch.eye(64))
            layer.bias.zero_()
    return model


@pytest.mark.parametrize("wrong", [_untrained, _plain_overcomplete, _plain_bottleneck, _copy_through])
def test_known_wrong_models_fail(lesson_04, wrong):
    _, split = lesson_04
    assert _ratio(wrong(split.x_train, 0), split) > THRESHOLD_04


def test_the_zero_percent_model_of_section_4_does_not_pass(lesson_04):
    """The exercise text says the 0% network of section 4 does not reach the threshold."""
    namespace, split = lesson_04
    model = models.mlp_autoencoder([64, 100], activation=None, code_activation="sigmoid", output_activation="sigmoid", seed=0)
    train.fit(model, split.x_train, num_epochs=60, lr=3e-3, seed=0, progress=False)
    assert _ratio(model, split) > THRESHOLD_04


def test_reference_corruptions_keep_dtype_and_statistics(lesson_04):
    namespace, _ = lesson_04
    x = np.random.default_rng(0).random((2000, 64)).astype(np.float32)
    for name in ("mask_noise", "mask_fraction", "salt_and_pepper"):
        x_tilde, corrupted = namespace[name](x, 0.25, np.random.default_rng(1))
        assert x_tilde.dtype == np.float32 and corrupted.dtype == bool
        assert abs(corrupted.mean() - 0.25) < 0.01
    assert np.all(namespace["mask_fraction"](x, 0.25, np.random.default_rng(1))[1].sum(axis=1) == 16)
    noise = namespace["gaussian_noise"](x, 0.3, np.random.default_rng(2)) - x
    assert noise.dtype == np.float32 and abs(noise.std() - 0.3) < 0.005


def test_weighted_loss_gradient_matches_autograd_in_float32(lesson_04):
    namespace, _ = lesson_04
    rng = np.random.default_rng(3)
    x, x_hat = rng.random((20, 64)).astype(np.float32), rng.random((20, 64)).astype(np.float32)
    corrupted = rng.random((20, 64)) < 0.25
    t = torch.tensor(x_hat, dtype=torch.float64, requires_grad=True)
    weights = torch.where(torch.tensor(corrupted), 0.9, 0.1)
    ((weights * (t - torch.tensor(x, dtype=torch.float64)) ** 2).sum() / 20).backward()
    assert np.allclose(namespace["weighted_loss_gradient"](x, x_hat, corrupted, 0.9), t.grad.numpy(), rtol=1e-5, atol=1e-7)
