"""Autoencoder models built from a list of layer sizes."""

import torch
from torch import nn

from aelib.checks import as_float_tensor

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "elu": nn.ELU, None: None}


class Autoencoder(nn.Module):
    """An encoder ``f`` and a decoder ``g``; ``forward(x)`` returns the reconstruction ``g(f(x))``.

    ``x``: (N, D) float; ``encode(x)``: (N, K) code; ``decode(h)``: (N, D).
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, num_features: int):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.num_features = num_features

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Code ``h = f(x)``: (N, D) -> (N, K)."""
        return self.encoder(as_float_tensor(x, "x", ndim=2, features=self.num_features))

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``x_hat = g(h)``: (N, K) -> (N, D)."""
        return self.decoder(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``x_hat = g(f(x))``: (N, D) -> (N, D)."""
        return self.decode(self.encode(x))


def _activation(name):
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(k for k in ACTIVATIONS if k)} or None.")
    return ACTIVATIONS[name]


def _stack(sizes: list[int], activation, last_activation) -> nn.Sequential:
    """Linear layers between consecutive ``sizes``; ``activation`` after all but the last layer."""
    layers: list[nn.Module] = []
    for i, (size_in, size_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(size_in, size_out))
        act = activation if i < len(sizes) - 2 else last_activation
        if act is not None:
            layers.append(act())
    return nn.Sequential(*layers)


def mlp_autoencoder(
    sizes: list[int],
    activation: str | None = "relu",
    code_activation: str | None = None,
    output_activation: str | None = None,
    seed: int | None = None,
) -> Autoencoder:
    """A fully connected autoencoder with encoder sizes ``sizes`` and a mirrored decoder.

    ``sizes = [D, H1, ..., K]`` gives the encoder D -> H1 -> ... -> K and the decoder
    K -> ... -> H1 -> D. ``activation`` follows every hidden layer, ``code_activation`` the code
    layer and ``output_activation`` the reconstruction (``None`` keeps a layer linear, so
    ``activation=None`` gives a linear autoencoder). ``seed`` makes the initial weights repeatable.
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes must list at least two positive layer sizes [D, ..., K], got {sizes}.")
    act, code_act, out_act = _activation(activation), _activation(code_activation), _activation(output_activation)
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        encoder = _stack(sizes, act, code_act)
        decoder = _stack(sizes[::-1], act, out_act)
    return Autoencoder(encoder, decoder, num_features=sizes[0])
