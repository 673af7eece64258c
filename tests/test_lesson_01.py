"""Lesson 01: the training threshold is calibrated (reference passes on 5 seeds, known-wrong models fail),
and the measured claims of the lesson's prose hold on the reference."""

import matplotlib

matplotlib.use("Agg")

import nbformat
import numpy as np
import pytest
import torch

from aelib import checks, data, models, plot, train
from aelib.gradcheck import numerical_gradient, relative_error
from autograder.course import SOLUTIONS
from autograder.submissions import reference_answers
from tests.calibration import calibrated

LESSON = "01-copy-through"


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
    exec(reference_answers(LESSON)["ex-train-bottleneck"], namespace)
    return namespace["train_bottleneck_autoencoder"], data.load()


THRESHOLD_01 = calibrated(LESSON, "test-train-bottleneck")


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


def _linear_sixteen(x, seed):
    """The nearest wrong model: linear, at the exercise's code size, trained to convergence."""
    model = models.mlp_autoencoder([64, 16], activation=None, seed=seed)
    train.fit(model, x, num_epochs=60, lr=1e-2, seed=seed, progress=False)
    return model


def _pca_sixteen(x, seed):
    """The best linear autoencoder with 16 code units there is (Eckart-Young): PCA's projection."""
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    model = models.mlp_autoencoder([64, 16], activation=None, seed=seed)
    with torch.no_grad():
        v = torch.from_numpy(vt[:16].copy())                       # (16, 64)
        model.encoder[0].weight.copy_(v)
        model.encoder[0].bias.copy_(-(v @ torch.from_numpy(mean)))
        model.decoder[0].weight.copy_(v.T)
        model.decoder[0].bias.copy_(torch.from_numpy(mean))
    return model


@pytest.mark.parametrize("wrong", [_untrained, _one_epoch, _linear_four, _linear_sixteen, _pca_sixteen])
def test_known_wrong_models_fail(lesson_01, wrong):
    _, split = lesson_01
    assert _held_out_error(wrong(split.x_train, 0), split) > THRESHOLD_01


# ---------------------------------------------------------------- the prose's claims, on the notebook's own cells

def _run_cells(*cell_ids) -> dict:
    """Execute the solution's answers, then the named plain code cells, in one namespace (on the CPU)."""
    namespace = {"DATASET": "digits"}
    exec("import numpy as np\nimport torch\nimport matplotlib.pyplot as plt\n"
         "from aelib import checks, data, models, plot, train, widgets\n"
         "from aelib.gradcheck import numerical_gradient, relative_error\n", namespace)
    namespace["device"] = torch.device("cpu")
    for answer in reference_answers(LESSON).values():
        if answer.lstrip().startswith("def "):
            exec(answer, namespace)
    nb = nbformat.read(SOLUTIONS / LESSON / f"{LESSON}.ipynb", as_version=4)
    sources = {cell.get("id"): cell.source for cell in nb.cells if cell.cell_type == "code"}
    for cell_id in cell_ids:
        exec(sources[cell_id], namespace)
    return namespace


@pytest.fixture(scope="module")
def notebook():
    import matplotlib.pyplot as plt
    ns = _run_cells("c03", "c09", "c15", "c18", "c20", "c22", "c24", "c26", "c27-memorise-code", "c27-pca16",
                    "c30-likelihood-code")
    plt.close("all")
    return ns


def test_untrained_loss_is_large_and_training_by_hand_beats_the_mean_image(notebook):
    ns = notebook
    x5 = ns["x_train"][:5]
    mean5 = ns["reconstruction_loss"](x5, np.broadcast_to(ns["x_train"].mean(axis=0), x5.shape))
    assert ns["reconstruction_loss"](x5, ns["x_hat"]) > 2 * mean5
    assert ns["losses_by_hand"][-1] < ns["baseline"] < ns["losses_by_hand"][0]


def test_a_correct_gradient_agrees_with_central_differences_to_1e_9(notebook):
    ns = notebook
    for name, value in ns["params_check"].items():
        numeric = numerical_gradient(lambda _: ns["reconstruction_loss"](
            ns["x_check"], ns["forward"](ns["x_check"], ns["params_check"])[1]), value)
        assert relative_error(ns["analytic"][name], numeric) < 1e-8, name


def test_copy_through_is_the_identity_along_the_data_and_random_elsewhere(notebook):
    ns = notebook
    assert ns["train"].evaluate(ns["identity_model"], ns["x_test"]) == 0.0
    assert ns["copy_history"].val_loss[-1] < 1e-4, "the held-out error is tiny"
    # the model computes x -> x P: the distance along v_i is ||v_i^T (P - I)||
    P, Vt = ns["P"], ns["Vt"]
    np.testing.assert_allclose(ns["distance"], np.linalg.norm(Vt @ (P - np.eye(64)), axis=1))
    assert ns["distance"][ns["top"]].max() < 0.05, "along every direction the digits use, P acts as the identity"
    assert ns["unused"].sum() == 3 and ns["distance"][ns["unused"]].min() > 0.5, "unused directions keep their start"
    used = ~ns["unused"]
    rare = used & (ns["variance"] < np.quantile(ns["variance"][used], 0.25))
    assert ns["distance"][rare].mean() > 3 * ns["distance"][ns["top"]].mean(), "rarer directions converge slower"


def test_the_blank_pixels_are_the_ones_the_text_names():
    split = data.load()
    blank = np.flatnonzero(split.x_train.max(axis=0) == 0)
    assert [divmod(int(i), 8) for i in blank] == [(0, 0), (4, 0), (4, 7)], \
        "the text says: the top-left corner and the first and last pixels of the fifth row"


def test_copy_copies_anything_and_the_bottleneck_rejects_what_it_never_saw(notebook):
    ns = notebook
    relative = {}
    for label, x in ns["inputs"].items():
        variance_x = float(((x - x.mean(axis=0)) ** 2).mean())
        relative[label] = (ns["train"].evaluate(ns["copy_model"], x) / variance_x,
                           ns["train"].evaluate(ns["bottleneck_model"], x) / variance_x)
    copy, neck = {k: v[0] for k, v in relative.items()}, {k: v[1] for k, v in relative.items()}
    assert copy["upside down"] < 0.01 and copy["mirrored"] < 0.01, f"flipped digits come back almost perfectly: {relative}"
    assert copy["uniform noise"] < 0.5, f"the copy reconstructs most of the noise: {relative}"
    assert all(neck[k] > 2 * copy[k] for k in relative), f"the bottleneck is worse on everything: {relative}"
    for label in ("upside down", "mirrored"):
        assert neck[label] > 1.3 * neck["test digits"], f"worse still on flipped digits: {relative}"
    assert neck["uniform noise"] > 3 * neck["test digits"], f"far worse on the noise: {relative}"


def test_a_one_number_code_memorises_eight_digits_and_fails_on_held_out_ones(notebook):
    ns = notebook
    assert ns["memorised_error"] < 0.01, ns["memorised_error"]
    assert ns["held_out_error"] > 10 * ns["memorised_error"]
    assert ns["held_out_error"] > ns["mean_image_error"], "worse than predicting the eight images' average"
    assert len(np.unique(np.round(ns["codes_few"], 2))) == 8, "eight distinct codes: an index"


def test_pca_sixteen_misses_the_threshold(notebook):
    assert THRESHOLD_01 < notebook["pca16_error"] < 1.2 * THRESHOLD_01, notebook["pca16_error"]


def test_both_likelihoods_give_reasonable_and_similar_reconstructions(notebook):
    ns = notebook
    nets = list(ns["likelihood_models"].values())
    mse = [ns["train"].evaluate(net, ns["x_test"]) for net in nets]
    bce = [ns["train"].evaluate(net, ns["x_test"], loss_fn=ns["bernoulli_loss"]) for net in nets]
    mean_image = float(((ns["x_test"] - ns["x_train"].mean(axis=0)) ** 2).mean())
    assert max(mse) < 0.5 * mean_image, mse
    assert max(mse) < 1.3 * min(mse) and max(bce) < 1.1 * min(bce), ("the differences are small", mse, bce)
    assert min(bce) > ns["entropy_floor"], "cross-entropy never goes below the pixels' entropy"
