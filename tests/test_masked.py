import numpy as np
import pytest
import torch

from aelib import masked, train


def _keep(n, num_patches, num_keep, seed=0):
    return torch.rand(n, num_patches, generator=torch.Generator().manual_seed(seed)).argsort(dim=1)[:, :num_keep]


def test_shapes_and_features():
    model = masked.MaskedAutoencoder(num_patches=16, patch_dim=9, seed=0)
    tokens = torch.rand(5, 16, 9)
    ids = _keep(5, 16, 4)
    assert model.encode(tokens, ids).shape == (5, 4, 32)
    assert model.encode(tokens).shape == (5, 16, 32)
    assert model(tokens, ids).shape == (5, 16, 9)
    assert model.features(tokens).shape == (5, 32)
    assert model(tokens, ids.numpy()).shape == (5, 16, 9)


def test_the_encoder_sees_only_the_visible_patches():
    model = masked.MaskedAutoencoder(num_patches=9, patch_dim=4, dim=16, depth=2, seed=1)
    with torch.no_grad():   # leave the zero start, so that every part of the model matters
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    tokens = torch.rand(3, 9, 4)
    ids = _keep(3, 9, 3, seed=2)
    changed = tokens.clone()
    hidden = torch.ones(3, 9, dtype=torch.bool)
    hidden.scatter_(1, ids, False)
    changed[hidden] = torch.rand(int(hidden.sum()), 4)
    with torch.no_grad():
        torch.testing.assert_close(model(tokens, ids), model(changed, ids))
        assert not torch.allclose(model(tokens, ids), model(tokens, _keep(3, 9, 3, seed=5)))
        # the visible tokens' order does not matter: positions come from the position embedding
        torch.testing.assert_close(model(tokens, ids), model(tokens, ids.flip(1)), rtol=1e-5, atol=1e-6)


def test_blocks_start_as_identity_and_seed_leaves_global_rng_alone():
    model = masked.MaskedAutoencoder(num_patches=4, patch_dim=4, seed=0)
    for block in list(model.encoder.layers) + list(model.decoder.layers):
        assert float(block.linear2.weight.detach().abs().sum()) == 0.0
        assert float(block.self_attn.out_proj.weight.detach().abs().sum()) == 0.0
    torch.manual_seed(7)
    expected = torch.rand(1)
    torch.manual_seed(7)
    a = masked.MaskedAutoencoder(num_patches=4, patch_dim=4, seed=3)
    assert torch.rand(1) == expected
    b = masked.MaskedAutoencoder(num_patches=4, patch_dim=4, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_trains_on_a_masked_loss():
    torch.manual_seed(0)
    x = torch.rand(64, 8, 4)

    def loss_fn(model, batch):
        ids = _keep(len(batch), 8, 4, seed=int(torch.randint(1000, ())))
        return ((model(batch, ids) - batch) ** 2).mean()

    model = masked.MaskedAutoencoder(num_patches=8, patch_dim=4, seed=0)
    history = train.fit(model, x, num_epochs=15, lr=3e-3, loss_fn=loss_fn, progress=False)
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]


def test_bad_input_messages():
    model = masked.MaskedAutoencoder(num_patches=4, patch_dim=4)
    tokens = torch.rand(2, 4, 4)
    with pytest.raises(ValueError, match="4 patches"):
        model(torch.rand(2, 5, 4), torch.zeros(2, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="4 features"):
        model(torch.rand(2, 4, 3), torch.zeros(2, 1, dtype=torch.long))
    with pytest.raises(ValueError, match="outside"):
        model(tokens, torch.tensor([[0, 4], [1, 2]]))
    with pytest.raises(ValueError, match=r"\(N, V\)"):
        model(tokens, torch.tensor([0, 1]))
    with pytest.raises(TypeError, match="integer"):
        model(tokens, torch.zeros(2, 1))
    with pytest.raises(ValueError, match="divisible"):
        masked.MaskedAutoencoder(4, 4, dim=30, heads=4)


def test_patch_grid_distances():
    distance = masked.patch_grid_distances((2, 3))
    assert distance.shape == (6, 6) and np.allclose(distance, distance.T) and np.allclose(np.diag(distance), 0)
    assert distance[0, 1] == 1.0 and distance[0, 3] == 1.0 and np.isclose(distance[0, 4], np.sqrt(2))


def test_nearest_visible_fill():
    tokens = np.arange(6, dtype=np.float64)[None, :, None] * np.ones((2, 6, 2))   # patch i holds value i
    mask = np.array([[1, 0, 1, 1, 1, 1], [0, 1, 1, 1, 1, 0]])                     # grid 2 x 3
    filled = masked.nearest_visible_fill(tokens, mask, (2, 3))
    # image 0: only patch 1 is visible; image 1: patches 0 and 5 (ties go to the lower number)
    np.testing.assert_array_equal(filled[0, :, 0], [1, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(filled[1, :, 0], [0, 0, 5, 0, 5, 5])
    np.testing.assert_array_equal(masked.nearest_visible_fill(tokens, np.zeros((2, 6)), (2, 3)), tokens)
    with pytest.raises(ValueError, match="at least one visible"):
        masked.nearest_visible_fill(tokens, np.ones((2, 6)), (2, 3))
    with pytest.raises(ValueError, match="grid"):
        masked.nearest_visible_fill(tokens, mask, (3, 3))


def test_mean_patch_fill():
    tokens = torch.rand(3, 4, 2)
    mask = torch.tensor([[1, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]])
    mean = np.full((4, 2), 0.5)
    filled = masked.mean_patch_fill(tokens, mask, mean)
    np.testing.assert_array_equal(filled[0, 1:], tokens[0, 1:].numpy())
    np.testing.assert_array_equal(filled[0, 0], [0.5, 0.5])
    np.testing.assert_array_equal(filled[2], mean)
    with pytest.raises(ValueError, match="do not fit"):
        masked.mean_patch_fill(tokens, mask, np.zeros((3, 2)))


def test_decode_gathers_visible_then_mask_tokens_with_ids_restore():
    model = masked.MaskedAutoencoder(num_patches=6, patch_dim=3, dim=8, decoder_dim=4, seed=0)
    shuffle = torch.tensor([[4, 1, 0, 2, 3, 5], [0, 1, 2, 3, 4, 5]])
    keep, restore = shuffle[:, :2], shuffle.argsort(dim=1)
    assert torch.equal(model.restore_ids(keep).gather(1, keep), torch.arange(2).expand(2, 2))
    tokens = torch.rand(2, 6, 3)
    with torch.no_grad():
        torch.testing.assert_close(model(tokens, keep, restore), model(tokens, keep), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="does not fit"):
        model(tokens, keep, restore.flip(1))
    with pytest.raises(ValueError, match="permutation"):
        model.decode(torch.rand(2, 2, 8), torch.zeros(2, 6, dtype=torch.long))
    with pytest.raises(ValueError, match="different"):
        model.restore_ids(torch.tensor([[1, 1], [0, 2]]))


@pytest.mark.parametrize("ratio", [0.0, 0.5, 0.75, 0.9375])
def test_block_masking_hides_exactly_and_in_blocks(ratio):
    masks = masked.block_masking(200, (4, 4), ratio, seed=0)
    assert masks.shape == (200, 16) and masks.dtype == np.float32
    assert np.all(masks.sum(axis=1) == 16 - round((1 - ratio) * 16))
    np.testing.assert_array_equal(masks, masked.block_masking(200, (4, 4), ratio, seed=0))
    assert not np.array_equal(masked.block_masking(200, (4, 4), 0.5), masked.block_masking(200, (4, 4), 0.5))
    if ratio == 0.5:   # hidden patches touch each other more often than random ones do
        grid = masks.reshape(200, 4, 4)
        neighbours = (grid[:, 1:] * grid[:, :-1]).sum() + (grid[:, :, 1:] * grid[:, :, :-1]).sum()
        assert neighbours / 200 > 1.3 * 24 * (8 / 16) * (7 / 15)
    with pytest.raises(ValueError, match="visible"):
        masked.block_masking(2, (4, 4), 1.0)


def test_grid_masking_keeps_one_of_every_square():
    masks = masked.grid_masking(50, (4, 6), seed=1).reshape(50, 4, 6)
    assert np.all(masks.reshape(50, 2, 2, 3, 2).sum(axis=(2, 4)) == 3)        # one visible per 2 x 2 square
    assert len({tuple(m.ravel()) for m in masks}) == 4                        # the four possible corners
    with pytest.raises(ValueError, match="squares"):
        masked.grid_masking(1, (3, 4))
