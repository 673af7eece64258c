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


# The visible test's 4 and the hidden test's 2 and 16. At 2 and 16 the reference's ratios reach 0.65 and 0.70 (measured
# on 5 seeds), the nearest wrong models (linear, one hidden layer) 1.00: the one threshold 0.8 lies between, with less
# margin on the reference's side there than at 4.
@pytest.mark.parametrize("code_size, margin", [(2, 1.15), (4, 1.3), (16, 1.12)])
def test_reference_passes_on_five_seeds(lesson_02, code_size, margin):
    namespace, split = lesson_02
    ratios = [_error_ratio(namespace["train_deep_autoencoder"](split.x_train, code_size, seed=seed), code_size, split)
              for seed in range(5)]
    print(f"code size {code_size}: ratios {np.round(ratios, 3)}")
    assert max(ratios) < THRESHOLD_02 / margin, f"too little margin: {ratios}"


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


def _deep_linear(x, code_size, seed):
    """The reference's depth and training without its nonlinearities: still a linear map through the code."""
    model = models.mlp_autoencoder([64, 128, 64, code_size], activation=None, seed=seed)
    train.fit(model, x, num_epochs=40, lr=3e-3, seed=seed, progress=False)
    return model


@pytest.mark.parametrize("wrong, code_size", [(_linear, 4), (_one_sigmoid_layer, 4), (_one_sigmoid_layer_sigmoid_output, 4),
                                              (_deep_untrained, 4), (_deep_one_epoch, 4), (_deep_linear, 4),
                                              (_linear, 2), (_one_sigmoid_layer_sigmoid_output, 2),
                                              (_linear, 16), (_one_sigmoid_layer_sigmoid_output, 16)])
def test_known_wrong_models_fail(lesson_02, wrong, code_size):
    _, split = lesson_02
    ratio = _error_ratio(wrong(split.x_train, code_size, 0), code_size, split)
    print(f"{wrong.__name__}, code size {code_size}: ratio {ratio:.3f}")
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


def test_digits_covariance_is_singular_with_an_eigen_gap_at_the_lessons_code_sizes():
    """Section 4's check of Baldi and Hornik's assumptions: blank pixels (a singular covariance), a gap at each k used."""
    x = data.load().x_train.astype(np.float64)
    constant = np.flatnonzero(x.min(axis=0) == x.max(axis=0))
    assert constant.tolist() == [0, 32, 39]                      # "three pixels, at the corners and edges of the frame"
    centred = x - x.mean(axis=0)
    assert np.linalg.matrix_rank(centred) == 61                  # "the 61-dimensional subspace where the data live"
    eigenvalues = np.linalg.eigvalsh(centred.T @ centred / len(x))[::-1]
    for k in (2, 4, 8, 16):
        assert eigenvalues[k - 1] / eigenvalues[k] > 1.05, k    # "lambda_k exceeds lambda_k+1 by at least 5%"
    assert np.all(np.abs(data.load().x_test[:, constant]) == 0)  # "those pixels are blank in the test digits too"


def test_gradient_descent_from_small_weights_gives_pca_a_rotation_and_a_symmetric_projection(lesson_02):
    """Section 5's claims on the notebook's gradient-descent runs (reference gradient, seeds 0-2)."""
    namespace, split = lesson_02
    x = split.x_train
    mean, components = namespace["pca"](x, 4)
    centred = (x - mean).astype(np.float64)
    pca_error = float(((namespace["pca_reconstruct"](x, mean, components) - x) ** 2).sum(axis=1).mean())
    constant = np.flatnonzero(x.min(axis=0) == x.max(axis=0))
    varying = np.setdiff1d(np.arange(64), constant)
    for seed in range(3):
        rng = np.random.default_rng(seed)
        w_enc, w_dec = 1e-3 * rng.standard_normal((64, 4)), 1e-3 * rng.standard_normal((4, 64))
        w_enc_start = w_enc.copy()
        for _ in range(200):
            g_enc, g_dec = namespace["linear_ae_gradients"](centred, w_enc, w_dec)
            w_enc, w_dec = w_enc - 0.5 * g_enc, w_dec - 0.5 * g_dec
        error = float(np.sum((centred @ w_enc @ w_dec - centred) ** 2) / len(centred))
        assert error / pca_error < 1.001                                                     # "PCA's error"
        assert np.degrees(namespace["principal_angles"](w_dec.T, components.T)).max() < 0.1  # "angles near zero"
        singular = np.linalg.svd(w_dec @ components.T, compute_uv=False)
        assert np.abs(singular - 1).max() < 0.01                                             # "M is orthogonal"
        p = (w_enc @ w_dec)[np.ix_(varying, varying)]
        assert np.abs(p @ p - p).max() < 1e-6 and np.abs(p - p.T).max() < 1e-2             # "a symmetric projection"
        assert np.abs(w_enc[constant] - w_enc_start[constant]).max() == 0                    # "have not moved at all"
        assert np.abs(w_enc[varying] - w_enc_start[varying]).max() > 0.1


def test_adam_from_the_default_start_is_not_a_rotation(lesson_02):
    """Section 4: the notebook's Adam-trained linear model (seed 0) finds the subspace, but M's singular values are not all one."""
    namespace, split = lesson_02
    model = models.mlp_autoencoder([64, 4], activation=None, seed=0)
    train.fit(model, split.x_train, num_epochs=800, lr=3e-2, batch_size=len(split.x_train), progress=False)
    train.fit(model, split.x_train, num_epochs=400, lr=3e-3, batch_size=len(split.x_train), progress=False)
    _, components = namespace["pca"](split.x_train, 4)
    w_dec = model.decoder[0].weight.detach().double().numpy().T   # (4, 64)
    singular = np.linalg.svd(w_dec @ components.T, compute_uv=False)
    print("singular values of M:", np.round(singular, 3))
    assert np.abs(singular - 1).max() > 0.1
    assert np.degrees(namespace["principal_angles"](w_dec.T, components.T)).max() < 1.0


def test_one_sigmoid_layer_gains_nothing(lesson_02):
    """Section 6 on the notebook's recipe: no gain on the training set (the bound) nor on the test set; nearly PCA's subspace."""
    namespace, split = lesson_02
    model = models.mlp_autoencoder([64, 4], code_activation="sigmoid", seed=0)
    train.fit(model, split.x_train, num_epochs=1000, lr=3e-2, batch_size=len(split.x_train), progress=False)
    mean, components = namespace["pca"](split.x_train, 4)
    pca_train = float(((namespace["pca_reconstruct"](split.x_train, mean, components) - split.x_train) ** 2).mean())
    pca_test = float(((namespace["pca_reconstruct"](split.x_test, mean, components) - split.x_test) ** 2).mean())
    train_ratio, test_ratio = train.evaluate(model, split.x_train) / pca_train, train.evaluate(model, split.x_test) / pca_test
    angles = np.degrees(namespace["principal_angles"](model.decoder[0].weight.detach().double().numpy(), components.T))
    print(f"train ratio {train_ratio:.4f}, test ratio {test_ratio:.4f}, angles {np.round(angles, 2)}")
    assert train_ratio >= 0.9999 and test_ratio > 0.98
    assert angles.max() < 10


def test_the_deep_autoencoder_beats_pca_at_every_code_size_of_the_lesson(lesson_02):
    """Section 7 and the summary: at 2, 4, 8 and 16 units 50 to 70% of PCA's error, and 2-D codes that separate the digits far better."""
    from sklearn.neighbors import KNeighborsClassifier
    namespace, split = lesson_02
    for k in (2, 4, 8, 16):
        model = namespace["train_deep_autoencoder"](split.x_train, k, seed=0)
        ratio = _error_ratio(model, k, split)
        print(f"code size {k}: ratio {ratio:.3f}")
        assert ratio < 0.7
        if k == 2:
            with torch.no_grad():
                deep = [model.encoder(torch.from_numpy(x)).numpy() for x in (split.x_train, split.x_test)]
            mean, components = namespace["pca"](split.x_train, 2)
            flat = [(x - mean) @ components.T for x in (split.x_train, split.x_test)]
            accuracy = [KNeighborsClassifier(5).fit(tr, split.y_train).score(te, split.y_test) for tr, te in (deep, flat)]
            print(f"5-NN accuracy of the 2-D codes: deep {accuracy[0]:.3f}, PCA {accuracy[1]:.3f}")
            assert accuracy[0] > accuracy[1] + 0.15
