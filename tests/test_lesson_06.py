"""Lesson 06: the size formulas and the rewrite agree with torch, the prose's facts hold, and the training test is calibrated."""

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from aelib import checks, conv, data, images, models, train
from autograder.submissions import reference_answers
from tests.calibration import calibrated

THRESHOLD_06 = calibrated("06-convolutional", "test-train-conv")
SIZE = 16


@pytest.fixture(scope="module")
def answers():
    namespace = {"conv": conv, "train": train, "models": models, "np": np, "torch": torch, "SIZE": SIZE,
                 "device": torch.device("cpu")}  # the notebook's `device`: calibrated on the CPU
    for source in reference_answers("06-convolutional").values():
        if source.lstrip().startswith(("def ", "from ", "import ", "class ")):
            exec(source, namespace)
    return namespace


@pytest.fixture(scope="module")
def split():
    digits = data.load()
    return (images.resize(digits.x_train, digits.image_shape, SIZE),
            torch.from_numpy(images.resize(digits.x_test, digits.image_shape, SIZE)))


def _held_out_error(model, x_test) -> float:
    """What lesson 06's training test measures: mean squared error per pixel of decode(encode(x)) on the test split."""
    model = model.cpu().eval()
    with torch.no_grad():
        return float(((model.decode(model.encode(x_test)).reshape(len(x_test), -1) - x_test) ** 2).mean())


def _failed_checks(model, x_test) -> list[str]:
    """The structural checks of lesson 06's training test that ``model`` fails (the error threshold aside)."""
    model = model.cpu().eval()
    failed = []
    ops = checks.ops_used(model, x_test[:2])
    if "convolution" not in ops:
        failed.append("no convolution")
    if not any(op.startswith("upsample") for op in ops):
        failed.append("no resizing")
    if conv.num_parameters(model) > 20000:
        failed.append("too many parameters")
    with torch.no_grad():
        code = model.encode(x_test)
        if code.dim() != 4 or code[0].numel() > 32:
            return failed + ["code not a feature map of at most 32 numbers"]
        flat = code.mean(dim=(0, 2, 3))[None, :, None, None].expand(2, -1, *code.shape[2:]).contiguous()
        if float(conv.high_frequency_energy(model.decode(flat).reshape(2, SIZE, SIZE)[0, 4:-4, 4:-4])) >= 1e-6:
            failed.append("not flat on a constant code")
    return failed


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


def test_rewrite_matches_conv_transpose_on_a_grid(answers):
    """Zero insertion, padding k-1-p (+o) and the flipped, channel-swapped kernel: conv_transpose2d, at every edge size."""
    gen = torch.Generator().manual_seed(0)
    for n, k, s, o in itertools.product(range(1, 5), range(1, 5), range(1, 4), range(3)):
        for p in range(k):
            if o >= s:
                continue
            if (n - 1) * s - 2 * p + k + o < 1:
                continue
            x, w = torch.randn(1, 2, n, n + 1, dtype=torch.float64, generator=gen), torch.randn(2, 3, k, k, dtype=torch.float64, generator=gen)
            want = torch.nn.functional.conv_transpose2d(x, w, stride=s, padding=p, output_padding=o)
            big, w_conv = answers["transposed_as_convolution"](x, w, s, p, o)
            assert torch.allclose(torch.nn.functional.conv2d(big, w_conv), want, atol=1e-12), (n, k, s, p, o)


def test_enlarged_digits_span_at_most_64_dimensions(split):
    """Section 1: bilinear enlargement is linear, so the 16x16 training matrix has rank at most 64."""
    x_train, _ = split
    assert np.linalg.matrix_rank(x_train.astype(np.float64), tol=1e-4) <= 64
    assert x_train.min() >= 0 and x_train.max() <= 1


def test_pooling_rounds_up_as_the_text_says():
    """Section 2: aelib's pooling encoder rounds up (15 -> 8), PyTorch's default pooling rounds down (15 -> 7)."""
    pool = conv.conv_encoder((4,), downsample="pool")
    stride = conv.conv_encoder((4,), downsample="stride")
    for n, expected in [(15, 8), (16, 8), (1, 1)]:
        assert pool(torch.zeros(1, 1, n, n)).shape[-1] == expected == stride(torch.zeros(1, 1, n, n)).shape[-1]
    assert torch.nn.functional.max_pool1d(torch.zeros(1, 1, 15), 2, 2).shape[-1] == 7


def test_strided_encoder_gradient_is_uneven_only_for_uneven_overlap():
    """Section 4: the input gradient of a stride-2 convolution with equal weights is patterned for k = 3, flat for k = 4."""
    for k, even in [(3, False), (4, True), (5, False), (6, True)]:
        layer = nn.Conv2d(1, 1, k, stride=2, bias=False)
        nn.init.constant_(layer.weight, 1.0)
        x = torch.ones(1, 1, 20, 20, requires_grad=True)
        layer(x).sum().backward()
        middle = x.grad[0, 0, 8:12, 8:12]
        assert (middle.max() == middle.min()) == even, k


def test_reference_passes_on_five_seeds(answers, split):
    x_train, x_test = split
    errors = []
    for seed in range(5):
        model = answers["train_conv_autoencoder"](x_train, seed=seed)
        assert _failed_checks(model, x_test) == [], seed
        errors.append(_held_out_error(model, x_test))
    assert max(errors) < THRESHOLD_06 / 1.5, f"too little margin: {errors}"


def _untrained(x, seed):
    return conv.conv_autoencoder((SIZE, SIZE), decoder="resize", seed=seed)


def _one_epoch(x, seed):
    model = _untrained(x, seed)
    train.fit(model, x, num_epochs=1, lr=4e-3, seed=seed, progress=False)
    return model


def _code_of_sixteen(x, seed):
    model = conv.conv_autoencoder((SIZE, SIZE), code_channels=1, decoder="resize", seed=seed)
    train.fit(model, x, num_epochs=12, lr=4e-3, seed=seed, progress=False)
    return model


@pytest.mark.parametrize("wrong", [_untrained, _one_epoch, _code_of_sixteen])
def test_too_weak_models_fail_the_threshold(split, wrong):
    x_train, x_test = split
    assert _held_out_error(wrong(x_train, 0), x_test) > THRESHOLD_06


class _IgnoresTheCode(nn.Module):
    """The nearest model whose output does not come through its code: the decoder draws the mean training image."""

    def __init__(self, x_train):
        super().__init__()
        self.encoder = conv.conv_encoder()
        self.mean = nn.Parameter(torch.as_tensor(x_train).mean(0))
        self.scale = nn.Conv2d(2, 1, 1)

    def encode(self, x):
        return self.encoder(x.reshape(-1, 1, SIZE, SIZE))

    def decode(self, h):
        up = nn.functional.interpolate(self.scale(h), scale_factor=4)
        return self.mean + 0 * up.flatten(1)


def test_nearest_wrong_models_fail(split):
    """The lesson's own transposed-convolution decoder meets the error threshold but not the flatness check; a fully
    connected model of the same code size runs no convolution; a decoder that ignores its code misses the threshold."""
    x_train, x_test = split
    transposed = conv.conv_autoencoder((SIZE, SIZE), channels=(16, 32), code_channels=2, decoder="transpose",
                                       decoder_kernel=4, padding=1, seed=0)
    train.fit(transposed, x_train, num_epochs=12, lr=4e-3, seed=0, progress=False)
    assert _held_out_error(transposed, x_test) < THRESHOLD_06      # the threshold alone would let it through
    assert "not flat on a constant code" in _failed_checks(transposed, x_test)
    mlp = models.mlp_autoencoder([SIZE * SIZE, 32], output_activation="sigmoid", seed=0)
    assert "no convolution" in _failed_checks(mlp, x_test)
    assert _held_out_error(_IgnoresTheCode(x_train), x_test) > THRESHOLD_06


def test_constant_input_claims():
    """The lesson's artefact table: equal weights are flat iff the stride divides the kernel; resizing is always flat."""
    for k, s in itertools.product(range(1, 7), range(1, 4)):
        flat = conv.high_frequency_energy(conv.constant_response(conv.upsampling_layer("transpose", k, s), k, s, size=20))[0]
        assert (flat < 1e-12) == (k % s == 0), (k, s)
        for kind in ("resize-nearest", "resize-bilinear"):
            layer = conv.upsampling_layer(kind, k, s, weights="random", seed=k + s)
            assert conv.high_frequency_energy(conv.constant_response(layer, k, s, size=20))[0] < 1e-12
