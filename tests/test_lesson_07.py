"""Lesson 07: properties of the reference answers beyond the notebook's own tests."""

import math

import numpy as np
import pytest
import torch

from aelib import masked
from autograder.submissions import reference_answers


@pytest.fixture(scope="module")
def answers():
    namespace = {"np": np, "torch": torch}
    for grade_id in ("ex-patchify", "ex-random-masking", "ex-masked-loss"):
        exec(reference_answers("07-masked")[grade_id], namespace)
    return namespace


def test_patchify_matches_unfold(answers):
    for p, rows, cols in [(1, 3, 5), (2, 4, 4), (4, 4, 4), (3, 2, 5)]:
        x = torch.rand(3, rows * p, cols * p, dtype=torch.float64)
        expected = torch.nn.functional.unfold(x[:, None], kernel_size=p, stride=p).transpose(1, 2)
        assert torch.equal(answers["patchify"](x, p), expected)
        assert torch.equal(answers["unpatchify"](expected, p, (rows * p, cols * p)), x)


@pytest.mark.parametrize("num_patches", [4, 16, 49])
def test_masking_keeps_round_of_the_visible_share(answers, num_patches):
    for ratio in np.linspace(0.0, 0.95, 20):
        expected = round((1 - ratio) * num_patches)
        if expected < 1 or abs((1 - ratio) * num_patches % 1 - 0.5) < 1e-9:
            continue
        keep, mask, restore = answers["random_masking"](5, num_patches, float(ratio), seed=1)
        assert keep.shape == (5, expected) and torch.all(mask.sum(dim=1) == num_patches - expected)
        shuffle = restore.argsort(dim=1)
        assert torch.equal(shuffle[:, :expected], keep)


def test_masking_is_uniform_over_subsets(answers):
    """All C(6, 2) = 15 visible pairs are about equally likely."""
    keep, _, _ = answers["random_masking"](30000, 6, 2 / 3, seed=0)
    pairs = keep.sort(dim=1).values
    counts = torch.unique(pairs[:, 0] * 6 + pairs[:, 1], return_counts=True)[1].double()
    assert len(counts) == math.comb(6, 2)
    assert float((counts / counts.sum() - 1 / 15).abs().max()) < 0.01


def test_masked_loss_equals_mean_over_hidden_pixels(answers):
    torch.manual_seed(0)
    pred, target = torch.rand(4, 9, 5), torch.rand(4, 9, 5)
    mask = (torch.rand(4, 9) < 0.7).float()
    mask[0, 0] = 1.0
    hidden = mask.bool()
    torch.testing.assert_close(answers["masked_loss"](pred, target, mask), ((pred - target) ** 2)[hidden].mean())


def test_the_pieces_fit_the_model(answers):
    """The lesson's pipeline: patchify -> random_masking -> model -> masked_loss -> unpatchify."""
    x = torch.rand(6, 16, 16)
    tokens = answers["patchify"](x, 4)
    keep, mask, restore = answers["random_masking"](6, 16, 0.75, seed=2)
    model = masked.MaskedAutoencoder(16, 16, seed=0)
    pred = model(tokens, keep)
    loss = answers["masked_loss"](pred, tokens, mask)
    loss.backward()
    assert loss.dim() == 0 and model.patch_embed.weight.grad is not None
    assert answers["unpatchify"](pred, 4, (16, 16)).shape == (6, 16, 16)
