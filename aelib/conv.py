"""Convolutional autoencoders, and single upsampling layers for studying checkerboard artefacts.

Builders:

* :func:`conv_encoder`: stages that each halve the height and width, by a strided convolution or
  by a convolution followed by 2x2 max pooling, then a 1x1 convolution to the code channels;
* :func:`conv_decoder`: a 1x1 convolution from the code, then stages that each enlarge the image,
  either by a **transposed convolution** (kind ``"transpose"``) or by **resizing then
  convolving** (kind ``"resize"``, nearest or bilinear);
* :func:`conv_autoencoder`: both, checked to give back the input's shape.

The padding of a transposed convolution is the caller's choice (``padding``, ``output_padding``);
lesson 06 is where you work out which choices give which sizes.

For the artefact study: :func:`upsampling_layer` (one layer with uniform or random weights),
:func:`constant_response` (what it makes of a constant image, away from the borders),
:func:`high_frequency_energy` (the share of an image's energy that is not its mean) and
:func:`overlap_counts` (how many kernel taps reach each output position).
"""

import numpy as np
import torch
from torch import nn

from aelib.checks import as_float_tensor
from aelib.images import to_batch
from aelib.models import ACTIVATIONS

DOWNSAMPLE = ("stride", "pool")
DECODERS = ("transpose", "resize")
RESIZE_MODES = ("nearest", "bilinear")
UPSAMPLERS = ("transpose", "resize-nearest", "resize-bilinear")


def _activation(name) -> list[nn.Module]:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(k for k in ACTIVATIONS if k)} or None.")
    return [] if ACTIVATIONS[name] is None else [ACTIVATIONS[name]()]


def num_parameters(model: nn.Module) -> int:
    """The number of trainable numbers in ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def conv_encoder(channels=(16, 32), code_channels: int = 2, kernel_size: int = 3, downsample: str = "stride",
                 activation: str | None = "relu", code_activation: str | None = None,
                 in_channels: int = 1) -> nn.Sequential:
    """A convolutional encoder: (N, in_channels, H, W) -> (N, code_channels, H / 2^S, W / 2^S).

    One stage per entry of ``channels`` (S stages); each halves H and W (rounding up), with
    ``downsample="stride"`` (a stride-2 convolution) or ``"pool"`` (a stride-1 convolution, then
    2x2 max pooling). ``kernel_size`` must be odd, so that padding ``kernel_size // 2`` centres it.
    A final 1x1 convolution maps to ``code_channels``, followed by ``code_activation``.
    """
    if downsample not in DOWNSAMPLE:
        raise ValueError(f"downsample must be one of {DOWNSAMPLE}, got {downsample!r}.")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"the encoder's kernel_size must be odd (3, 5, ...), got {kernel_size}.")
    layers: list[nn.Module] = []
    c_in = in_channels
    for c_out in channels:
        if downsample == "stride":
            layers.append(nn.Conv2d(c_in, c_out, kernel_size, stride=2, padding=kernel_size // 2))
            layers += _activation(activation)
        else:
            layers.append(nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2))
            layers += _activation(activation)
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
        c_in = c_out
    layers.append(nn.Conv2d(c_in, code_channels, 1))
    layers += _activation(code_activation)
    return nn.Sequential(*layers)


def _upsample(c_in: int, c_out: int, kind: str, kernel_size: int, stride: int, padding: int,
              output_padding: int, mode: str) -> list[nn.Module]:
    if kind == "transpose":
        return [nn.ConvTranspose2d(c_in, c_out, kernel_size, stride=stride, padding=padding,
                                   output_padding=output_padding)]
    if kernel_size % 2 == 0:
        raise ValueError(f"the resize decoder's kernel_size must be odd (3, 5, ...), got {kernel_size}.")
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    return [nn.Upsample(scale_factor=stride, mode=mode, **kwargs),
            nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2)]


def conv_decoder(channels=(32, 16), code_channels: int = 2, kind: str = "transpose", kernel_size: int | None = None,
                 stride: int = 2, padding: int = 1, output_padding: int = 0, mode: str = "nearest",
                 activation: str | None = "relu", output_activation: str | None = "sigmoid",
                 out_channels: int = 1) -> nn.Sequential:
    """A convolutional decoder: (N, code_channels, h, w) -> (N, out_channels, H, W).

    A 1x1 convolution maps the code to ``channels[0]``; then one upsampling stage per entry of
    ``channels`` (the last one ends at ``out_channels``), each enlarging by ``stride``:

    * ``kind="transpose"``: a transposed convolution with ``kernel_size`` (default 4), ``stride``,
      ``padding`` and ``output_padding`` (4, 2, 1, 0 doubles the size exactly);
    * ``kind="resize"``: resizing by ``stride`` (``mode`` "nearest" or "bilinear"), then a
      convolution with an odd ``kernel_size`` (default 3) that keeps the size; ``padding`` and
      ``output_padding`` are not used.

    ``activation`` follows every stage but the last, which is followed by ``output_activation``.
    """
    if kind not in DECODERS:
        raise ValueError(f"kind must be one of {DECODERS}, got {kind!r}.")
    if mode not in RESIZE_MODES:
        raise ValueError(f"mode must be one of {RESIZE_MODES}, got {mode!r}.")
    kernel_size = kernel_size or (4 if kind == "transpose" else 3)
    layers: list[nn.Module] = [nn.Conv2d(code_channels, channels[0], 1), *_activation(activation)]
    sizes = [*channels, out_channels]
    for i, (c_in, c_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += _upsample(c_in, c_out, kind, kernel_size, stride, padding, output_padding, mode)
        layers += _activation(activation if i < len(sizes) - 2 else output_activation)
    return nn.Sequential(*layers)


class ConvAutoencoder(nn.Module):
    """A convolutional encoder and decoder for images of shape ``image_shape`` (H, W), one channel.

    ``forward(x)``: x (N, H*W) -> (N, H*W), or (N, 1, H, W) -> (N, 1, H, W), so that
    :func:`aelib.train.fit` trains it on flattened images like any other autoencoder.
    ``encode(x)``: the code, a feature map (N, C, h, w); ``decode(h)``: (N, H*W).
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, image_shape):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.image_shape = tuple(int(s) for s in image_shape)

    def encode(self, x) -> torch.Tensor:
        """Code feature map (N, C, h, w) of images x (N, H*W) or (N, 1, H, W)."""
        return self.encoder(to_batch(x, self.image_shape))

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """Flattened reconstruction (N, H*W) of a code h (N, C, h, w)."""
        out = self.decoder(h)
        return out.flatten(1)

    def forward(self, x) -> torch.Tensor:
        x = as_float_tensor(x, "x")
        x_hat = self.decode(self.encode(x))
        return x_hat.reshape(x.shape) if x.dim() == 4 else x_hat

    def code_size(self) -> int:
        """How many numbers the code holds per image (C * h * w)."""
        with torch.no_grad():
            device = next(self.parameters()).device
            return int(self.encode(torch.zeros(1, 1, *self.image_shape, device=device)).numel())


def conv_autoencoder(image_shape, channels=(16, 32), code_channels: int = 2, kernel_size: int = 3,
                     downsample: str = "stride", decoder: str = "transpose", decoder_kernel: int | None = None,
                     padding: int = 1, output_padding: int = 0, mode: str = "nearest",
                     activation: str | None = "relu", output_activation: str | None = "sigmoid",
                     seed: int | None = None) -> ConvAutoencoder:
    """A convolutional autoencoder for one-channel images of ``image_shape`` (H, W).

    The encoder is :func:`conv_encoder` (``channels``, ``code_channels``, ``kernel_size``,
    ``downsample``); the decoder is :func:`conv_decoder` with the channels mirrored and the
    decoder options (``decoder`` is its kind, ``decoder_kernel`` its kernel size). The code has
    ``code_channels * (H / 2^S) * (W / 2^S)`` numbers for S = len(channels). ``seed`` makes the
    initial weights repeatable. Raises ValueError if the decoder does not give back (H, W).
    """
    image_shape = tuple(int(s) for s in image_shape)
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        enc = conv_encoder(channels, code_channels, kernel_size, downsample, activation)
        dec = conv_decoder(tuple(channels)[::-1], code_channels, decoder, decoder_kernel, 2, padding,
                           output_padding, mode, activation, output_activation)
    model = ConvAutoencoder(enc, dec, image_shape)
    with torch.no_grad():
        code = model.encode(torch.zeros(1, 1, *image_shape))
        out = model.decoder(code)
    if tuple(out.shape[2:]) != image_shape:
        raise ValueError(
            f"the decoder turns the {tuple(code.shape[2:])} code into {tuple(out.shape[2:])} images, "
            f"but the inputs are {image_shape}: choose padding/output_padding (or the image size) so "
            "that every upsampling stage exactly undoes one downsampling stage."
        )
    return model


def upsampling_layer(kind: str, kernel_size: int, stride: int, channels: int = 1, weights: str = "uniform",
                     seed: int | None = None) -> nn.Module:
    """One upsampling layer by ``stride``, without bias or padding, for the artefact study.

    ``kind``: "transpose" (a transposed convolution with ``kernel_size``), "resize-nearest" or
    "resize-bilinear" (resize by ``stride``, then a ``kernel_size`` convolution).
    ``weights``: "uniform" (every tap equal, scaled so that a constant 1 comes out near 1 on
    average) or "random" (each tap the uniform value times 1 + 0.5 e, e standard normal: roughly
    but not exactly balanced, as trained weights are; repeatable with ``seed``).
    """
    if kind not in UPSAMPLERS:
        raise ValueError(f"kind must be one of {UPSAMPLERS}, got {kind!r}.")
    if weights not in ("uniform", "random"):
        raise ValueError(f"weights must be 'uniform' or 'random', got {weights!r}.")
    if kernel_size < 1 or stride < 1:
        raise ValueError(f"kernel_size and stride must be positive, got {kernel_size} and {stride}.")
    if kind == "transpose":
        conv = nn.ConvTranspose2d(channels, channels, kernel_size, stride=stride, bias=False)
        layer, gain = conv, stride**2 / kernel_size**2
    else:
        conv = nn.Conv2d(channels, channels, kernel_size, bias=False)
        mode = kind.split("-")[1]
        kwargs = {"align_corners": False} if mode == "bilinear" else {}
        layer, gain = nn.Sequential(nn.Upsample(scale_factor=stride, mode=mode, **kwargs), conv), 1 / kernel_size**2
    with torch.no_grad():
        if weights == "uniform":
            conv.weight.fill_(gain / channels)
        else:
            generator = torch.Generator().manual_seed(0 if seed is None else seed)
            noise = torch.randn(conv.weight.shape, generator=generator)
            conv.weight.copy_(gain / channels * (1.0 + 0.5 * noise))
    return layer


@torch.no_grad()
def constant_response(layer: nn.Module, kernel_size: int, stride: int, size: int = 12, channels: int = 1) -> np.ndarray:
    """What ``layer`` makes of a constant image of ones (``size`` x ``size``), borders cut off.

    ``kernel_size`` and ``stride`` are the layer's; ``kernel_size + stride`` pixels are removed on
    every side, where the input's edge (not the layer's own pattern) shapes the output. The image
    is made on the layer's device. Returns a NumPy array (channels, h, w) float64, on the CPU.
    """
    device = next(layer.parameters(), torch.empty(0)).device
    out = layer(torch.ones(1, channels, size, size, device=device))[0].cpu().double().numpy()
    margin = kernel_size + stride
    if out.shape[-1] <= 2 * margin:
        raise ValueError(f"size {size} is too small for kernel {kernel_size} and stride {stride}; use a larger one.")
    return out[:, margin:-margin, margin:-margin]


def high_frequency_energy(images) -> np.ndarray:
    """The share of each image's energy outside the zero frequency (its mean).

    ``images``: (..., h, w) array or tensor. Returns an array of the leading shape with values in
    [0, 1]: sum over frequencies f != 0 of |FFT(image)(f)|^2, divided by the sum over all f. A
    flat image scores 0. By Parseval's theorem this equals var(image) / mean(image^2).
    """
    images = np.asarray(images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else images,
                        dtype=np.float64)
    if images.ndim < 2:
        raise ValueError(f"images should have shape (..., h, w), got {images.shape}.")
    power = np.abs(np.fft.fft2(images)) ** 2
    total = power.sum(axis=(-2, -1))
    dc = power[..., 0, 0]
    return np.where(total > 0, (total - dc) / np.where(total > 0, total, 1.0), 0.0)


def overlap_counts(kernel_size: int, stride: int, length: int = 8) -> np.ndarray:
    """How many kernel taps of a 1-D transposed convolution land on each output position.

    An input of ``length`` ones, kernel ``kernel_size`` of ones, ``stride``; no padding. Returns an
    int array of the output's length. Uneven counts in the middle are the seed of the checkerboard.
    """
    ones = torch.ones(1, 1, length, dtype=torch.float64)
    kernel = torch.ones(1, 1, kernel_size, dtype=torch.float64)
    return torch.nn.functional.conv_transpose1d(ones, kernel, stride=stride)[0, 0].round().long().numpy()
