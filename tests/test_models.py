import numpy as np
import pytest
import torch

from aelib import models


def test_shapes_and_layers():
    model = models.mlp_autoencoder([64, 32, 8], activation="relu", output_activation="sigmoid")
    x = torch.rand(5, 64)
    assert model.encode(x).shape == (5, 8)
    x_hat = model(x).detach()
    assert x_hat.shape == (5, 64) and float(x_hat.min()) >= 0 and float(x_hat.max()) <= 1
    assert [type(m).__name__ for m in model.encoder] == ["Linear", "ReLU", "Linear"]
    assert [type(m).__name__ for m in model.decoder] == ["Linear", "ReLU", "Linear", "Sigmoid"]


def test_linear_autoencoder_is_linear():
    model = models.mlp_autoencoder([6, 3], activation=None, seed=0)
    x, y = torch.randn(4, 6), torch.randn(4, 6)
    with torch.no_grad():
        offset = model(torch.zeros(1, 6))
        left = model(2 * x + y) - offset
        right = 2 * (model(x) - offset) + (model(y) - offset)
    torch.testing.assert_close(left, right)


def test_seed_repeats_without_touching_global_rng():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = models.mlp_autoencoder([10, 4], seed=7)
    assert torch.rand(1) == expected_next
    b = models.mlp_autoencoder([10, 4], seed=7)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_bad_input_messages():
    model = models.mlp_autoencoder([64, 8])
    with pytest.raises(ValueError, match="64 features"):
        model(torch.rand(3, 63))
    with pytest.raises(ValueError, match=r"x\[None\]"):
        model(torch.rand(64))
    with pytest.raises(TypeError, match="floating-point"):
        model(torch.ones(3, 64, dtype=torch.int64))
    with pytest.raises(TypeError, match="floating-point"):
        model.encode(np.ones((3, 64), dtype=np.uint8))
    with pytest.raises(ValueError, match="at least two"):
        models.mlp_autoencoder([64])
    with pytest.raises(ValueError, match="unknown activation"):
        models.mlp_autoencoder([64, 8], activation="swishy")
