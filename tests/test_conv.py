import numpy as np
import pytest
import torch
from torch import nn

from aelib import conv, train


@pytest.mark.parametrize("downsample", ["stride", "pool"])
@pytest.mark.parametrize("decoder, kwargs", [("transpose", {}), ("transpose", {"decoder_kernel": 3, "output_padding": 1}),
                                             ("resize", {"mode": "nearest"}), ("resize", {"mode": "bilinear"})])
def test_autoencoder_shapes(downsample, decoder, kwargs):
    model = conv.conv_autoencoder((16, 16), channels=(4, 8), code_channels=3, downsample=downsample,
                                  decoder=decoder, seed=0, **kwargs)
    x = torch.rand(5, 256)
    assert model.encode(x).shape == (5, 3, 4, 4) and model.code_size() == 48
    x_hat = model(x).detach()
    assert x_hat.shape == (5, 256) and 0 <= float(x_hat.min()) and float(x_hat.max()) <= 1
    assert model(x.reshape(5, 1, 16, 16)).shape == (5, 1, 16, 16)
    kinds = {type(m) for m in model.decoder}
    assert (nn.ConvTranspose2d in kinds) == (decoder == "transpose") and (nn.Upsample in kinds) == (decoder == "resize")
    assert (nn.MaxPool2d in {type(m) for m in model.encoder}) == (downsample == "pool")


def test_seed_repeats_and_training_reduces_the_loss():
    a = conv.conv_autoencoder((8, 8), channels=(4,), seed=3)
    b = conv.conv_autoencoder((8, 8), channels=(4,), seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    x = torch.rand(64, 64)
    before = train.evaluate(a, x)
    train.fit(a, x, num_epochs=20, lr=1e-2, progress=False)
    assert train.evaluate(a, x) < before


def test_num_parameters():
    assert conv.num_parameters(nn.Conv2d(2, 3, 3)) == 2 * 3 * 9 + 3
    frozen = nn.Linear(4, 4)
    frozen.bias.requires_grad_(False)
    assert conv.num_parameters(frozen) == 16


def test_bad_configurations():
    with pytest.raises(ValueError, match="the inputs are"):
        conv.conv_autoencoder((16, 16), decoder="transpose", decoder_kernel=3, padding=1, output_padding=0)
    with pytest.raises(ValueError, match="odd"):
        conv.conv_encoder(kernel_size=4)
    with pytest.raises(ValueError, match="odd"):
        conv.conv_decoder(kind="resize", kernel_size=2)
    with pytest.raises(ValueError, match="downsample"):
        conv.conv_encoder(downsample="average")
    with pytest.raises(ValueError, match="kind"):
        conv.conv_decoder(kind="pixelshuffle")
    with pytest.raises(ValueError, match="unknown activation"):
        conv.conv_encoder(activation="swishy")
    with pytest.raises(ValueError, match=r"\(N, 256\)"):
        conv.conv_autoencoder((16, 16))(torch.rand(3, 255))


def test_overlap_counts():
    np.testing.assert_array_equal(conv.overlap_counts(3, 2, length=4), [1, 1, 2, 1, 2, 1, 2, 1, 1])
    assert set(conv.overlap_counts(4, 2, length=6)[2:-2]) == {2}
    assert set(conv.overlap_counts(1, 3, length=4)) == {0, 1}


@pytest.mark.parametrize("kind", conv.UPSAMPLERS)
def test_constant_response_and_high_frequency_energy(kind):
    for kernel_size, stride in [(3, 2), (4, 2), (3, 3), (5, 2)]:
        uniform = conv.constant_response(conv.upsampling_layer(kind, kernel_size, stride), kernel_size, stride, size=14)
        energy = conv.high_frequency_energy(uniform)[0]
        even = kind != "transpose" or kernel_size % stride == 0
        assert (energy < 1e-12) == even, (kind, kernel_size, stride, energy)
        random = conv.upsampling_layer(kind, kernel_size, stride, weights="random", seed=1)
        energy = conv.high_frequency_energy(conv.constant_response(random, kernel_size, stride, size=14))[0]
        assert (energy < 1e-12) == (kind != "transpose"), (kind, kernel_size, stride, energy)


def test_high_frequency_energy_values():
    assert conv.high_frequency_energy(np.ones((3, 5, 5))).tolist() == [0.0, 0.0, 0.0]
    checker = np.indices((4, 4)).sum(axis=0) % 2 * 2.0 - 1.0     # +-1, zero mean
    assert np.isclose(conv.high_frequency_energy(checker), 1.0)
    image = np.random.default_rng(0).random((6, 7))
    assert np.isclose(conv.high_frequency_energy(torch.from_numpy(image)), image.var() / (image**2).mean())
    assert conv.high_frequency_energy(np.zeros((2, 2))) == 0.0


def test_upsampling_layer_bad_input():
    with pytest.raises(ValueError, match="kind"):
        conv.upsampling_layer("unpool", 3, 2)
    with pytest.raises(ValueError, match="weights"):
        conv.upsampling_layer("transpose", 3, 2, weights="zeros")
    with pytest.raises(ValueError, match="too small"):
        conv.constant_response(conv.upsampling_layer("transpose", 5, 1), 5, 1, size=3)
