import numpy as np
import pytest
import torch

from aelib import images


def test_to_batch_shapes_and_passthrough():
    x = np.random.default_rng(0).random((5, 64)).astype(np.float32)
    batch = images.to_batch(x, (8, 8))
    assert batch.shape == (5, 1, 8, 8)
    assert torch.equal(batch.reshape(5, 64), torch.from_numpy(x))
    assert images.to_batch(batch, (8, 8)) is batch


def test_resize_keeps_range_and_constant_images():
    rng = np.random.default_rng(1)
    x = rng.random((4, 64)).astype(np.float32)
    big = images.resize(x, (8, 8), 16)
    assert big.shape == (4, 256) and big.dtype == np.float32
    assert big.min() >= x.min() - 1e-7 and big.max() <= x.max() + 1e-7
    flat = np.full((2, 64), 0.3, dtype=np.float32)
    np.testing.assert_allclose(images.resize(flat, (8, 8), (12, 20)), 0.3, atol=1e-6)
    nearest = images.resize(x, (8, 8), 16, mode="nearest").reshape(4, 16, 16)
    np.testing.assert_array_equal(nearest[:, ::2, ::2], x.reshape(4, 8, 8))


def test_resize_does_not_change_its_input():
    x = np.random.default_rng(2).random((3, 16)).astype(np.float32)
    copy = x.copy()
    images.resize(x, (4, 4), 8)
    np.testing.assert_array_equal(x, copy)


def test_bad_input_messages():
    with pytest.raises(ValueError, match=r"\(N, 64\)"):
        images.to_batch(np.zeros((3, 63), dtype=np.float32), (8, 8))
    with pytest.raises(ValueError, match="mode"):
        images.resize(np.zeros((1, 64), dtype=np.float32), (8, 8), 16, mode="cubic")
    with pytest.raises(ValueError, match="size"):
        images.resize(np.zeros((1, 64), dtype=np.float32), (8, 8), 0)
    with pytest.raises(TypeError, match="floating-point"):
        images.resize(np.zeros((1, 64), dtype=np.uint8), (8, 8), 16)
