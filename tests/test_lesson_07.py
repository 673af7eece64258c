"""Lesson 07: properties of the reference answers beyond the notebook's own tests."""

import math

import numpy as np
import pytest
import torch

from aelib import data, images, masked
from autograder.submissions import reference_answers


@pytest.fixture(scope="module")
def answers():
    namespace = {"np": np, "torch": torch}
    for grade_id in ("ex-patchify", "ex-random-masking", "ex-mask-tokens", "ex-masked-loss"):
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
    pred = model(tokens, keep, restore)
    loss = answers["masked_loss"](pred, tokens, mask)
    loss.backward()
    assert loss.dim() == 0 and model.patch_embed.weight.grad is not None
    assert answers["unpatchify"](pred, 4, (16, 16)).shape == (6, 16, 16)


def test_seeding_a_torch_generator_with_none_fails_as_the_text_warns(answers):
    with pytest.raises((TypeError, RuntimeError)):
        torch.Generator().manual_seed(None)
    state = torch.get_rng_state()
    first, second = (answers["random_masking"](30, 16, 0.75)[1] for _ in range(2))
    assert not torch.equal(first, second)
    assert torch.equal(state, torch.get_rng_state())


def test_mask_tokens_are_the_mechanism_of_the_library_decoder(answers):
    """aelib's decode = the exercise's insert_mask_tokens, then position embedding, transformer, head."""
    model = masked.MaskedAutoencoder(16, 16, seed=0).eval()
    with torch.no_grad():   # leave the zero start, so that every part matters
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    tokens = torch.rand(5, 16, 16)
    keep, _, restore = answers["random_masking"](5, 16, 0.75, seed=4)
    with torch.no_grad():
        latent = model.encode(tokens, keep)
        full = answers["insert_mask_tokens"](model.decoder_embed(latent), model.mask_token[0, 0], restore)
        expected = model.head(model.decoder_norm(model.decoder(full + model.decoder_pos_embed)))
        torch.testing.assert_close(model(tokens, keep, restore), expected)
        # the library's own ids_restore (hidden patches in increasing order) gives the same prediction
        torch.testing.assert_close(model(tokens, keep), expected, rtol=1e-5, atol=1e-6)


def _nearest_over_mean(train_images, test_images, side, patch, mask):
    patchify = lambda x, p: torch.nn.functional.unfold(torch.as_tensor(x).reshape(-1, 1, side, side), p, stride=p
                                                       ).transpose(1, 2)
    tokens, mean = patchify(test_images, patch), patchify(train_images, patch).mean(dim=0)
    hidden = torch.as_tensor(mask, dtype=torch.bool)
    grid = (side // patch, side // patch)
    nearest = torch.as_tensor(masked.nearest_visible_fill(tokens, hidden, grid))
    mean_fill = torch.as_tensor(masked.mean_patch_fill(tokens, hidden, mean))
    return float(((nearest - tokens) ** 2)[hidden].mean() / ((mean_fill - tokens) ** 2)[hidden].mean())


def test_the_enlargement_inflates_the_redundancy_of_single_pixels(answers):
    """Section 5's claim: copying a hidden pixel's neighbour helps much less on the native 8x8 digits."""
    digits = data.load("digits")
    x_train, x_test = images.resize(digits.x_train, (8, 8), 16), images.resize(digits.x_test[:100], (8, 8), 16)
    for ratio in (0.25, 0.5, 0.75):
        enlarged = _nearest_over_mean(x_train, x_test, 16, 1, answers["random_masking"](100, 256, ratio, seed=5)[1])
        native = _nearest_over_mean(digits.x_train.astype(np.float32), digits.x_test[:100].astype(np.float32), 8, 1,
                                    answers["random_masking"](100, 64, ratio, seed=5)[1])
        assert enlarged < 1 and native > enlarged + 0.2, (ratio, enlarged, native)
    native4 = _nearest_over_mean(digits.x_train.astype(np.float32), digits.x_test[:100].astype(np.float32), 8, 4,
                                 answers["random_masking"](100, 4, 0.5, seed=5)[1])
    assert native4 > 1.2
    for ratio in (0.25, 0.5, 0.75, 0.9):   # 4x4 patches of the enlarged digits: copying fails at every ratio
        assert _nearest_over_mean(x_train, x_test, 16, 4, answers["random_masking"](100, 16, ratio, seed=5)[1]) > 1



def test_grid_masks_do_not_make_copying_easier(answers):
    """Section 7's reading: copying the nearest 4x4 patch is no better under grid masks than under random ones."""
    digits = data.load("digits")
    x_train, x_test = images.resize(digits.x_train, (8, 8), 16), images.resize(digits.x_test, (8, 8), 16)
    n = len(x_test)
    grid = _nearest_over_mean(x_train, x_test, 16, 4, masked.grid_masking(n, (4, 4), seed=123))
    random = _nearest_over_mean(x_train, x_test, 16, 4, answers["random_masking"](n, 16, 0.75, seed=123)[1])
    assert grid > 0.97 * random > 2.0, (grid, random)   # and copying is several times worse than the mean patch
