"""Lesson 03: the sparse-training thresholds are calibrated, and the reference cost's gradients are exact."""

import numpy as np
import pytest
import torch

from aelib import data, models, train
from autograder.submissions import reference_answers
from tests.calibration import calibrated

RHO, MEAN_TOLERANCE, SHARE = 0.05, 0.01, 0.9  # as in lesson 03's training test
ERROR = calibrated("03-sparse", "test-train-sparse")
LAM = 1e-3  # the notebook's weight decay


def _weight_decay_term(model, lam=LAM):
    return 0.5 * lam * ((model.encoder[0].weight ** 2).sum() + (model.decoder[0].weight ** 2).sum())


@pytest.fixture(scope="module")
def lesson_03():
    namespace = {"models": models, "train": train, "np": np, "torch": torch, "weight_decay_term": _weight_decay_term,
                 "device": torch.device("cpu")}  # the notebook's `device`: calibrated on the CPU
    for grade_id, source in reference_answers("03-sparse").items():
        if grade_id.startswith("ex-"):
            exec(source, namespace)
    return namespace, data.load()


def _report(model, split):
    """What lesson 03's training test measures: (mean activation, share of units near rho, error per pixel)."""
    model = model.cpu().eval()
    x = torch.from_numpy(split.x_test)
    with torch.no_grad():
        h = model.encoder(x)
        assert h.shape[1] >= 100 and float(h.min()) >= 0 and float(h.max()) <= 1
        error = float(((model.decoder(h) - x) ** 2).mean())
    rho_hat = h.mean(dim=0).numpy()
    return float(rho_hat.mean()), float(np.mean((rho_hat >= RHO / 2) & (rho_hat <= 2 * RHO))), error


def _passes(report) -> bool:
    mean, share, error = report
    return abs(mean - RHO) <= MEAN_TOLERANCE and share >= SHARE and error < ERROR


def test_reference_passes_on_five_seeds(lesson_03):
    namespace, split = lesson_03
    reports = [_report(namespace["train_sparse_autoencoder"](split.x_train, seed=seed), split) for seed in range(5)]
    print("reference (mean activation, share near rho, error):", np.round(reports, 4).tolist())
    for mean, share, error in reports:
        assert abs(mean - RHO) <= MEAN_TOLERANCE / 2 and share >= 0.99 and error < ERROR / 1.4, f"too little margin: {reports}"


def _kl_loss(rho, beta):
    def loss(model, x):
        h = model.encode(x)
        rho_hat = h.mean(dim=0)
        kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
        return 0.5 * ((model.decode(h) - x) ** 2).sum(dim=1).mean() + _weight_decay_term(model) + beta * kl.sum()
    return loss


def _l1_loss(alpha):
    def loss(model, x):
        h = model.encode(x)
        return 0.5 * ((model.decode(h) - x) ** 2).sum(dim=1).mean() + _weight_decay_term(model) + alpha * h.sum(dim=1).mean()
    return loss


def _trained(loss_fn, num_epochs=60):
    def train_fn(x, seed):
        model = models.mlp_autoencoder([64, 100], code_activation="sigmoid", seed=seed)
        train.fit(model, x, num_epochs=num_epochs, lr=1e-2, loss_fn=loss_fn, seed=seed, progress=False)
        return model
    return train_fn


WRONG = {
    "no penalty": _trained(_kl_loss(RHO, 0.0)),
    "L1 at the same mean activation": _trained(_l1_loss(0.05)),
    "L1, stronger": _trained(_l1_loss(0.1)),
    "KL towards rho = 0.1": _trained(_kl_loss(0.1, 1.0)),
    "KL, three epochs": _trained(_kl_loss(RHO, 1.0), num_epochs=3),
    "KL, beta far too large": _trained(_kl_loss(RHO, 30.0)),
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_known_wrong_models_fail(lesson_03, name):
    _, split = lesson_03
    report = _report(WRONG[name](split.x_train, 0), split)
    print(f"{name}: {np.round(report, 4).tolist()}")
    assert not _passes(report)


def _reference_problem(seed):
    rng = np.random.default_rng(seed)
    n, d, h = rng.integers(1, 30), rng.integers(2, 9), rng.integers(2, 12)
    x = rng.random((n, d))
    params = {"W_enc": 0.5 * rng.standard_normal((d, h)), "b_enc": 0.5 * rng.standard_normal(h),
              "W_dec": 0.5 * rng.standard_normal((h, d)), "b_dec": 0.5 * rng.standard_normal(d)}
    return x, params, rng.uniform(0.02, 0.3), rng.uniform(0.5, 5.0), rng.uniform(0.0, 0.3)


@pytest.mark.parametrize("seed", range(5))
def test_reference_cost_matches_autograd_to_rounding(lesson_03, seed):
    """The classic exercise expects below 1e-9 in float64; the tests allow 1e-5; wrong answers reach 1e-1."""
    namespace, _ = lesson_03
    x, params, rho, beta, lam = _reference_problem(seed)
    cost, grads = namespace["sparse_autoencoder_cost"](x, params, rho, beta, lam)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    tx = torch.tensor(x)
    h = torch.sigmoid(tx @ tp["W_enc"] + tp["b_enc"])
    rho_hat = h.mean(dim=0)
    total = (0.5 * ((h @ tp["W_dec"] + tp["b_dec"] - tx) ** 2).sum() / len(x)
             + 0.5 * lam * ((tp["W_enc"] ** 2).sum() + (tp["W_dec"] ** 2).sum())
             + beta * (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum())
    assert abs(cost - total.item()) <= 1e-12 * max(1.0, abs(cost))
    total.backward()
    for name, value in grads.items():
        auto = tp[name].grad.numpy()
        assert np.linalg.norm(value - auto) / (np.linalg.norm(value) + np.linalg.norm(auto)) < 1e-9


def test_the_sparsity_term_adds_the_modified_delta(lesson_03):
    """What beta adds to the encoder's gradients is X^T [(beta/N) KL'(rho_hat) * h(1-h)], the seeds' modified delta."""
    namespace, _ = lesson_03
    x, params, rho, beta, lam = _reference_problem(11)
    with_beta = namespace["sparse_autoencoder_cost"](x, params, rho, beta, lam)[1]
    without = namespace["sparse_autoencoder_cost"](x, params, rho, 0.0, lam)[1]
    h = 1 / (1 + np.exp(-(x @ params["W_enc"] + params["b_enc"])))
    rho_hat = h.mean(axis=0)
    extra = beta / len(x) * (-rho / rho_hat + (1 - rho) / (1 - rho_hat)) * h * (1 - h)
    np.testing.assert_allclose(with_beta["W_enc"] - without["W_enc"], x.T @ extra, atol=1e-12)
    np.testing.assert_allclose(with_beta["b_enc"] - without["b_enc"], extra.sum(axis=0), atol=1e-12)
    np.testing.assert_array_equal(with_beta["W_dec"], without["W_dec"])


@pytest.mark.parametrize("activation", ["linear", "relu", "sigmoid"])
def test_reference_l1_penalty_matches_autograd_with_and_without_kinks(lesson_03, activation):
    """The L1 exercise's reference agrees with torch.autograd (whose subgradient at 0 is 0), kinks included."""
    namespace, _ = lesson_03
    rng = np.random.default_rng(7)
    generic = (rng.standard_normal((9, 5)), rng.standard_normal((5, 6)), rng.standard_normal(6))
    x0 = rng.choice([-2.0, -1.0, 1.0, 2.0], size=5)
    W = rng.choice([-2.0, -1.0, 1.0, 2.0], size=(5, 6))
    kinked = (np.vstack([rng.random((4, 5)), x0]), W, -(x0 @ W))
    assert np.all(kinked[0][-1] @ W + kinked[2] == 0)
    for x, W, b in (generic, kinked):
        omega, grads = namespace["l1_penalty"](x, W, b, 0.3, activation)
        tW, tb = torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)
        a = torch.tensor(x) @ tW + tb
        h = {"linear": a, "relu": torch.relu(a), "sigmoid": torch.sigmoid(a)}[activation]
        total = 0.3 * h.abs().sum() / len(x)
        total.backward()
        assert abs(omega - total.item()) < 1e-12
        np.testing.assert_allclose(grads["W_enc"], tW.grad.numpy(), atol=1e-12)
        np.testing.assert_allclose(grads["b_enc"], tb.grad.numpy(), atol=1e-12)


def test_exact_zeros_of_l1_codes_as_the_notebook_predicts():
    """Section 3's prediction: with the L1 penalty, no held-out code value is exactly 0 for a sigmoid or a
    linear code, most are for a ReLU code (many of its units die), and the sigmoid's stay clear of 0."""
    split = data.load()
    x_test = torch.from_numpy(split.x_test)

    def l1_loss(model, x, alpha=0.05):
        h = model.encode(x)
        return 0.5 * ((model.decode(h) - x) ** 2).sum(dim=1).mean() + _weight_decay_term(model) + alpha * h.abs().sum(dim=1).mean()

    shares = {}
    for name, activation, epochs in (("sigmoid", "sigmoid", 50), ("relu", "relu", 20), ("linear", None, 20)):
        model = models.mlp_autoencoder([64, 100], code_activation=activation, seed=0)
        train.fit(model, split.x_train, num_epochs=epochs, lr=1e-2, loss_fn=l1_loss, progress=False)
        with torch.no_grad():
            h = model.encoder(x_test).numpy()
        shares[name] = (float(np.mean(h == 0)), float(np.abs(h).min()), float(np.mean(np.all(h == 0, axis=0))))
    print("share exactly 0, min |h|, dead units:", shares)
    assert shares["sigmoid"][0] == 0 and shares["sigmoid"][1] > 1e-4
    assert shares["linear"][0] == 0
    assert shares["relu"][0] > 0.5 and shares["relu"][2] > 0.2
