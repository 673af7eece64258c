"""Lesson 08: training thresholds calibrated (reference passes on 5 seeds, known-wrong models fail),
and the reference answers checked against independent solvers."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import Lasso
from sklearn.metrics import roc_auc_score
from torch import nn

from aelib import data, models, train
from autograder.submissions import reference_answers
from tests.calibration import calibrated

LESSON = "08-beyond"
MIN_SATURATED, ANOMALY = 0.8, 8  # as in lesson 08's test cells
MIN_PRECISION = calibrated("08-beyond", "test-train-hashing")
MIN_AUC = calibrated("08-beyond", "test-train-anomaly")


@pytest.fixture(scope="module")
def answers():
    namespace = {"models": models, "train": train, "np": np, "torch": torch, "nn": nn,
                 "device": torch.device("cpu")}  # the notebook's `device`: calibrated on the CPU
    for source in reference_answers(LESSON).values():
        if source.lstrip().startswith("def "):
            exec(source, namespace)
    return namespace


@pytest.fixture(scope="module")
def split():
    return data.load()


# ------------------------------------------------------------------------------ what the tests measure


def hashing_scores(model, split) -> tuple[float, float]:
    """(share of saturated code values, precision@10) on held-out queries, as lesson 08's test computes them."""
    model = model.cpu().eval()
    with torch.no_grad():
        queries = model.encoder(torch.from_numpy(split.x_test[:1000])).numpy()
        base = model.encoder(torch.from_numpy(split.x_train)).numpy()
    saturated = float(((queries < 0.1) | (queries > 0.9)).mean())
    distance = ((queries[:, None, :] > 0.5) != (base[None, :, :] > 0.5)).sum(axis=2)
    shuffle = np.random.default_rng(0).permutation(len(base))
    nearest = shuffle[np.argsort(distance[:, shuffle], axis=1, kind="stable")[:, :10]]
    return saturated, float((split.y_train[nearest] == split.y_test[:1000, None]).mean())


def anomaly_auc(model, split) -> float:
    model = model.cpu().eval()
    with torch.no_grad():
        x_hat = model(torch.from_numpy(split.x_test)).numpy()
    return float(roc_auc_score(split.y_test == ANOMALY, ((x_hat - split.x_test) ** 2).sum(axis=1)))


def normal_images(split):
    return split.x_train[split.y_train != ANOMALY]


# ------------------------------------------------------------------------------------- semantic hashing


def test_hashing_reference_passes_on_five_seeds(answers, split):
    scores = [hashing_scores(answers["train_semantic_hashing"](split.x_train, seed=seed), split) for seed in range(5)]
    saturated, precision = zip(*scores)
    assert min(saturated) > MIN_SATURATED + 0.08, f"too little margin: {saturated}"
    assert min(precision) > MIN_PRECISION + 0.07, f"too little margin: {precision}"


class _Noise(nn.Module):
    def __init__(self, std):
        super().__init__()
        self.std = std

    def forward(self, a):
        return a + self.std * torch.randn_like(a) if self.training else a


def _hashing_model(x, seed, std, num_epochs=60):
    torch.manual_seed(seed)
    encoder = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 16), _Noise(std), nn.Sigmoid())
    decoder = nn.Sequential(nn.Linear(16, 128), nn.ReLU(), nn.Linear(128, 64), nn.Sigmoid())
    model = models.Autoencoder(encoder, decoder, 64)
    if num_epochs:
        train.fit(model, x, num_epochs=num_epochs, batch_size=128, lr=3e-3, seed=seed, progress=False)
    return model


@pytest.mark.parametrize("wrong", [
    pytest.param(dict(std=0.0), id="no-noise"),
    pytest.param(dict(std=1.0), id="too-little-noise"),
    pytest.param(dict(std=4.0, num_epochs=0), id="untrained"),
])
def test_hashing_known_wrong_models_fail(split, wrong):
    saturated, precision = hashing_scores(_hashing_model(split.x_train, 0, **wrong), split)
    assert saturated < MIN_SATURATED or precision < MIN_PRECISION, (saturated, precision)


# ------------------------------------------------------------------------------------- anomaly detection


def test_anomaly_reference_passes_on_five_seeds(answers, split):
    aucs = [anomaly_auc(answers["train_anomaly_detector"](normal_images(split), seed=seed), split) for seed in range(5)]
    assert min(aucs) > MIN_AUC + 0.03, f"too little margin: {aucs}"


def _untrained(x, seed):
    return models.mlp_autoencoder([64, 64, 12], activation="relu", output_activation="sigmoid", seed=seed)


def _one_epoch(x, seed):
    model = _untrained(x, seed)
    train.fit(model, x, num_epochs=1, batch_size=128, lr=3e-3, seed=seed, progress=False)
    return model


def _copy_through(x, seed):
    model = models.mlp_autoencoder([64, 64], activation=None, seed=seed)
    train.fit(model, x, num_epochs=40, lr=1e-2, seed=seed, progress=False)
    return model


def _pca_like(x, seed):
    model = models.mlp_autoencoder([64, 12], activation=None, seed=seed)
    train.fit(model, x, num_epochs=40, lr=1e-2, seed=seed, progress=False)
    return model


@pytest.mark.parametrize("wrong", [_untrained, _one_epoch, _copy_through, _pca_like])
def test_anomaly_known_wrong_models_fail(split, wrong):
    assert anomaly_auc(wrong(normal_images(split), 0), split) < MIN_AUC


# ---------------------------------------------------------------------------- the reference answers


def test_reference_ista_reaches_the_lasso_solution(answers):
    rng = np.random.default_rng(0)
    W_dec = rng.standard_normal((30, 20))
    W_dec /= np.linalg.norm(W_dec, axis=1, keepdims=True)
    x, lam = rng.standard_normal((3, 20)), 0.2
    step = 1.0 / np.linalg.norm(W_dec, 2) ** 2
    h = np.zeros((3, 30))
    for _ in range(20_000):
        h = answers["ista_step"](h, answers["codes_gradient"](h, x, W_dec), lam, step)
    for row, x_row in zip(h, x):
        reference = Lasso(alpha=lam / 20, fit_intercept=False, tol=1e-14, max_iter=1_000_000).fit(W_dec.T, x_row).coef_
        np.testing.assert_allclose(row, reference, atol=1e-6)
        # the LASSO solution is a fixed point of the step
        again = answers["ista_step"](reference[None], answers["codes_gradient"](reference[None], x_row[None], W_dec), lam, step)
        np.testing.assert_allclose(again[0], reference, atol=1e-6)


def test_reference_roc_auc_matches_scikit_learn(answers):
    rng = np.random.default_rng(1)
    for _ in range(5):
        labels = rng.random(300) < 0.2
        scores = rng.integers(0, 6, 300) + labels
        assert abs(answers["roc_auc"](scores, labels) - roc_auc_score(labels, scores)) < 1e-12


def test_reference_threshold_detector_matches_scikit_learn(answers):
    from sklearn.metrics import precision_score, recall_score
    rng = np.random.default_rng(2)
    for quantile in (0.5, 0.9, 0.95, 0.99):
        normal = rng.gamma(2.0, 1.0, 150)
        labels = rng.random(400) < 0.1
        scores = rng.gamma(2.0, 1.0, 400) + 3.0 * labels
        scores[:5] = np.quantile(normal, quantile)                   # on the threshold: not flagged
        threshold, precision, recall = answers["threshold_detector"](normal, scores, labels, quantile)
        flagged = scores > np.quantile(normal, quantile)
        assert threshold == pytest.approx(np.quantile(normal, quantile))
        assert precision == pytest.approx(precision_score(labels, flagged, zero_division=0.0))
        assert recall == pytest.approx(recall_score(labels, flagged))
