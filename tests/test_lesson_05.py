"""Lesson 05: the contractive training thresholds are calibrated, and the lesson's claims hold."""

import ast

import nbformat
import numpy as np
import pytest
import torch
from torch import nn
from torch.func import jacfwd, jacrev, vmap

from aelib import data, manifolds, models, train
from autograder.course import SOLUTIONS
from autograder.submissions import reference_answers
from tests.calibration import calibrated

LESSON = "05-contractive"
MAX_ERROR, MAX_JACOBIAN, MAX_RELATIVE, MAX_RECONSTRUCTION_JACOBIAN = calibrated("05-contractive", "test-train-contractive")
_TRAINED = {}   # models trained once and shared by the tests of this module


def _notebook_definitions() -> dict:
    """The functions and classes the solution notebook defines outside answer and test cells, plus the answers."""
    namespace = {"np": np, "torch": torch, "nn": nn, "models": models, "train": train, "manifolds": manifolds,
                 "vmap": vmap, "jacrev": jacrev, "jacfwd": jacfwd,
                 "device": torch.device("cpu")}  # the notebook's `device`: calibrated on the CPU
    nb = nbformat.read(SOLUTIONS / LESSON / f"{LESSON}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code" or "nbgrader" in cell.metadata:
            continue
        tree = ast.parse(cell.source)
        definitions = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
        exec(compile(ast.Module(definitions, type_ignores=[]), f"<{LESSON} definitions>", "exec"), namespace)
    for answer in reference_answers(LESSON).values():
        if answer.lstrip().startswith("def "):
            exec(answer, namespace)
    return namespace


@pytest.fixture(scope="module")
def lesson_05():
    return _notebook_definitions(), data.load()


def _measure(model, split):
    """What the training test measures: (error per pixel, mean ||J_f||_F^2, relative contraction, mean ||J_r||_F^2)."""
    x = torch.from_numpy(split.x_test)
    with torch.no_grad():
        h = model.encoder(x)
        error = float(((model.decoder(h) - x) ** 2).mean())
    jacobian = float(vmap(jacrev(lambda v: model.encoder(v[None])[0]))(x).detach().pow(2).sum(dim=(1, 2)).mean())
    relative = (jacobian / x.shape[1]) / (float(((h - h.mean(0)) ** 2).sum(1).mean()) / float(((x - x.mean(0)) ** 2).sum(1).mean()))
    reconstruction = float(vmap(jacrev(lambda v: model.decoder(model.encoder(v[None]))[0]))(x).detach().pow(2).sum(dim=(1, 2)).mean())
    return error, jacobian, relative, reconstruction


def _passes(measured) -> bool:
    error, jacobian, relative, reconstruction = measured
    return error < MAX_ERROR and jacobian < MAX_JACOBIAN and relative < MAX_RELATIVE and reconstruction < MAX_RECONSTRUCTION_JACOBIAN


def test_reference_passes_on_five_seeds_with_margin(lesson_05):
    namespace, split = lesson_05
    results = [_measure(namespace["train_contractive_autoencoder"](split.x_train, seed=seed), split) for seed in range(5)]
    for error, jacobian, relative, reconstruction in results:
        assert error < 0.9 * MAX_ERROR and jacobian < MAX_JACOBIAN / 1.5 and relative < MAX_RELATIVE / 1.15, results
        assert reconstruction < MAX_RECONSTRUCTION_JACOBIAN / 1.1, results


def _untied(namespace, split, lam, epochs, seed=0):
    key = ("untied", lam, epochs, seed)
    if key in _TRAINED:
        return _TRAINED[key]
    model = models.mlp_autoencoder([64, 64], activation=None, code_activation="sigmoid", output_activation="sigmoid", seed=seed)
    loss = namespace["contractive_loss"](lam) if lam else train.reconstruction_loss
    train.fit(model, split.x_train, num_epochs=epochs, lr=3e-3, loss_fn=loss, seed=seed, progress=False)
    _TRAINED[key] = model
    return model


def _tied(namespace, split, lam, epochs, hidden=64, seed=0, **fit_args):
    model = namespace["TiedAutoencoder"](64, hidden, seed=seed)
    loss = namespace["contractive_loss"](lam) if lam else train.reconstruction_loss
    train.fit(model, split.x_train, num_epochs=epochs, loss_fn=loss, seed=seed, progress=False, **({"lr": 3e-3} | fit_args))
    return model


class _Rescaled(nn.Module):
    """The scaling loophole applied to a trained model: encoder eps * f, decoder g(h / eps)."""

    def __init__(self, model, eps):
        super().__init__()
        self.model, self.eps = model, eps

    def encoder(self, x):
        return self.eps * self.model.encoder(x)

    def decoder(self, h):
        return self.model.decoder(h / self.eps)


WRONG = {
    "untrained": lambda ns, split: _tied(ns, split, 0.0, 1, lr=1e-6),
    "plain untied, 30 epochs": lambda ns, split: _untied(ns, split, 0.0, 30),
    "plain tied, 25 epochs": lambda ns, split: _tied(ns, split, 0.0, 25),
    "plain tied, 128 units, 20 epochs": lambda ns, split: _tied(ns, split, 0.0, 20, hidden=128),
    "plain tied, shrunk by the loophole": lambda ns, split: _Rescaled(_tied(ns, split, 0.0, 25), 0.05),
    "lambda far too large": lambda ns, split: _tied(ns, split, 1.0, 50, hidden=128, lr=1e-2, batch_size=128),
}


@pytest.mark.parametrize("wrong", sorted(WRONG))
def test_known_wrong_models_fail(lesson_05, wrong):
    namespace, split = lesson_05
    measured = _measure(WRONG[wrong](namespace, split), split)
    assert not _passes(measured), f"{wrong} passes: {measured}"


def test_the_untied_loophole_model_fails_on_five_seeds_with_margin(lesson_05):
    """The nearest wrong model: section 4's untied contractive autoencoder (lambda 0.1, 80 epochs).

    It meets the error, ||J_f||^2 and relative bounds (the exercise text says so: error about 0.013,
    ||J_f||^2 about 3.6, relative about 0.23) and is rejected by ||J_r||^2 (about 6.6) by a clear margin.
    """
    namespace, split = lesson_05
    results = [_measure(_untied(namespace, split, 0.1, 80, seed=seed), split) for seed in range(5)]
    for error, jacobian, relative, reconstruction in results:
        assert reconstruction > 1.1 * MAX_RECONSTRUCTION_JACOBIAN, results
        assert error < MAX_ERROR and jacobian < MAX_JACOBIAN and relative < MAX_RELATIVE, results   # as the text says
        assert abs(error - 0.013) < 0.001 and abs(jacobian - 3.6) < 0.2 and abs(relative - 0.23) < 0.01 and abs(reconstruction - 6.6) < 0.2, results


def test_the_plain_models_of_section_5_are_as_the_exercise_says(lesson_05):
    """The exercise text: those plain models reach the error bound but have mean ||J||^2 >= 14, relative > 0.26, ||J_r||^2 > 7.5."""
    namespace, split = lesson_05
    for model in (_untied(namespace, split, 0.0, 30), _tied(namespace, split, 0.0, 25)):
        error, jacobian, relative, reconstruction = _measure(model, split)
        assert error < MAX_ERROR and jacobian >= 14 and relative > 0.26 and reconstruction > 7.5, (error, jacobian, relative, reconstruction)


def test_untied_contraction_is_partly_the_loophole(lesson_05):
    """Section 5: the untied contractive encoder shrinks its weights and its codes, its decoder grows."""
    namespace, split = lesson_05
    plain, contractive = _untied(namespace, split, 0.0, 30), _untied(namespace, split, 0.1, 80)
    assert contractive.encoder[0].weight.norm() < 0.5 * plain.encoder[0].weight.norm()
    assert contractive.decoder[0].weight.norm() > 1.5 * plain.decoder[0].weight.norm()
    (_, j_plain, r_plain, _), (_, j_cae, r_cae, _) = _measure(plain, split), _measure(contractive, split)
    assert j_plain / j_cae > 2 * (r_plain / r_cae) > 2


def test_curve_jacobian_follows_the_tangent(lesson_05):
    """Section 7: the contractive curve encoder squashes the normal direction; the plain one does not."""
    namespace, _ = lesson_05
    curve = manifolds.spiral()
    namespace["x_curve"], _ = curve.sample(2000, seed=0)
    namespace["curve"] = curve
    t = np.linspace(curve.t_min, curve.t_max, 300)
    points = torch.tensor(curve.point(t), dtype=torch.float32)
    results = {}
    for lam in (0.0, 0.3):
        model = namespace["train_curve_model"](lam)
        v1, s = namespace["singular_directions"](model, points)
        angle = np.degrees(np.arccos(np.clip(np.abs((v1 * curve.tangent(t)).sum(axis=1)), 0, 1)))
        results[lam] = (np.median(s[:, 1] / s[:, 0]), np.median(angle))
    assert results[0.0][0] > 0.8, results
    assert results[0.3][0] < 0.4 and results[0.3][1] < 15, results


def test_denoising_and_contractive_penalty_agree_for_small_noise(lesson_05):
    """Section 8: (denoising loss - reconstruction loss) / sigma^2 approaches ||J_r||_F^2."""
    namespace, _ = lesson_05
    curve = manifolds.spiral()
    namespace["x_curve"], _ = curve.sample(2000, seed=0)
    model = namespace["train_curve_model"](0.1, seed=1).double()
    x, _ = curve.sample(300, seed=3)
    x = torch.from_numpy(x.astype(np.float64))
    error, jr = namespace["reconstruction_terms"](model, x)
    extra = (namespace["denoising_loss_estimate"](model, x, 0.01, num_draws=50) - error) / 0.01 ** 2
    assert abs(extra / jr - 1) < 0.05, (extra, jr)


def test_image_space_and_classifier_claims(lesson_05):
    """Sections 9 and 10 on the notebook's own models (seed 0): the spectra, the shift tangent, the classifier ordering."""
    namespace, split = lesson_05
    namespace.update(x_train=split.x_train, x_test=split.x_test, digits=split, D=64,
                     LogisticRegression=__import__("sklearn.linear_model", fromlist=["LogisticRegression"]).LogisticRegression)
    tied = namespace["TiedAutoencoder"]
    torch.manual_seed(0)
    denoising = tied(64, 64)
    train.fit(denoising, split.x_train, num_epochs=25, lr=3e-3, loss_fn=namespace["denoising_loss"](0.2), progress=False)
    encoders = {"plain": _tied(namespace, split, 0.0, 25), "denoising": denoising, "contractive": _tied(namespace, split, 0.1, 60)}
    x_some = split.x_test[:100]
    tangents = namespace["shift_tangent"](x_some, split.image_shape)
    unit = tangents / np.maximum(np.linalg.norm(tangents, axis=1, keepdims=True), 1e-12)
    s10, top5 = {}, {}
    for name, model in encoders.items():
        s, Vt = namespace["jacobian_svd"](model.encoder, torch.from_numpy(x_some))
        s10[name] = float(np.median(s / s[:, :1], axis=0)[9])
        top5[name] = float(np.median(np.linalg.norm(np.einsum("nkd,nd->nk", Vt[:, :5], unit), axis=1)))
    assert s10["contractive"] < s10["plain"] - 0.1 and s10["contractive"] < s10["denoising"] - 0.1, s10
    assert abs(s10["denoising"] - s10["plain"]) < 0.05, s10
    assert top5["plain"] < top5["contractive"] and 0.4 < top5["contractive"] < 0.6, top5
    under = tied(64, 32)
    train.fit(under, split.x_train, num_epochs=25, lr=3e-3, progress=False)
    acc = {name: namespace["code_accuracy"](encoder) for name, encoder in
           (("pixels", None), ("under", under.encoder), ("denoising", denoising.encoder), ("contractive", encoders["contractive"].encoder))}
    assert acc["under"] < acc["denoising"] <= acc["contractive"], acc
    assert abs(acc["pixels"] - acc["contractive"]) < 0.02, acc
