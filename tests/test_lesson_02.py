"""Lesson 02: the deep-autoencoder threshold is calibrated, and the reference answers have the properties taught."""

import numpy as np
import pytest
import torch
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA

from aelib import data, models, train
from autograder.submissions import reference_answers
from tests.calibration import calibrated

THRESHOLD_02 = calibrated("02-pca", "test-train-deep")  # held-out error / PCA's error


@pytest.fixture(scope="module")
def lesson_02():
    namespace = {"models": models, "train": train, "np": np, "torch": torch,
                 "device": torch.device("cpu")}  # the notebook's `device`: calibrated on the CPU
    for grade_id, source in reference_answers("02-pca").items():
        if grade_id.startswith("ex-"):
            exec(source, namespace)
    return namespace, data.load()


def _error_ratio(model, code_size, split) -> float:
    """What lesson 02's training test measures: held-out mean squared error over PCA's at the same code size."""
    model = model.cpu().eval()
    x = torch.from_numpy(split.x_test)
    with torch.no_grad():
        code = model.encoder(x)
        assert code.shape[1] <= code_size
        model_mse = float(((model.decoder(code) - x) ** 2).mean())
    reference = PCA(code_size).fit(split.x_train)
    pca_mse = float(((reference.inverse_transform(reference.transform(split.x_test)) - split.x_test) ** 2).mean())
    return model_mse / pca_mse


@pytest.mark.parametrize("code_size", [4, 8])
def test_reference_passes_on_five_seeds(lesson_02, code_size):
    namespace, split = lesson_02
    ratios = [_error_ratio(namespace["train_deep_autoencoder"](split.x_train, code_size, seed=seed), code_size, split)
              for seed in range(5)]
    print(f"code size {code_size}: ratios {np.round(ratios, 3)}")
    assert max(ratios) < THRESHOLD_02 / 1.3, f"too little margin: {ratios}"


def _linear(x, code_size, seed):
    model = models.mlp_autoencoder([64, code_size], activation=None, seed=seed)
    train.fit(model, x, num_epochs=800, lr=3e-2, batch_size=len(x), seed=seed, progress=False)
    return model


def _one_sigmoid_layer(x, code_size, seed):
    model = models.mlp_autoencoder([64, code_size], code_activation="sigmoid", seed=seed)
    train.fit(model, x, num_epochs=1000, lr=3e-2, batch_size=len(x), seed=seed, progress=False)
    return model


def _one_sigmoid_layer_sigmoid_output(x, code_size, seed):
    model = models.mlp_autoencoder([64, code_size], code_activation="sigmoid", output_activation="sigmoid", seed=seed)
    train.fit(model, x, num_epochs=60, lr=1e-2, seed=seed, progress=False)
    return model


def _deep_untrained(x, code_size, seed):
    return models.mlp_autoencoder([64, 128, 64, code_size], activation="elu", output_activation="sigmoid", seed=seed)


def _deep_one_epoch(x, code_size, seed):
    model = _deep_untrained(x, code_size, seed)
    train.fit(model, x, num_epochs=1, lr=3e-3, seed=seed, progress=False)
    return model


@pytest.mark.parametrize("wrong", [_linear, _one_sigmoid_layer, _one_sigmoid_layer_sigmoid_output, _deep_untrained,
                                   _deep_one_epoch])
def test_known_wrong_models_fail(lesson_02, wrong):
    _, split = lesson_02
    ratio = _error_ratio(wrong(split.x_train, 4, 0), 4, split)
    print(f"{wrong.__name__}: ratio {ratio:.3f}")
    assert ratio > THRESHOLD_02


def test_reference_pca_matches_scikit_learn(lesson_02):
    namespace, split = lesson_02
    mean, components = namespace["pca"](split.x_train, 10)
    reference = PCA(10).fit(split.x_train.astype(np.float64))
    np.testing.assert_allclose(mean, reference.mean_, atol=1e-6)
    np.testing.assert_allclose(np.abs(np.sum(components * reference.components_, axis=1)), 1.0, atol=1e-6)
    x_hat = namespace["pca_reconstruct"](split.x_test, mean, components)
    np.testing.assert_allclose(x_hat, reference.inverse_transform(reference.transform(split.x_test)), atol=1e-5)


def test_reference_principal_angles_match_scipy(lesson_02):
    namespace, _ = lesson_02
    rng = np.random.default_rng(0)
    for d, k, l in [(64, 4, 4), (10, 2, 5), (7, 7, 3)]:
        a, b = rng.standard_normal((d, k)), rng.standard_normal((d, l))
        np.testing.assert_allclose(namespace["principal_angles"](a, b), np.sort(subspace_angles(a, b)), atol=1e-7)


def test_reference_gradient_beats_the_tolerance_by_orders_of_magnitude(lesson_02):
    """A correct float64 answer is near 1e-10 against autograd; the tests allow 1e-5."""
    namespace, _ = lesson_02
    rng = np.random.default_rng(1)
    x, w_enc, w_dec = rng.standard_normal((12, 7)), rng.standard_normal((7, 3)), rng.standard_normal((3, 7))
    t_enc, t_dec = torch.tensor(w_enc, requires_grad=True), torch.tensor(w_dec, requires_grad=True)
    tx = torch.tensor(x)
    ((tx @ t_enc @ t_dec - tx) ** 2).sum().div(len(x)).backward()
    for mine, auto in zip(namespace["linear_ae_gradients"](x, w_enc, w_dec), (t_enc.grad, t_dec.grad)):
        assert np.linalg.norm(mine - auto.numpy()) / (np.linalg.norm(mine) + np.linalg.norm(auto.numpy())) < 1e-12


def test_a_linear_autoencoder_reaches_pca(lesson_02):
    """The lesson's headline: Baldi and Hornik's claim holds for the training recipe the notebook uses."""
    namespace, split = lesson_02
    model = models.mlp_autoencoder([64, 4], activation=None, seed=3)
    train.fit(model, split.x_train, num_epochs=800, lr=3e-2, batch_size=len(split.x_train), seed=3, progress=False)
    train.fit(model, split.x_train, num_epochs=400, lr=3e-3, batch_size=len(split.x_train), seed=3, progress=False)
    mean, components = namespace["pca"](split.x_train, 4)
    w_dec = model.decoder[0].weight.detach().double().numpy()  # (64, 4): columns span the reconstructions
    assert np.degrees(namespace["principal_angles"](w_dec, components.T)).max() < 1.0
    pca_mse = float(((namespace["pca_reconstruct"](split.x_train, mean, components) - split.x_train) ** 2).mean())
    assert train.evaluate(model, split.x_train) / pca_mse < 1.01
