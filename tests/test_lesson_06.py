"""Lesson 06: the output-size answers agree with torch everywhere, and the training threshold is calibrated."""

import itertools

import numpy as np
import pytest
import torch

from aelib import conv, data, images, models, train
from autograder.submissions import reference_answers
from tests.calibration import calibrated

THRESHOLD_06 = calibrated("06-convolutional", "test-train-conv")
SIZE = 16


@pytest.fixture(scope="module")
def answers():
    namespace = {"conv": conv, "train": train, "models": models, "np": np, "torch": torch, "SIZE": SIZE,
                 "device": torch.device("cpu")}  # the notebook's `device`: calibrated on the CPU
    for source in reference_answers("06-convolutional").values():
        if source.lstrip().startswith("def "):
            exec(source, namespace)
    return namespace


@pytest.fixture(scope="module")
def split():
    digits = data.load()
    return (images.resize(digits.x_train, digits.image_shape, SIZE),
            torch.from_numpy(images.resize(digits.x_test, digits.image_shape, SIZE)))


def _held_out_error(model, x_test) -> float:
    """What lesson 06's training test measures: mean squared error per pixel on the resized test split."""
    model = model.cpu().eval()
    with torch.no_grad():
        return float(((model(x_test).reshape(len(x_test), -1) - x_test) ** 2).mean())


def test_size_formulas_match_torch_on_a_grid(answers):
    for n, k, s, p, d in itertools.product(range(1, 12), range(1, 6), range(1, 4), range(3), range(1, 3)):
        if n + 2 * p >= d * (k - 1) + 1:
            expected = torch.nn.functional.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s, padding=p,
                                                  dilation=d).shape[-1]
            assert answers["conv_output_size"](n, k, s, p, d) == expected
        for o in range(max(s, d)):
            size = answers["conv_transpose_output_size"](n, k, s, p, o, d)
            if size >= 1:
                expected = torch.nn.functional.conv_transpose1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s,
                                                                padding=p, output_padding=o, dilation=d).shape[-1]
                assert size == expected


def test_reference_passes_on_five_seeds(answers, split):
    x_train, x_test = split
    errors = [_held_out_error(answers["train_conv_autoencoder"](x_train, seed=seed), x_test) for seed in range(5)]
    assert max(errors) < THRESHOLD_06 / 1.5, f"too little margin: {errors}"


def _untrained(x, seed):
    return conv.conv_autoencoder((SIZE, SIZE), seed=seed)


def _one_epoch(x, seed):
    model = _untrained(x, seed)
    train.fit(model, x, num_epochs=1, lr=4e-3, seed=seed, progress=False)
    return model


def _code_of_sixteen(x, seed):
    model = conv.conv_autoencoder((SIZE, SIZE), code_channels=1, seed=seed)
    train.fit(model, x, num_epochs=12, lr=4e-3, seed=seed, progress=False)
    return model


@pytest.mark.parametrize("wrong", [_untrained, _one_epoch, _code_of_sixteen])
def test_known_wrong_models_fail(split, wrong):
    x_train, x_test = split
    assert _held_out_error(wrong(x_train, 0), x_test) > THRESHOLD_06


def test_constant_input_claims():
    """The lesson's artefact table: equal weights are flat iff the stride divides the kernel; resizing is always flat."""
    for k, s in itertools.product(range(1, 7), range(1, 4)):
        flat = conv.high_frequency_energy(conv.constant_response(conv.upsampling_layer("transpose", k, s), k, s, size=20))[0]
        assert (flat < 1e-12) == (k % s == 0), (k, s)
        for kind in ("resize-nearest", "resize-bilinear"):
            layer = conv.upsampling_layer(kind, k, s, weights="random", seed=k + s)
            assert conv.high_frequency_energy(conv.constant_response(layer, k, s, size=20))[0] < 1e-12
