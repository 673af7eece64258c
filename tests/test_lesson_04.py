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


def _dae_forward(x_tilde, params):
    """The notebook's dae_forward (a trusted helper cell, not an answer)."""
    h = 1.0 / (1.0 + np.exp(-(x_tilde @ params["W_enc"] + params["b_enc"])))
    return h, h @ params["W_dec"] + params["b_dec"]


def test_denoising_gradients_match_autograd_on_digits(lesson_04):
    """The reference derivation on real digits, masked at 25%, K = 100 as in section 4."""
    namespace, split = lesson_04
    namespace["dae_forward"] = _dae_forward
    rng = np.random.default_rng(3)
    x = split.x_test[:20].astype(np.float64)
    x_tilde, corrupted = namespace["mask_fraction"](x, 0.25, rng)
    params = {"W_enc": 0.1 * rng.standard_normal((64, 100)), "b_enc": np.zeros(100),
              "W_dec": 0.1 * rng.standard_normal((100, 64)), "b_dec": np.zeros(64)}
    grads = namespace["denoising_gradients"](x, x_tilde, corrupted, 0.9, params)
    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    h = torch.sigmoid(torch.tensor(x_tilde) @ t["W_enc"] + t["b_enc"])
    weights = torch.tensor(np.where(corrupted, 0.9, 0.1))
    ((weights * (h @ t["W_dec"] + t["b_dec"] - torch.tensor(x)) ** 2).sum() / 20).backward()
    for name in params:
        reference = t[name].grad.numpy()
        error = np.linalg.norm(grads[name] - reference) / (np.linalg.norm(grads[name]) + np.linalg.norm(reference))
        assert error < 1e-12, (name, error)
    # the written question's claim: one example's destroyed inputs leave their W_enc rows untouched
    one = namespace["denoising_gradients"](x[:1], x_tilde[:1], corrupted[:1], 0.5, params)["W_enc"]
    assert np.all(one[corrupted[0]] == 0) and np.abs(one[~corrupted[0] & (x[0] > 0)]).min() > 0


def _weighted(namespace, x, alpha, v=0.25, seed=0, num_epochs=60):
    """The notebook's train_weighted_autoencoder (section 4, the alpha sweep)."""
    model = models.mlp_autoencoder([64, 100], activation=None, code_activation="sigmoid", output_activation="sigmoid", seed=seed)
    noise_rng = np.random.default_rng(seed)

    def alpha_loss(model, batch):
        x_tilde, corrupted = namespace["mask_fraction"](batch.numpy(), v, noise_rng)
        weights = torch.from_numpy(np.where(corrupted, alpha, 1.0 - alpha).astype(np.float32))
        return (weights * (model(torch.from_numpy(x_tilde)) - batch) ** 2).sum(dim=1).mean()

    train.fit(model, x, num_epochs=num_epochs, lr=3e-3, loss_fn=alpha_loss, seed=seed, progress=False)
    return model.eval()


def _split_errors(namespace, model, x, v=0.25, seed=123):
    x_tilde, corrupted = namespace["mask_fraction"](x, v, np.random.default_rng(seed))
    with torch.no_grad():
        squared = (model(torch.from_numpy(x_tilde)).numpy() - x) ** 2
    return float(squared[corrupted].mean()), float(squared[~corrupted].mean())


def test_the_alpha_sweep_claims(lesson_04):
    """Section 4's text on alpha: 0 does not fill in (largest error on destroyed pixels, smallest on kept
    ones, least smooth filters); 1 fills in at least as well as 1/2 but reproduces kept pixels worse."""
    namespace, split = lesson_04
    trained = {a: _weighted(namespace, split.x_train, a) for a in (0.0, 0.5, 1.0)}
    errors = {a: _split_errors(namespace, m, split.x_test) for a, m in trained.items()}
    smooth = {a: _smoothness(m.encoder[0].weight.detach().numpy()) for a, m in trained.items()}
    assert errors[0.0][0] > 2 * errors[0.5][0] and errors[0.0][0] > errors[1.0][0], errors
    assert errors[0.0][1] < min(errors[0.5][1], errors[1.0][1]), errors
    assert errors[1.0][0] <= errors[0.5][0], errors
    assert errors[1.0][1] > 1.4 * errors[0.5][1], errors
    assert smooth[0.0] < min(smooth[0.5], smooth[1.0]), smooth


def _smoothness(W, image_shape=(8, 8)):
    """The notebook's filter_smoothness."""
    F = W.reshape(len(W), *image_shape)
    F = F - F.mean(axis=(1, 2), keepdims=True)
    neighbours = (F[:, :, 1:] * F[:, :, :-1]).sum(axis=(1, 2)) + (F[:, 1:, :] * F[:, :-1, :]).sum(axis=(1, 2))
    return float(np.mean(neighbours / (2 * (F ** 2).sum(axis=(1, 2)))))
